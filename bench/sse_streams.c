/* sse_streams.c — many open GET /queue/events streams against one ticketd instance, and what they cost it.
 *
 *   sse_streams --port P --tokens FILE [--host 127.0.0.1] [--streams N] [--from K] [--seconds T] [--pid PID]
 *
 * Opens N (default 10,000) Server-Sent-Events streams, one TCP connection each, for the tokens on lines K.. of FILE
 * (one token a line, as `ticketd load --scenario sale-issue --tokens FILE` writes them), at most 256 still waiting
 * for their first event at a time; then keeps them all open for T seconds (default 30) and counts the
 * `event: status` lines delivered per second. With --pid it reads the server's VmRSS and thread count
 * (/proc/PID/status, /proc/PID/task) before the first stream, once every stream is open, and at the end. Prints one
 * JSON object: the command, the HTTP statuses, the time to open, streams open, ended by the server, events total and
 * per second (each second and the mean), RSS per stream, threads. One thread, epoll, non-blocking sockets; it lifts
 * its own RLIMIT_NOFILE to the hard limit. Never passes or fails on a figure: exit 2 only on bad arguments. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PENDING_MAX 256 /* streams connecting or waiting for their first event */
#define SECONDS_MAX 600

static const char PATTERN[] = "event: status\n";

struct conn {
    int fd;
    char token[64];
    int state;     /* 0 not started, 1 connecting/sent, 2 got the first event, 3 closed */
    int http;      /* status of the response line, 0 until read */
    size_t match;  /* chars of PATTERN matched so far */
    char line[16]; /* the start of the response, for its status */
    size_t linelen;
    uint64_t events;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

static int threads(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return d ? n : -1;
}

static void shell_word(const char *s)
{
    printf("\"");
    for (; *s; s++)
        printf(*s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
    printf("\"");
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *tokens = NULL;
    int port = 0, nstreams = 10000, from = 0, seconds = 30, pid = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--host"))
            host = v;
        else if (!strcmp(a, "--port"))
            port = atoi(v);
        else if (!strcmp(a, "--tokens"))
            tokens = v;
        else if (!strcmp(a, "--streams"))
            nstreams = atoi(v);
        else if (!strcmp(a, "--from"))
            from = atoi(v);
        else if (!strcmp(a, "--seconds"))
            seconds = atoi(v);
        else if (!strcmp(a, "--pid"))
            pid = atoi(v);
        else
            port = -1;
    }
    if (port <= 0 || !tokens || nstreams < 1 || nstreams > 1000000 || from < 0 || seconds < 1 || seconds > SECONDS_MAX) {
        fprintf(stderr, "usage: sse_streams --port P --tokens FILE [--host H] [--streams N] [--from K] [--seconds T] "
                        "[--pid PID]\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct conn *cs = calloc((size_t)nstreams, sizeof *cs);
    FILE *f = fopen(tokens, "r");
    if (!cs || !f) {
        fprintf(stderr, "sse_streams: cannot read %s\n", tokens);
        return 2;
    }
    char buf[65536];
    int n = 0;
    for (int line = 0; n < nstreams && fgets(buf, sizeof buf, f); line++) {
        buf[strcspn(buf, "\r\n")] = 0;
        if (line < from || !buf[0] || strlen(buf) >= sizeof cs[0].token)
            continue;
        memcpy(cs[n].token, buf, strlen(buf) + 1); /* fits: checked above */
        cs[n].fd = -1;
        n++;
    }
    fclose(f);
    if (n < nstreams)
        fprintf(stderr, "sse_streams: only %d tokens from line %d of %s\n", n, from, tokens);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "sse_streams: --host must be an IPv4 address\n");
        return 2;
    }
    int ep = epoll_create1(0);
    long rss0 = pid ? rss_kb(pid) : -1;
    int thr0 = pid ? threads(pid) : -1;

    int next = 0, pending = 0, open = 0, closed = 0, connect_errors = 0;
    int http_counts[600] = {0};
    uint64_t events = 0, per_sec[SECONDS_MAX + 1] = {0};
    double t0 = now_s(), t_open = -1, t_measure = 0, t_end = 0;
    long rss_open = -1;
    int thr_open = -1;
    struct epoll_event evs[1024];
    for (;;) {
        double t = now_s();
        while (next < n && pending < PENDING_MAX) { /* start more streams */
            struct conn *c = &cs[next++];
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (c->fd < 0 || (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)) {
                if (c->fd >= 0)
                    close(c->fd);
                c->fd = -1;
                c->state = 3;
                connect_errors++;
                closed++;
                continue;
            }
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            struct epoll_event e = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
            c->state = 1;
            pending++;
        }
        if (t_open < 0 && next == n && pending == 0) { /* every stream open (or refused): measure from now */
            t_open = t - t0;
            rss_open = pid ? rss_kb(pid) : -1;
            thr_open = pid ? threads(pid) : -1;
            t_measure = now_s();
            t_end = t_measure + seconds;
        }
        if (t_open < 0 && t - t0 > 120) { /* give up opening after 2 minutes; measure what is open */
            t_open = t - t0;
            t_measure = now_s();
            t_end = t_measure + seconds;
        }
        if (t_open >= 0 && t >= t_end)
            break;
        int k = epoll_wait(ep, evs, 1024, 100);
        for (int i = 0; i < k; i++) {
            struct conn *c = evs[i].data.ptr;
            if (evs[i].events & EPOLLOUT) {
                char req[256];
                int len = snprintf(req, sizeof req,
                                   "GET /queue/events?token=%s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n\r\n",
                                   c->token, host, port);
                if (write(c->fd, req, (size_t)len) != len) {
                    connect_errors++;
                    goto drop;
                }
                struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
                continue;
            }
            ssize_t got;
            bool eof = false;
            while ((got = read(c->fd, buf, sizeof buf)) > 0) {
                for (ssize_t j = 0; j < got; j++) {
                    if (c->linelen < sizeof c->line - 1)
                        c->line[c->linelen++] = buf[j];
                    if (buf[j] == PATTERN[c->match]) {
                        if (++c->match == sizeof PATTERN - 1) {
                            c->match = 0;
                            c->events++;
                            if (t_open >= 0) {
                                events++;
                                int s = (int)(now_s() - t_measure);
                                if (s >= 0 && s <= SECONDS_MAX)
                                    per_sec[s]++;
                            }
                            if (c->state == 1) {
                                c->state = 2;
                                pending--;
                                open++;
                            }
                        }
                    } else {
                        c->match = buf[j] == PATTERN[0];
                    }
                }
                if (!c->http && c->linelen >= 12) {
                    c->http = atoi(c->line + 9);
                    if (c->http > 0 && c->http < 600)
                        http_counts[c->http]++;
                    if (c->http != 200) { /* 429 (over --max-streams) or 401: no stream */
                        eof = true;
                        break;
                    }
                }
            }
            if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
                eof = true;
            if (!eof)
                continue;
        drop:
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->fd = -1;
            if (c->state == 1)
                pending--;
            else if (c->state == 2)
                open--;
            c->state = 3;
            closed++;
        }
    }
    double measured = now_s() - t_measure;
    long rss_end = pid ? rss_kb(pid) : -1;
    int thr_end = pid ? threads(pid) : -1;
    int still_open = 0;
    for (int i = 0; i < n; i++)
        still_open += cs[i].state == 2;

    printf("{\n  \"command\": [");
    for (int i = 0; i < argc; i++) {
        printf(i ? ", " : "");
        shell_word(argv[i]);
    }
    printf("],\n  \"streams_asked\": %d,\n  \"http_status\": {", n);
    bool first = true;
    for (int s = 0; s < 600; s++)
        if (http_counts[s]) {
            printf("%s\"%d\": %d", first ? "" : ", ", s, http_counts[s]);
            first = false;
        }
    printf("},\n  \"connect_errors\": %d,\n  \"open_seconds\": %.2f,\n", connect_errors, t_open);
    printf("  \"streams_open_after_opening\": %d,\n  \"streams_open_at_end\": %d,\n  \"streams_ended\": %d,\n", open,
           still_open, closed);
    printf("  \"measured_seconds\": %.2f,\n  \"events\": %llu,\n  \"events_per_sec\": %.0f,\n  \"events_each_second\": [",
           measured, (unsigned long long)events, measured > 0 ? (double)events / measured : 0);
    for (int s = 0; s < seconds && s <= SECONDS_MAX; s++)
        printf("%s%llu", s ? ", " : "", (unsigned long long)per_sec[s]);
    printf("]");
    if (pid) {
        printf(",\n  \"server_pid\": %d,\n  \"rss_kb\": {\"before\": %ld, \"all_open\": %ld, \"end\": %ld},\n", pid, rss0,
               rss_open, rss_end);
        printf("  \"rss_bytes_per_stream\": %.0f,\n", open > 0 ? (double)(rss_open - rss0) * 1024.0 / open : 0);
        printf("  \"threads\": {\"before\": %d, \"all_open\": %d, \"end\": %d}", thr0, thr_open, thr_end);
    }
    printf("\n}\n");
    for (int i = 0; i < n; i++)
        if (cs[i].fd >= 0)
            close(cs[i].fd);
    free(cs);
    return 0;
}
