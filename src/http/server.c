/* server.c — libmicrohttpd adapter.
 *
 * One struct req_ctx per request, freed by the completion callback. The handler returns MHD_YES on its
 * first call and queues the response only after the body phase: queueing on the first call makes
 * libmicrohttpd 0.9.75 close every connection (shared/LIMITS.md: 5× fewer requests/s).
 * Bodies over API_BODY_MAX are read and dropped (up to DISCARD_MAX, then the connection is cut) and
 * answered 413, so no handler ever sees them. Each client (API key, else queue token, else address)
 * has a request budget (util/ratelimit.h); /health and /metrics are exempt so monitoring never fails.
 */
#include "http/server.h"

#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "util/clock.h"
#include "util/metrics.h"

#define DISCARD_MAX (1024 * 1024)
#define SLOW_REQUEST_US 2000000 /* requests slower than this are logged */
#define CONNECTION_TIMEOUT_S 120 /* idle keep-alive connections: long enough that a client never races a close it did not cause */

struct tk_http_server {
    struct MHD_Daemon *daemon;
    struct tk_api *api;
    struct ratelimit limiter;
};

struct req_ctx {
    int64_t start_ns;
    char *body;
    size_t len, cap;
    size_t seen;
    bool too_large;
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

static void client_key(struct MHD_Connection *conn, char *out, size_t outlen)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!v)
        v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "queue-token");
    if (v) {
        snprintf(out, outlen, "k:%s", v);
        return;
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char addr[INET6_ADDRSTRLEN] = "?";
    if (ci && ci->client_addr) {
        if (ci->client_addr->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, addr, sizeof addr);
        else if (ci->client_addr->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, addr, sizeof addr);
    }
    snprintf(out, outlen, "a:%s", addr);
}

static enum MHD_Result send_response(struct MHD_Connection *conn, struct api_response *resp)
{
    struct MHD_Response *r;
    if (resp->static_body) {
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
    if (resp->status == 429)
        MHD_add_response_header(r, "Retry-After", "1");
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ok;
}

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
        rc->start_ns = clock_mono_ns();
        *con_cls = rc;
        return MHD_YES;
    }
    if (*upload_data_size) {
        bool go_on = append_body(rc, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return go_on ? MHD_YES : MHD_NO;
    }

    struct api_response resp = {0};
    int route = API_ROUTE_UNMATCHED;
    struct tk_app *app = s->api->app;
    int frc = api_route_find(method, url, &route);
    if (rc->too_large) {
        (void)api_fail(&resp, TK_ERR_PAYLOAD_TOO_LARGE, "request body is over 65536 bytes; nothing was read");
    } else if (frc < 0) {
        route = API_ROUTE_UNMATCHED;
        (void)api_fail(&resp, frc, frc == TK_ERR_METHOD ? "method not allowed on this path" : "no such path");
    } else {
        const char *path = API_ROUTES[route].path;
        bool exempt = strcmp(path, "/health") == 0 || strcmp(path, "/metrics") == 0;
        char key[160];
        client_key(conn, key, sizeof key);
        if (!exempt && !ratelimit_allow(&s->limiter, key, app_now_ms(app))) {
            (void)api_fail(&resp, TK_ERR_RATE_LIMITED, "too many requests from this client; retry in a second");
        } else {
            struct api_request req = {
                .method = method,
                .path = url,
                .body = rc->body,
                .body_len = rc->len,
                .header = header_of,
                .query = query_of,
                .ctx = conn,
            };
            api_dispatch(s->api, route, &req, &resp);
        }
    }
    int status = resp.status;
    int64_t took_us = (clock_mono_ns() - rc->start_ns) / 1000;
    if (status >= 500)
        fprintf(stderr, "ticketd: %s %s -> %d %s\n", method, url, status, tk_err_code(resp.err));
    if (took_us > SLOW_REQUEST_US) /* from arrival to response: says where a stall was, if one ever is */
        fprintf(stderr, "ticketd: slow request: %s %s -> %d after %lld ms\n", method, url, status,
                (long long)(took_us / 1000));
    enum MHD_Result ok = send_response(conn, &resp);
    metrics_observe(route, status, took_us);
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    struct req_ctx *rc = *con_cls;
    /* A request that ended without its response going out: say why (at most a few lines a second). */
    if (rc && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && toe != MHD_REQUEST_TERMINATED_CLIENT_ABORT) {
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
        free(rc->body);
        free(rc);
        *con_cls = NULL;
    }
}

int http_server_start(const struct http_server_config *cfg, struct tk_api *api, struct tk_http_server **out)
{
    struct tk_http_server *s = calloc(1, sizeof *s);
    if (!s)
        return TK_ERR_NOMEM;
    s->api = api;
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
    metrics_init(API_ROUTE_COUNT + 1, API_ROUTE_NAMES);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
    if (inet_pton(AF_INET, cfg->bind, &addr.sin_addr) != 1) {
        fprintf(stderr, "ticketd: --bind must be an IPv4 address, got '%s'\n", cfg->bind);
        ratelimit_free(&s->limiter);
        free(s);
        return TK_ERR_INVALID;
    }
    s->daemon = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, (uint16_t)cfg->port, NULL, NULL,
                                 on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads, MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned)cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)CONNECTION_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096U, MHD_OPTION_LISTENING_ADDRESS_REUSE,
                                 (unsigned)(cfg->reuse_port ? 1 : 0), MHD_OPTION_END);
    if (!s->daemon) {
        fprintf(stderr, "ticketd: cannot listen on %s:%d\n", cfg->bind, cfg->port);
        ratelimit_free(&s->limiter);
        free(s);
        return TK_ERR_UNAVAILABLE;
    }
    *out = s;
    return TK_OK;
}

void http_server_stop(struct tk_http_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon);
    ratelimit_free(&s->limiter);
    free(s);
}
