/* wr_memory.c — Redis memory per waiter of the Redis waiting room (waitroom/redis.c).
 *
 *   wr_memory redis://127.0.0.1:6379 [--waiters N] [--room ID] [--prequeue]
 *
 * Issues N waiters (default 200,000) into a fresh room (ID, default a random one) through the C API, with every
 * slot taken (max_active 1) so that all but the first wait, and prints INFO memory used_memory before and after
 * and the difference per waiter as one JSON line. --prequeue issues them before the room opens (order keys in
 * [0, 1)) instead of FIFO. The room's keys are left behind with their TTLs (a day; FLUSHDB a scratch Redis). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include "waitroom/waitroom.h"
#include "util/clock.h"
#include "util/rand.h"

static long long used_memory(redisContext *c)
{
    redisReply *r = redisCommand(c, "INFO memory");
    long long v = -1;
    const char *p = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "used_memory:") : NULL;
    if (p)
        v = atoll(p + strlen("used_memory:"));
    freeReplyObject(r);
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: wr_memory redis://host:port [--waiters N] [--room ID] [--prequeue]\n");
        return 2;
    }
    const char *url = argv[1];
    long n = 200000;
    int64_t room_id = 1000000 + (int64_t)rand_below(1000000);
    bool pre = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--waiters") == 0 && i + 1 < argc)
            n = atol(argv[++i]);
        else if (strcmp(argv[i], "--room") == 0 && i + 1 < argc)
            room_id = atoll(argv[++i]);
        else if (strcmp(argv[i], "--prequeue") == 0)
            pre = true;
    }
    char host[128] = "127.0.0.1";
    int port = 6379;
    if (sscanf(url, "redis://%127[^:]:%d", host, &port) < 1) {
        fprintf(stderr, "wr_memory: bad url %s\n", url);
        return 2;
    }
    redisContext *c = redisConnect(host, port);
    if (!c || c->err) {
        fprintf(stderr, "wr_memory: cannot connect to %s\n", url);
        return 2;
    }
    struct tk_waitroom *w;
    char err[128] = "";
    if (waitroom_redis_open(n + 10, url, "tkbench:{wr}:", 2, &w, err, sizeof err) < 0) {
        fprintf(stderr, "wr_memory: %s\n", err);
        return 2;
    }
    int64_t now = clock_now_ms(clock_real());
    struct wr_room r = {.id = room_id,
                        .policy = {.max_active = 1, .admit_per_sec = 100, .token_ms = 600000, .idle_ms = 3600000,
                                   .opens_at_ms = pre ? now + 86400000 : 0, .mode = WR_OPEN}};
    struct tk_ticket t;
    bool created;
    if (w->ops->issue(w, &r, 1, now, &t, &created) < 0) { /* the one ACTIVE token and the room's own keys */
        fprintf(stderr, "wr_memory: issue failed\n");
        return 1;
    }
    long long before = used_memory(c);
    for (long i = 0; i < n; i++) {
        int rc = w->ops->issue(w, &r, 1000000 + i, now, &t, &created);
        if (rc < 0) {
            fprintf(stderr, "wr_memory: issue %ld: %s\n", i, tk_err_code(rc));
            return 1;
        }
    }
    long long after = used_memory(c);
    struct tk_waitroom_stats st;
    if (w->ops->stats(w, &r, now, &st) < 0)
        return 1;
    printf("{\"waiters\": %ld, \"waiting\": %" PRId64 ", \"used_memory_before\": %lld, \"used_memory_after\": %lld, "
           "\"bytes_per_waiter\": %.1f, \"prequeue\": %s}\n",
           n, st.waiting, before, after, (double)(after - before) / (double)n, pre ? "true" : "false");
    w->ops->free(w); /* (waitroom_free lives in core/) */
    redisFree(c);
    return 0;
}
