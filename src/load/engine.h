/* engine.h — the HTTP engine of `ticketd load`: one thread drives a libcurl multi handle with at most
 * `connections` requests in flight, spread round-robin over the instance URLs (an instance that refused a
 * connection is skipped for 2 s). A request that times out or gets 503 is retried with capped exponential
 * backoff and full jitter (util/rand.h) and the same headers, its Idempotency-Key included, at most `retries`
 * times; then its done callback gets it. Every response counts in the status counts and the latencies the report
 * reads. Also here: one synchronous request for the parts that are not measured (setup and end-state checks),
 * and the readers of the API's response envelope. */
#ifndef TK_LOAD_ENGINE_H
#define TK_LOAD_ENGINE_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOAD_URLS_MAX 16
#define LOAD_STATUS_SLOTS 600

/* Where requests go and how: from the command line; read by the engine, never written. */
struct load_net {
    char *urls[LOAD_URLS_MAX];
    int nurls;
    int connections; /* requests in flight at most */
    int timeout_ms;  /* per request */
    int retries;     /* on timeout or 503, at most */
    int backoff_base_ms, backoff_cap_ms;
};

struct load_user; /* the scenario's: carried by a call for its done callback, never read by the engine */
struct load_call;
/* Gets a finished call (after its retries); owns it from then on (load_call_free, or load_engine_enqueue again). */
typedef void (*load_call_done)(struct load_call *c);

struct load_call {
    struct load_user *u;
    void *arg;          /* the scenario's too, for a call without a user (with tag, e.g. an index); never read */
    int64_t tag;
    char method[8];
    char path[256];
    char auth[80];      /* Authorization: Bearer …, when not empty */
    char token_hdr[64]; /* queue-token: …, when not empty */
    char idem[64];      /* Idempotency-Key: …, when not empty; the same on every retry */
    char *body;         /* owned; freed with the call */
    load_call_done done;
    int tries;
    int64_t due_ns;     /* when a retry may start */
    int64_t start_ns;
    long status;        /* 0 = transport error or timeout */
    int url_index;      /* the instance it went to */
    char *resp;
    size_t resp_len;
    json_t *json;       /* parsed response (NULL if not JSON) */
    struct load_call *next; /* in the ready or delayed list */
};

struct load_stats {
    uint64_t status[LOAD_STATUS_SLOTS];
    uint64_t transport_errors;
    uint64_t requests;
    uint64_t retries;
    double *lat_ms;
    size_t nlat, caplat;
};

struct load_engine {
    CURLM *multi;
    const struct load_net *net;
    int inflight;
    int rr;
    int64_t url_down_until_ns[LOAD_URLS_MAX]; /* an instance that refused a connection is skipped for a while */
    struct load_call *ready_head, *ready_tail;
    struct load_call *delayed; /* unsorted; scanned each loop (bounded by the number of users) */
    int64_t deadline_ns;
    struct load_stats st;
    bool out_of_time;
};

/* Sets up libcurl (one engine per process) and the multi handle for net, which must outlive the engine.
 * 0, or -1 when libcurl cannot (out of memory); a failed open needs no close. */
int load_engine_open(struct load_engine *e, const struct load_net *net) __attribute__((warn_unused_result));
/* Frees the calls still waiting (a run cut short by the deadline), the latencies, the handle and libcurl. */
void load_engine_close(struct load_engine *e);
/* A measured part starts: the counters are zeroed and the deadline is `seconds` from now (out_of_time stays). */
void load_engine_restart(struct load_engine *e, int seconds);
/* Runs until no call is ready, delayed or in flight, or the deadline passes. */
void load_engine_run(struct load_engine *e);

/* A new call for u (may be NULL) to method path, handed to done when finished; exits 2 when out of memory. */
struct load_call *load_call_new(struct load_user *u, const char *method, const char *path, load_call_done done);
/* Frees c, its body and its response; load_call_free(NULL) is a no-op. */
void load_call_free(struct load_call *c);
/* Takes c: starts it when a connection is free. */
void load_engine_enqueue(struct load_engine *e, struct load_call *c);
/* Takes c: starts it once clock_mono_ns() passes due_ns (a poll after a pause). */
void load_engine_delay(struct load_engine *e, struct load_call *c, int64_t due_ns);

/* Responses with a 5xx status. */
uint64_t load_stats_5xx(const struct load_stats *st);

/* One synchronous request to the first URL, outside the measured part: auth and token are sent when not NULL,
 * body when not NULL. Returns the HTTP status (0 on a transport error); *out gets the parsed JSON response or
 * NULL, owned by the caller (json_decref). */
long load_fetch(const struct load_net *net, const char *method, const char *path, const char *auth,
                const char *token, const char *body, json_t **out);

/* The API's envelope {"success": …, "data": {…}, "code": …}: data.field as a string ("" when absent), as an
 * integer (0 when absent), and the error code (NULL when absent). */
const char *load_data_str(json_t *root, const char *field);
int64_t load_data_int(json_t *root, const char *field);
const char *load_error_code(json_t *root);

#endif
