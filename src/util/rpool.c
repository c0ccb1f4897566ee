/* rpool.c — borrow/return hiredis contexts with connect and command timeouts. */
#include "util/rpool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int rpool_init(struct rpool *p, const char *url, int max, char *errbuf, int errlen)
{
    memset(p, 0, sizeof *p);
    const char *hp = strncmp(url, "redis://", 8) == 0 ? url + 8 : NULL;
    const char *colon = hp ? strrchr(hp, ':') : NULL;
    if (!hp || !colon || colon == hp || (size_t)(colon - hp) >= sizeof p->host) {
        snprintf(errbuf, (size_t)errlen, "expected redis://host:port, got '%s'", url);
        return TK_ERR_INVALID;
    }
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535) {
        snprintf(errbuf, (size_t)errlen, "bad port in '%s'", url);
        return TK_ERR_INVALID;
    }
    memcpy(p->host, hp, (size_t)(colon - hp));
    p->port = (int)port;
    p->max = max > 0 ? max : 4;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    return TK_OK;
}

void rpool_free(struct rpool *p)
{
    while (p->free_list) {
        struct rconn *c = p->free_list;
        p->free_list = c->next_free;
        if (c->c)
            redisFree(c->c);
        free(c);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
}

static void release_slot(struct rpool *p)
{
    pthread_mutex_lock(&p->mu);
    p->open--;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int rpool_get(struct rpool *p, struct rconn **out)
{
    pthread_mutex_lock(&p->mu);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    while (!p->free_list && p->open >= p->max) {
        if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&p->mu);
            return TK_ERR_UNAVAILABLE;
        }
    }
    struct rconn *c = p->free_list;
    if (c)
        p->free_list = c->next_free;
    else
        p->open++;
    pthread_mutex_unlock(&p->mu);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) {
            release_slot(p);
            return TK_ERR_NOMEM;
        }
    }
    if (!c->c) {
        struct timeval tv = {.tv_sec = RPOOL_TIMEOUT_MS / 1000, .tv_usec = (RPOOL_TIMEOUT_MS % 1000) * 1000};
        c->c = redisConnectWithTimeout(p->host, p->port, tv);
        if (!c->c || c->c->err || redisSetTimeout(c->c, tv) != REDIS_OK) {
            if (c->c)
                redisFree(c->c);
            free(c);
            release_slot(p);
            return TK_ERR_UNAVAILABLE;
        }
    }
    *out = c;
    return TK_OK;
}

void rpool_put(struct rpool *p, struct rconn *c, bool broken)
{
    if (broken) {
        if (c->c)
            redisFree(c->c);
        free(c);
        release_slot(p);
        return;
    }
    pthread_mutex_lock(&p->mu);
    c->next_free = p->free_list;
    p->free_list = c;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int rpool_command(struct rconn *c, int argc, const char **argv, const size_t *lens, redisReply **reply,
                  bool *broken)
{
    redisReply *r = redisCommandArgv(c->c, argc, argv, lens);
    if (!r || c->c->err) {
        if (r)
            freeReplyObject(r);
        *broken = true;
        return TK_ERR_UNAVAILABLE;
    }
    *reply = r;
    return TK_OK;
}
