/* rpool.h — a bounded pool of hiredis connections to one Redis server (a hiredis context is not
 * thread-safe, so each caller borrows one). A connection that fails is dropped and re-made on the next
 * borrow, so a Redis restart costs 503s while it is down and nothing after. Commands time out. */
#ifndef TK_RPOOL_H
#define TK_RPOOL_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdbool.h>
#include "util/err.h"

#define RPOOL_TIMEOUT_MS 2000

struct rconn {
    redisContext *c;
    struct rconn *next_free;
};

struct rpool {
    char host[128];
    int port;
    int max;
    int open;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct rconn *free_list;
};

/* Parses redis://host:port; TK_ERR_INVALID with a message for anything else. */
int rpool_init(struct rpool *p, const char *url, int max, char *errbuf, int errlen) TK_MUST_CHECK;
void rpool_free(struct rpool *p);
/* Borrows a live connection (connecting if needed): TK_ERR_UNAVAILABLE when Redis cannot be reached. */
int rpool_get(struct rpool *p, struct rconn **out) TK_MUST_CHECK;
/* Returns it; broken = true drops the connection (it failed mid-command). */
void rpool_put(struct rpool *p, struct rconn *c, bool broken);
/* Runs one command (argv form); on a transport error marks *broken and returns TK_ERR_UNAVAILABLE.
 * The caller frees *reply with freeReplyObject. An error reply is returned as a reply, not an error. */
int rpool_command(struct rconn *c, int argc, const char **argv, const size_t *lens, redisReply **reply,
                  bool *broken) TK_MUST_CHECK;

#endif
