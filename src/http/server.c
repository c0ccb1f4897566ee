/* server.c — libmicrohttpd adapter: the event threads parse, route and move bytes; everything that waits on
 * the store, Redis or a lock runs on the bounded executor (util/exec.h) while its connection is suspended.
 *
 * One struct req_ctx per request, freed by the completion callback. Its life:
 *   NEW     first call: a Content-Length over API_BODY_MAX is answered 413 at once (nothing is read);
 *   BODY    body chunks are appended (a chunked body that grows past API_BODY_MAX is read and dropped up
 *           to DISCARD_MAX, then answered 413; past DISCARD_MAX the connection is cut);
 *   then    the route is found; an inline route (API_ROUTES[].inline_ok: /health, /metrics, /openapi.json,
 *           404/405/413 refusals) is answered on the event thread, and so is a read-cache hit of available-seats
 *           or available-dates that needs no backing service (api_dispatch_inline); anything else is SUSPENDED and handed to
 *           an executor — GET/HEAD to the `reads` lane, writes to the main one, so that writers waiting on
 *           a lock can never take every worker from the reads; a full queue answers 503 with Retry-After at once;
 *   READY   a worker (or the deadline) filled the response and resumed the connection; libmicrohttpd calls
 *           the handler again and the response is queued.
 * A streaming response (api_stream: /queue/events) holds no thread either: between its events the connection is
 * suspended and the stream is one delayed job on the `streams` executor (at most --max-streams of them).
 * The handler returns MHD_YES on its first call and queues the response only after the body phase (except the
 * immediate 413): queueing on the first call makes libmicrohttpd 0.9.75 close every connection
 * (shared/LIMITS.md); its epoll loop's drain fault is mended in epoll_drain.c. Each request has a deadline
 * (--request-timeout-ms) from its arrival: a job that cannot run (again) before it is answered 503 and changed
 * nothing; a write that committed answers its real result.
 */
#include "http/server.h"

#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>
#include "util/clock.h"
#include "util/exec.h"
#include "util/metrics.h"

#define DISCARD_MAX (16 * 1024 * 1024)
#define SLOW_REQUEST_US 2000000 /* requests slower than this are logged */
#define CONNECTION_TIMEOUT_S 120 /* idle keep-alive connections: long enough that a client never races a close it did not cause */
#define CONNECTION_MEMORY 65536  /* per-connection buffer for the request line and headers */
#define STREAM_WORKERS 2         /* produce the events of every open stream (each a status read, ~µs) */

struct tk_http_server {
    struct MHD_Daemon *daemon;
    struct tk_api *api;
    struct ratelimit limiter;
    struct ratelimit actions[API_ACTION__COUNT]; /* the abuse limits: per address, per action */
    struct exec *exec;    /* requests that write (POST, PATCH, DELETE) */
    struct exec *reads;   /* GET and HEAD: their own workers, so writers waiting on locks never starve reads */
    struct exec *streams; /* open streams between their events: one delayed job each, no thread */
    int max_streams;
    int live_streams;     /* atomic */
    int64_t request_timeout_ns;
};

enum rc_phase { PHASE_BODY, PHASE_SUSPENDED, PHASE_READY };

struct req_ctx;
struct stream_job {
    struct exec_job job; /* first */
    struct req_ctx *rc;
};

struct req_ctx {
    struct exec_job job; /* first: a job is its request */
    struct tk_http_server *s;
    struct MHD_Connection *conn;
    enum rc_phase phase;
    int64_t start_ns;
    char *body;
    size_t len, cap;
    size_t seen;
    bool too_large;
    int route;
    struct api_request req;
    struct api_response resp;
    char addr[INET6_ADDRSTRLEN + 2];
    /* a streaming response: bytes produced on a worker, sent by the event thread (never both at once: the
     * connection is suspended while its stream job runs) */
    struct api_stream *stream;
    struct buf sout;
    size_t sout_off;
    bool stream_end;
    struct stream_job sjob;
};

static const char *header_of(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_HEADER_KIND, name);
}

static const char *query_of(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

static bool append_body(struct req_ctx *rc, const char *data, size_t n)
{
    rc->seen += n;
    if (rc->too_large || rc->len + n > API_BODY_MAX) {
        rc->too_large = true;
        free(rc->body);
        rc->body = NULL;
        rc->len = rc->cap = 0;
        return rc->seen <= DISCARD_MAX;
    }
    if (rc->len + n > rc->cap) {
        size_t cap = rc->cap ? rc->cap : 1024;
        while (cap < rc->len + n)
            cap *= 2;
        char *p = realloc(rc->body, cap);
        if (!p)
            return false;
        rc->body = p;
        rc->cap = cap;
    }
    memcpy(rc->body + rc->len, data, n);
    rc->len += n;
    return true;
}

static void client_addr(struct MHD_Connection *conn, char *out, size_t outlen)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char addr[INET6_ADDRSTRLEN] = "?";
    if (ci && ci->client_addr) {
        if (ci->client_addr->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, addr, sizeof addr);
        else if (ci->client_addr->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, addr, sizeof addr);
    }
    snprintf(out, outlen, "%s", addr);
}

static ssize_t read_stream(void *cls, uint64_t pos, char *out, size_t max);

/* The API's rate-limit hook: the router names the client (a verified user, else an address). */
static bool allow_request(struct tk_api *api, const char *client_key)
{
    struct tk_http_server *s = api->http;
    return ratelimit_allow(&s->limiter, client_key, app_now_ms(api->app));
}

/* The abuse limits' hook: an action's own budget per client address. */
static bool allow_action(struct tk_api *api, enum api_action action, const char *client_addr)
{
    struct tk_http_server *s = api->http;
    return ratelimit_allow(&s->actions[action], client_addr, app_now_ms(api->app));
}

static enum MHD_Result send_response(struct req_ctx *rc, struct api_response *resp)
{
    struct MHD_Connection *conn = rc->conn;
    struct MHD_Response *r;
    if (rc->stream) {
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, read_stream, rc, NULL);
        buf_free(&resp->body);
    } else if (resp->static_body) {
        r = MHD_create_response_from_buffer(resp->static_len, (void *)resp->static_body, MHD_RESPMEM_PERSISTENT);
    } else {
        if (resp->body.oom) { /* the response could not be built: say so plainly */
            buf_free(&resp->body);
            (void)api_fail(resp, TK_ERR_NOMEM, NULL);
        }
        size_t len = resp->body.len;
        r = MHD_create_response_from_buffer(len, resp->body.p, MHD_RESPMEM_MUST_FREE);
        if (r)
            resp->body = (struct buf){0}; /* ownership moved to libmicrohttpd */
    }
    if (!r) {
        buf_free(&resp->body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type ? resp->content_type : "application/json");
    if (resp->cache_control)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, resp->cache_control);
    if (resp->etag)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, resp->etag);
    if (resp->csp) {
        MHD_add_response_header(r, "Content-Security-Policy", resp->csp);
        MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    }
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (resp->status == 429 || resp->status == 503)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (resp->status == 413)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ok;
}

/* Sends rc->resp, logs it if it was slow or a 5xx, and counts it. */
static enum MHD_Result finish(struct req_ctx *rc, const char *method, const char *url)
{
    struct api_response *resp = &rc->resp;
    int status = resp->status;
    int64_t took_us = (clock_mono_ns() - rc->start_ns) / 1000;
    if (status >= 500)
        fprintf(stderr, "ticketd: %s %s -> %d %s\n", method, url, status, tk_err_code(resp->err));
    if (took_us > SLOW_REQUEST_US) /* from arrival to response: says where a stall was, if one ever is */
        fprintf(stderr, "ticketd: slow request: %s %s -> %d after %lld ms\n", method, url, status,
                (long long)(took_us / 1000));
    enum MHD_Result ok = send_response(rc, resp);
    metrics_observe(rc->route, status, took_us);
    return ok;
}

/* ---- the executor side ---- */

static void resume(struct req_ctx *rc)
{
    rc->phase = PHASE_READY;
    MHD_resume_connection(rc->conn); /* the event thread calls on_request again and sends rc->resp */
}

static enum exec_verdict run_job(struct exec_job *job)
{
    struct req_ctx *rc = (struct req_ctx *)job;
    api_dispatch(rc->s->api, rc->route, &rc->req, &rc->resp);
    if (rc->resp.err == TK_ERR_BUSY) { /* it asked to wait: nothing was done, run it again later */
        buf_free(&rc->resp.body);
        rc->resp = (struct api_response){0};
        return EXEC_AGAIN;
    }
    if (rc->resp.stream) { /* a stream: its first bytes now, the rest from the streams executor */
        struct tk_http_server *s = rc->s;
        struct api_stream *st = rc->resp.stream;
        rc->resp.stream = NULL;
        if (__atomic_add_fetch(&s->live_streams, 1, __ATOMIC_ACQ_REL) > s->max_streams) {
            __atomic_sub_fetch(&s->live_streams, 1, __ATOMIC_ACQ_REL);
            st->free(st);
            (void)api_fail(&rc->resp, TK_ERR_RATE_LIMITED, "too many open event streams on this instance; poll instead");
        } else {
            rc->stream = st;
            rc->stream_end = st->next(st, s->api, &rc->sout) == API_STREAM_END;
        }
    }
    resume(rc);
    return EXEC_DONE;
}

/* A stream's job: ask for new bytes; none yet: wait poll_ms in the delayed heap (no thread held). */
static enum exec_verdict run_stream(struct exec_job *job)
{
    struct req_ctx *rc = ((struct stream_job *)job)->rc;
    size_t before = rc->sout.len;
    rc->stream_end = rc->stream->next(rc->stream, rc->s->api, &rc->sout) == API_STREAM_END;
    if (!rc->stream_end && rc->sout.len == before && !rc->sout.oom) {
        if (exec_defer_us((int64_t)rc->stream->poll_ms * 1000) == TK_ERR_BUSY)
            return EXEC_AGAIN;
    }
    resume(rc);
    return EXEC_DONE;
}

static void expire_stream(struct exec_job *job) /* shutting down */
{
    struct req_ctx *rc = ((struct stream_job *)job)->rc;
    rc->stream_end = true;
    resume(rc);
}

/* libmicrohttpd asks for the next bytes of a stream (event thread). Nothing new: suspend the connection and let
 * the stream's job resume it when there is (libmicrohttpd's prescribed pattern: suspend, then return 0). */
static ssize_t read_stream(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    struct req_ctx *rc = cls;
    if (rc->sout_off < rc->sout.len) {
        size_t n = rc->sout.len - rc->sout_off;
        if (n > max)
            n = max;
        memcpy(out, rc->sout.p + rc->sout_off, n);
        rc->sout_off += n;
        if (rc->sout_off == rc->sout.len)
            rc->sout.len = rc->sout_off = 0;
        return (ssize_t)n;
    }
    if (rc->stream_end || rc->sout.oom)
        return MHD_CONTENT_READER_END_OF_STREAM;
    rc->phase = PHASE_SUSPENDED;
    rc->sjob = (struct stream_job){.job = {.run = run_stream, .expire = expire_stream}, .rc = rc};
    MHD_suspend_connection(rc->conn);
    if (exec_submit(rc->s->streams, &rc->sjob.job) != TK_OK) { /* stopping, or over --max-streams: end it */
        rc->stream_end = true;
        resume(rc);
    }
    return 0;
}

static void expire_job(struct exec_job *job)
{
    struct req_ctx *rc = (struct req_ctx *)job;
    buf_free(&rc->resp.body);
    rc->resp = (struct api_response){0};
    (void)api_fail(&rc->resp, TK_ERR_UNAVAILABLE,
                   "the request did not finish within its deadline (--request-timeout-ms); nothing was changed");
    resume(rc);
}

/* ---- the event-thread side ---- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    struct tk_http_server *s = cls;
    struct req_ctx *rc = *con_cls;
    if (!rc) {
        rc = calloc(1, sizeof *rc);
        if (!rc)
            return MHD_NO;
        rc->s = s;
        rc->conn = conn;
        rc->start_ns = clock_mono_ns();
        rc->route = API_ROUTE_UNMATCHED;
        *con_cls = rc;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > API_BODY_MAX) { /* refuse before reading a byte of it */
            rc->too_large = true;
            (void)api_fail(&rc->resp, TK_ERR_PAYLOAD_TOO_LARGE, "request body is over 65536 bytes; nothing was read");
            rc->phase = PHASE_READY;
            return finish(rc, method, url);
        }
        return MHD_YES;
    }
    if (rc->phase == PHASE_READY)
        return finish(rc, method, url);
    if (rc->phase == PHASE_SUSPENDED) /* not expected: libmicrohttpd does not call a suspended connection */
        return MHD_YES;
    if (*upload_data_size) {
        bool go_on = append_body(rc, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return go_on ? MHD_YES : MHD_NO;
    }

    struct api_response *resp = &rc->resp;
    int frc = api_route_find(method, url, &rc->route);
    if (rc->too_large) {
        (void)api_fail(resp, TK_ERR_PAYLOAD_TOO_LARGE, "request body is over 65536 bytes; nothing was read");
    } else if (frc < 0) {
        rc->route = API_ROUTE_UNMATCHED;
        (void)api_fail(resp, frc, frc == TK_ERR_METHOD ? "method not allowed on this path" : "no such path");
    } else {
        client_addr(conn, rc->addr, sizeof rc->addr);
        rc->req = (struct api_request){
            .method = method,
            .path = url,
            .body = rc->body,
            .body_len = rc->len,
            .header = header_of,
            .query = query_of,
            .ctx = conn,
            .client_addr = rc->addr,
        };
        if (API_ROUTES[rc->route].inline_ok) { /* needs no backing service: answer here */
            api_dispatch(s->api, rc->route, &rc->req, resp);
        } else if (api_dispatch_inline(s->api, rc->route, &rc->req, resp)) {
            /* a read-cache hit that needed no backing service: answered here, no hand-off */
        } else {
            rc->phase = PHASE_SUSPENDED;
            rc->job = (struct exec_job){.run = run_job, .expire = expire_job,
                                        .deadline_ns = rc->start_ns + s->request_timeout_ns};
            bool read = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
            MHD_suspend_connection(conn);
            if (exec_submit(read ? s->reads : s->exec, &rc->job) == TK_OK)
                return MHD_YES;
            (void)api_fail(resp, TK_ERR_UNAVAILABLE, "the server is at capacity (executor queue full); retry");
            rc->phase = PHASE_READY;
            MHD_resume_connection(conn); /* called again at once: finish() sends the 503 */
            return MHD_YES;
        }
    }
    rc->phase = PHASE_READY;
    return finish(rc, method, url);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    struct req_ctx *rc = *con_cls;
    /* A request that ended without its response going out: say why (at most a few lines a second). */
    if (rc && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && toe != MHD_REQUEST_TERMINATED_CLIENT_ABORT &&
        !rc->too_large) {
        static int64_t last_s;
        static int burst;
        int64_t now_s = clock_mono_ms() / 1000;
        if (now_s != __atomic_load_n(&last_s, __ATOMIC_RELAXED)) {
            __atomic_store_n(&last_s, now_s, __ATOMIC_RELAXED);
            __atomic_store_n(&burst, 0, __ATOMIC_RELAXED);
        }
        if (__atomic_add_fetch(&burst, 1, __ATOMIC_RELAXED) <= 5)
            fprintf(stderr, "ticketd: a request ended without its response: %s (after %lld ms)\n",
                    toe == MHD_REQUEST_TERMINATED_WITH_ERROR      ? "error"
                    : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "connection timeout"
                    : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown"
                    : toe == MHD_REQUEST_TERMINATED_READ_ERROR      ? "read error"
                                                                    : "other",
                    (long long)((clock_mono_ns() - rc->start_ns) / 1000000));
    }
    if (rc) {
        TK_ASSERT(rc->phase != PHASE_SUSPENDED);
        if (rc->stream) {
            rc->stream->free(rc->stream);
            __atomic_sub_fetch(&rc->s->live_streams, 1, __ATOMIC_ACQ_REL);
        }
        buf_free(&rc->sout);
        buf_free(&rc->resp.body);
        free(rc->body);
        free(rc);
        *con_cls = NULL;
    }
}

static void render_metrics(struct tk_api *api, struct buf *b)
{
    metrics_render_http(b);
    exec_render_metrics(api->http->exec, b);
    exec_render_metrics(api->http->reads, b);
    buf_printf(b, "# TYPE ticketd_streams_open gauge\nticketd_streams_open %d\n",
               __atomic_load_n(&api->http->live_streams, __ATOMIC_RELAXED));
    buf_printf(b, "# TYPE ticketd_streams_max gauge\nticketd_streams_max %d\n", api->http->max_streams);
}

static void server_free(struct tk_http_server *s)
{
    exec_free(s->streams);
    exec_free(s->reads);
    exec_free(s->exec);
    ratelimit_free(&s->limiter);
    for (int i = 0; i < API_ACTION__COUNT; i++)
        ratelimit_free(&s->actions[i]);
    free(s);
}

int http_server_start(const struct http_server_config *cfg, struct tk_api *api, struct tk_http_server **out)
{
    struct tk_http_server *s = calloc(1, sizeof *s);
    if (!s)
        return TK_ERR_NOMEM;
    s->api = api;
    s->request_timeout_ns = (int64_t)cfg->request_timeout_ms * 1000000;
    if (ratelimit_init(&s->limiter, cfg->rate_limit, cfg->rate_burst) < 0) {
        free(s);
        return TK_ERR_NOMEM;
    }
    char err[160];
    if (cfg->redis && cfg->redis[0] &&
        ratelimit_use_redis(&s->limiter, cfg->redis, cfg->redis_prefix, cfg->redis_pool, err, sizeof err) < 0) {
        fprintf(stderr, "ticketd: rate limits: %s\n", err);
        ratelimit_free(&s->limiter);
        free(s);
        return TK_ERR_INVALID;
    }
    const int action_rate[API_ACTION__COUNT] = {cfg->signup_rate, cfg->issue_rate};
    const int action_burst[API_ACTION__COUNT] = {cfg->signup_burst, cfg->issue_burst};
    static const char *const ACTION_NAMES[API_ACTION__COUNT] = {"signup", "issue"};
    for (int i = 0; i < API_ACTION__COUNT; i++) {
        int arc = ratelimit_init(&s->actions[i], action_rate[i], action_burst[i] > 0 ? action_burst[i] : 1);
        char prefix[96];
        snprintf(prefix, sizeof prefix, "%s%s:", cfg->redis_prefix ? cfg->redis_prefix : "", ACTION_NAMES[i]);
        if (arc == TK_OK && cfg->redis && cfg->redis[0])
            arc = ratelimit_use_redis(&s->actions[i], cfg->redis, prefix, 2, err, sizeof err);
        if (arc < 0) {
            for (int j = 0; j < i; j++)
                ratelimit_free(&s->actions[j]);
            ratelimit_free(&s->limiter);
            free(s);
            return arc;
        }
    }
    struct exec_config ec = {.name = "executor", .workers = cfg->workers, .queue_max = cfg->queue_max};
    struct exec_config rc_cfg = {.name = "reads", .workers = cfg->read_workers, .queue_max = cfg->queue_max};
    struct exec_config sc = {.name = "streams", .workers = STREAM_WORKERS, .queue_max = cfg->max_streams};
    s->max_streams = cfg->max_streams;
    int erc = exec_new(&ec, &s->exec);
    if (erc == TK_OK)
        erc = exec_new(&rc_cfg, &s->reads);
    if (erc == TK_OK)
        erc = exec_new(&sc, &s->streams);
    if (erc < 0) {
        exec_free(s->reads);
        exec_free(s->exec);
        s->exec = s->reads = NULL;
    }
    if (erc < 0) {
        fprintf(stderr, "ticketd: cannot start the executor (%d workers, queue %d)\n", cfg->workers, cfg->queue_max);
        server_free(s);
        return erc;
    }
    api->http = s;
    api->allow = allow_request;
    api->allow_local = cfg->rate_limit <= 0 || !(cfg->redis && cfg->redis[0]); /* off, or in-process buckets */
    api->allow_action = allow_action;
    api->render_http_metrics = render_metrics;
    metrics_init(API_ROUTE_COUNT + 1, api_route_names());
    if (!epoll_drain_active()) /* a build that linked it out would hang a burst now and then: say so */
        fprintf(stderr,
                "ticketd: warning: libmicrohttpd's epoll_wait is not the mended one (src/http/epoll_drain.c)\n");
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
    if (inet_pton(AF_INET, cfg->bind, &addr.sin_addr) != 1) {
        fprintf(stderr, "ticketd: --bind must be an IPv4 address, got '%s'\n", cfg->bind);
        server_free(s);
        return TK_ERR_INVALID;
    }
    s->daemon = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, (uint16_t)cfg->port, NULL,
        NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)cfg->threads, MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096U,
        /* Only with --reuse-port: libmicrohttpd reads LISTENING_ADDRESS_REUSE 0 as "forbid reuse" (no
         * SO_REUSEADDR), and a restarted instance then cannot bind its port for a minute while the connections
         * the old one closed sit in TIME_WAIT. Without the option it sets SO_REUSEADDR, the usual server default. */
        cfg->reuse_port ? MHD_OPTION_LISTENING_ADDRESS_REUSE : MHD_OPTION_END, 1U, MHD_OPTION_END);
    if (!s->daemon) {
        fprintf(stderr, "ticketd: cannot listen on %s:%d\n", cfg->bind, cfg->port);
        server_free(s);
        return TK_ERR_UNAVAILABLE;
    }
    *out = s;
    return TK_OK;
}

void http_server_stop(struct tk_http_server *s)
{
    if (!s)
        return;
    /* Stop accepting, then let the executor finish (or expire) every job: each one resumes its connection, so
     * none is left suspended when libmicrohttpd stops (it may not stop with suspended connections). Requests
     * that arrive meanwhile are refused by the stopping executor and answered at once. */
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    exec_stop(s->exec);
    exec_stop(s->reads);
    exec_stop(s->streams); /* ends every open stream: each resumes its connection */
    MHD_stop_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd); /* quiesce hands the listening socket to the caller */
    server_free(s);
}
