/* waitroom.h — the waiting-room interface: one table of function pointers, one backend per file
 * (mem.c in-process, for one process; redis.c and store.c shared by any number of instances).
 * The rules every backend applies live in waitroom/admission.h; core/waitroom.c wraps these calls with the
 * checks the API needs (token format, "ACTIVE required"). */
#ifndef TK_WAITROOM_H
#define TK_WAITROOM_H

#include <stdbool.h>
#include <stdint.h>
#include "waitroom/admission.h"
#include "util/err.h"

#define TOKEN_HEX_LEN 32 /* 128 random bits */

struct tk_ticket {
    char token[TOKEN_HEX_LEN + 1];
    int64_t user_id;
    enum tk_token_state state;
    int64_t position;          /* 1-based among waiters; 0 unless WAITING */
    int64_t estimated_wait_s;
    int64_t expires_at_ms;     /* when an ACTIVE token lapses (or lapsed); 0 while WAITING */
};

struct tk_waitroom_stats {
    int64_t waiting;
    int64_t active;
    uint64_t issued_total;
    uint64_t admitted_total;
    uint64_t expired_total;
};

struct tk_waitroom;

struct tk_waitroom_ops {
    const char *name;
    /* Returns the user's live token (touching it as a poll), or issues a new one (*created = true).
     * TK_ERR_UNAVAILABLE when the line is full (queue_max). */
    int (*issue)(struct tk_waitroom *w, int64_t user_id, int64_t now_ms, struct tk_ticket *out, bool *created);
    /* Looks a token up, counting as a poll; TK_ERR_NOT_FOUND when unknown (or forgotten). */
    int (*status)(struct tk_waitroom *w, const char *token, int64_t now_ms, struct tk_ticket *out);
    /* The hot path of every protected request: is the token ACTIVE and unexpired? TK_OK with *user_id,
     * TK_ERR_NOT_ADMITTED (waiting or expired), TK_ERR_NOT_FOUND (unknown). Not a poll; admits nobody.
     * NULL: status() is used instead. */
    int (*check)(struct tk_waitroom *w, const char *token, int64_t now_ms, int64_t *user_id);
    /* The token's user has paid: an ACTIVE token expires now. Unknown or not ACTIVE: no-op. */
    int (*finish)(struct tk_waitroom *w, const char *token, int64_t now_ms);
    /* Expires lapsed and idle tokens and admits waiters. Safe to call any time, from anywhere. */
    int (*tick)(struct tk_waitroom *w, int64_t now_ms);
    int (*stats)(struct tk_waitroom *w, struct tk_waitroom_stats *out);
    /* Is the backing service reachable? (NULL: nothing to reach, always yes.) */
    int (*ping)(struct tk_waitroom *w);
    void (*free)(struct tk_waitroom *w);
};

struct tk_waitroom {
    const struct tk_waitroom_ops *ops;
    struct admission_policy policy;
    int64_t queue_max;
};

/* The in-process backend. A failed open needs no free. */
int waitroom_mem_open(const struct admission_policy *p, int64_t queue_max, int64_t now_ms,
                      struct tk_waitroom **out) TK_MUST_CHECK;
/* The Redis backend (redis.c): every instance sharing url and prefix shares one line. pool_max bounds its
 * connections. A failed open needs no free. */
int waitroom_redis_open(const struct admission_policy *p, int64_t queue_max, const char *url, const char *prefix,
                        int pool_max, struct tk_waitroom **out, char *errbuf, int errlen) TK_MUST_CHECK;
/* The store-backed backend (store.c): the line lives in the shared store (PostgreSQL); TK_ERR_INVALID for a
 * store without one. The store must outlive the waiting room. */
struct tk_store;
int waitroom_store_open(const struct admission_policy *p, int64_t queue_max, struct tk_store *st,
                        struct tk_waitroom **out) TK_MUST_CHECK;
/* waitroom_free(NULL) is a no-op. */
void waitroom_free(struct tk_waitroom *w);

/* API-facing checks (core/waitroom.c). */
bool waitroom_token_well_formed(const char *token);
/* Resolves a queue-token that must be ACTIVE to its user: UNAUTHORIZED (missing/unknown),
 * NOT_ADMITTED (WAITING or EXPIRED). */
int waitroom_require_active(struct tk_waitroom *w, const char *token, int64_t now_ms, int64_t *user_id) TK_MUST_CHECK;

#endif
