/* waitroom.h — the waiting-room interface: one table of function pointers, one backend per file
 * (mem.c in-process, for one process; redis.c and store.c shared by any number of instances).
 * The rules every backend applies live in waitroom/admission.h; core/waitroom.c wraps these calls with the
 * checks the API needs (token format, "ACTIVE required").
 *
 * One backend object serves many rooms: room 0 is the site-wide room of part 1 (settings from the flags), room
 * N > 0 is sale N's room (settings from the sale, core/sales.c). The caller passes the room's *current* settings
 * (struct wr_room) on every call: a backend keeps no copy of them, so a live change (PATCH /admin/sales/{id}),
 * read from the store by every instance within 1 s, applies at the next call everywhere.
 *
 * A room's line, in order: the pre-queue (everyone who arrived before policy.opens_at_ms), placed at the opening in
 * one uniformly random order that is drawn from the CSPRNG exactly once, whichever instance reaches the moment
 * first; then everyone who arrived later, FIFO. Before the opening a waiter's position is unknown (-1 = null).
 *
 * Tokens: room 0's are 32 lowercase hex digits (128 random bits); room N's are "<N>-" followed by the same, so the
 * token says which room to look in (a forged prefix finds nothing: 401). Limits: queue_max waiters per room
 * (issue: TK_ERR_UNAVAILABLE past it), WAITROOM_ROOMS_MAX rooms per backend object.
 */
#ifndef TK_WAITROOM_H
#define TK_WAITROOM_H

#include <stdbool.h>
#include <stdint.h>
#include "waitroom/admission.h"
#include "util/err.h"

#define TOKEN_HEX_LEN 32                         /* 128 random bits */
#define TOKEN_MAX_LEN (19 + 1 + TOKEN_HEX_LEN)   /* "<room id>-" + the hex digits */
#define WAITROOM_ROOMS_MAX 4096

/* One room and its current settings (policy: max_active, admit_per_sec, token_ms, idle_ms, opens_at_ms, mode). */
struct wr_room {
    int64_t id; /* 0: site-wide; else the sale id */
    struct admission_policy policy;
};

struct tk_ticket {
    char token[TOKEN_MAX_LEN + 1];
    int64_t room_id;
    int64_t user_id;
    enum tk_token_state state;
    int64_t position;          /* 1-based among waiters; 0 unless WAITING; -1 (null) while the room has not opened */
    int64_t estimated_wait_s;  /* 0 unless WAITING; -1 (null) before the opening (admission_estimate_wait_s) */
    int64_t expires_at_ms;     /* when an ACTIVE token lapses (or lapsed); 0 while WAITING */
};

struct tk_waitroom_stats {
    int64_t waiting;                /* in the line, pre-queue included */
    int64_t active;
    uint64_t issued_total;
    uint64_t admitted_total;
    uint64_t expired_total;         /* every move to EXPIRED: lapsed, paid, dropped, closed */
    uint64_t abandoned_total;       /* waiters dropped for not polling within idle_ms */
    int64_t admitted_last_minute;   /* admissions in the last 60 s */
    int64_t window_ms;              /* the span those admissions were counted over: min(60 s, since the first admission) */
    int64_t wait_p50_s, wait_p95_s; /* time in the line of admitted tokens (admission_wait_* below); -1: none yet */
};

struct tk_waitroom;

struct tk_waitroom_ops {
    const char *name;
    /* Returns the user's live token in room r (touching it as a poll), or issues a new one (*created = true).
     * TK_ERR_UNAVAILABLE when the line is full (queue_max); TK_ERR_SALE_CLOSED when r is WR_CLOSED and the user
     * has no live token there. */
    int (*issue)(struct tk_waitroom *w, const struct wr_room *r, int64_t user_id, int64_t now_ms,
                 struct tk_ticket *out, bool *created);
    /* Looks a token of room r up (r->id is the room waitroom_token_room() read from it), counting as a poll;
     * TK_ERR_NOT_FOUND when unknown (or forgotten). */
    int (*status)(struct tk_waitroom *w, const struct wr_room *r, const char *token, int64_t now_ms,
                  struct tk_ticket *out);
    /* The hot path of every protected request: is the token ACTIVE and unexpired? TK_OK with *user_id,
     * TK_ERR_NOT_ADMITTED (waiting or expired), TK_ERR_NOT_FOUND (unknown). Not a poll; admits nobody.
     * NULL: status() is used instead. */
    int (*check)(struct tk_waitroom *w, const struct wr_room *r, const char *token, int64_t now_ms,
                 int64_t *user_id);
    /* The token's user has paid: an ACTIVE token expires now. Unknown or not ACTIVE: no-op. */
    int (*finish)(struct tk_waitroom *w, const struct wr_room *r, const char *token, int64_t now_ms);
    /* Applies what time has made due in room r: lapsed and idle tokens expire, the opening, admissions, and in a
     * WR_CLOSED room every waiter expires. Safe to call any time, from anywhere (the sweep calls it per room). */
    int (*tick)(struct tk_waitroom *w, const struct wr_room *r, int64_t now_ms);
    int (*stats)(struct tk_waitroom *w, const struct wr_room *r, int64_t now_ms, struct tk_waitroom_stats *out);
    /* This backend's admission rule evaluated on plain numbers, touching no room (admission.h admission_decide:
     * the conformance check runs one table of cases through it and the C function). */
    int (*decide)(struct tk_waitroom *w, const struct admission_input *in, struct admission_decision *out);
    /* Is the backing service reachable? (NULL: nothing to reach, always yes.) */
    int (*ping)(struct tk_waitroom *w);
    void (*free)(struct tk_waitroom *w);
};

struct tk_waitroom {
    const struct tk_waitroom_ops *ops;
    int64_t queue_max; /* per room */
};

/* The in-process backend. A failed open needs no free. */
int waitroom_mem_open(int64_t queue_max, struct tk_waitroom **out) TK_MUST_CHECK;
/* The Redis backend (redis.c): every instance sharing url and prefix shares the rooms. pool_max bounds its
 * connections. A failed open needs no free. */
int waitroom_redis_open(int64_t queue_max, const char *url, const char *prefix, int pool_max,
                        struct tk_waitroom **out, char *errbuf, int errlen) TK_MUST_CHECK;
/* The store-backed backend (store.c): the rooms live in the shared store (PostgreSQL); TK_ERR_INVALID for a
 * store without one. The store must outlive the waiting room. */
struct tk_store;
int waitroom_store_open(int64_t queue_max, struct tk_store *st, struct tk_waitroom **out) TK_MUST_CHECK;
/* waitroom_free(NULL) is a no-op. */
void waitroom_free(struct tk_waitroom *w);

/* Tokens (waitroom/token.c). Writes room `room_id`'s form of 128 fresh random bits to out (TOKEN_MAX_LEN + 1). */
int waitroom_token_new(int64_t room_id, char *out) TK_MUST_CHECK;
/* TK_OK with the token's room when it is well formed; TK_ERR_UNAUTHORIZED otherwise (NULL included). */
int waitroom_token_room(const char *token, int64_t *room_id) TK_MUST_CHECK;
static inline bool waitroom_token_well_formed(const char *token)
{
    int64_t room;
    return waitroom_token_room(token, &room) == TK_OK;
}
/* Resolves a queue-token of room r that must be ACTIVE to its user: UNAUTHORIZED (missing/unknown),
 * NOT_ADMITTED (WAITING or EXPIRED). */
int waitroom_require_active(struct tk_waitroom *w, const struct wr_room *r, const char *token, int64_t now_ms,
                            int64_t *user_id) TK_MUST_CHECK;

#endif
