/* wr_redis_cost.c — the cost of one issue and one status call of the Redis waiting room (waitroom/redis.c)
 * with a long line, through the C API (no HTTP): the before/after yardstick of the room's scripts.
 *
 *   wr_redis_cost redis://127.0.0.1:6379 [--waiters N] [--calls K] [--prequeue] [--room ID] [--keep]
 *
 * Fills a fresh room (ID, default a random one) with N waiters (default 100,000; max_active 1, so all but one
 * wait; nobody goes idle or lapses), FIFO or, with --prequeue, before the opening (the room then opens and one
 * tick admits the first). Then times K issues of new users (default 2,000; they join the tail: the longest
 * position) and K status calls of waiters spread evenly over the line, each on the real clock, and prints one
 * JSON line: wall µs per call as this client sees it, and Redis's own time per EVALSHA (INFO commandstats
 * usec_per_call, after CONFIG RESETSTAT: run it on a Redis nothing else uses meanwhile), plus the Redis memory
 * per waiter of the fill (as bench/wr_memory.c measures it). The room's keys are deleted at the end (--keep
 * leaves them, with their TTLs). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include "waitroom/waitroom.h"
#include "util/clock.h"
#include "util/rand.h"

static long long info_field(redisContext *c, const char *section, const char *field)
{
    redisReply *r = redisCommand(c, "INFO %s", section);
    long long v = -1;
    const char *p = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, field) : NULL;
    if (p)
        v = atoll(p + strlen(field));
    freeReplyObject(r);
    return v;
}

/* EVALSHA's calls and usec_per_call since the last CONFIG RESETSTAT. */
static void evalsha_stats(redisContext *c, long long *calls, double *usec_per_call)
{
    redisReply *r = redisCommand(c, "INFO commandstats");
    *calls = 0;
    *usec_per_call = -1;
    const char *p = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "cmdstat_evalsha:") : NULL;
    if (p) {
        const char *q = strstr(p, "calls=");
        const char *u = strstr(p, "usec_per_call=");
        if (q)
            *calls = atoll(q + 6);
        if (u)
            *usec_per_call = atof(u + 14);
    }
    freeReplyObject(r);
}

static void reset_stats(redisContext *c) { freeReplyObject(redisCommand(c, "CONFIG RESETSTAT")); }

/* Deletes every key of the room's prefix. */
static void drop_room(redisContext *c, const char *prefix)
{
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s* COUNT 1000", cursor, prefix);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            return;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++)
            freeReplyObject(redisCommand(c, "UNLINK %s", r->element[1]->element[i]->str));
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: wr_redis_cost redis://host:port [--waiters N] [--calls K] [--prequeue] [--room ID] "
                        "[--keep]\n");
        return 2;
    }
    const char *url = argv[1];
    long n = 100000, k = 2000;
    int64_t room_id = 1000000 + (int64_t)rand_below(1000000);
    bool pre = false, keep = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--waiters") == 0 && i + 1 < argc)
            n = atol(argv[++i]);
        else if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
            k = atol(argv[++i]);
        else if (strcmp(argv[i], "--room") == 0 && i + 1 < argc)
            room_id = atoll(argv[++i]);
        else if (strcmp(argv[i], "--prequeue") == 0)
            pre = true;
        else if (strcmp(argv[i], "--keep") == 0)
            keep = true;
    }
    if (n < 1 || k < 1 || k > n) {
        fprintf(stderr, "wr_redis_cost: need 1 <= K <= N\n");
        return 2;
    }
    char host[128] = "127.0.0.1";
    int port = 6379;
    if (sscanf(url, "redis://%127[^:]:%d", host, &port) < 1) {
        fprintf(stderr, "wr_redis_cost: bad url %s\n", url);
        return 2;
    }
    redisContext *c = redisConnect(host, port);
    if (!c || c->err) {
        fprintf(stderr, "wr_redis_cost: cannot connect to %s\n", url);
        return 2;
    }
    struct tk_waitroom *w;
    char err[128] = "";
    const char *base = "tkbench:{wr}:";
    if (waitroom_redis_open(n + k + 10, url, base, 2, &w, err, sizeof err) < 0) {
        fprintf(stderr, "wr_redis_cost: %s\n", err);
        return 2;
    }
    char prefix[128];
    snprintf(prefix, sizeof prefix, "tkbench:{wr:%lld}:", (long long)room_id); /* redis.c's room_prefix() */
    int64_t now = clock_now_ms(clock_real());
    struct wr_room r = {.id = room_id,
                        .policy = {.max_active = 1, .admit_per_sec = 100, .token_ms = 3600000, .idle_ms = 3600000,
                                   .opens_at_ms = pre ? now + 86400000 : 0, .mode = WR_OPEN}};
    struct tk_ticket t;
    bool created;
    if (w->ops->issue(w, &r, 1, now, &t, &created) < 0) { /* the one ACTIVE token (FIFO) and the room's keys */
        fprintf(stderr, "wr_redis_cost: issue failed\n");
        return 1;
    }
    char (*sample)[TOKEN_MAX_LEN + 1] = calloc((size_t)k, sizeof *sample);
    if (!sample)
        return 1;
    long long mem_before = info_field(c, "memory", "used_memory:");
    long step = n / k, taken = 0;
    int64_t fill0 = clock_mono_ms();
    for (long i = 0; i < n; i++) {
        int rc = w->ops->issue(w, &r, 1000000 + i, clock_now_ms(clock_real()), &t, &created);
        if (rc < 0) {
            fprintf(stderr, "wr_redis_cost: issue %ld: %s\n", i, tk_err_code(rc));
            return 1;
        }
        if (i % step == 0 && taken < k)
            snprintf(sample[taken++], sizeof sample[0], "%s", t.token);
    }
    int64_t fill_ms = clock_mono_ms() - fill0;
    long long mem_after = info_field(c, "memory", "used_memory:");
    if (pre) { /* the opening: every waiter gets a position, the first is admitted */
        r.policy.opens_at_ms = clock_now_ms(clock_real()) - 1;
        if (w->ops->tick(w, &r, clock_now_ms(clock_real())) < 0)
            return 1;
    }

    long long issue_calls, status_calls;
    double issue_redis, status_redis;
    reset_stats(c);
    int64_t t0 = clock_mono_ns();
    for (long i = 0; i < k; i++)
        if (w->ops->issue(w, &r, 100000000 + i, clock_now_ms(clock_real()), &t, &created) < 0 || !created) {
            fprintf(stderr, "wr_redis_cost: timed issue %ld failed\n", i);
            return 1;
        }
    int64_t t1 = clock_mono_ns();
    evalsha_stats(c, &issue_calls, &issue_redis);
    int64_t last_pos = t.position;

    reset_stats(c);
    int64_t t2 = clock_mono_ns();
    int64_t pos_sum = 0;
    for (long i = 0; i < taken; i++) {
        if (w->ops->status(w, &r, sample[i], clock_now_ms(clock_real()), &t) < 0) {
            fprintf(stderr, "wr_redis_cost: status %ld failed\n", i);
            return 1;
        }
        pos_sum += t.position;
    }
    int64_t t3 = clock_mono_ns();
    evalsha_stats(c, &status_calls, &status_redis);

    struct tk_waitroom_stats st;
    if (w->ops->stats(w, &r, clock_now_ms(clock_real()), &st) < 0)
        return 1;
    printf("{\"waiters\": %ld, \"prequeue\": %s, \"calls\": %ld, \"waiting\": %" PRId64 ", \"fill_s\": %.1f, "
           "\"bytes_per_waiter\": %.1f, \"issue_us_wall\": %.1f, \"issue_us_redis\": %.2f, \"issue_evalsha\": %lld, "
           "\"last_issue_position\": %" PRId64 ", \"status_us_wall\": %.1f, \"status_us_redis\": %.2f, "
           "\"status_evalsha\": %lld, \"status_mean_position\": %.0f}\n",
           n, pre ? "true" : "false", k, st.waiting, (double)fill_ms / 1000.0,
           (double)(mem_after - mem_before) / (double)n, (double)(t1 - t0) / 1000.0 / (double)k, issue_redis,
           issue_calls, last_pos, (double)(t3 - t2) / 1000.0 / (double)taken, status_redis, status_calls,
           (double)pos_sum / (double)taken);
    w->ops->free(w); /* (waitroom_free lives in core/) */
    if (!keep)
        drop_room(c, prefix);
    free(sample);
    redisFree(c);
    return 0;
}
