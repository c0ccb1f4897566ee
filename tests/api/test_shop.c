/*
 * test_shop.c — the shop over HTTP (API.md part 2, "Shop", and the organizer's product routes), black-box,
 * embedded and on PostgreSQL + Redis with one and three instances:
 *   - the flow: demo merchandise, the cart (adds up, list, remove), an order from the cart, payment with one
 *     ORDER_PAYMENT entry, the order read back, `ticketd reconcile` clean;
 *   - a flash sale: 1,000 concurrent buyers of one option with stock 100 — exactly 100 orders, 900 × 409
 *     OUT_OF_STOCK naming the option, zero 5xx, stock 0, reconcile clean;
 *   - a multi-item order with one item short reserves nothing;
 *   - ten concurrent payments with one Idempotency-Key: one debit, ten identical answers; without a key: one
 *     success and nine ALREADY_PAID; a lost answer rebuilt from its effect, byte for byte;
 *   - an order lapses after --order-hold-seconds: stock back at once, ORDER_EXPIRED, status EXPIRED;
 *   - popular products: ordering, ties by productId, the top 5, range limits, an empty range;
 *   - bad input (quantity 0 / 101, unknown option, someone else's cart item or order, 21 items, unknown fields):
 *     status, code, and nothing changed;
 *   - the organizer's routes: keys (none set: 403; missing/unknown: 401; a user's: 403), validation, PATCH.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FLASH_BUYERS 1000
#define FLASH_STOCK 100

static const char *g_bin;

/* POST /admin/products with options "[{...}]"; copies the option ids (in order) into opts. */
static void product_new(struct srv *s, const char *name, const char *options_json, char (*opts)[ID_MAX], int n,
                        char pid[ID_MAX])
{
    struct resp r = http_admin(s, "POST", "/admin/products", fmt("{\"name\":\"%s\",\"options\":%s}", name, options_json));
    json_t *d = assert_ok(r, 201);
    ensure(strcmp(jstr(d, "name"), name) == 0, "product name: %s", r.raw);
    if (pid)
        copy_str(pid, ID_MAX, jstr(d, "productId"));
    json_t *o = json_object_get(d, "options");
    ensure(json_is_array(o) && (int)json_array_size(o) == n, "options: %s", r.raw);
    for (int i = 0; i < n; i++)
        copy_str(opts[i], ID_MAX, jstr(json_array_get(o, (size_t)i), "optionId"));
    resp_free(&r);
}

/* One option's stock through GET /products/{id}. */
static int64_t option_stock(struct srv *s, const struct user *u, const char *pid, const char *opt)
{
    struct resp r = http(s, "GET", fmt("/products/%s", pid), AUTH(u->key), NULL);
    json_t *d = assert_ok(r, 200);
    json_t *o = json_object_get(d, "options");
    int64_t stock = -1;
    for (size_t i = 0; i < json_array_size(o); i++)
        if (strcmp(jstr(json_array_get(o, i), "optionId"), opt) == 0)
            stock = jint(json_array_get(o, i), "stock");
    ensure(stock >= 0, "option %s not in product %s: %s", opt, pid, r.raw);
    resp_free(&r);
    return stock;
}

static int cart_len(struct srv *s, const struct user *u)
{
    struct resp r = http(s, "GET", "/cart", AUTH(u->key), NULL);
    json_t *d = assert_ok(r, 200);
    int n = (int)json_array_size(d);
    resp_free(&r);
    return n;
}

/* POST /orders with body; asserts 201 and copies the order id. */
static void order_new(struct srv *s, const struct user *u, const char *body, char oid[ID_MAX], int64_t *total)
{
    struct resp r = http(s, "POST", "/orders", AUTH(u->key), body);
    json_t *d = assert_ok(r, 201);
    ensure(strcmp(jstr(d, "status"), "PENDING") == 0, "new order: %s", r.raw);
    copy_str(oid, ID_MAX, jstr(d, "orderId"));
    if (total)
        *total = jint(d, "totalPrice");
    resp_free(&r);
}

/* Runs `ticketd reconcile --db <the server's store>`; stdout into out; returns the exit status. */
static int reconcile(const struct srv *s, char *out, size_t out_n)
{
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
        execl(g_bin, g_bin, "reconcile", "--db", s->db_url, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    size_t len = 0;
    out[0] = '\0';
    int64_t deadline = now_ms() + 30000;
    for (;;) {
        struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
        if (poll(&pf, 1, 100) > 0) {
            char scratch[4096];
            bool room = len + 1 < out_n;
            ssize_t n = room ? read(pfd[0], out + len, out_n - 1 - len) : read(pfd[0], scratch, sizeof scratch);
            if (n <= 0)
                break;
            if (room) {
                len += (size_t)n;
                out[len] = '\0';
            }
        }
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            break;
        }
    }
    close(pfd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    ensure(WIFEXITED(st), "ticketd reconcile died of signal %d", WTERMSIG(st));
    return WEXITSTATUS(st);
}

static void reconcile_clean(const struct srv *s, const char *when)
{
    char out[8192];
    int rc = reconcile(s, out, sizeof out);
    ensure(rc == 0, "reconcile %s exited %d:\n%s", when, rc, out);
}

/* ---- the flow ------------------------------------------------------------------------------ */

static void test_shop_flow(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    srv_require_local(s);
    struct user u;
    user_new(s, &u);
    /* the demo merchandise: products with options, prices and stock */
    struct resp r = http(s, "GET", "/products", AUTH(u.key), NULL);
    json_t *d = assert_ok(r, 200);
    ensure(json_array_size(d) >= 3, "the demo seeds a few products: %s", r.raw);
    json_t *first = json_array_get(d, 0);
    ensure(is_id(jstr(first, "productId")) && json_array_size(json_object_get(first, "options")) >= 1,
           "a product: %s", r.raw);
    json_t *o0 = json_array_get(json_object_get(first, "options"), 0);
    ensure(is_id(jstr(o0, "optionId")) && jint(o0, "price") > 0 && jint(o0, "stock") > 0 && *jstr(o0, "name"),
           "an option: %s", r.raw);
    resp_free(&r);
    r = http(s, "GET", "/products", NULL, NULL);
    assert_err(r, 401, "UNAUTHORIZED");
    resp_free(&r);

    char opts[2][ID_MAX], pid[ID_MAX];
    product_new(s, "Flow hoodie", "[{\"name\":\"M\",\"price\":50000,\"stock\":10},{\"name\":\"L\",\"price\":52000,"
                                  "\"stock\":10}]", opts, 2, pid);
    r = http(s, "GET", fmt("/products/%s", pid), AUTH(u.key), NULL);
    d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "name"), "Flow hoodie") == 0, "GET /products/{id}: %s", r.raw);
    resp_free(&r);
    r = http(s, "GET", "/products/999999", AUTH(u.key), NULL);
    assert_err(r, 404, "NOT_FOUND");
    resp_free(&r);

    /* the cart: the same option again adds up */
    r = http(s, "POST", "/cart", AUTH(u.key), fmt("{\"optionId\":\"%s\",\"quantity\":2}", opts[0]));
    d = assert_ok(r, 201);
    char line0[ID_MAX];
    copy_str(line0, sizeof line0, jstr(d, "cartItemId"));
    ensure(jint(d, "quantity") == 2 && strcmp(jstr(d, "optionId"), opts[0]) == 0, "cart add: %s", r.raw);
    resp_free(&r);
    r = http(s, "POST", "/cart", AUTH(u.key), fmt("{\"optionId\":\"%s\",\"quantity\":3}", opts[0]));
    d = assert_ok(r, 201);
    ensure(jint(d, "quantity") == 5 && strcmp(jstr(d, "cartItemId"), line0) == 0, "cart adds up: %s", r.raw);
    resp_free(&r);
    r = http(s, "POST", "/cart", AUTH(u.key), fmt("{\"optionId\":\"%s\",\"quantity\":1}", opts[1]));
    assert_ok(r, 201);
    resp_free(&r);
    r = http(s, "GET", "/cart", AUTH(u.key), NULL);
    d = assert_ok(r, 200);
    ensure(json_array_size(d) == 2, "cart: %s", r.raw);
    json_t *c0 = json_array_get(d, 0);
    ensure(strcmp(jstr(c0, "productName"), "Flow hoodie") == 0 && strcmp(jstr(c0, "optionName"), "M") == 0 &&
               jint(c0, "price") == 50000 && jint(c0, "quantity") == 5,
           "cart line: %s", r.raw);
    resp_free(&r);

    /* an order from the cart: 5 M + 1 L, the cart empties, the stock is reserved */
    char oid[ID_MAX];
    int64_t total = 0;
    order_new(s, &u, "{\"fromCart\":true}", oid, &total);
    ensure(total == 5 * 50000 + 52000, "totalPrice %lld", (long long)total);
    ensure(cart_len(s, &u) == 0, "the ordered lines left the cart");
    ensure(option_stock(s, &u, pid, opts[0]) == 5 && option_stock(s, &u, pid, opts[1]) == 9, "stock reserved");
    r = http(s, "GET", fmt("/orders/%s", oid), AUTH(u.key), NULL);
    d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "status"), "PENDING") == 0 && json_array_size(json_object_get(d, "items")) == 2 &&
               rfc3339_ms(jstr(d, "expiresAt")) > now_ms() + 500000,
           "GET /orders/{id}: %s", r.raw);
    json_t *i0 = json_array_get(json_object_get(d, "items"), 0);
    ensure(strcmp(jstr(i0, "optionId"), opts[0]) == 0 && jint(i0, "quantity") == 5 && jint(i0, "price") == 50000 &&
               strcmp(jstr(i0, "productName"), "Flow hoodie") == 0 && strcmp(jstr(i0, "optionName"), "M") == 0,
           "order item: %s", r.raw);
    resp_free(&r);
    r = http(s, "POST", "/orders", AUTH(u.key), "{\"fromCart\":true}");
    assert_err(r, 400, "INVALID_ARGUMENT"); /* the cart is empty now */
    resp_free(&r);

    /* payment: INSUFFICIENT_BALANCE changes nothing; then paid, one ORDER_PAYMENT entry */
    r = http(s, "POST", fmt("/orders/%s/pay", oid), AUTH(u.key), NULL);
    assert_err(r, 409, "INSUFFICIENT_BALANCE");
    resp_free(&r);
    charge(s, &u, 400000);
    r = http(s, "POST", fmt("/orders/%s/pay", oid), AUTH(u.key), NULL);
    d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "status"), "PAID") == 0 && jint(d, "totalPrice") == total &&
               jint(d, "balance") == 400000 - total && strcmp(jstr(d, "orderId"), oid) == 0,
           "pay: %s", r.raw);
    resp_free(&r);
    ensure(balance(s, &u) == 400000 - total, "balance after paying");
    r = http(s, "GET", "/user/history?limit=1", AUTH(u.key), NULL);
    d = assert_ok(r, 200);
    json_t *e = json_array_get(d, 0);
    ensure(strcmp(jstr(e, "kind"), "ORDER_PAYMENT") == 0 && jint(e, "amount") == -total &&
               strcmp(jstr(e, "ref"), fmt("order:%s", oid)) == 0,
           "the ledger entry: %s", r.raw);
    resp_free(&r);
    r = http(s, "GET", fmt("/orders/%s", oid), AUTH(u.key), NULL);
    d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "status"), "PAID") == 0, "paid order: %s", r.raw);
    resp_free(&r);
    r = http(s, "POST", fmt("/orders/%s/pay", oid), AUTH(u.key), NULL);
    assert_err(r, 409, "ALREADY_PAID");
    resp_free(&r);
    /* cart removal */
    r = http(s, "POST", "/cart", AUTH(u.key), fmt("{\"optionId\":\"%s\",\"quantity\":1}", opts[1]));
    d = assert_ok(r, 201);
    char line[ID_MAX];
    copy_str(line, sizeof line, jstr(d, "cartItemId"));
    resp_free(&r);
    r = http(s, "DELETE", fmt("/cart/%s", line), AUTH(u.key), NULL);
    assert_ok(r, 200);
    resp_free(&r);
    ensure(cart_len(s, &u) == 0, "the removed line is gone");
    r = http(s, "DELETE", fmt("/cart/%s", line), AUTH(u.key), NULL);
    assert_err(r, 404, "NOT_FOUND");
    resp_free(&r);
    reconcile_clean(s, "after the flow");
}

/* ---- the flash sale ------------------------------------------------------------------------- */

static void test_flash_sale(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    srv_require_local(s);
    char opt[1][ID_MAX], pid[ID_MAX];
    product_new(s, "Flash light stick", fmt("[{\"name\":\"Limited\",\"price\":1000,\"stock\":%d}]", FLASH_STOCK),
                opt, 1, pid);
    struct user *u = calloc(FLASH_BUYERS, sizeof *u);
    struct mreq *q = calloc(FLASH_BUYERS, sizeof *q);
    struct resp *r = calloc(FLASH_BUYERS, sizeof *r);
    ensure(u && q && r, "out of memory");
    users_new_many(s, u, FLASH_BUYERS);
    for (int i = 0; i < FLASH_BUYERS; i++) {
        q[i].method = "POST";
        copy_str(q[i].path, sizeof q[i].path, "/orders");
        q[i].h.key = u[i].key;
        copy_str(q[i].body, sizeof q[i].body, fmt("{\"items\":[{\"optionId\":\"%s\",\"quantity\":1}]}", opt[0]));
    }
    int64_t t0 = now_ms();
    http_multi(s, q, FLASH_BUYERS, r);
    int64_t took = now_ms() - t0;
    assert_no_5xx(r, FLASH_BUYERS);
    int won = 0, out = 0;
    for (int i = 0; i < FLASH_BUYERS; i++) {
        if (r[i].status == 201) {
            won++;
        } else {
            assert_err(r[i], 409, "OUT_OF_STOCK");
            json_t *ids = json_object_get(r[i].json, "optionIds");
            ensure(json_is_array(ids) && json_array_size(ids) == 1 &&
                       strcmp(json_string_value(json_array_get(ids, 0)), opt[0]) == 0,
                   "OUT_OF_STOCK names the option: %s", r[i].raw);
            out++;
        }
        resp_free(&r[i]);
    }
    print_message("flash sale: %d buyers, %d orders, %d OUT_OF_STOCK in %lld ms\n", FLASH_BUYERS, won, out,
                  (long long)took);
    ensure(won == FLASH_STOCK && out == FLASH_BUYERS - FLASH_STOCK, "%d orders and %d OUT_OF_STOCK", won, out);
    ensure(option_stock(s, &u[0], pid, opt[0]) == 0, "stock after the sale");
    reconcile_clean(s, "after the flash sale");
    free(u);
    free(q);
    free(r);
}

/* The same stampede (smaller) under the other --lock strategies serve offers here: whatever the strategy, no unit
 * is sold twice and none is lost; a strategy that gives up answers 503 and changes nothing. */
static void test_flash_sale_every_strategy(void **state)
{
    (void)state;
    const char *shared = getenv("TICKETD_TEST_SHARED");
    bool redis = shared && *shared;
    const char *strategies[] = {"pessimistic", "optimistic", redis ? "redis-lock" : "mutex", redis ? "fenced" : NULL};
    enum { BUYERS = 200, STOCK = 20 };
    for (size_t k = 0; k < sizeof strategies / sizeof strategies[0] && strategies[k]; k++) {
        struct srv *s = srv_start_admin(ARGS("--lock", strategies[k], "--lock-retries", "200"));
        srv_require_local(s);
        char opt[1][ID_MAX], pid[ID_MAX];
        product_new(s, "Stampede", fmt("[{\"name\":\"x\",\"price\":10,\"stock\":%d}]", STOCK), opt, 1, pid);
        struct user *u = calloc(BUYERS, sizeof *u);
        struct mreq *q = calloc(BUYERS, sizeof *q);
        struct resp *r = calloc(BUYERS, sizeof *r);
        ensure(u && q && r, "out of memory");
        users_new_many(s, u, BUYERS);
        for (int i = 0; i < BUYERS; i++) {
            q[i].method = "POST";
            copy_str(q[i].path, sizeof q[i].path, "/orders");
            q[i].h.key = u[i].key;
            copy_str(q[i].body, sizeof q[i].body, fmt("{\"items\":[{\"optionId\":\"%s\",\"quantity\":1}]}", opt[0]));
        }
        http_multi(s, q, BUYERS, r);
        int won = 0, out = 0, gave_up = 0;
        for (int i = 0; i < BUYERS; i++) {
            if (r[i].status == 201)
                won++;
            else if (r[i].status == 409)
                assert_err(r[i], 409, "OUT_OF_STOCK"), out++;
            else
                assert_err(r[i], 503, "UNAVAILABLE"), gave_up++;
            resp_free(&r[i]);
        }
        int64_t left = option_stock(s, &u[0], pid, opt[0]);
        print_message("--lock %s: %d orders, %d OUT_OF_STOCK, %d gave up (503), %lld left\n", strategies[k], won, out,
                      gave_up, (long long)left);
        ensure(won <= STOCK && won + left == STOCK, "--lock %s: %d orders, %lld left of %d", strategies[k], won,
               (long long)left, STOCK);
        ensure(gave_up > 0 || won == STOCK, "--lock %s: stock left unsold without a 503", strategies[k]);
        /* a row lock waits its turn: nothing to give up on (the retrying strategies may, under load) */
        bool waits = strcmp(strategies[k], "pessimistic") == 0 || strcmp(strategies[k], "mutex") == 0;
        ensure(!waits || (gave_up == 0 && won == STOCK), "--lock %s: %d gave up", strategies[k], gave_up);
        reconcile_clean(s, fmt("after the stampede under --lock %s", strategies[k]));
        srv_stop(s);
        free(u);
        free(q);
        free(r);
    }
}

/* ---- all or nothing, and bad input ----------------------------------------------------------- */

static void test_multi_item_short(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    struct user u;
    user_new(s, &u);
    char opts[3][ID_MAX], pid[ID_MAX];
    product_new(s, "Bundle", "[{\"name\":\"A\",\"price\":100,\"stock\":5},{\"name\":\"B\",\"price\":200,\"stock\":1},"
                             "{\"name\":\"C\",\"price\":300,\"stock\":9}]", opts, 3, pid);
    struct resp r = http(s, "POST", "/orders", AUTH(u.key),
                         fmt("{\"items\":[{\"optionId\":\"%s\",\"quantity\":2},{\"optionId\":\"%s\",\"quantity\":2},"
                             "{\"optionId\":\"%s\",\"quantity\":1}]}", opts[0], opts[1], opts[2]));
    assert_err(r, 409, "OUT_OF_STOCK");
    json_t *ids = json_object_get(r.json, "optionIds");
    ensure(json_is_array(ids) && json_array_size(ids) == 1 && strcmp(json_string_value(json_array_get(ids, 0)), opts[1]) == 0,
           "optionIds names only B: %s", r.raw);
    resp_free(&r);
    ensure(option_stock(s, &u, pid, opts[0]) == 5 && option_stock(s, &u, pid, opts[1]) == 1 &&
               option_stock(s, &u, pid, opts[2]) == 9,
           "a short item reserves nothing");
    /* the same order with what is there: every item */
    char oid[ID_MAX];
    order_new(s, &u, fmt("{\"items\":[{\"optionId\":\"%s\",\"quantity\":1},{\"optionId\":\"%s\",\"quantity\":2}]}",
                         opts[1], opts[0]), oid, NULL);
    ensure(option_stock(s, &u, pid, opts[0]) == 3 && option_stock(s, &u, pid, opts[1]) == 0, "both reserved");
}

/* expect status/code for METHOD path body as user key, then that nothing changed (checked by the caller) */
static void expect(struct srv *s, const char *method, const char *path, const char *key, const char *body, long st,
                   const char *code)
{
    struct resp r = http(s, method, path, key ? AUTH(key) : NULL, body);
    assert_err(r, st, code);
    resp_free(&r);
}

#define ITEM "{\"optionId\":\"%s\",\"quantity\":%d}"

static void test_bad_input(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    struct user u, v;
    user_new(s, &u);
    user_new(s, &v);
    charge(s, &v, 1000000);
    char opts[1][ID_MAX], pid[ID_MAX];
    product_new(s, "Strict", "[{\"name\":\"One\",\"price\":1000,\"stock\":50}]", opts, 1, pid);
    const char *o = opts[0];
    /* quantity 0 and 101, an unknown option, malformed ids, unknown fields: in the cart */
    expect(s, "POST", "/cart", u.key, fmt("{\"optionId\":\"%s\",\"quantity\":0}", o), 400, "INVALID_ARGUMENT");
    expect(s, "POST", "/cart", u.key, fmt("{\"optionId\":\"%s\",\"quantity\":101}", o), 400, "INVALID_ARGUMENT");
    expect(s, "POST", "/cart", u.key, fmt("{\"optionId\":\"%s\",\"quantity\":\"1\"}", o), 400, "INVALID_ARGUMENT");
    expect(s, "POST", "/cart", u.key, "{\"optionId\":\"999999\",\"quantity\":1}", 404, "NOT_FOUND");
    expect(s, "POST", "/cart", u.key, "{\"optionId\":\"abc\",\"quantity\":1}", 400, "INVALID_ARGUMENT");
    expect(s, "POST", "/cart", u.key, fmt("{\"optionId\":\"%s\",\"quantity\":1,\"qty\":1}", o), 400,
           "INVALID_ARGUMENT");
    expect(s, "POST", "/cart", NULL, fmt("{\"optionId\":\"%s\",\"quantity\":1}", o), 401, "UNAUTHORIZED");
    ensure(cart_len(s, &u) == 0, "refused cart adds left the cart empty");
    struct resp r = http(s, "POST", "/cart", AUTH(u.key), fmt("{\"optionId\":\"%s\",\"quantity\":100}", o));
    json_t *d = assert_ok(r, 201);
    char line[ID_MAX];
    copy_str(line, sizeof line, jstr(d, "cartItemId"));
    resp_free(&r);
    expect(s, "POST", "/cart", u.key, fmt("{\"optionId\":\"%s\",\"quantity\":1}", o), 400, "INVALID_ARGUMENT");
    /* someone else's cart item: 404, and it stays */
    expect(s, "DELETE", fmt("/cart/%s", line), v.key, NULL, 404, "NOT_FOUND");
    expect(s, "DELETE", "/cart/0", u.key, NULL, 400, "INVALID_ARGUMENT");
    ensure(cart_len(s, &u) == 1, "someone else's DELETE left the line");
    /* orders: quantity 0 / 101, unknown option, 21 items, 0 items, duplicates, both forms, unknown fields */
    expect(s, "POST", "/orders", u.key, fmt("{\"items\":[%s]}", fmt(ITEM, o, 0)), 400, "INVALID_ARGUMENT");
    expect(s, "POST", "/orders", u.key, fmt("{\"items\":[%s]}", fmt(ITEM, o, 101)), 400, "INVALID_ARGUMENT");
    expect(s, "POST", "/orders", u.key, "{\"items\":[{\"optionId\":\"999999\",\"quantity\":1}]}", 404, "NOT_FOUND");
    char many[4096] = "{\"items\":[";
    for (int i = 0; i < 21; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%s{\"optionId\":\"%d\",\"quantity\":1}", i ? "," : "",
                 i + 1);
    strcat(many, "]}");
    expect(s, "POST", "/orders", u.key, many, 400, "INVALID_ARGUMENT");
    expect(s, "POST", "/orders", u.key, "{\"items\":[]}", 400, "INVALID_ARGUMENT");
    expect(s, "POST", "/orders", u.key, fmt("{\"items\":[%s,%s]}", fmt(ITEM, o, 1), fmt(ITEM, o, 2)), 400,
           "INVALID_ARGUMENT");
    expect(s, "POST", "/orders", u.key, fmt("{\"items\":[%s],\"fromCart\":true}", fmt(ITEM, o, 1)), 400,
           "INVALID_ARGUMENT");
    expect(s, "POST", "/orders", u.key, "{\"fromCart\":false}", 400, "INVALID_ARGUMENT");
    expect(s, "POST", "/orders", u.key, "{}", 400, "INVALID_ARGUMENT");
    expect(s, "POST", "/orders", u.key, fmt("{\"items\":[{\"optionId\":\"%s\",\"quantity\":1,\"x\":1}]}", o), 400,
           "INVALID_ARGUMENT");
    expect(s, "POST", "/orders", u.key, fmt("{\"items\":[%s],\"coupon\":\"x\"}", fmt(ITEM, o, 1)), 400,
           "INVALID_ARGUMENT");
    ensure(option_stock(s, &u, pid, o) == 50, "refused orders reserved nothing");
    ensure(cart_len(s, &u) == 1, "refused orders left the cart");
    /* someone else's order: 404 to read and to pay, nothing debited */
    char oid[ID_MAX];
    order_new(s, &u, fmt("{\"items\":[%s]}", fmt(ITEM, o, 1)), oid, NULL);
    expect(s, "GET", fmt("/orders/%s", oid), v.key, NULL, 404, "NOT_FOUND");
    expect(s, "POST", fmt("/orders/%s/pay", oid), v.key, NULL, 404, "NOT_FOUND");
    ensure(balance(s, &v) == 1000000, "paying someone else's order debited nothing");
    expect(s, "GET", "/orders/999999", u.key, NULL, 404, "NOT_FOUND");
    expect(s, "GET", "/orders/x1", u.key, NULL, 400, "INVALID_ARGUMENT");
    expect(s, "POST", fmt("/orders/%s/pay", oid), u.key, "{\"amount\":1}", 400, "INVALID_ARGUMENT");
    ensure(option_stock(s, &u, pid, o) == 49, "one unit reserved by the one good order");
    /* popular products: bad dates and ranges */
    expect(s, "GET", "/products/popular?from=2027-01-01&to=2027-04-01", u.key, NULL, 400, "INVALID_ARGUMENT");
    expect(s, "GET", "/products/popular?from=2027-01-02&to=2027-01-01", u.key, NULL, 400, "INVALID_ARGUMENT");
    expect(s, "GET", "/products/popular?from=2027-02-30", u.key, NULL, 400, "INVALID_ARGUMENT");
    expect(s, "GET", "/products/popular?to=20270101", u.key, NULL, 400, "INVALID_ARGUMENT");
}

/* ---- payments: one key, no key, a lost answer ----------------------------------------------- */

#define PAYERS 10

static void test_concurrent_payments(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    srv_require_local(s);
    struct user u;
    user_new(s, &u);
    charge(s, &u, 1000000);
    char opts[1][ID_MAX], pid[ID_MAX];
    product_new(s, "Pay twice", "[{\"name\":\"x\",\"price\":30000,\"stock\":10}]", opts, 1, pid);
    const char *body = fmt("{\"items\":[{\"optionId\":\"%s\",\"quantity\":2}]}", opts[0]);
    char a[ID_MAX], b[ID_MAX];
    order_new(s, &u, body, a, NULL);
    order_new(s, &u, body, b, NULL);
    struct mreq q[PAYERS];
    struct resp r[PAYERS];
    memset(q, 0, sizeof q);
    for (int i = 0; i < PAYERS; i++) {
        q[i].method = "POST";
        copy_str(q[i].path, sizeof q[i].path, fmt("/orders/%s/pay", a));
        q[i].h.key = u.key;
        q[i].h.idem = "pay-once";
    }
    http_multi(s, q, PAYERS, r);
    assert_no_5xx(r, PAYERS);
    for (int i = 0; i < PAYERS; i++) {
        json_t *d = assert_ok(r[i], 200);
        ensure(jint(d, "balance") == 1000000 - 60000, "balance after one debit: %s", r[i].raw);
        ensure(strcmp(r[i].raw, r[0].raw) == 0, "answer %d differs: %s vs %s", i, r[i].raw, r[0].raw);
    }
    for (int i = 0; i < PAYERS; i++)
        resp_free(&r[i]);
    ensure(balance(s, &u) == 1000000 - 60000, "one debit with one key");
    /* without a key: one success, nine ALREADY_PAID */
    for (int i = 0; i < PAYERS; i++) {
        copy_str(q[i].path, sizeof q[i].path, fmt("/orders/%s/pay", b));
        q[i].h.idem = NULL;
    }
    http_multi(s, q, PAYERS, r);
    assert_no_5xx(r, PAYERS);
    int ok = 0;
    for (int i = 0; i < PAYERS; i++) {
        if (r[i].status == 200)
            ok++;
        else
            assert_err(r[i], 409, "ALREADY_PAID");
        resp_free(&r[i]);
    }
    ensure(ok == 1, "%d payments succeeded without a key", ok);
    ensure(balance(s, &u) == 1000000 - 120000, "one debit without a key");
    struct resp h = http(s, "GET", "/user/history?limit=10", AUTH(u.key), NULL);
    json_t *d = assert_ok(h, 200);
    int debits = 0;
    for (size_t i = 0; i < json_array_size(d); i++)
        debits += strcmp(jstr(json_array_get(d, i), "kind"), "ORDER_PAYMENT") == 0;
    ensure(debits == 2, "two ORDER_PAYMENT entries: %s", h.raw);
    resp_free(&h);
    reconcile_clean(s, "after the payments");
}

/* An answer lost after its effect committed (its record left PENDING with the effect, as when an instance dies
 * between the commit and storing the answer): the retry rebuilds it from the effect, byte for byte. */
static void test_lost_answers_rebuilt(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    srv_require_local(s);
    struct user u;
    user_new(s, &u);
    charge(s, &u, 100000);
    char opts[1][ID_MAX], pid[ID_MAX];
    product_new(s, "Rebuilt", "[{\"name\":\"x\",\"price\":7000,\"stock\":10}]", opts, 1, pid);
    const char *body = fmt("{\"items\":[{\"optionId\":\"%s\",\"quantity\":3}]}", opts[0]);
    /* a key with every character a PostgreSQL array literal must escape (the combiner passes keys as text[]) */
    const char *okey = "o\"r\\d{e}r, 1";
    struct hdrs h = {.key = u.key, .idem = okey};
    struct resp first = http(s, "POST", "/orders", &h, body);
    json_t *d = assert_ok(first, 201);
    char oid[ID_MAX];
    copy_str(oid, sizeof oid, jstr(d, "orderId"));
    struct resp again = http(s, "POST", "/orders", &h, body);
    ensure(again.status == 201 && strcmp(again.raw, first.raw) == 0, "the replay: %s", again.raw);
    resp_free(&again);
    ensure(option_stock(s, &u, pid, opts[0]) == 7, "the key reserved once");
    struct resp reused = http(s, "POST", "/orders", &h, fmt("{\"items\":[{\"optionId\":\"%s\",\"quantity\":1}]}", opts[0]));
    assert_err(reused, 409, "IDEMPOTENCY_KEY_REUSED");
    resp_free(&reused);
    /* lose the stored answer */
    srv_sql(s, fmt("UPDATE idempotency SET state = 'PENDING', body = NULL, status = NULL WHERE user_id = %s "
                   "AND key LIKE 'o%%r, 1'", u.id), 1);
    struct resp rebuilt = http(s, "POST", "/orders", &h, body);
    ensure(rebuilt.status == 201 && strcmp(rebuilt.raw, first.raw) == 0, "rebuilt: %s\nfirst: %s", rebuilt.raw,
           first.raw);
    resp_free(&rebuilt);
    ensure(option_stock(s, &u, pid, opts[0]) == 7, "the rebuild reserved nothing more");
    /* the same for a payment */
    struct hdrs hp = {.key = u.key, .idem = "pay-1"};
    struct resp paid = http(s, "POST", fmt("/orders/%s/pay", oid), &hp, NULL);
    assert_ok(paid, 200);
    charge(s, &u, 5); /* the balance moves on: the rebuilt answer must still say the balance after the payment */
    srv_sql(s, fmt("UPDATE idempotency SET state = 'PENDING', body = NULL, status = NULL WHERE user_id = %s "
                   "AND key = 'pay-1'", u.id), 1);
    struct resp paid2 = http(s, "POST", fmt("/orders/%s/pay", oid), &hp, NULL);
    ensure(paid2.status == 200 && strcmp(paid2.raw, paid.raw) == 0, "rebuilt payment: %s\nfirst: %s", paid2.raw,
           paid.raw);
    ensure(balance(s, &u) == 100000 - 21000 + 5, "paid once");
    resp_free(&paid);
    resp_free(&paid2);
    resp_free(&first);
    reconcile_clean(s, "after the rebuilt answers");
}

/* ---- expiry ------------------------------------------------------------------------------------ */

static void test_order_expiry(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(ARGS("--order-hold-seconds", "1", "--sweep-ms", "60000"));
    struct user u;
    user_new(s, &u);
    charge(s, &u, 100000);
    char opts[1][ID_MAX], pid[ID_MAX];
    product_new(s, "Lapsing", "[{\"name\":\"x\",\"price\":1000,\"stock\":4}]", opts, 1, pid);
    char oid[ID_MAX];
    order_new(s, &u, fmt("{\"items\":[{\"optionId\":\"%s\",\"quantity\":4}]}", opts[0]), oid, NULL);
    ensure(option_stock(s, &u, pid, opts[0]) == 0, "all reserved");
    expect(s, "POST", "/orders", u.key, fmt("{\"items\":[{\"optionId\":\"%s\",\"quantity\":1}]}", opts[0]), 409,
           "OUT_OF_STOCK");
    sleep_ms(1100); /* past the hold; the sweep (once a minute here) has not run */
    ensure(option_stock(s, &u, pid, opts[0]) == 4, "the stock is back at once");
    struct resp r = http(s, "GET", fmt("/orders/%s", oid), AUTH(u.key), NULL);
    json_t *d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "status"), "EXPIRED") == 0, "lapsed order: %s", r.raw);
    resp_free(&r);
    expect(s, "POST", fmt("/orders/%s/pay", oid), u.key, NULL, 409, "ORDER_EXPIRED");
    ensure(balance(s, &u) == 100000, "nothing debited");
    char o2[ID_MAX];
    order_new(s, &u, fmt("{\"items\":[{\"optionId\":\"%s\",\"quantity\":3}]}", opts[0]), o2, NULL);
    ensure(option_stock(s, &u, pid, opts[0]) == 1, "the lapsed units were ordered again");
}

/* ---- popular products ------------------------------------------------------------------------- */

static void test_popular(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    struct user u;
    user_new(s, &u);
    charge(s, &u, 100000000);
    /* seven products; units paid today: p0 5, p1 9, p2 9, p3 1, p4 12 (two orders), p5 2, p6 50 unpaid */
    const int units[7] = {5, 9, 9, 1, 7, 2, 50};
    char opt[7][1][ID_MAX], pid[7][ID_MAX];
    for (int i = 0; i < 7; i++)
        product_new(s, fmt("Popular %d", i), "[{\"name\":\"x\",\"price\":100,\"stock\":1000}]", opt[i], 1, pid[i]);
    struct resp r = http(s, "GET", "/products/popular", AUTH(u.key), NULL);
    json_t *d = assert_ok(r, 200);
    ensure(json_array_size(d) == 0, "nothing sold yet: %s", r.raw);
    resp_free(&r);
    for (int i = 0; i < 7; i++) {
        char oid[ID_MAX];
        order_new(s, &u, fmt("{\"items\":[{\"optionId\":\"%s\",\"quantity\":%d}]}", opt[i][0], units[i]), oid, NULL);
        if (i == 6)
            continue; /* reserved, never paid: not counted */
        r = http(s, "POST", fmt("/orders/%s/pay", oid), AUTH(u.key), NULL);
        assert_ok(r, 200);
        resp_free(&r);
    }
    char oid[ID_MAX];
    order_new(s, &u, fmt("{\"items\":[{\"optionId\":\"%s\",\"quantity\":5}]}", opt[4][0]), oid, NULL);
    r = http(s, "POST", fmt("/orders/%s/pay", oid), AUTH(u.key), NULL);
    assert_ok(r, 200);
    resp_free(&r);
    const int want[5] = {4, 1, 2, 0, 5}; /* 12, 9 and 9 (tie: lower productId first), 5, 2 */
    const int64_t want_units[5] = {12, 9, 9, 5, 2};
    char today[16];
    time_t t = (time_t)(now_ms() / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(today, sizeof today, "%Y-%m-%d", &tm);
    const char *paths[2] = {"/products/popular", fmt("/products/popular?from=%s&to=%s", today, today)};
    char saved[2][128];
    copy_str(saved[0], sizeof saved[0], paths[0]);
    copy_str(saved[1], sizeof saved[1], paths[1]);
    for (int k = 0; k < 2; k++) {
        r = http(s, "GET", saved[k], AUTH(u.key), NULL);
        d = assert_ok(r, 200);
        ensure(json_array_size(d) == 5, "the top 5: %s", r.raw);
        for (int i = 0; i < 5; i++) {
            json_t *row = json_array_get(d, (size_t)i);
            ensure(strcmp(jstr(row, "productId"), pid[want[i]]) == 0 && jint(row, "unitsSold") == want_units[i] &&
                       strcmp(jstr(row, "name"), fmt("Popular %d", want[i])) == 0,
                   "row %d of %s: %s", i, saved[k], r.raw);
        }
        resp_free(&r);
    }
    /* an empty range (far in the future), and one reaching exactly 90 days back */
    r = http(s, "GET", "/products/popular?from=2090-01-01&to=2090-03-31", AUTH(u.key), NULL);
    d = assert_ok(r, 200);
    ensure(json_array_size(d) == 0, "an empty range: %s", r.raw);
    resp_free(&r);
    r = http(s, "GET", fmt("/products/popular?to=%s&from=%s", today, "2090-01-01"), AUTH(u.key), NULL);
    assert_err(r, 400, "INVALID_ARGUMENT"); /* from after to */
    resp_free(&r);
    r = http(s, "GET", "/products/popular?from=2090-01-01&to=2090-03-31&x=1", AUTH(u.key), NULL);
    assert_ok(r, 200); /* unknown query parameters are ignored, like elsewhere */
    resp_free(&r);
}

/* ---- the organizer's routes ------------------------------------------------------------------- */

static void test_admin_products(void **state)
{
    (void)state;
    struct srv *off = srv_start(ARGS("--rate-limit", "0"));
    const char *good = "{\"name\":\"Cap\",\"options\":[{\"name\":\"One size\",\"price\":15000,\"stock\":10}]}";
    expect(off, "POST", "/admin/products", harness_admin_key(), good, 403, "FORBIDDEN");
    expect(off, "PATCH", "/admin/options/1", harness_admin_key(), "{\"stock\":1}", 403, "FORBIDDEN");
    srv_stop(off);
    struct srv *s = srv_start_admin(NULL);
    struct user u;
    user_new(s, &u);
    expect(s, "POST", "/admin/products", NULL, good, 401, "UNAUTHORIZED");
    expect(s, "POST", "/admin/products", "not-the-admin-key-at-all", good, 401, "UNAUTHORIZED");
    expect(s, "POST", "/admin/products", u.key, good, 403, "FORBIDDEN");
    expect(s, "PATCH", "/admin/options/1", u.key, "{\"stock\":1}", 403, "FORBIDDEN");
    expect(s, "PATCH", "/admin/options/1", NULL, "{\"stock\":1}", 401, "UNAUTHORIZED");
    /* validation */
    const char *bad[] = {
        "{\"name\":\"\",\"options\":[{\"name\":\"x\",\"price\":1,\"stock\":1}]}",
        "{\"name\":\"Cap\",\"options\":[]}",
        "{\"name\":\"Cap\"}",
        "{\"name\":\"Cap\",\"options\":[{\"name\":\"x\",\"price\":0,\"stock\":1}]}",
        "{\"name\":\"Cap\",\"options\":[{\"name\":\"x\",\"price\":1,\"stock\":-1}]}",
        "{\"name\":\"Cap\",\"options\":[{\"name\":\"x\",\"price\":1,\"stock\":1,\"color\":\"red\"}]}",
        "{\"name\":\"Cap\",\"options\":[{\"name\":\"x\",\"price\":1.5,\"stock\":1}]}",
        "{\"name\":\"Cap\",\"options\":[{\"name\":\"x\",\"price\":1,\"stock\":1}],\"sku\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect(s, "POST", "/admin/products", harness_admin_key(), bad[i], 400, "INVALID_ARGUMENT");
    char opt[1][ID_MAX], pid[ID_MAX];
    product_new(s, "Cap", "[{\"name\":\"One size\",\"price\":15000,\"stock\":10}]", opt, 1, pid);
    struct resp r = http_admin(s, "PATCH", fmt("/admin/options/%s", opt[0]), "{\"stock\":25,\"price\":16000}");
    json_t *d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "optionId"), opt[0]) == 0 && strcmp(jstr(d, "productId"), pid) == 0 &&
               jint(d, "stock") == 25 && jint(d, "price") == 16000 && strcmp(jstr(d, "name"), "One size") == 0,
           "PATCH: %s", r.raw);
    resp_free(&r);
    ensure(option_stock(s, &u, pid, opt[0]) == 25, "the new stock is listed");
    expect(s, "PATCH", fmt("/admin/options/%s", opt[0]), harness_admin_key(), "{}", 400, "INVALID_ARGUMENT");
    expect(s, "PATCH", fmt("/admin/options/%s", opt[0]), harness_admin_key(), "{\"stock\":-1}", 400, "INVALID_ARGUMENT");
    expect(s, "PATCH", fmt("/admin/options/%s", opt[0]), harness_admin_key(), "{\"price\":0}", 400, "INVALID_ARGUMENT");
    expect(s, "PATCH", fmt("/admin/options/%s", opt[0]), harness_admin_key(), "{\"name\":\"x\"}", 400, "INVALID_ARGUMENT");
    expect(s, "PATCH", "/admin/options/999999", harness_admin_key(), "{\"stock\":1}", 404, "NOT_FOUND");
    ensure(option_stock(s, &u, pid, opt[0]) == 25, "refused changes changed nothing");
    /* an order keeps its reservation across a restock; the new price is for new orders */
    char oid[ID_MAX];
    int64_t total;
    order_new(s, &u, fmt("{\"items\":[{\"optionId\":\"%s\",\"quantity\":5}]}", opt[0]), oid, &total);
    ensure(total == 5 * 16000, "priced now: %lld", (long long)total);
    r = http_admin(s, "PATCH", fmt("/admin/options/%s", opt[0]), "{\"stock\":3,\"price\":20000}");
    assert_ok(r, 200);
    resp_free(&r);
    ensure(option_stock(s, &u, pid, opt[0]) == 3, "on hand set to 3, the 5 reserved stay the order's");
    r = http(s, "GET", fmt("/orders/%s", oid), AUTH(u.key), NULL);
    d = assert_ok(r, 200);
    ensure(jint(d, "totalPrice") == 5 * 16000, "the order keeps its price: %s", r.raw);
    resp_free(&r);
}

int main(int argc, char **argv)
{
    harness_init(argc, argv);
    g_bin = argv[1];
    const struct CMUnitTest tests[] = {
        API_TEST(test_shop_flow),
        API_TEST(test_flash_sale),
        API_TEST(test_flash_sale_every_strategy),
        API_TEST(test_multi_item_short),
        API_TEST(test_bad_input),
        API_TEST(test_concurrent_payments),
        API_TEST(test_lost_answers_rebuilt),
        API_TEST(test_order_expiry),
        API_TEST(test_popular),
        API_TEST(test_admin_products),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
