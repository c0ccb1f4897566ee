/*
 * harness.c — starts and stops ticketd for the API tests, sends HTTP requests
 * (one reusable libcurl easy handle per thread, or a multi handle for bursts),
 * and implements the envelope assertions and booking-flow helpers declared in
 * harness.h. All server launching lives in srv_start(), so that the same tests
 * can run against PostgreSQL or several instances (TICKETD_TEST_URLS).
 */
#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#define LIVE_MAX 32
#define REQUEST_TIMEOUT_MS 60000L
#define HEALTH_TIMEOUT_MS 10000
#define STOP_GRACE_MS 5000

static const char *g_ticketd_bin;
static struct srv *g_live[LIVE_MAX]; /* servers started and not yet stopped */
static int g_n_live;
static long g_request_timeout_ms = REQUEST_TIMEOUT_MS; /* shortened while polling /health */

static void note_write(void); /* the read cache: a write another instance may show only later */

/* ---- small utilities --------------------------------------------------- */

static void fail_at(const char *file, int line, const char *f, ...)
    __attribute__((format(printf, 3, 4), noreturn));

static void fail_at(const char *file, int line, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vprint_error(f, ap);
    va_end(ap);
    print_error("\n");
    _fail(file, line);
    abort(); /* _fail does not return inside a test */
}

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void copy_str(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    ensure(len < n, "string too long for its buffer (%zu >= %zu): %.80s", len, n, src);
    memcpy(dst, src, len + 1);
}

const char *fmt(const char *f, ...)
{
    static __thread char ring[16][2048];
    static __thread unsigned next;
    char *buf = ring[next++ % 16];
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(buf, sizeof ring[0], f, ap);
    va_end(ap);
    ensure(n >= 0 && (size_t)n < sizeof ring[0], "fmt(): result too long");
    return buf;
}

/* Value of n decimal digits at p, or -1. */
static int digits(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

int64_t rfc3339_ms(const char *s)
{
    if (s == NULL || strlen(s) < 20)
        return -1;
    if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return -1;
    struct tm tm = {0};
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || se < 0 || se > 60)
        return -1;
    const char *p = s + 19;
    int64_t frac_ms = 0;
    if (*p == '.') {
        int nd = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, nd++)
            if (nd < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        if (nd == 0)
            return -1;
        for (; nd < 3; nd++)
            frac_ms *= 10;
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "z") != 0 && strcmp(p, "+00:00") != 0)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    return (int64_t)timegm(&tm) * 1000 + frac_ms;
}

bool is_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 18 || s[0] == '0')
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

bool is_hex(const char *s, size_t len)
{
    if (s == NULL || strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return true;
}

/* ---- server lifecycle ---------------------------------------------------- */

static void stop_all_quietly(void);

void harness_init(int argc, char **argv)
{
    const char *urls = getenv("TICKETD_TEST_URLS");
    if (argc < 2 && (urls == NULL || *urls == '\0')) {
        fprintf(stderr, "usage: %s /path/to/ticketd   (or set TICKETD_TEST_URLS)\n", argv[0]);
        exit(2);
    }
    g_ticketd_bin = argc >= 2 ? argv[1] : NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "curl_global_init failed\n");
        exit(2);
    }
    signal(SIGPIPE, SIG_IGN);
    atexit(stop_all_quietly);
}

static void live_add(struct srv *s)
{
    ensure(g_n_live < LIVE_MAX, "too many servers at once");
    g_live[g_n_live++] = s;
}

static void live_remove(struct srv *s)
{
    for (int i = 0; i < g_n_live; i++)
        if (g_live[i] == s) {
            g_live[i] = g_live[--g_n_live];
            return;
        }
}

/* Prints the last bytes of the child's log, to explain a failure. */
static void print_log_tail(const struct srv *s)
{
    FILE *f = s->log_path[0] ? fopen(s->log_path, "r") : NULL;
    if (f == NULL)
        return;
    char buf[4096];
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "---- ticketd log (%s), last %zu bytes ----\n%s\n---- end of log ----\n",
            s->log_path, n, buf);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ensure(fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        fail_msg("cannot find a free port: %s", strerror(errno));
    }
    close(fd);
    return ntohs(a.sin_port);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static struct srv *srv_external(const char *urls, const char *const *extra_args)
{
    /* Shared instances were started by someone else: only "--rate-limit 0" is implied. */
    for (int i = 0; extra_args[i] != NULL; i += 2) {
        bool rate_off = strcmp(extra_args[i], "--rate-limit") == 0 && extra_args[i + 1] &&
                        strcmp(extra_args[i + 1], "0") == 0;
        if (!rate_off) {
            print_message("skipped: needs %s, not available with TICKETD_TEST_URLS\n",
                          extra_args[i]);
            skip();
        }
    }
    struct srv *s = calloc(1, sizeof *s);
    ensure(s != NULL, "out of memory");
    s->external = true;
    const char *p = urls;
    while (*p && s->n_base_urls < SRV_URLS_MAX) {
        size_t n = strcspn(p, ",");
        if (n > 0 && n < sizeof s->base_urls[0]) {
            memcpy(s->base_urls[s->n_base_urls], p, n);
            char *u = s->base_urls[s->n_base_urls];
            u[n] = '\0';
            if (u[n - 1] == '/')
                u[n - 1] = '\0';
            s->n_base_urls++;
        }
        p += n + (p[n] == ',');
    }
    ensure(s->n_base_urls > 0, "TICKETD_TEST_URLS has no usable URL");
    live_add(s);
    return s;
}

static bool child_exited(struct srv *s, int *wstatus)
{
    return s->pid > 0 && waitpid(s->pid, wstatus, WNOHANG) == s->pid;
}

/* Forks `ticketd serve` with argv, its output to log_path; returns the pid. */
static pid_t spawn(const char *const *argv, const char *log_path)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    ensure(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* The server must not outlive a test program that crashes. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int nul = open("/dev/null", O_RDONLY);
        if (log >= 0) {
            dup2(log, 1);
            dup2(log, 2);
        }
        if (nul >= 0)
            dup2(nul, 0);
        execv(argv[0], (char *const *)argv);
        dprintf(2, "execv %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

static void wait_healthy(struct srv *s, int url_index, pid_t pid)
{
    int64_t deadline = now_ms() + HEALTH_TIMEOUT_MS;
    for (;;) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            if (pid == s->pid)
                s->pid = 0;
            print_log_tail(s);
            fail_msg("ticketd exited during start-up (%s %d) before /health answered",
                     WIFEXITED(st) ? "exit status" : "signal",
                     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        }
        g_request_timeout_ms = 1000;
        unsigned saved = s->rr_next;
        s->rr_next = (unsigned)url_index; /* ask this very instance */
        int n = s->n_base_urls;
        s->n_base_urls = url_index + 1;
        struct resp r = http(s, "GET", "/health", NULL, NULL);
        s->n_base_urls = n;
        s->rr_next = saved;
        g_request_timeout_ms = REQUEST_TIMEOUT_MS;
        long status = r.status;
        resp_free(&r);
        if (status == 200)
            return;
        if (now_ms() > deadline) {
            print_log_tail(s);
            fail_msg("ticketd %s did not answer GET /health with 200 within %d ms (last status %ld)",
                     s->base_urls[url_index], HEALTH_TIMEOUT_MS, status);
        }
        sleep_ms(50);
    }
}

/* Runs one statement on the admin database of TICKETD_TEST_PG. */
static void pg_admin(const char *sql)
{
    PGconn *c = PQconnectdb(getenv("TICKETD_TEST_PG"));
    ensure(PQstatus(c) == CONNECTION_OK, "PostgreSQL (TICKETD_TEST_PG): %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ensure(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* Keeps instance i's command line (copies: the caller's strings may not outlive srv_start) for srv_restart. */
static void save_cmd(struct srv *s, int i, const char *const *argv)
{
    int n = 0;
    while (argv[n])
        n++;
    char **c = calloc((size_t)n + 1, sizeof *c);
    ensure(c != NULL, "out of memory");
    for (int k = 0; k < n; k++)
        ensure((c[k] = strdup(argv[k])) != NULL, "out of memory");
    s->cmd[i] = c;
    if (i + 1 > s->n_instances)
        s->n_instances = i + 1;
}

static void free_cmds(struct srv *s)
{
    for (int i = 0; i < s->n_instances; i++) {
        for (int k = 0; s->cmd[i] && s->cmd[i][k]; k++)
            free(s->cmd[i][k]);
        free(s->cmd[i]);
        s->cmd[i] = NULL;
    }
    s->n_instances = 0;
}

/* A server record with its private temp dir (for the log, and the SQLite file in local mode). */
static struct srv *srv_new(void)
{
    struct srv *s = calloc(1, sizeof *s);
    ensure(s != NULL, "out of memory");
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof s->dir, "%s/ticketd-api-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ensure(mkdtemp(s->dir) != NULL, "mkdtemp: %s", strerror(errno));
    return s;
}

/* Shared mode: N instances on a fresh PostgreSQL database and Redis prefix. */
static struct srv *srv_start_shared(int n, const char *const *extra_args)
{
    const char *pg = getenv("TICKETD_TEST_PG"), *redis = getenv("TICKETD_TEST_REDIS");
    ensure(pg && *pg && redis && *redis,
           "TICKETD_TEST_SHARED needs TICKETD_TEST_PG and TICKETD_TEST_REDIS (bash scripts/services.sh up)");
    ensure(n >= 1 && n <= SRV_URLS_MAX, "TICKETD_TEST_SHARED must be 1..%d", SRV_URLS_MAX);
    static int counter;
    struct srv *s = srv_new();
    snprintf(s->log_path, sizeof s->log_path, "%s/server.log", s->dir);
    snprintf(s->pg_db, sizeof s->pg_db, "tk_api_%d_%d", (int)getpid(), counter++);
    pg_admin(fmt("CREATE DATABASE %s", s->pg_db));
    const char *slash = strrchr(pg, '/');
    snprintf(s->db_url, sizeof s->db_url, "%.*s/%s", (int)(slash - pg), pg, s->pg_db);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "tkapi%d_%s", (int)getpid(), s->pg_db + 7);
    live_add(s);
    for (int i = 0; i < n; i++) {
        int port = free_port();
        snprintf(s->base_urls[i], sizeof s->base_urls[0], "http://127.0.0.1:%d", port);
        s->n_base_urls = i + 1;
        char port_arg[16];
        snprintf(port_arg, sizeof port_arg, "%d", port);
        /* every test client shares 127.0.0.1: lift the per-address connection cap (a test of the cap sets its own) */
        const char *argv[72] = {g_ticketd_bin, "serve", "--port", port_arg, "--db", s->db_url,
                                "--redis", redis, "--redis-prefix", prefix, "--max-connections-per-ip", "100000",
                                "--signup-rate", "0", "--issue-rate", "0"};
        int argc = 16;
        for (int k = 0; extra_args[k] != NULL; k++) {
            ensure(argc < 71, "too many server arguments");
            argv[argc++] = extra_args[k];
        }
        argv[argc] = NULL;
        save_cmd(s, i, argv);
        pid_t pid = spawn(argv, s->log_path);
        if (i == 0)
            s->pid = pid;
        else
            s->more_pids[s->n_more++] = pid;
        wait_healthy(s, i, pid);
    }
    return s;
}

void random_hex(char *out, int n_hex)
{
    unsigned char raw[64];
    ensure(n_hex > 0 && n_hex <= 128, "random_hex: 1..128 digits");
    int fd = open("/dev/urandom", O_RDONLY);
    ensure(fd >= 0 && read(fd, raw, (size_t)(n_hex + 1) / 2) == (ssize_t)((n_hex + 1) / 2), "/dev/urandom");
    close(fd);
    for (int i = 0; i < n_hex; i++)
        out[i] = "0123456789abcdef"[(raw[i / 2] >> (i % 2 ? 0 : 4)) & 15];
    out[n_hex] = '\0';
}

const char *harness_admin_key(void)
{
    static char key[33];
    if (!key[0])
        random_hex(key, 32);
    return key;
}

struct srv *srv_start_admin(const char *const *more)
{
    const char *argv[48] = {"--admin-key", harness_admin_key(), "--rate-limit", "0"};
    int n = 4;
    for (int i = 0; more && more[i]; i++) {
        ensure(n < 47, "too many server arguments");
        argv[n++] = more[i];
    }
    argv[n] = NULL;
    return srv_start(argv);
}

struct resp http_admin(struct srv *s, const char *method, const char *path, const char *body)
{
    return http(s, method, path, AUTH(harness_admin_key()), body);
}

const char *time_rfc3339(int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char whole[32];
    strftime(whole, sizeof whole, "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt("%s.%03dZ", whole, (int)(ms % 1000));
}

void srv_spread(const struct srv *s, int ms)
{
    if (s->n_base_urls > 1)
        sleep_ms(ms);
}

void admin_concert_new(struct srv *s, const char *name, char id[ID_MAX])
{
    struct resp r = http_admin(s, "POST", "/admin/concerts", fmt("{\"name\":\"%s\"}", name));
    json_t *d = assert_ok(r, 201);
    ensure(is_id(jstr(d, "concertId")), "concertId \"%s\"", jstr(d, "concertId"));
    ensure(strcmp(jstr(d, "name"), name) == 0, "concert name %s, not %s", jstr(d, "name"), name);
    copy_str(id, ID_MAX, jstr(d, "concertId"));
    resp_free(&r);
}

struct srv *srv_start(const char *const *extra_args)
{
    const char *urls = getenv("TICKETD_TEST_URLS");
    if (urls != NULL && *urls != '\0')
        return srv_external(urls, extra_args);
    const char *shared = getenv("TICKETD_TEST_SHARED");
    if (shared != NULL && *shared != '\0')
        return srv_start_shared(atoi(shared), extra_args);

    struct srv *s = srv_new();
    snprintf(s->db_path, sizeof s->db_path, "%s/ticketd.db", s->dir);
    snprintf(s->log_path, sizeof s->log_path, "%s/server.log", s->dir);
    int port = free_port();
    snprintf(s->base_urls[0], sizeof s->base_urls[0], "http://127.0.0.1:%d", port);
    s->n_base_urls = 1;

    char port_arg[16], db_arg[340];
    snprintf(port_arg, sizeof port_arg, "%d", port);
    snprintf(db_arg, sizeof db_arg, "sqlite:%s", s->db_path);
    snprintf(s->db_url, sizeof s->db_url, "%s", db_arg);
    /* every test client shares 127.0.0.1: lift the per-address connection cap (a test of the cap sets its own) */
    const char *argv[64] = {g_ticketd_bin, "serve", "--port", port_arg, "--db", db_arg, "--max-connections-per-ip",
                            "100000", "--signup-rate", "0", "--issue-rate", "0"};
    int argc = 12;
    for (int i = 0; extra_args[i] != NULL; i++) {
        ensure(argc < 63, "too many server arguments");
        argv[argc++] = extra_args[i];
    }
    argv[argc] = NULL;
    save_cmd(s, 0, argv);

    s->pid = spawn(argv, s->log_path);
    live_add(s);
    wait_healthy(s, 0, s->pid);
    return s;
}

/* Stops one server; returns false when it had died before we asked it to. */
static bool stop_one(struct srv *s, bool verbose)
{
    bool died_early = false;
    if (!s->external && s->pid > 0) {
        int st = 0;
        if (child_exited(s, &st)) {
            died_early = true;
            if (verbose) {
                fprintf(stderr, "ticketd (pid %d) died during the test: %s %d\n", (int)s->pid,
                        WIFEXITED(st) ? "exit status" : "signal",
                        WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
                print_log_tail(s);
            }
        } else {
            kill(s->pid, SIGTERM);
            int64_t deadline = now_ms() + STOP_GRACE_MS;
            bool done = false;
            while (!(done = child_exited(s, &st)) && now_ms() < deadline)
                sleep_ms(10);
            if (!done) {
                if (verbose)
                    fprintf(stderr, "warning: ticketd (pid %d) ignored SIGTERM for %d ms; "
                                    "SIGKILL\n", (int)s->pid, STOP_GRACE_MS);
                kill(s->pid, SIGKILL);
                waitpid(s->pid, &st, 0);
            } else if (verbose && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
                fprintf(stderr, "warning: ticketd (pid %d) ended with %s %d after SIGTERM\n",
                        (int)s->pid, WIFEXITED(st) ? "exit status" : "signal",
                        WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            }
        }
        s->pid = 0;
    }
    for (int i = 0; i < s->n_more; i++) {
        int st = 0;
        if (waitpid(s->more_pids[i], &st, WNOHANG) == s->more_pids[i]) {
            died_early = true;
            continue;
        }
        kill(s->more_pids[i], SIGTERM);
        int64_t deadline = now_ms() + STOP_GRACE_MS;
        while (waitpid(s->more_pids[i], &st, WNOHANG) != s->more_pids[i]) {
            if (now_ms() > deadline) {
                kill(s->more_pids[i], SIGKILL);
                waitpid(s->more_pids[i], &st, 0);
                break;
            }
            sleep_ms(10);
        }
    }
    s->n_more = 0;
    if (s->pg_db[0]) {
        PGconn *c = PQconnectdb(getenv("TICKETD_TEST_PG"));
        PGresult *r = PQexec(c, fmt("DROP DATABASE IF EXISTS %s WITH (FORCE)", s->pg_db));
        PQclear(r);
        PQfinish(c);
    }
    if (s->dir[0] && getenv("TICKETD_TEST_KEEP") == NULL)
        remove_dir(s->dir);
    free_cmds(s);
    live_remove(s);
    free(s);
    return !died_early;
}

void srv_stop(struct srv *s)
{
    if (s == NULL)
        return;
    ensure(stop_one(s, true), "ticketd died during the test (see its log above)");
}

void srv_kill9(struct srv *s)
{
    ensure(!s->external, "srv_kill9: the servers of TICKETD_TEST_URLS are not ours to kill");
    /* A child is ours until reaped (a zombie keeps its pid), so these pids cannot name anyone else's process. */
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    for (int i = 0; i < s->n_more; i++) {
        kill(s->more_pids[i], SIGKILL);
        waitpid(s->more_pids[i], NULL, 0);
    }
    s->n_more = 0;
    /* The dead server's half of a kept-alive connection lingers (FIN_WAIT2) until our half closes, and holds the
     * port against the restart's bind: close ours. (Other threads close theirs with http_close_idle.) */
    http_close_idle();
}

void srv_restart(struct srv *s)
{
    ensure(!s->external && s->n_instances > 0, "srv_restart: no server of ours to restart");
    ensure(s->pid == 0 && s->n_more == 0, "srv_restart: stop the instances first (srv_kill9)");
    for (int i = 0; i < s->n_instances; i++) {
        pid_t pid = spawn((const char *const *)s->cmd[i], s->log_path);
        if (i == 0)
            s->pid = pid;
        else
            s->more_pids[s->n_more++] = pid;
        wait_healthy(s, i, pid);
    }
}

int srv_stop_all(void **state)
{
    (void)state;
    bool all_alive = true;
    while (g_n_live > 0)
        all_alive &= stop_one(g_live[g_n_live - 1], true);
    ensure(all_alive, "ticketd died during the test (see its log above)");
    return 0;
}

static void stop_all_quietly(void)
{
    while (g_n_live > 0)
        stop_one(g_live[g_n_live - 1], false);
}

void srv_require_local(const struct srv *s)
{
    if (s->external || s->db_url[0] == '\0') {
        print_message("skipped: needs a server started by the test\n");
        skip();
    }
}

void assert_no_5xx(const struct resp *r, int n)
{
    for (int i = 0; i < n; i++)
        ensure(r[i].status >= 200 && r[i].status < 500, "request %d of the burst: HTTP %ld: %.300s", i,
               r[i].status, r[i].raw);
}

void srv_sql(struct srv *s, const char *sql, int expect_changes)
{
    srv_require_local(s);
    int changes;
    if (s->pg_db[0]) {
        PGconn *c = PQconnectdb(s->db_url);
        ensure(PQstatus(c) == CONNECTION_OK, "PostgreSQL %s: %s", s->db_url, PQerrorMessage(c));
        PGresult *r = PQexec(c, sql);
        ensure(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
               PQerrorMessage(c));
        changes = atoi(PQcmdTuples(r));
        PQclear(r);
        PQfinish(c);
    } else {
        sqlite3 *db = NULL;
        ensure(sqlite3_open(s->db_path, &db) == SQLITE_OK, "open %s", s->db_path);
        sqlite3_busy_timeout(db, 5000);
        char *err = NULL;
        int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
        changes = sqlite3_changes(db);
        ensure(rc == SQLITE_OK, "%s: %s", sql, err ? err : "?");
        sqlite3_free(err);
        sqlite3_close(db);
    }
    note_write(); /* no instance saw it happen: the read cache shows it within its bound */
    if (expect_changes >= 0)
        ensure(changes == expect_changes, "%s changed %d rows, not %d", sql, changes, expect_changes);
}

int64_t srv_sql_int(struct srv *s, const char *sql)
{
    srv_require_local(s);
    int64_t v = 0;
    if (s->pg_db[0]) {
        PGconn *c = PQconnectdb(s->db_url);
        ensure(PQstatus(c) == CONNECTION_OK, "PostgreSQL %s: %s", s->db_url, PQerrorMessage(c));
        PGresult *r = PQexec(c, sql);
        bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0);
        if (ok)
            v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        char err[256];
        snprintf(err, sizeof err, "%s", PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        ensure(ok, "%s: no value (%s)", sql, err);
    } else {
        sqlite3 *db = NULL;
        ensure(sqlite3_open_v2(s->db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK, "open %s", s->db_path);
        sqlite3_busy_timeout(db, 5000);
        sqlite3_stmt *q = NULL;
        int rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
        bool ok = rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL;
        if (ok)
            v = sqlite3_column_int64(q, 0);
        char err[256];
        snprintf(err, sizeof err, "%s", sqlite3_errmsg(db));
        sqlite3_finalize(q);
        sqlite3_close(db);
        ensure(ok, "%s: no value (%s)", sql, err);
    }
    return v;
}

const char *srv_store_name(const struct srv *s) { return s->pg_db[0] ? "postgres" : "sqlite"; }
const char *srv_redis_state(const struct srv *s) { return s->pg_db[0] ? "up" : "off"; }

/* ---- HTTP ------------------------------------------------------------------ */

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_add(struct buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static size_t on_data(char *data, size_t size, size_t n, void *ud)
{
    buf_add(ud, data, size * n);
    return size * n;
}

/* One transfer in flight: what it needs until it is finished. */
struct xfer {
    struct buf body, headers;
    struct curl_slist *slist;
    const char *upload;   /* chunked upload cursor */
    size_t upload_left;
    char err[CURL_ERROR_SIZE];
    char what[256];
};

static size_t on_upload(char *out, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t want = size * n;
    if (want > 4096)
        want = 4096; /* several chunks, like a streaming client */
    if (want > x->upload_left)
        want = x->upload_left;
    memcpy(out, x->upload, want);
    x->upload += want;
    x->upload_left -= want;
    return want;
}

static __thread int t_pin = -1; /* http_on(): the instance of the next request on this thread */

/* ---- the read cache: the last write another instance (or the database directly) may not show yet ---- */
static int64_t g_unsettled_write_ms; /* atomic, now_ms() */

static void note_write(void)
{
    int64_t t = now_ms();
    __atomic_store_n(&g_unsettled_write_ms, t, __ATOMIC_RELEASE);
}

/* Writes that change what available-seats/-dates show (holds, payments, the organizer's routes). */
static bool changes_seats(const char *method, const char *path)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
           (strncmp(path, "/reservation", 12) == 0 || strncmp(path, "/payment", 8) == 0 ||
            strncmp(path, "/admin/", 7) == 0);
}

void reads_settle(void)
{
    int64_t last = __atomic_load_n(&g_unsettled_write_ms, __ATOMIC_ACQUIRE);
    int64_t left = last + READ_CACHE_BOUND_MS + 5 - now_ms();
    if (last > 0 && left > 0)
        sleep_ms((int)left);
}

int srv_instances(const struct srv *s) { return s->n_base_urls; }

static void prepare(CURL *c, struct xfer *x, struct srv *s, const char *method,
                    const char *path, const struct hdrs *h, const void *body, size_t len)
{
    unsigned i = __atomic_fetch_add(&s->rr_next, 1, __ATOMIC_RELAXED) % (unsigned)s->n_base_urls;
    if (t_pin >= 0) {
        ensure(t_pin < s->n_base_urls, "http_on: instance %d of %d", t_pin, s->n_base_urls);
        i = (unsigned)t_pin;
    }
    /* another instance may show this write only READ_CACHE_BOUND_MS later (srv_sql notes its own writes) */
    if (s->n_base_urls > 1 && changes_seats(method, path))
        note_write();
    char url[2048];
    snprintf(url, sizeof url, "%s%s", s->base_urls[i], path);
    /* For failure messages: the request line and the start of a printable body. */
    int w = snprintf(x->what, sizeof x->what, "%s %.120s", method, path);
    if (body != NULL && len > 0 && len <= 100 && memchr(body, '\0', len) == NULL)
        snprintf(x->what + w, sizeof x->what - (size_t)w, " %.*s", (int)len, (const char *)body);
    else if (body != NULL)
        snprintf(x->what + w, sizeof x->what - (size_t)w, " (%zu-byte body)", len);
    x->err[0] = '\0';

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, g_request_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x->headers);

    bool chunked = h != NULL && h->chunked && body != NULL;
    if (strcmp(method, "GET") == 0 && body == NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        if (chunked) {
            x->upload = body;
            x->upload_left = len;
            curl_easy_setopt(c, CURLOPT_READFUNCTION, on_upload);
            curl_easy_setopt(c, CURLOPT_READDATA, x);
        } else {
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
        }
    }

    struct curl_slist *l = NULL;
    if (body != NULL)
        l = curl_slist_append(l, "Content-Type: application/json");
    if (chunked)
        l = curl_slist_append(l, "Transfer-Encoding: chunked");
    if (h != NULL) {
        char line[512];
        if (h->key) {
            snprintf(line, sizeof line, "Authorization: Bearer %s", h->key);
            l = curl_slist_append(l, line);
        }
        if (h->token) {
            snprintf(line, sizeof line, "queue-token: %s", h->token);
            l = curl_slist_append(l, line);
        }
        if (h->idem) {
            snprintf(line, sizeof line, "Idempotency-Key: %s", h->idem);
            l = curl_slist_append(l, line);
        }
        for (int k = 0; k < 4 && h->raw[k]; k++)
            l = curl_slist_append(l, h->raw[k]);
    }
    x->slist = l;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, l);
}

static struct resp finish(CURL *c, struct xfer *x, CURLcode rc)
{
    struct resp r = {0};
    copy_str(r.what, sizeof r.what, x->what);
    if (rc != CURLE_OK) {
        r.status = 0;
        /* No answer at all: show what the servers said about it (once per program, it can be long). */
        static int shown;
        if (!__atomic_exchange_n(&shown, 1, __ATOMIC_SEQ_CST))
            for (int i = 0; i < g_n_live; i++)
                print_log_tail(g_live[i]);
        const char *msg = x->err[0] ? x->err : curl_easy_strerror(rc);
        r.raw = strdup(fmt("(transport error: %s)", msg));
        r.raw_len = strlen(r.raw);
        free(x->body.p);
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        if (ct)
            snprintf(r.ctype, sizeof r.ctype, "%s", ct);
        if (x->body.p == NULL)
            buf_add(&x->body, "", 0);
        r.raw = x->body.p;
        r.raw_len = x->body.len;
        r.json = json_loadb(r.raw, r.raw_len, JSON_DECODE_ANY, NULL);
    }
    if (x->headers.p == NULL)
        buf_add(&x->headers, "", 0);
    r.headers = x->headers.p;
    curl_slist_free_all(x->slist);
    memset(x, 0, sizeof *x);
    return r;
}

static __thread CURL *t_curl; /* http_raw()'s handle, reused: keeps connections alive between requests */

void http_close_idle(void)
{
    if (t_curl != NULL)
        curl_easy_cleanup(t_curl);
    t_curl = NULL;
}

struct resp http_raw(struct srv *s, const char *method, const char *path,
                     const struct hdrs *h, const void *body, size_t len)
{
    CURL *curl = t_curl;
    if (curl == NULL)
        curl = t_curl = curl_easy_init();
    else
        curl_easy_reset(curl);
    ensure(curl != NULL, "curl_easy_init failed");
    struct xfer x = {0};
    prepare(curl, &x, s, method, path, h, body, len);
    CURLcode rc = curl_easy_perform(curl);
    return finish(curl, &x, rc);
}

struct resp http(struct srv *s, const char *method, const char *path, const struct hdrs *h,
                 const char *body)
{
    return http_raw(s, method, path, h, body, body ? strlen(body) : 0);
}

struct resp http_on(struct srv *s, int i, const char *method, const char *path, const struct hdrs *h,
                    const char *body)
{
    t_pin = i;
    struct resp r = http_raw(s, method, path, h, body, body ? strlen(body) : 0);
    t_pin = -1;
    return r;
}

void http_multi(struct srv *s, const struct mreq *reqs, int n, struct resp *out)
{
    ensure(n > 0 && n <= 1000, "http_multi: n=%d out of 1..1000", n);
    CURLM *m = curl_multi_init();
    CURL **easy = calloc((size_t)n, sizeof *easy);
    struct xfer *x = calloc((size_t)n, sizeof *x);
    CURLcode *rc = calloc((size_t)n, sizeof *rc);
    ensure(m && easy && x && rc, "http_multi: out of memory");
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)n);
    for (int i = 0; i < n; i++) {
        easy[i] = curl_easy_init();
        ensure(easy[i] != NULL, "curl_easy_init failed");
        const char *body = reqs[i].body[0] ? reqs[i].body : NULL;
        prepare(easy[i], &x[i], s, reqs[i].method, reqs[i].path, &reqs[i].h, body,
                body ? strlen(body) : 0);
        curl_easy_setopt(easy[i], CURLOPT_PRIVATE, (void *)(intptr_t)i);
        rc[i] = CURLE_OK;
        curl_multi_add_handle(m, easy[i]);
    }
    int running = n;
    while (running > 0) {
        curl_multi_perform(m, &running);
        if (running > 0)
            curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        void *priv = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        rc[(intptr_t)priv] = msg->data.result;
    }
    for (int i = 0; i < n; i++) {
        curl_multi_remove_handle(m, easy[i]);
        out[i] = finish(easy[i], &x[i], rc[i]);
        curl_easy_cleanup(easy[i]);
    }
    curl_multi_cleanup(m);
    free(easy);
    free(x);
    free(rc);
}

void resp_free(struct resp *r)
{
    if (r == NULL)
        return;
    json_decref(r->json);
    free(r->raw);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

bool resp_header(const struct resp *r, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    bool found = false;
    for (const char *p = r->headers; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vl = (size_t)(p + len - v);
            while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            snprintf(out, n, "%.*s", (int)vl, v);
            found = true;
        }
        p = eol ? eol + 1 : p + len;
    }
    return found;
}

/* ---- envelope assertions ------------------------------------------------------ */

static void check_json_envelope(const struct resp *r, long status, const char *file, int line)
{
    if (r->status != status)
        fail_at(file, line, "%s: expected HTTP %ld, got %ld: %.800s", r->what, status,
                r->status, r->raw);
    if (strncasecmp(r->ctype, "application/json", 16) != 0)
        fail_at(file, line, "%s: Content-Type is \"%s\", not application/json", r->what,
                r->ctype);
    if (!json_is_object(r->json))
        fail_at(file, line, "%s: body is not a JSON object: %.800s", r->what, r->raw);
}

json_t *assert_ok_at(const struct resp *r, long status, const char *file, int line)
{
    check_json_envelope(r, status, file, line);
    if (!json_is_true(json_object_get(r->json, "success")))
        fail_at(file, line, "%s: \"success\" is not true: %.800s", r->what, r->raw);
    json_t *data = json_object_get(r->json, "data");
    if (data == NULL)
        fail_at(file, line, "%s: no \"data\": %.800s", r->what, r->raw);
    return data;
}

void assert_err_at(const struct resp *r, long status, const char *code, const char *file,
                   int line)
{
    check_json_envelope(r, status, file, line);
    if (!json_is_false(json_object_get(r->json, "success")))
        fail_at(file, line, "%s: \"success\" is not false: %.800s", r->what, r->raw);
    const char *got = json_string_value(json_object_get(r->json, "code"));
    if (got == NULL || strcmp(got, code) != 0)
        fail_at(file, line, "%s: expected code %s, got %s: %.800s", r->what, code,
                got ? got : "(none)", r->raw);
    const char *msg = json_string_value(json_object_get(r->json, "message"));
    if (msg == NULL || msg[0] == '\0')
        fail_at(file, line, "%s: no non-empty \"message\": %.800s", r->what, r->raw);
}

static json_t *member(const json_t *o, const char *key)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    if (v == NULL) {
        char *dump = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);
        fail_msg("missing member \"%s\" in %.600s", key, dump ? dump : "(null)");
    }
    return v;
}

const char *jstr(const json_t *o, const char *key)
{
    json_t *v = member(o, key);
    if (!json_is_string(v)) {
        char *dump = json_dumps(o, JSON_COMPACT);
        fail_msg("member \"%s\" is not a string in %.600s", key, dump ? dump : "");
    }
    return json_string_value(v);
}

int64_t jint(const json_t *o, const char *key)
{
    json_t *v = member(o, key);
    if (!json_is_integer(v)) {
        char *dump = json_dumps(o, JSON_COMPACT);
        fail_msg("member \"%s\" is not an integer in %.600s", key, dump ? dump : "");
    }
    return (int64_t)json_integer_value(v);
}

/* ---- booking flow ------------------------------------------------------------------ */

static unsigned g_user_seq;

static void user_from(const struct resp *r, const char *name, struct user *u)
{
    json_t *d = assert_ok(*r, 201);
    ensure(is_id(jstr(d, "userId")), "userId \"%s\" is not a decimal id", jstr(d, "userId"));
    ensure(strcmp(jstr(d, "name"), name) == 0, "name \"%s\" != \"%s\"", jstr(d, "name"), name);
    const char *key = jstr(d, "apiKey");
    ensure(strncmp(key, "tk_", 3) == 0 && is_hex(key + 3, 32),
           "apiKey \"%s\" is not tk_ + 32 hex digits", key);
    ensure(jint(d, "balance") == 0, "a new user's balance is %lld", (long long)jint(d, "balance"));
    memset(u, 0, sizeof *u);
    copy_str(u->id, sizeof u->id, jstr(d, "userId"));
    copy_str(u->key, sizeof u->key, key);
}

void user_new(struct srv *s, struct user *u)
{
    char name[32];
    snprintf(name, sizeof name, "user-%u", __atomic_add_fetch(&g_user_seq, 1, __ATOMIC_RELAXED));
    struct resp r = http(s, "POST", "/users", NULL, fmt("{\"name\":\"%s\"}", name));
    user_from(&r, name, u);
    resp_free(&r);
}

void users_new_many(struct srv *s, struct user *u, int n)
{
    struct mreq *q = calloc((size_t)n, sizeof *q);
    struct resp *r = calloc((size_t)n, sizeof *r);
    char (*names)[32] = calloc((size_t)n, sizeof *names);
    ensure(q && r && names, "out of memory");
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "user-%u",
                 __atomic_add_fetch(&g_user_seq, 1, __ATOMIC_RELAXED));
        q[i].method = "POST";
        copy_str(q[i].path, sizeof q[i].path, "/users");
        copy_str(q[i].body, sizeof q[i].body, fmt("{\"name\":\"%s\"}", names[i]));
    }
    http_multi(s, q, n, r);
    for (int i = 0; i < n; i++) {
        user_from(&r[i], names[i], &u[i]);
        resp_free(&r[i]);
    }
    free(q);
    free(r);
    free(names);
}

int64_t charge(struct srv *s, const struct user *u, int64_t amount)
{
    struct resp r = http(s, "POST", "/user/charge", AUTH(u->key),
                         fmt("{\"amount\":%lld}", (long long)amount));
    json_t *d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "userId"), u->id) == 0, "charge answered for user %s, not %s",
           jstr(d, "userId"), u->id);
    int64_t b = jint(d, "balance");
    resp_free(&r);
    return b;
}

int64_t balance(struct srv *s, const struct user *u)
{
    struct resp r = http(s, "GET", "/user/check", AUTH(u->key), NULL);
    json_t *d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "userId"), u->id) == 0, "check answered for user %s, not %s",
           jstr(d, "userId"), u->id);
    int64_t b = jint(d, "balance");
    resp_free(&r);
    return b;
}

static void token_from(const struct resp *r, struct user *u, const char *want_status,
                       long want_http)
{
    long st = want_http ? want_http : (r->status == 200 ? 200 : 201);
    json_t *d = assert_ok(*r, st);
    const char *token = jstr(d, "token");
    ensure(is_hex(token, 32), "queue token \"%s\" is not 32 hex digits", token);
    ensure(strcmp(jstr(d, "userId"), u->id) == 0, "token issued for user %s, not %s",
           jstr(d, "userId"), u->id);
    if (want_status)
        ensure(strcmp(jstr(d, "status"), want_status) == 0, "token status %s, expected %s",
               jstr(d, "status"), want_status);
    copy_str(u->token, sizeof u->token, token);
}

void token_issue(struct srv *s, struct user *u, const char *want_status, long want_http)
{
    struct resp r = http(s, "POST", "/queue/issue", AUTH(u->key), NULL);
    token_from(&r, u, want_status, want_http);
    resp_free(&r);
}

void tokens_issue_many(struct srv *s, struct user *u, int n)
{
    struct mreq *q = calloc((size_t)n, sizeof *q);
    struct resp *r = calloc((size_t)n, sizeof *r);
    ensure(q && r, "out of memory");
    for (int i = 0; i < n; i++) {
        q[i].method = "POST";
        copy_str(q[i].path, sizeof q[i].path, "/queue/issue");
        q[i].h.key = u[i].key;
    }
    http_multi(s, q, n, r);
    for (int i = 0; i < n; i++) {
        token_from(&r[i], &u[i], "ACTIVE", 201);
        resp_free(&r[i]);
    }
    free(q);
    free(r);
}

long token_state(struct srv *s, const char *token, char status[16])
{
    struct resp r = http(s, "GET", "/queue/status", TOKEN(token), NULL);
    json_t *d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "token"), token) == 0, "status of another token: %s", jstr(d, "token"));
    copy_str(status, 16, jstr(d, "status"));
    long pos = (long)jint(d, "position");
    resp_free(&r);
    return pos;
}

void pick_schedule(struct srv *s, const struct user *u, long min_free, char sched_id[ID_MAX])
{
    reads_settle();
    struct resp r = http(s, "GET", "/concert/available-dates", TOKEN(u->token), NULL);
    json_t *d = assert_ok(r, 200);
    ensure(json_is_array(d), "available-dates: data is not an array");
    size_t i;
    json_t *e;
    json_array_foreach(d, i, e) {
        if (jint(e, "availableSeats") >= min_free) {
            copy_str(sched_id, ID_MAX, jstr(e, "scheduleId"));
            resp_free(&r);
            return;
        }
    }
    fail_msg("no schedule with %ld free seats: %.600s", min_free, r.raw);
}

int seats_list(struct srv *s, const struct user *u, const char *sched_id, struct seat *out,
               int max)
{
    reads_settle();
    struct resp r = http(s, "GET", fmt("/concert/available-seats?concertScheduleId=%s", sched_id),
                         TOKEN(u->token), NULL);
    json_t *d = assert_ok(r, 200);
    ensure(json_is_array(d), "available-seats: data is not an array");
    int n = (int)json_array_size(d);
    for (int i = 0; i < n && i < max; i++) {
        json_t *e = json_array_get(d, (size_t)i);
        copy_str(out[i].id, sizeof out[i].id, jstr(e, "seatId"));
        out[i].number = (long)jint(e, "seatNumber");
        out[i].price = jint(e, "price");
    }
    resp_free(&r);
    return n;
}

bool seat_free(struct srv *s, const struct user *u, const char *sched_id, const char *seat_id)
{
    struct seat seats[64];
    int n = seats_list(s, u, sched_id, seats, 64);
    for (int i = 0; i < n && i < 64; i++)
        if (strcmp(seats[i].id, seat_id) == 0)
            return true;
    return false;
}

long schedule_free(struct srv *s, const struct user *u, const char *sched_id)
{
    reads_settle();
    struct resp r = http(s, "GET", "/concert/available-dates", TOKEN(u->token), NULL);
    json_t *d = assert_ok(r, 200);
    ensure(json_is_array(d), "available-dates: data is not an array");
    long n = -1;
    size_t i;
    json_t *e;
    json_array_foreach(d, i, e) {
        if (strcmp(jstr(e, "scheduleId"), sched_id) == 0)
            n = (long)jint(e, "availableSeats");
    }
    resp_free(&r);
    return n;
}

void hold(struct srv *s, const struct user *u, const char *seat_id, char res_id[ID_MAX])
{
    struct resp r = http(s, "POST", "/reservation", TOKEN(u->token),
                         fmt("{\"seatId\":\"%s\"}", seat_id));
    json_t *d = assert_ok(r, 201);
    ensure(strcmp(jstr(d, "status"), "HELD") == 0, "hold status %s", jstr(d, "status"));
    ensure(strcmp(jstr(d, "seatId"), seat_id) == 0, "held seat %s, not %s", jstr(d, "seatId"),
           seat_id);
    ensure(is_id(jstr(d, "reservationId")), "reservationId \"%s\" is not an id",
           jstr(d, "reservationId"));
    copy_str(res_id, ID_MAX, jstr(d, "reservationId"));
    resp_free(&r);
}

int64_t pay(struct srv *s, const struct user *u, const char *res_id)
{
    struct resp r = http(s, "POST", "/payment", TOKEN(u->token),
                         fmt("{\"reservationId\":\"%s\"}", res_id));
    json_t *d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "status"), "PAID") == 0, "payment status %s", jstr(d, "status"));
    ensure(strcmp(jstr(d, "reservationId"), res_id) == 0, "paid reservation %s, not %s",
           jstr(d, "reservationId"), res_id);
    int64_t b = jint(d, "balance");
    resp_free(&r);
    return b;
}
