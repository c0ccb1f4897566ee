/* shop.c — the shop's routes (Bearer): GET /products, /products/{id}, /products/popular; POST/GET /cart,
 * DELETE /cart/{id}; POST /orders, POST /orders/{id}/pay, GET /orders/{id}; and the organizer's POST and GET
 * /admin/products and PATCH /admin/options/{id} (router.c AUTH_ADMIN). The rules are core's (core/shop.c); this
 * file reads JSON and renders it. The answers of POST /orders and POST /orders/{id}/pay are pure functions of
 * their effects ("order:N", "order_payment:N"), so the router rebuilds a lost one (api_shop_rebuild). */
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- rendering ---- */

static void option_json(struct buf *b, const struct tk_option *o)
{
    buf_append(b, "{\"optionId\":", 12);
    api_json_id(b, o->id);
    buf_append(b, ",\"name\":", 8);
    buf_json_str(b, o->name);
    buf_printf(b, ",\"price\":%lld,\"stock\":%lld}", (long long)o->price_won, (long long)o->stock);
}

static void product_json(struct buf *b, const struct tk_product *p)
{
    buf_append(b, "{\"productId\":", 13);
    api_json_id(b, p->id);
    buf_append(b, ",\"name\":", 8);
    buf_json_str(b, p->name);
    buf_append(b, ",\"options\":[", 12);
    for (int i = 0; i < p->noptions; i++) {
        if (i)
            buf_append(b, ",", 1);
        option_json(b, &p->options[i]);
    }
    buf_append(b, "]}", 2);
}

/* An order as the API shows it, in `state`. */
static void order_json(struct buf *b, const struct tk_order *o, enum tk_order_state state)
{
    buf_append(b, "{\"orderId\":", 11);
    api_json_id(b, o->id);
    buf_printf(b, ",\"status\":\"%s\",\"items\":[", store_order_state_name(state));
    for (int i = 0; i < o->nitems; i++) {
        const struct tk_order_item *it = &o->items[i];
        buf_append(b, i ? ",{\"optionId\":" : "{\"optionId\":", i ? 13 : 12);
        api_json_id(b, it->option_id);
        buf_append(b, ",\"productName\":", 15);
        buf_json_str(b, it->product_name);
        buf_append(b, ",\"optionName\":", 14);
        buf_json_str(b, it->option_name);
        buf_printf(b, ",\"quantity\":%d,\"price\":%lld}", it->quantity, (long long)it->price_won);
    }
    buf_printf(b, "],\"totalPrice\":%lld,\"expiresAt\":", (long long)o->total_won);
    api_json_time(b, o->expires_at_ms);
    buf_append(b, "}", 1);
}

/* 201 of POST /orders: the order as it was placed (always PENDING: the answer is a function of the effect). */
static void render_order_created(struct api_response *resp, const struct tk_order *o)
{
    resp->body.len = 0;
    api_ok_open(resp, 201);
    order_json(&resp->body, o, ORDER_PENDING);
    api_ok_close(resp);
}

/* 200 of POST /orders/{id}/pay. */
static void render_order_paid(struct api_response *resp, const struct tk_order *o)
{
    resp->body.len = 0;
    api_ok_open(resp, 200);
    buf_append(&resp->body, "{\"orderId\":", 11);
    api_json_id(&resp->body, o->id);
    buf_printf(&resp->body, ",\"status\":\"PAID\",\"totalPrice\":%lld,\"balance\":%lld}", (long long)o->total_won,
               (long long)o->balance_won);
    api_ok_close(resp);
}

/* 409 OUT_OF_STOCK naming the options short of stock: the error envelope plus "optionIds". */
static int fail_out_of_stock(struct api_response *resp, const struct tk_order *o)
{
    (void)api_fail(resp, TK_ERR_OUT_OF_STOCK,
                   o->nbad == 1 ? "not enough stock of one option: nothing was reserved"
                                : "not enough stock of some options: nothing was reserved");
    if (resp->body.len && resp->body.p[resp->body.len - 1] == '}')
        resp->body.len--;
    buf_append(&resp->body, ",\"optionIds\":[", 14);
    for (int i = 0; i < o->nbad; i++) {
        if (i)
            buf_append(&resp->body, ",", 1);
        api_json_id(&resp->body, o->bad_option_ids[i]);
    }
    buf_append(&resp->body, "]}", 2);
    return TK_ERR_OUT_OF_STOCK;
}

/* ---- products ---- */

static int product_row(void *arg, const struct tk_product *p)
{
    struct api_list *c = arg;
    api_list_sep(c);
    product_json(c->b, p);
    return TK_OK;
}

/* GET /products (Bearer) and GET /admin/products (AUTH_ADMIN): the same list, one handler (router.c). */
int api_products(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    (void)req;
    api_ok_open(resp, 200);
    buf_append(&resp->body, "[", 1);
    struct api_list c = {.b = &resp->body};
    TK_TRY(shop_products(api->app, product_row, &c));
    buf_append(&resp->body, "]", 1);
    api_ok_close(resp);
    return TK_OK;
}

int api_product_get(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    int64_t id;
    TK_TRY(api_path_id(req, &id, resp));
    struct tk_product *p = malloc(sizeof *p);
    if (!p)
        return api_fail(resp, TK_ERR_NOMEM, NULL);
    int rc = shop_product(api->app, id, p);
    if (rc == TK_OK) {
        api_ok_open(resp, 200);
        product_json(&resp->body, p);
        api_ok_close(resp);
    } else if (rc == TK_ERR_NOT_FOUND) {
        rc = api_fail(resp, rc, "no such product");
    }
    free(p);
    return rc;
}

static int popular_row(void *arg, const struct tk_popular *p)
{
    struct api_list *c = arg;
    api_list_sep(c);
    buf_append(c->b, "{\"productId\":", 13);
    api_json_id(c->b, p->product_id);
    buf_append(c->b, ",\"name\":", 8);
    buf_json_str(c->b, p->name);
    buf_printf(c->b, ",\"unitsSold\":%lld}", (long long)p->units);
    return TK_OK;
}

/* A date query parameter; missing: *day untouched and *given false. */
static int query_day(const struct api_request *req, const char *name, int64_t *day, bool *given,
                     struct api_response *resp)
{
    const char *v = req->query(req->ctx, name);
    *given = v != NULL;
    if (!v)
        return TK_OK;
    if (shop_parse_day(v, day) < 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "query parameter '%s' must be a date, YYYY-MM-DD", name);
        return api_fail(resp, TK_ERR_INVALID, msg);
    }
    return TK_OK;
}

int api_products_popular(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    int64_t to = store_day_of(app_now_ms(api->app)), from = 0;
    bool from_given, to_given;
    TK_TRY(query_day(req, "to", &to, &to_given, resp));
    TK_TRY(query_day(req, "from", &from, &from_given, resp));
    if (!from_given)
        from = to - (SHOP_POPULAR_DAYS_DEFAULT - 1); /* the last 3 days, today included */
    api_ok_open(resp, 200);
    buf_append(&resp->body, "[", 1);
    struct api_list c = {.b = &resp->body};
    int rc = shop_popular(api->app, from, to, popular_row, &c);
    if (rc == TK_ERR_INVALID)
        return api_fail(resp, rc, "'from' must not be after 'to', and the range is at most 90 days");
    TK_TRY(rc);
    buf_append(&resp->body, "]", 1);
    api_ok_close(resp);
    return TK_OK;
}

/* ---- the cart ---- */

int api_cart_add(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    static const char *const ALLOWED[] = {"optionId", "quantity", NULL};
    json_t *body;
    TK_TRY(api_body_object(req, resp, ALLOWED, false, &body));
    int64_t option_id = 0, quantity = 0;
    int rc = api_field_id(body, "optionId", true, &option_id, resp);
    if (rc == TK_OK)
        rc = api_field_int(body, "quantity", 1, ORDER_QUANTITY_MAX, true, &quantity, resp);
    json_decref(body);
    TK_TRY(rc);
    struct tk_cart_item it;
    rc = shop_cart_add(api->app, req->user_id, option_id, (int)quantity, &it);
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, rc, "no such option");
    if (rc == TK_ERR_INVALID) {
        char msg[128];
        if (it.quantity > 0)
            snprintf(msg, sizeof msg, "the cart holds %d of this option already: at most %d", it.quantity,
                     ORDER_QUANTITY_MAX);
        else
            snprintf(msg, sizeof msg, "the cart holds at most %d options", CART_ITEMS_MAX);
        return api_fail(resp, rc, msg);
    }
    TK_TRY(rc);
    api_ok_open(resp, 201);
    buf_append(&resp->body, "{\"cartItemId\":", 14);
    api_json_id(&resp->body, it.id);
    buf_append(&resp->body, ",\"optionId\":", 12);
    api_json_id(&resp->body, it.option_id);
    buf_printf(&resp->body, ",\"quantity\":%d}", it.quantity);
    api_ok_close(resp);
    return TK_OK;
}

static int cart_row(void *arg, const struct tk_cart_item *it)
{
    struct api_list *c = arg;
    api_list_sep(c);
    buf_append(c->b, "{\"cartItemId\":", 14);
    api_json_id(c->b, it->id);
    buf_append(c->b, ",\"optionId\":", 12);
    api_json_id(c->b, it->option_id);
    buf_append(c->b, ",\"productName\":", 15);
    buf_json_str(c->b, it->product_name);
    buf_append(c->b, ",\"optionName\":", 14);
    buf_json_str(c->b, it->option_name);
    buf_printf(c->b, ",\"price\":%lld,\"quantity\":%d}", (long long)it->price_won, it->quantity);
    return TK_OK;
}

int api_cart_list(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    api_ok_open(resp, 200);
    buf_append(&resp->body, "[", 1);
    struct api_list c = {.b = &resp->body};
    TK_TRY(shop_cart_list(api->app, req->user_id, cart_row, &c));
    buf_append(&resp->body, "]", 1);
    api_ok_close(resp);
    return TK_OK;
}

int api_cart_remove(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    int64_t id;
    TK_TRY(api_path_id(req, &id, resp));
    int rc = shop_cart_remove(api->app, req->user_id, id);
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, rc, "no such item in your cart");
    TK_TRY(rc);
    api_ok_open(resp, 200);
    buf_append(&resp->body, "{\"cartItemId\":", 14);
    api_json_id(&resp->body, id);
    buf_append(&resp->body, "}", 1);
    api_ok_close(resp);
    return TK_OK;
}

/* ---- orders ---- */

/* Reads "items": [{"optionId", "quantity"}] (1..ORDER_ITEMS_MAX). */
static int read_items(json_t *arr, struct tk_order_line *lines, int *n, struct api_response *resp)
{
    static const char *const ALLOWED[] = {"optionId", "quantity", NULL};
    char msg[96];
    snprintf(msg, sizeof msg, "'items' must be an array of 1..%d {optionId, quantity}", ORDER_ITEMS_MAX);
    if (!json_is_array(arr) || json_array_size(arr) < 1 || json_array_size(arr) > ORDER_ITEMS_MAX)
        return api_fail(resp, TK_ERR_INVALID, msg);
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item) {
        if (!json_is_object(item))
            return api_fail(resp, TK_ERR_INVALID, msg);
        const char *key;
        json_t *v;
        json_object_foreach(item, key, v) {
            bool known = false;
            for (int k = 0; ALLOWED[k]; k++)
                known |= strcmp(key, ALLOWED[k]) == 0;
            if (!known) {
                char m2[128];
                snprintf(m2, sizeof m2, "an item has an unknown field '%.48s'", key);
                return api_fail(resp, TK_ERR_INVALID, m2);
            }
        }
        int64_t q = 0;
        TK_TRY(api_field_id(item, "optionId", true, &lines[i].option_id, resp));
        TK_TRY(api_field_int(item, "quantity", 1, ORDER_QUANTITY_MAX, true, &q, resp));
        lines[i].quantity = (int)q;
    }
    *n = (int)json_array_size(arr);
    return TK_OK;
}

int api_orders_create(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    static const char *const ALLOWED[] = {"items", "fromCart", NULL};
    json_t *body;
    TK_TRY(api_body_object(req, resp, ALLOWED, false, &body));
    json_t *items = json_object_get(body, "items"), *from_cart = json_object_get(body, "fromCart");
    struct tk_order_line lines[ORDER_ITEMS_MAX];
    int n = 0, rc = TK_OK;
    if ((items != NULL) == (from_cart != NULL))
        rc = api_fail(resp, TK_ERR_INVALID, "send either 'items' or 'fromCart': true");
    else if (from_cart && !json_is_true(from_cart))
        rc = api_fail(resp, TK_ERR_INVALID, "'fromCart' must be true (or send 'items')");
    else if (items)
        rc = read_items(items, lines, &n, resp);
    json_decref(body);
    TK_TRY(rc);
    struct tk_order *o = malloc(sizeof *o);
    if (!o)
        return api_fail(resp, TK_ERR_NOMEM, NULL);
    rc = n ? shop_order_create(api->app, req->user_id, lines, n, req->idem, o)
           : shop_order_from_cart(api->app, req->user_id, req->idem, o);
    if (rc == TK_OK) {
        snprintf(resp->effect_ref, sizeof resp->effect_ref, "order:%lld", (long long)o->id);
        render_order_created(resp, o);
    } else if (rc == TK_ERR_OUT_OF_STOCK) {
        fail_out_of_stock(resp, o);
    } else if (rc == TK_ERR_NOT_FOUND) {
        char msg[64];
        snprintf(msg, sizeof msg, "no such option %lld", (long long)(o->nbad ? o->bad_option_ids[0] : 0));
        api_fail(resp, rc, msg);
    } else if (rc == TK_ERR_INVALID) {
        api_fail(resp, rc, n ? "each option at most once in one order" : "the cart is empty");
    }
    free(o);
    return rc;
}

int api_order_pay(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    static const char *const ALLOWED[] = {NULL};
    int64_t id;
    TK_TRY(api_path_id(req, &id, resp));
    json_t *body;
    TK_TRY(api_body_object(req, resp, ALLOWED, true, &body)); /* no fields: an empty body or {} */
    json_decref(body);
    struct tk_order *o = malloc(sizeof *o);
    if (!o)
        return api_fail(resp, TK_ERR_NOMEM, NULL);
    int rc = shop_order_pay(api->app, req->user_id, id, req->idem, o);
    if (rc == TK_OK) {
        snprintf(resp->effect_ref, sizeof resp->effect_ref, "order_payment:%lld", (long long)id);
        render_order_paid(resp, o);
    } else if (rc == TK_ERR_NOT_FOUND) {
        api_fail(resp, rc, "no such order of yours");
    } else if (rc == TK_ERR_ORDER_EXPIRED) {
        api_fail(resp, rc, "the order has expired: its stock is on sale again");
    } else if (rc == TK_ERR_ALREADY_PAID) {
        api_fail(resp, rc, "the order is paid already");
    }
    free(o);
    return rc;
}

int api_order_get(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    int64_t id;
    TK_TRY(api_path_id(req, &id, resp));
    struct tk_order *o = malloc(sizeof *o);
    if (!o)
        return api_fail(resp, TK_ERR_NOMEM, NULL);
    int rc = shop_order_get(api->app, req->user_id, id, o);
    if (rc == TK_OK) {
        api_ok_open(resp, 200);
        order_json(&resp->body, o, shop_order_state(o, app_now_ms(api->app)));
        api_ok_close(resp);
    } else if (rc == TK_ERR_NOT_FOUND) {
        api_fail(resp, rc, "no such order of yours");
    }
    free(o);
    return rc;
}

bool api_shop_effect(const char *effect_ref)
{
    return strncmp(effect_ref, "order:", 6) == 0 || strncmp(effect_ref, "order_payment:", 14) == 0;
}

int api_shop_rebuild(struct tk_api *api, int64_t user_id, const char *effect_ref, struct api_response *resp)
{
    const char *colon = strchr(effect_ref, ':');
    int64_t id = colon ? strtoll(colon + 1, NULL, 10) : 0;
    struct tk_order *o = malloc(sizeof *o);
    if (!o)
        return TK_ERR_NOMEM;
    int rc = shop_order_get(api->app, user_id, id, o);
    if (rc == TK_OK && strncmp(effect_ref, "order:", 6) == 0)
        render_order_created(resp, o);
    else if (rc == TK_OK && o->state == ORDER_PAID)
        render_order_paid(resp, o);
    else if (rc == TK_OK)
        rc = TK_ERR_INTERNAL; /* an order_payment effect on an order that is not paid: never */
    free(o);
    return rc;
}

/* ---- the organizer's products ---- */

/* Reads "options": [{"name", "price", "stock"}] (1..PRODUCT_OPTIONS_MAX). Names are borrowed from arr. */
static int read_options(json_t *arr, struct tk_option_new *opts, int *n, struct api_response *resp)
{
    static const char *const ALLOWED[] = {"name", "price", "stock", NULL};
    char msg[96];
    snprintf(msg, sizeof msg, "'options' must be an array of 1..%d {name, price, stock}", PRODUCT_OPTIONS_MAX);
    if (!arr || !json_is_array(arr) || json_array_size(arr) < 1 || json_array_size(arr) > PRODUCT_OPTIONS_MAX)
        return api_fail(resp, TK_ERR_INVALID, msg);
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item) {
        if (!json_is_object(item))
            return api_fail(resp, TK_ERR_INVALID, msg);
        const char *key;
        json_t *v;
        json_object_foreach(item, key, v) {
            bool known = false;
            for (int k = 0; ALLOWED[k]; k++)
                known |= strcmp(key, ALLOWED[k]) == 0;
            if (!known)
                return api_fail(resp, TK_ERR_INVALID, "an option has an unknown field");
        }
        TK_TRY(api_field_str(item, "name", true, &opts[i].name, resp));
        if (account_check_name(opts[i].name) < 0)
            return api_fail(resp, TK_ERR_INVALID, "an option's 'name' must be 1..64 characters");
        TK_TRY(api_field_amount(item, "price", &opts[i].price_won, resp));
        TK_TRY(api_field_int(item, "stock", 0, OPTION_STOCK_MAX, true, &opts[i].stock, resp));
    }
    *n = (int)json_array_size(arr);
    return TK_OK;
}

int api_admin_products_create(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    static const char *const ALLOWED[] = {"name", "options", NULL};
    json_t *body;
    TK_TRY(api_body_object(req, resp, ALLOWED, false, &body));
    struct tk_option_new opts[PRODUCT_OPTIONS_MAX];
    struct tk_product_new in = {.options = opts};
    int rc = api_field_str(body, "name", true, &in.name, resp);
    if (rc == TK_OK && account_check_name(in.name) < 0)
        rc = api_fail(resp, TK_ERR_INVALID, "'name' must be 1..64 characters");
    if (rc == TK_OK)
        rc = read_options(json_object_get(body, "options"), opts, &in.noptions, resp);
    struct tk_product *p = rc == TK_OK ? malloc(sizeof *p) : NULL;
    if (rc == TK_OK && !p)
        rc = api_fail(resp, TK_ERR_NOMEM, NULL);
    if (rc == TK_OK)
        rc = shop_product_create(api->app, &in, p); /* the names are still borrowed from body */
    json_decref(body);
    if (rc == TK_OK) {
        api_ok_open(resp, 201);
        product_json(&resp->body, p);
        api_ok_close(resp);
    }
    free(p);
    return rc;
}

int api_admin_option_patch(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    static const char *const ALLOWED[] = {"stock", "price", NULL};
    struct tk_option_patch p = {0};
    TK_TRY(api_path_id(req, &p.option_id, resp));
    json_t *body;
    TK_TRY(api_body_object(req, resp, ALLOWED, false, &body));
    int rc = api_field_int(body, "stock", 0, OPTION_STOCK_MAX, false, &p.stock, resp);
    p.has_stock = rc == TK_OK;
    rc = rc == TK_ERR_NOT_FOUND ? TK_OK : rc;
    if (rc == TK_OK && json_object_get(body, "price")) {
        rc = api_field_amount(body, "price", &p.price_won, resp);
        p.has_price = rc == TK_OK;
    }
    json_decref(body);
    TK_TRY(rc);
    if (!p.has_stock && !p.has_price)
        return api_fail(resp, TK_ERR_INVALID, "send 'stock' and/or 'price'");
    struct tk_option o;
    rc = shop_option_update(api->app, &p, &o);
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, rc, "no such option");
    TK_TRY(rc);
    api_ok_open(resp, 200);
    buf_append(&resp->body, "{\"optionId\":", 12);
    api_json_id(&resp->body, o.id);
    buf_append(&resp->body, ",\"productId\":", 13);
    api_json_id(&resp->body, o.product_id);
    buf_append(&resp->body, ",\"name\":", 8);
    buf_json_str(&resp->body, o.name);
    buf_printf(&resp->body, ",\"price\":%lld,\"stock\":%lld}", (long long)o.price_won, (long long)o.stock);
    api_ok_close(resp);
    return TK_OK;
}
