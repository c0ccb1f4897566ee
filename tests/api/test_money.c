/*
 * test_money.c — money safety over HTTP: Idempotency-Key under concurrency and
 * across a lost response (a proxy in the test swallows the answer), double
 * payment without a key, a storm of random concurrent transfers (money is
 * conserved, nothing negative, no 5xx), `ticketd reconcile` on the busy
 * database and on a database corrupted behind the server's back, and the
 * refusals and ledger shape of POST /transfers and GET /user/history.
 * Every outcome is re-read through the API (or reconcile) after the fact.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MISSING_ID "999999999999"
#define BIG_MONEY 1000000000

static const char *g_bin; /* the ticketd binary, for `ticketd reconcile` */

/* ---- small helpers ---------------------------------------------------------- */

static size_t body_len(const char *body)
{
    return body ? strlen(body) : 0;
}

static void expect_err_at(struct srv *s, const char *method, const char *path,
                          const struct hdrs *h, const char *body, long status, const char *code,
                          const char *file, int line)
{
    struct resp r = http_raw(s, method, path, h, body, body_len(body));
    assert_err_at(&r, status, code, file, line);
    resp_free(&r);
}
#define expect_err(s, method, path, h, body, status, code)                                  \
    expect_err_at((s), (method), (path), (h), (body), (status), (code), __FILE__, __LINE__)

/* A user with `money` won and an ACTIVE queue token. */
static void active_user(struct srv *s, struct user *u, int64_t money)
{
    user_new(s, u);
    if (money > 0)
        charge(s, u, money);
    token_issue(s, u, "ACTIVE", 201);
}

/* One free seat of some date. */
static void free_seat(struct srv *s, const struct user *u, struct seat *out)
{
    char sid[ID_MAX];
    pick_schedule(s, u, 1, sid);
    ensure(seats_list(s, u, sid, out, 1) >= 1, "schedule %s has no free seat", sid);
}

/* GET /user/history with a query ("" for none); the caller frees. */
static struct resp history(struct srv *s, const struct user *u, const char *query)
{
    return http(s, "GET", fmt("/user/history%s", query), AUTH(u->key), NULL);
}

static int count_kind(const json_t *arr, const char *kind)
{
    int n = 0;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        if (strcmp(jstr(e, "kind"), kind) == 0)
            n++;
    }
    return n;
}

/* The whole ledger of a user with at most 100 entries: asserts its count. */
static json_t *ledger_of(struct srv *s, const struct user *u, size_t want_entries,
                         struct resp *keep)
{
    *keep = history(s, u, "?limit=100");
    json_t *d = assert_ok(*keep, 200);
    ensure(json_is_array(d), "history is not an array: %s", keep->raw);
    ensure(json_array_size(d) == want_entries, "user %s has %zu ledger entries, expected %zu: %s",
           u->id, json_array_size(d), want_entries, keep->raw);
    return d;
}


/* ---- 1. one key, 20 identical payments at once -------------------------------- */

static void test_idem_payment_burst(void **state)
{
    (void)state;
    enum { N = 20 };
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    active_user(s, &u, BIG_MONEY);
    struct seat seat;
    char res[ID_MAX];
    free_seat(s, &u, &seat);
    hold(s, &u, seat.id, res);
    int64_t before = balance(s, &u);
    ensure(before == BIG_MONEY, "balance before paying is %" PRId64, before);

    struct mreq q[N];
    struct resp r[N];
    memset(q, 0, sizeof q);
    for (int i = 0; i < N; i++) {
        q[i].method = "POST";
        copy_str(q[i].path, sizeof q[i].path, "/payment");
        q[i].h.token = u.token;
        q[i].h.idem = "pay-burst-1";
        copy_str(q[i].body, sizeof q[i].body, fmt("{\"reservationId\":\"%s\"}", res));
    }
    http_multi(s, q, N, r);
    for (int i = 0; i < N; i++) {
        json_t *d = assert_ok(r[i], 200);
        ensure(r[i].raw_len == r[0].raw_len && memcmp(r[i].raw, r[0].raw, r[0].raw_len) == 0,
               "responses 0 and %d to one Idempotency-Key differ:\n%s\n%s", i, r[0].raw, r[i].raw);
        ensure(strcmp(jstr(d, "status"), "PAID") == 0, "payment status %s", jstr(d, "status"));
    }
    json_t *d0 = json_object_get(r[0].json, "data");
    ensure(strcmp(jstr(d0, "reservationId"), res) == 0 && strcmp(jstr(d0, "seatId"), seat.id) == 0,
           "the payment answered another reservation or seat: %s", r[0].raw);
    ensure(jint(d0, "amount") == seat.price, "paid %" PRId64 ", the price is %" PRId64,
           jint(d0, "amount"), seat.price);
    ensure(jint(d0, "balance") == before - seat.price, "the payment answered balance %" PRId64
           ", expected %" PRId64, jint(d0, "balance"), before - seat.price);
    char payment_id[ID_MAX];
    copy_str(payment_id, sizeof payment_id, jstr(d0, "paymentId"));

    int64_t after = balance(s, &u);
    ensure(after == before - seat.price, "balance %" PRId64 " after %d keyed payments of %" PRId64
           " from %" PRId64 ": not exactly one debit", after, N, seat.price, before);
    struct resp h;
    json_t *led = ledger_of(s, &u, 2, &h); /* the charge and one payment */
    ensure(count_kind(led, "PAYMENT") == 1, "%d PAYMENT entries: %s", count_kind(led, "PAYMENT"),
           h.raw);
    json_t *pe = json_array_get(led, 0);
    ensure(strcmp(jstr(pe, "kind"), "PAYMENT") == 0 && jint(pe, "amount") == -seat.price &&
               jint(pe, "balanceAfter") == after &&
               strcmp(jstr(pe, "ref"), fmt("payment:%s", payment_id)) == 0,
           "the newest entry is not this payment of -%" PRId64 ": %s", seat.price, h.raw);
    resp_free(&h);
    for (int i = 0; i < N; i++)
        resp_free(&r[i]);
}

/* ---- 2. no key, 20 payments of one reservation at once ------------------------- */

/* Fires N unkeyed payments of one reservation at once with one token. */
static void unkeyed_burst(struct srv *s, const struct user *u, const char *res, struct resp *r,
                          int n)
{
    struct mreq q[20];
    ensure(n <= 20, "burst too large");
    memset(q, 0, sizeof q);
    for (int i = 0; i < n; i++) {
        q[i].method = "POST";
        copy_str(q[i].path, sizeof q[i].path, "/payment");
        q[i].h.token = u->token;
        copy_str(q[i].body, sizeof q[i].body, fmt("{\"reservationId\":\"%s\"}", res));
    }
    http_multi(s, q, n, r);
    assert_no_5xx(r, n);
}

/*
 * Exactly one of 20 concurrent payments succeeds. The others are 409 ALREADY_PAID, except
 * that a request whose queue token is checked after the winner committed finds the token
 * EXPIRED (the payment expires it) and is 403 NOT_ADMITTED, as API.md requires for every
 * endpoint behind a queue token (and as test_errors.c asserts for a sequential retry).
 * A second burst with a fresh ACTIVE token, which no success can expire, must then be
 * ALREADY_PAID throughout.
 */
static void test_unkeyed_payment_burst(void **state)
{
    (void)state;
    enum { N = 20 };
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    active_user(s, &u, BIG_MONEY);
    struct seat seat;
    char res[ID_MAX];
    free_seat(s, &u, &seat);
    hold(s, &u, seat.id, res);
    int64_t before = balance(s, &u);

    struct resp r[N];
    unkeyed_burst(s, &u, res, r, N);
    int n_paid = 0, n_already = 0, n_expired = 0;
    int64_t answered = -1;
    for (int i = 0; i < N; i++) {
        if (r[i].status == 200) {
            json_t *d = assert_ok(r[i], 200);
            answered = jint(d, "balance");
            n_paid++;
        } else if (r[i].status == 403) {
            assert_err(r[i], 403, "NOT_ADMITTED");
            n_expired++;
        } else {
            assert_err(r[i], 409, "ALREADY_PAID");
            n_already++;
        }
        resp_free(&r[i]);
    }
    print_message("unkeyed burst: %d paid, %d ALREADY_PAID, %d NOT_ADMITTED (token expired by "
                  "the payment)\n", n_paid, n_already, n_expired);
    ensure(n_paid == 1, "%d of %d payments of one hold succeeded", n_paid, N);
    ensure(answered == before - seat.price, "the payment answered balance %" PRId64, answered);

    /* With a fresh token every one of 20 concurrent repeats is ALREADY_PAID. */
    token_issue(s, &u, "ACTIVE", 201);
    unkeyed_burst(s, &u, res, r, N);
    for (int i = 0; i < N; i++) {
        assert_err(r[i], 409, "ALREADY_PAID");
        resp_free(&r[i]);
    }
    char st[16];
    token_state(s, u.token, st);
    ensure(strcmp(st, "ACTIVE") == 0, "refused repeats of a payment expired the token: %s", st);

    int64_t after = balance(s, &u);
    ensure(after == before - seat.price, "balance %" PRId64 ", expected one debit of %" PRId64
           " from %" PRId64, after, seat.price, before);
    struct resp h;
    json_t *led = ledger_of(s, &u, 2, &h);
    ensure(count_kind(led, "PAYMENT") == 1, "%d PAYMENT entries: %s", count_kind(led, "PAYMENT"),
           h.raw);
    resp_free(&h);
}

/* ---- 3. key reuse with another body; a retried charge ---------------------------- */

static void test_idem_reuse_and_retry(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user a, b;
    user_new(s, &a);
    user_new(s, &b);

    /* A charge, retried with the same key and body after it succeeded. */
    struct hdrs hc = {.key = a.key, .idem = "money-key-1"};
    struct resp first = http(s, "POST", "/user/charge", &hc, "{\"amount\":1000}");
    ensure(jint(assert_ok(first, 200), "balance") == 1000, "first charge: %s", first.raw);
    for (int i = 0; i < 3; i++) {
        struct resp again = http(s, "POST", "/user/charge", &hc, "{\"amount\":1000}");
        ensure(again.status == first.status && again.raw_len == first.raw_len &&
                   memcmp(again.raw, first.raw, first.raw_len) == 0,
               "retry %d of a charge: HTTP %ld %s; the first answer was HTTP %ld %s", i,
               again.status, again.raw, first.status, first.raw);
        resp_free(&again);
    }
    ensure(balance(s, &a) == 1000, "a retried charge was applied more than once: balance %" PRId64,
           balance(s, &a));
    struct resp h;
    json_t *led = ledger_of(s, &a, 1, &h);
    ensure(count_kind(led, "CHARGE") == 1, "CHARGE entries: %s", h.raw);
    resp_free(&h);

    /* The same key with another body, on the same endpoint and on others. */
    expect_err(s, "POST", "/user/charge", &hc, "{\"amount\":2000}", 409, "IDEMPOTENCY_KEY_REUSED");
    expect_err(s, "POST", "/user/charge", &hc, "{\"amount\": 1000}", 409,
               "IDEMPOTENCY_KEY_REUSED"); /* other bytes, same meaning: still another body */
    expect_err(s, "POST", "/transfers", &hc, fmt("{\"toUserId\":\"%s\",\"amount\":10}", b.id), 409,
               "IDEMPOTENCY_KEY_REUSED");
    ensure(balance(s, &a) == 1000 && balance(s, &b) == 0,
           "a reused key moved money: balances %" PRId64 " and %" PRId64, balance(s, &a),
           balance(s, &b));

    /* A transfer key reused with another amount. */
    struct hdrs ht = {.key = a.key, .idem = "money-key-2"};
    const char *tbody = fmt("{\"toUserId\":\"%s\",\"amount\":100}", b.id);
    char tb[256];
    copy_str(tb, sizeof tb, tbody);
    struct resp t1 = http(s, "POST", "/transfers", &ht, tb);
    ensure(jint(assert_ok(t1, 200), "balance") == 900, "first transfer: %s", t1.raw);
    expect_err(s, "POST", "/transfers", &ht, fmt("{\"toUserId\":\"%s\",\"amount\":101}", b.id),
               409, "IDEMPOTENCY_KEY_REUSED");
    struct resp t2 = http(s, "POST", "/transfers", &ht, tb);
    ensure(t2.status == 200 && strcmp(t1.raw, t2.raw) == 0,
           "retried transfer: HTTP %ld %s; first %s", t2.status, t2.raw, t1.raw);
    resp_free(&t1);
    resp_free(&t2);
    ensure(balance(s, &a) == 900 && balance(s, &b) == 100,
           "after one transfer of 100 (retried, and its key reused): %" PRId64 " and %" PRId64,
           balance(s, &a), balance(s, &b));

    /* A payment key reused for another reservation: that one stays unpaid. */
    token_issue(s, &a, "ACTIVE", 201);
    char sid[ID_MAX];
    struct seat seats[2];
    pick_schedule(s, &a, 2, sid);
    ensure(seats_list(s, &a, sid, seats, 2) >= 2, "two free seats");
    charge(s, &a, seats[0].price + seats[1].price);
    int64_t before = balance(s, &a);
    char r1[ID_MAX], r2[ID_MAX];
    hold(s, &a, seats[0].id, r1);
    hold(s, &a, seats[1].id, r2);
    struct hdrs hp = {.token = a.token, .idem = "money-key-3"};
    struct resp p1 = http(s, "POST", "/payment", &hp, fmt("{\"reservationId\":\"%s\"}", r1));
    assert_ok(p1, 200);
    resp_free(&p1);
    expect_err(s, "POST", "/payment", &hp, fmt("{\"reservationId\":\"%s\"}", r2), 409,
               "IDEMPOTENCY_KEY_REUSED");
    ensure(balance(s, &a) == before - seats[0].price, "balance after one payment and a reused key");
    token_issue(s, &a, "ACTIVE", 201);
    ensure(!seat_free(s, &a, sid, seats[1].id), "the second hold was lost");
    ensure(pay(s, &a, r2) == before - seats[0].price - seats[1].price,
           "the second reservation can still be paid once, without the key");
    led = ledger_of(s, &a, 5, &h); /* 2 charges, 1 transfer out, 2 payments */
    ensure(count_kind(led, "PAYMENT") == 2 && count_kind(led, "CHARGE") == 2 &&
               count_kind(led, "TRANSFER_OUT") == 1,
           "ledger: %s", h.raw);
    resp_free(&h);
    resp_free(&first);
}

/* ---- 4. a lost response, retried ----------------------------------------------- */

/* Forwards one request to the server, reads its whole answer and drops it. */
struct proxy {
    int lfd;
    int port;
    int upstream_port;
    pthread_t th;
    char req[8192];
    size_t req_len;
    char resp[65536];
    size_t resp_len;
    bool got_eof;      /* the server closed after answering */
    char err[200];
};

static void set_timeouts(int fd, int seconds)
{
    struct timeval tv = {.tv_sec = seconds, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Content-Length of a header block (the text before "\r\n\r\n"), 0 when absent. */
static size_t content_length(const char *head)
{
    const char *p = strcasestr(head, "\r\ncontent-length:");
    return p ? (size_t)strtoul(p + 17, NULL, 10) : 0;
}

static void *proxy_main(void *arg)
{
    struct proxy *p = arg;
    int cfd = accept(p->lfd, NULL, NULL);
    close(p->lfd); /* one connection only: a client retry through here is refused */
    p->lfd = -1;
    if (cfd < 0) {
        snprintf(p->err, sizeof p->err, "accept: %s", strerror(errno));
        return NULL;
    }
    set_timeouts(cfd, 10);
    size_t need = SIZE_MAX;
    for (int i = 0; i < 1000 && p->req_len < need; i++) {
        if (p->req_len >= sizeof p->req - 1) {
            snprintf(p->err, sizeof p->err, "request too long");
            goto out;
        }
        ssize_t n = recv(cfd, p->req + p->req_len, sizeof p->req - 1 - p->req_len, 0);
        if (n <= 0) {
            snprintf(p->err, sizeof p->err, "reading the request: %s",
                     n == 0 ? "client closed" : strerror(errno));
            goto out;
        }
        p->req_len += (size_t)n;
        p->req[p->req_len] = '\0';
        char *end = strstr(p->req, "\r\n\r\n");
        if (end && need == SIZE_MAX) {
            *end = '\0';
            need = (size_t)(end + 4 - p->req) + content_length(p->req);
            *end = '\r';
        }
    }
    if (p->req_len < need) {
        snprintf(p->err, sizeof p->err, "incomplete request");
        goto out;
    }
    int ufd = socket(AF_INET, SOCK_STREAM, 0);
    if (ufd < 0) {
        snprintf(p->err, sizeof p->err, "socket: %s", strerror(errno));
        goto out;
    }
    set_timeouts(ufd, 10);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->upstream_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(ufd, (struct sockaddr *)&a, sizeof a) != 0) {
        snprintf(p->err, sizeof p->err, "connect to the server: %s", strerror(errno));
        close(ufd);
        goto out;
    }
    for (size_t off = 0; off < p->req_len;) {
        ssize_t n = send(ufd, p->req + off, p->req_len - off, MSG_NOSIGNAL);
        if (n <= 0) {
            snprintf(p->err, sizeof p->err, "send to the server: %s", strerror(errno));
            close(ufd);
            goto out;
        }
        off += (size_t)n;
    }
    for (int i = 0; i < 10000 && p->resp_len < sizeof p->resp - 1; i++) {
        ssize_t n = recv(ufd, p->resp + p->resp_len, sizeof p->resp - 1 - p->resp_len, 0);
        if (n == 0) {
            p->got_eof = true;
            break;
        }
        if (n < 0) {
            snprintf(p->err, sizeof p->err, "reading the response: %s", strerror(errno));
            break;
        }
        p->resp_len += (size_t)n;
        p->resp[p->resp_len] = '\0';
    }
    close(ufd);
out:
    close(cfd); /* the client gets nothing back */
    return NULL;
}

static void proxy_start(struct proxy *p, const struct srv *s)
{
    memset(p, 0, sizeof *p);
    p->lfd = -1;
    const char *prefix = "http://127.0.0.1:";
    if (strncmp(s->base_urls[0], prefix, strlen(prefix)) != 0) {
        print_message("skipped: the proxy needs a server on 127.0.0.1, not %s\n", s->base_urls[0]);
        skip();
    }
    p->upstream_port = atoi(s->base_urls[0] + strlen(prefix));
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    ensure(p->lfd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ensure(bind(p->lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(p->lfd, 4) == 0 &&
               getsockname(p->lfd, (struct sockaddr *)&a, &len) == 0,
           "proxy listen: %s", strerror(errno));
    p->port = ntohs(a.sin_port);
    set_timeouts(p->lfd, 10); /* accept gives up after 10 s */
    ensure(pthread_create(&p->th, NULL, proxy_main, p) == 0, "pthread_create");
}

/* Sends one request through a fresh proxy that drops the answer; returns the answer the
 * server gave (the proxy saw it) in `seen`, which must be 200. */
static void lost_response(struct srv *s, const char *path, const struct hdrs *h,
                          const char *body, char *seen_body, size_t seen_n)
{
    struct proxy *p = calloc(1, sizeof *p);
    ensure(p != NULL, "out of memory");
    proxy_start(p, s);
    struct srv via;
    memset(&via, 0, sizeof via);
    snprintf(via.base_urls[0], sizeof via.base_urls[0], "http://127.0.0.1:%d", p->port);
    via.n_base_urls = 1;
    via.external = true;
    struct hdrs hc = *h;
    hc.raw[0] = "Connection: close";
    struct resp r = http(&via, "POST", path, &hc, body);
    pthread_join(p->th, NULL);
    ensure(r.status == 0, "through the dropping proxy the client got HTTP %ld %s", r.status, r.raw);
    resp_free(&r);
    ensure(p->err[0] == '\0', "proxy: %s", p->err);
    ensure(p->got_eof, "the server did not close the connection after answering "
                       "(Connection: close); got %zu bytes", p->resp_len);
    ensure(strncmp(p->resp, "HTTP/1.1 200 ", 13) == 0,
           "the server answered the proxied request with: %.400s", p->resp);
    const char *b = strstr(p->resp, "\r\n\r\n");
    ensure(b != NULL, "no end of headers in the proxied response");
    copy_str(seen_body, seen_n, b + 4);
    free(p);
}

static void test_lost_response_retry(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    char seen[4096];

    /* A charge whose answer is lost, then retried directly. */
    struct user u;
    user_new(s, &u);
    struct hdrs hc = {.key = u.key, .idem = "lost-charge-1"};
    lost_response(s, "/user/charge", &hc, "{\"amount\":777}", seen, sizeof seen);
    struct resp r = http(s, "POST", "/user/charge", &hc, "{\"amount\":777}");
    json_t *d = assert_ok(r, 200);
    ensure(jint(d, "balance") == 777, "the retried charge answered balance %" PRId64,
           jint(d, "balance"));
    ensure(strcmp(r.raw, seen) == 0, "the retry's body differs from the lost one:\n%s\n%s", r.raw,
           seen);
    resp_free(&r);
    ensure(balance(s, &u) == 777, "balance %" PRId64 " after one charge of 777 retried once",
           balance(s, &u));
    struct resp h;
    json_t *led = ledger_of(s, &u, 1, &h);
    ensure(count_kind(led, "CHARGE") == 1, "ledger: %s", h.raw);
    resp_free(&h);

    /* A payment whose answer is lost (it also expired the token), then retried directly. */
    struct user v;
    active_user(s, &v, BIG_MONEY);
    struct seat seat;
    char res[ID_MAX];
    free_seat(s, &v, &seat);
    hold(s, &v, seat.id, res);
    int64_t before = balance(s, &v);
    struct hdrs hp = {.token = v.token, .idem = "lost-payment-1"};
    char body[128];
    snprintf(body, sizeof body, "{\"reservationId\":\"%s\"}", res);
    lost_response(s, "/payment", &hp, body, seen, sizeof seen);
    r = http(s, "POST", "/payment", &hp, body);
    d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "status"), "PAID") == 0 && jint(d, "balance") == before - seat.price,
           "the retried payment: %s", r.raw);
    ensure(strcmp(r.raw, seen) == 0, "the retry's body differs from the lost one:\n%s\n%s", r.raw,
           seen);
    resp_free(&r);
    ensure(balance(s, &v) == before - seat.price,
           "balance %" PRId64 " after one payment of %" PRId64 " from %" PRId64 " retried once",
           balance(s, &v), seat.price, before);
    led = ledger_of(s, &v, 2, &h);
    ensure(count_kind(led, "PAYMENT") == 1, "ledger: %s", h.raw);
    resp_free(&h);
}

/* ---- 5. 1,000 random concurrent transfers among 10 users --------------------------- */

enum { LOAD_USERS = 10, LOAD_N = 1000 };

/* Funds the users, fires the transfers at once and checks every outcome. */
static void transfer_load(struct srv *s, struct user *u)
{
    static unsigned runs;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (++runs * 2654435761u);
    const char *env = getenv("TEST_MONEY_SEED");
    if (env && *env)
        seed = (unsigned)strtoul(env, NULL, 10);
    print_message("transfer load: seed %u (TEST_MONEY_SEED)\n", seed);
    srand(seed);

    users_new_many(s, u, LOAD_USERS);
    int64_t funded[LOAD_USERS], expect[LOAD_USERS], total = 0;
    for (int i = 0; i < LOAD_USERS; i++) {
        funded[i] = 20000 + rand() % 80000;
        ensure(charge(s, &u[i], funded[i]) == funded[i], "funding user %d", i);
        expect[i] = funded[i];
        total += funded[i];
    }

    struct mreq *q = calloc(LOAD_N, sizeof *q);
    struct resp *r = calloc(LOAD_N, sizeof *r);
    int *from = calloc(LOAD_N, sizeof *from), *to = calloc(LOAD_N, sizeof *to);
    int64_t *amt = calloc(LOAD_N, sizeof *amt);
    ensure(q && r && from && to && amt, "out of memory");
    for (int i = 0; i < LOAD_N; i++) {
        from[i] = rand() % LOAD_USERS;
        to[i] = (from[i] + 1 + rand() % (LOAD_USERS - 1)) % LOAD_USERS;
        amt[i] = 1 + rand() % 30000;
        q[i].method = "POST";
        copy_str(q[i].path, sizeof q[i].path, "/transfers");
        q[i].h.key = u[from[i]].key;
        copy_str(q[i].body, sizeof q[i].body,
                 fmt("{\"toUserId\":\"%s\",\"amount\":%" PRId64 "}", u[to[i]].id, amt[i]));
    }
    int64_t t0 = now_ms();
    http_multi(s, q, LOAD_N, r);
    int n_ok = 0, n_short = 0;
    for (int i = 0; i < LOAD_N; i++) {
        if (r[i].status == 200) {
            json_t *d = assert_ok(r[i], 200);
            ensure(strcmp(jstr(d, "fromUserId"), u[from[i]].id) == 0 &&
                       strcmp(jstr(d, "toUserId"), u[to[i]].id) == 0 &&
                       jint(d, "amount") == amt[i] && is_id(jstr(d, "transferId")),
                   "transfer %d (%s): %s", i, q[i].body, r[i].raw);
            ensure(jint(d, "balance") >= 0, "transfer %d answered a negative balance: %s", i,
                   r[i].raw);
            expect[from[i]] -= amt[i];
            expect[to[i]] += amt[i];
            n_ok++;
        } else {
            ensure(r[i].status == 409, "transfer %d (%s) of user %s: HTTP %ld %.300s", i,
                   q[i].body, u[from[i]].id, r[i].status, r[i].raw);
            assert_err(r[i], 409, "INSUFFICIENT_BALANCE");
            n_short++;
        }
    }
    print_message("transfer load: %d transfers in %lld ms: %d done, %d INSUFFICIENT_BALANCE\n",
                  LOAD_N, (long long)(now_ms() - t0), n_ok, n_short);
    ensure(n_ok > 0, "no transfer succeeded");

    int64_t sum = 0;
    for (int i = 0; i < LOAD_USERS; i++) {
        int64_t b = balance(s, &u[i]);
        ensure(b >= 0, "user %s has a negative balance %" PRId64, u[i].id, b);
        ensure(b == expect[i], "user %s: balance %" PRId64 ", but funding %" PRId64
               " and the successful transfers make %" PRId64, u[i].id, b, funded[i], expect[i]);
        sum += b;
        struct resp h = history(s, &u[i], "?limit=1");
        json_t *led = assert_ok(h, 200);
        ensure(json_is_array(led) && json_array_size(led) == 1, "history of %s: %s", u[i].id,
               h.raw);
        ensure(jint(json_array_get(led, 0), "balanceAfter") == b,
               "user %s: the newest ledger entry says balanceAfter %" PRId64 ", the balance is %"
               PRId64 ": %s", u[i].id, jint(json_array_get(led, 0), "balanceAfter"), b, h.raw);
        resp_free(&h);
    }
    ensure(sum == total, "money not conserved: the balances sum to %" PRId64 ", %" PRId64
           " was funded", sum, total);

    for (int i = 0; i < LOAD_N; i++)
        resp_free(&r[i]);
    free(q);
    free(r);
    free(from);
    free(to);
    free(amt);
}

static void test_transfer_load(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u[LOAD_USERS];
    transfer_load(s, u);
}

/* ---- 6. ticketd reconcile ------------------------------------------------------------ */

/* Runs `ticketd reconcile --db <the server's store>` while the server runs; stdout into out;
 * returns the exit status. */
static int reconcile(const struct srv *s, char *out, size_t out_n)
{
    ensure(g_bin != NULL, "no ticketd binary given");
    const char *db_arg = s->db_url;
    int pfd[2];
    ensure(pipe(pfd) == 0, "pipe: %s", strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    ensure(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execl(g_bin, g_bin, "reconcile", "--db", db_arg, (char *)NULL);
        dprintf(2, "execl %s: %s\n", g_bin, strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    size_t len = 0;
    out[0] = '\0';
    int64_t deadline = now_ms() + 30000;
    bool killed = false;
    for (int i = 0; i < 1000000; i++) {
        struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
        int pr = poll(&pf, 1, 100);
        if (pr > 0) {
            char scratch[4096];
            bool room = len + 1 < out_n;
            ssize_t n = room ? read(pfd[0], out + len, out_n - 1 - len)
                             : read(pfd[0], scratch, sizeof scratch);
            if (n <= 0)
                break;
            if (room) {
                len += (size_t)n;
                out[len] = '\0';
            }
        }
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            killed = true;
            break;
        }
    }
    close(pfd[0]);
    int st = 0;
    int64_t wait_deadline = now_ms() + 10000;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (now_ms() > wait_deadline) {
            kill(pid, SIGKILL);
            killed = true;
            waitpid(pid, &st, 0);
            break;
        }
        sleep_ms(10);
    }
    ensure(!killed, "ticketd reconcile did not finish within 30 s; output so far:\n%s", out);
    ensure(WIFEXITED(st), "ticketd reconcile died of signal %d", WTERMSIG(st));
    return WEXITSTATUS(st);
}

static void test_reconcile(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    srv_require_local(s);
    struct user u[LOAD_USERS];
    transfer_load(s, u);

    /* The busy database, while the server still runs: clean. */
    char out[16384];
    int rc = reconcile(s, out, sizeof out);
    ensure(rc == 0, "reconcile of the database after the transfer load exited %d:\n%s", rc, out);

    /* (a) One balance off by one won: that user is named, and nobody else. */
    const struct user *x = &u[3];
    srv_sql(s, fmt("UPDATE users SET balance = balance + 1 WHERE id = %s", x->id), 1);
    rc = reconcile(s, out, sizeof out);
    ensure(rc == 1, "reconcile after corrupting users.id=%s exited %d:\n%s", x->id, rc, out);
    ensure(strstr(out, fmt("users.id=%s:", x->id)) != NULL,
           "reconcile does not name users.id=%s:\n%s", x->id, out);
    for (int i = 0; i < LOAD_USERS; i++)
        ensure(&u[i] == x || strstr(out, fmt("users.id=%s:", u[i].id)) == NULL,
               "reconcile names the intact users.id=%s:\n%s", u[i].id, out);

    /* (b) Another server: a paid seat whose payment row is deleted. */
    struct srv *s2 = srv_start(ARGS("--rate-limit", "0"));
    struct user v;
    active_user(s2, &v, BIG_MONEY);
    struct seat seat;
    char res[ID_MAX];
    free_seat(s2, &v, &seat);
    hold(s2, &v, seat.id, res);
    struct resp p = http(s2, "POST", "/payment", TOKEN(v.token),
                         fmt("{\"reservationId\":\"%s\"}", res));
    json_t *d = assert_ok(p, 200);
    ensure(strcmp(jstr(d, "seatId"), seat.id) == 0, "paid another seat: %s", p.raw);
    char payment_id[ID_MAX];
    copy_str(payment_id, sizeof payment_id, jstr(d, "paymentId"));
    resp_free(&p);
    rc = reconcile(s2, out, sizeof out);
    ensure(rc == 0, "reconcile after one clean payment exited %d:\n%s", rc, out);
    srv_sql(s2, fmt("DELETE FROM payments WHERE id = %s", payment_id), 1);
    rc = reconcile(s2, out, sizeof out);
    ensure(rc == 1, "reconcile after deleting payments.id=%s exited %d:\n%s", payment_id, rc, out);
    ensure(strstr(out, fmt("seats.id=%s:", seat.id)) != NULL,
           "reconcile does not name the sold seat without a payment, seats.id=%s:\n%s", seat.id,
           out);
}

/* ---- 7. transfer refusals; the ledger as GET /user/history shows it -------------- */

static void test_transfer_rules_and_history(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user a, b;
    user_new(s, &a);
    user_new(s, &b);
    int64_t ab = charge(s, &a, BIG_MONEY);
    for (int i = 1; i <= 21; i++)
        ab = charge(s, &a, i);
    ensure(ab == BIG_MONEY + 231, "A's balance after the charges: %" PRId64, ab);

    /* Refused whole. */
    const char *tr = "/transfers";
    expect_err(s, "POST", tr, AUTH(a.key), fmt("{\"toUserId\":\"%s\",\"amount\":10}", a.id), 400,
               "INVALID_ARGUMENT");
    expect_err(s, "POST", tr, AUTH(a.key), "{\"toUserId\":\"" MISSING_ID "\",\"amount\":10}", 404,
               "NOT_FOUND");
    expect_err(s, "POST", tr, AUTH(a.key), fmt("{\"toUserId\":\"%s\",\"amount\":0}", b.id), 400,
               "INVALID_ARGUMENT");
    expect_err(s, "POST", tr, AUTH(a.key),
               fmt("{\"toUserId\":\"%s\",\"amount\":1000000001}", b.id), 400, "INVALID_ARGUMENT");
    expect_err(s, "POST", tr, AUTH(a.key), fmt("{\"toUserId\":\"%s\",\"amount\":\"5\"}", b.id), 400,
               "INVALID_ARGUMENT");
    ensure(balance(s, &a) == ab && balance(s, &b) == 0,
           "refused transfers moved money: %" PRId64 " and %" PRId64, balance(s, &a),
           balance(s, &b));

    /* A → B 500. */
    struct resp r = http(s, "POST", tr, AUTH(a.key), fmt("{\"toUserId\":\"%s\",\"amount\":500}", b.id));
    json_t *d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "fromUserId"), a.id) == 0 && strcmp(jstr(d, "toUserId"), b.id) == 0 &&
               jint(d, "amount") == 500 && jint(d, "balance") == ab - 500 &&
               is_id(jstr(d, "transferId")),
           "transfer A->B: %s", r.raw);
    char t1[ID_MAX];
    copy_str(t1, sizeof t1, jstr(d, "transferId"));
    resp_free(&r);
    ab -= 500;

    /* B has 500: 501 is refused, both balances unchanged. */
    expect_err(s, "POST", tr, AUTH(b.key), fmt("{\"toUserId\":\"%s\",\"amount\":501}", a.id), 409,
               "INSUFFICIENT_BALANCE");
    ensure(balance(s, &a) == ab && balance(s, &b) == 500,
           "an insufficient transfer changed balances: %" PRId64 " and %" PRId64, balance(s, &a),
           balance(s, &b));

    /* B → A 200. */
    r = http(s, "POST", tr, AUTH(b.key), fmt("{\"toUserId\":\"%s\",\"amount\":200}", a.id));
    d = assert_ok(r, 200);
    ensure(jint(d, "balance") == 300, "transfer B->A: %s", r.raw);
    char t2[ID_MAX];
    copy_str(t2, sizeof t2, jstr(d, "transferId"));
    resp_free(&r);
    ab += 200;

    /* A pays a seat. */
    token_issue(s, &a, "ACTIVE", 201);
    struct seat seat;
    char res[ID_MAX];
    free_seat(s, &a, &seat);
    hold(s, &a, seat.id, res);
    r = http(s, "POST", "/payment", TOKEN(a.token), fmt("{\"reservationId\":\"%s\"}", res));
    d = assert_ok(r, 200);
    char pid[ID_MAX];
    copy_str(pid, sizeof pid, jstr(d, "paymentId"));
    resp_free(&r);
    ab -= seat.price;
    ensure(balance(s, &a) == ab, "A's balance after paying");

    /* limit out of range or not a number. */
    const char *bad[] = {"?limit=0", "?limit=101", "?limit=x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_err(s, "GET", fmt("/user/history%s", bad[i]), AUTH(a.key), NULL, 400,
                   "INVALID_ARGUMENT");

    /* A's whole ledger: 22 charges, a transfer out, a transfer in, a payment; newest first. */
    struct resp full;
    json_t *led = ledger_of(s, &a, 25, &full);
    struct {
        const char *kind;
        int64_t amount;
        const char *ref; /* NULL: JSON null */
    } want[25];
    char ref_pay[64], ref_t1[64], ref_t2[64];
    snprintf(ref_pay, sizeof ref_pay, "payment:%s", pid);
    snprintf(ref_t1, sizeof ref_t1, "transfer:%s", t1);
    snprintf(ref_t2, sizeof ref_t2, "transfer:%s", t2);
    want[0].kind = "PAYMENT", want[0].amount = -seat.price, want[0].ref = ref_pay;
    want[1].kind = "TRANSFER_IN", want[1].amount = 200, want[1].ref = ref_t2;
    want[2].kind = "TRANSFER_OUT", want[2].amount = -500, want[2].ref = ref_t1;
    for (int i = 3; i < 24; i++)
        want[i].kind = "CHARGE", want[i].amount = 24 - i, want[i].ref = NULL;
    want[24].kind = "CHARGE", want[24].amount = BIG_MONEY, want[24].ref = NULL;
    int64_t sum = 0, prev_ms = INT64_MAX;
    for (int i = 0; i < 25; i++) {
        json_t *e = json_array_get(led, (size_t)i);
        ensure(is_id(jstr(e, "entryId")), "entry %d: entryId: %s", i, full.raw);
        ensure(strcmp(jstr(e, "kind"), want[i].kind) == 0 && jint(e, "amount") == want[i].amount,
               "entry %d (newest first) should be %s %" PRId64 ": %s\nledger: %s", i,
               want[i].kind, want[i].amount, json_dumps(e, JSON_COMPACT), full.raw);
        json_t *ref = json_object_get(e, "ref");
        ensure(want[i].ref ? json_is_string(ref) && strcmp(json_string_value(ref), want[i].ref) == 0
                           : json_is_null(ref),
               "entry %d: ref should be %s: %s", i, want[i].ref ? want[i].ref : "null",
               json_dumps(e, JSON_COMPACT));
        int64_t ms = rfc3339_ms(jstr(e, "createdAt"));
        ensure(ms > 0 && ms <= prev_ms, "entry %d: createdAt %s is not RFC 3339 or not newest first",
               i, jstr(e, "createdAt"));
        prev_ms = ms;
        if (i + 1 < 25)
            ensure(jint(e, "balanceAfter") ==
                       jint(json_array_get(led, (size_t)i + 1), "balanceAfter") + want[i].amount,
                   "entry %d: balanceAfter does not follow from the entry before it: %s", i,
                   full.raw);
        else
            ensure(jint(e, "balanceAfter") == want[i].amount, "the oldest entry's balanceAfter");
        for (int j = 0; j < i; j++)
            ensure(strcmp(jstr(e, "entryId"), jstr(json_array_get(led, (size_t)j), "entryId")) != 0,
                   "entries %d and %d share an id", j, i);
        sum += jint(e, "amount");
    }
    ensure(sum == ab && jint(json_array_get(led, 0), "balanceAfter") == ab,
           "A's entries sum to %" PRId64 ", the balance is %" PRId64, sum, ab);

    /* The default limit is 20: the newest 20 of the same list. */
    struct resp def = history(s, &a, "");
    json_t *dl = assert_ok(def, 200);
    ensure(json_is_array(dl) && json_array_size(dl) == 20, "GET /user/history gave %zu entries, "
           "the default limit is 20: %s", json_array_size(dl), def.raw);
    for (size_t i = 0; i < 20; i++)
        ensure(strcmp(jstr(json_array_get(dl, i), "entryId"),
                      jstr(json_array_get(led, i), "entryId")) == 0,
               "default history entry %zu is not the %zu-th newest", i, i);
    resp_free(&def);
    struct resp one = history(s, &a, "?limit=1");
    ensure(json_array_size(assert_ok(one, 200)) == 1 &&
               strcmp(jstr(json_array_get(json_object_get(one.json, "data"), 0), "kind"),
                      "PAYMENT") == 0,
           "limit=1: %s", one.raw);
    resp_free(&one);
    resp_free(&full);

    /* B: the transfer in, then the transfer out. */
    led = ledger_of(s, &b, 2, &full);
    json_t *e0 = json_array_get(led, 0), *e1 = json_array_get(led, 1);
    ensure(strcmp(jstr(e0, "kind"), "TRANSFER_OUT") == 0 && jint(e0, "amount") == -200 &&
               jint(e0, "balanceAfter") == 300 &&
               strcmp(jstr(e0, "ref"), fmt("transfer:%s", t2)) == 0,
           "B's newest entry: %s", full.raw);
    ensure(strcmp(jstr(e1, "kind"), "TRANSFER_IN") == 0 && jint(e1, "amount") == 500 &&
               jint(e1, "balanceAfter") == 500 &&
               strcmp(jstr(e1, "ref"), fmt("transfer:%s", t1)) == 0,
           "B's oldest entry: %s", full.raw);
    ensure(balance(s, &b) == 300, "B's balance");
    resp_free(&full);
}

int main(int argc, char **argv)
{
    harness_init(argc, argv);
    g_bin = argc >= 2 ? argv[1] : NULL;
    const struct CMUnitTest tests[] = {
        API_TEST(test_idem_payment_burst),
        API_TEST(test_unkeyed_payment_burst),
        API_TEST(test_idem_reuse_and_retry),
        API_TEST(test_lost_response_retry),
        API_TEST(test_transfer_load),
        API_TEST(test_reconcile),
        API_TEST(test_transfer_rules_and_history),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
