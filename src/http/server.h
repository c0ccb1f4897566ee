/* server.h — the HTTP adapter: libmicrohttpd's epoll event threads in front of a bounded executor and api/. */
#ifndef TK_HTTP_SERVER_H
#define TK_HTTP_SERVER_H

#include "api/api.h"
#include "util/ratelimit.h"

struct http_server_config {
    const char *bind;    /* IPv4 address */
    int port;
    int threads;
    int max_connections;
    int max_connections_per_ip;
    int workers;            /* executor threads for writes */
    int read_workers;       /* executor threads for GET/HEAD */
    int queue_max;          /* executor queue: requests waiting for a worker, at most */
    int request_timeout_ms; /* each request's deadline from its arrival */
    int max_streams;        /* open event streams at most (then 429) */
    int rate_limit;      /* per client per second, 0 = off */
    int rate_burst;
    int signup_rate, signup_burst; /* POST /users per address (0 = off) */
    int issue_rate, issue_burst;   /* POST /queue/issue per address (0 = off) */
    bool reuse_port;     /* SO_REUSEPORT: several processes accept on one port */
    const char *redis;   /* shared rate limits in Redis when set */
    const char *redis_prefix;
    int redis_pool;
};

struct tk_http_server;

/* Starts serving api; a failed start needs no stop. */
int http_server_start(const struct http_server_config *cfg, struct tk_api *api, struct tk_http_server **out)
    TK_MUST_CHECK;
/* Stops accepting, finishes in-flight requests, frees. http_server_stop(NULL) is a no-op. */
void http_server_stop(struct tk_http_server *s);

/* epoll_drain.c: is this process's epoll_wait the one that mends libmicrohttpd 0.9.75's drain loop? */
bool epoll_drain_active(void);

#endif
