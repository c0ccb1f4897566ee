/* engine.c — the HTTP engine of `ticketd load` (see engine.h): libcurl multi, requests in flight up to
 * `connections`, per-request timeouts, retries with capped backoff and full jitter under the same
 * Idempotency-Key, status and latency accounting; and the synchronous request of setup and checks. */
#include "load/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/clock.h"
#include "util/rand.h"

#define BODY_MAX (256 * 1024)
#define URL_DOWN_NS 2000000000LL /* an instance that refused a connection is tried again after 2 s */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct load_call *c = arg;
    size_t len = size * n;
    if (c->resp_len + len > BODY_MAX)
        return 0;
    char *nb = realloc(c->resp, c->resp_len + len + 1);
    if (!nb)
        return 0;
    memcpy(nb + c->resp_len, p, len);
    c->resp = nb;
    c->resp_len += len;
    c->resp[c->resp_len] = 0;
    return len;
}

/* The headers every request sends: JSON, and Authorization / queue-token / Idempotency-Key when given. */
static struct curl_slist *headers(const char *auth, const char *token, const char *idem)
{
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    char line[160];
    if (auth) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", auth);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (token) {
        snprintf(line, sizeof line, "queue-token: %s", token);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (idem) {
        snprintf(line, sizeof line, "Idempotency-Key: %s", idem);
        hdrs = curl_slist_append(hdrs, line);
    }
    return hdrs;
}

/* A new easy handle for method url with hdrs (which must live as long as the handle) and body, writing the
 * response into c. */
static CURL *easy_new(const char *method, const char *url, struct curl_slist *hdrs, const char *body,
                      struct load_call *c)
{
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    return h;
}

int load_engine_open(struct load_engine *e, const struct load_net *net)
{
    *e = (struct load_engine){.net = net};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    e->multi = curl_multi_init();
    if (!e->multi) {
        curl_global_cleanup();
        return -1;
    }
    curl_multi_setopt(e->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)net->connections);
    /* keep every connection alive between requests: the default cache is smaller than the pool */
    curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, (long)net->connections + 8);
    return 0;
}

static void free_list(struct load_call *c)
{
    while (c) {
        struct load_call *next = c->next;
        load_call_free(c);
        c = next;
    }
}

void load_engine_close(struct load_engine *e)
{
    free_list(e->ready_head);
    free_list(e->delayed);
    e->ready_head = e->ready_tail = e->delayed = NULL;
    curl_multi_cleanup(e->multi);
    e->multi = NULL;
    free(e->st.lat_ms);
    e->st.lat_ms = NULL;
    curl_global_cleanup();
}

void load_engine_restart(struct load_engine *e, int seconds)
{
    memset(&e->st.status, 0, sizeof e->st.status);
    e->st.requests = e->st.retries = e->st.transport_errors = 0;
    e->st.nlat = 0;
    e->deadline_ns = clock_mono_ns() + (int64_t)seconds * 1000000000LL;
}

struct load_call *load_call_new(struct load_user *u, const char *method, const char *path, load_call_done done)
{
    struct load_call *c = calloc(1, sizeof *c);
    if (!c) {
        fprintf(stderr, "load: out of memory\n");
        exit(2);
    }
    c->u = u;
    snprintf(c->method, sizeof c->method, "%s", method);
    snprintf(c->path, sizeof c->path, "%s", path);
    c->done = done;
    return c;
}

void load_call_free(struct load_call *c)
{
    if (!c)
        return;
    free(c->body);
    free(c->resp);
    json_decref(c->json);
    free(c);
}

void load_engine_enqueue(struct load_engine *e, struct load_call *c)
{
    c->next = NULL;
    if (e->ready_tail)
        e->ready_tail->next = c;
    else
        e->ready_head = c;
    e->ready_tail = c;
}

void load_engine_delay(struct load_engine *e, struct load_call *c, int64_t due_ns)
{
    c->due_ns = due_ns;
    c->next = e->delayed;
    e->delayed = c;
}

static void record_latency(struct load_stats *st, double ms)
{
    if (st->nlat == st->caplat) {
        size_t cap = st->caplat ? st->caplat * 2 : 4096;
        double *p = realloc(st->lat_ms, cap * sizeof *p);
        if (!p)
            return;
        st->lat_ms = p;
        st->caplat = cap;
    }
    st->lat_ms[st->nlat++] = ms;
}

static void start(struct load_engine *e, struct load_call *c)
{
    char url[512];
    int64_t now = clock_mono_ns();
    int pick = e->rr++ % e->net->nurls;
    for (int k = 0; k < e->net->nurls && e->url_down_until_ns[pick] > now; k++) /* skip instances seen down */
        pick = e->rr++ % e->net->nurls;
    c->url_index = pick;
    snprintf(url, sizeof url, "%s%s", e->net->urls[pick], c->path);
    struct curl_slist *hdrs = headers(c->auth[0] ? c->auth : NULL, c->token_hdr[0] ? c->token_hdr : NULL,
                                      c->idem[0] ? c->idem : NULL);
    CURL *h = easy_new(c->method, url, hdrs, c->body, c);
    curl_easy_setopt(h, CURLOPT_PRIVATE, c);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)e->net->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    c->resp_len = 0;
    free(c->resp);
    c->resp = NULL;
    json_decref(c->json);
    c->json = NULL;
    c->start_ns = clock_mono_ns();
    curl_multi_add_handle(e->multi, h);
    e->inflight++;
    e->st.requests++;
    /* the header list must live as long as the handle: keep it in the handle's private slot chain */
    curl_easy_setopt(h, CURLOPT_HEADERDATA, NULL);
    c->next = (struct load_call *)hdrs; /* borrowed slot while in flight (lists are not used then) */
}

static uint64_t jitter(uint64_t bound) { return rand_below(bound); }

/* A response (or failure) arrived: account for it, retry if it may help, else hand it to its done callback. */
static void finish(struct load_engine *e, struct load_call *c, long status)
{
    e->inflight--;
    c->status = status;
    double ms = (double)(clock_mono_ns() - c->start_ns) / 1e6;
    record_latency(&e->st, ms);
    if (status > 0 && status < LOAD_STATUS_SLOTS)
        e->st.status[status]++;
    else
        e->st.transport_errors++;
    bool retryable = status == 0 || status == 503;
    if (retryable && c->tries < e->net->retries && !e->out_of_time) {
        c->tries++;
        e->st.retries++;
        int64_t us = backoff_full_jitter_us(c->tries, e->net->backoff_base_ms * 1000, e->net->backoff_cap_ms * 1000,
                                            jitter);
        load_engine_delay(e, c, clock_mono_ns() + us * 1000);
        return;
    }
    if (c->resp)
        c->json = json_loads(c->resp, 0, NULL);
    c->done(c);
}

static void promote_due(struct load_engine *e)
{
    int64_t now = clock_mono_ns();
    struct load_call **pp = &e->delayed;
    while (*pp) {
        struct load_call *c = *pp;
        if (c->due_ns <= now) {
            *pp = c->next;
            load_engine_enqueue(e, c);
        } else {
            pp = &c->next;
        }
    }
}

void load_engine_run(struct load_engine *e)
{
    for (;;) {
        if (clock_mono_ns() > e->deadline_ns)
            e->out_of_time = true;
        promote_due(e);
        while (!e->out_of_time && e->ready_head && e->inflight < e->net->connections) {
            struct load_call *c = e->ready_head;
            e->ready_head = c->next;
            if (!e->ready_head)
                e->ready_tail = NULL;
            start(e, c);
        }
        if (!e->inflight && (!e->delayed || e->out_of_time) && (!e->ready_head || e->out_of_time))
            break;
        int running = 0;
        curl_multi_perform(e->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(e->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            CURL *h = m->easy_handle;
            struct load_call *c = NULL;
            curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&c);
            long status = 0;
            if (m->data.result == CURLE_OK)
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            if (m->data.result == CURLE_COULDNT_CONNECT)
                e->url_down_until_ns[c->url_index] = clock_mono_ns() + URL_DOWN_NS;
            curl_multi_remove_handle(e->multi, h);
            curl_slist_free_all((struct curl_slist *)c->next);
            c->next = NULL;
            curl_easy_cleanup(h);
            finish(e, c, status);
        }
        curl_multi_poll(e->multi, NULL, 0, 5, NULL);
    }
}

uint64_t load_stats_5xx(const struct load_stats *st)
{
    uint64_t five = 0;
    for (int s = 500; s < LOAD_STATUS_SLOTS; s++)
        five += st->status[s];
    return five;
}

long load_fetch(const struct load_net *net, const char *method, const char *path, const char *auth,
                const char *token, const char *body, json_t **out)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", net->urls[0], path);
    struct curl_slist *hdrs = headers(auth, token, NULL);
    struct load_call c = {0};
    CURL *h = easy_new(method, url, hdrs, body, &c);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    *out = c.resp ? json_loads(c.resp, 0, NULL) : NULL;
    free(c.resp);
    return status;
}

const char *load_data_str(json_t *root, const char *field)
{
    json_t *d = json_object_get(root, "data");
    const char *s = json_string_value(json_object_get(d, field));
    return s ? s : "";
}

int64_t load_data_int(json_t *root, const char *field)
{
    return (int64_t)json_integer_value(json_object_get(json_object_get(root, "data"), field));
}

const char *load_error_code(json_t *root) { return json_string_value(json_object_get(root, "code")); }
