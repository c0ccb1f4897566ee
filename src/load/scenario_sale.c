/* scenario_sale.c — a sale's waiting room at scale, with users made beforehand instead of through POST /users
 * (a million signups would take longer than the benchmark): user number i (1..--users) has the API key
 * LOAD_SALE_KEY(i), "tk_5a1e" + i as 28 hex digits, which bench/sale.sh stores in PostgreSQL as the SHA-256 hex
 * of the key, the way core/accounts.c does. Three scenarios share this file:
 *   sale-issue  each user POST /queue/issue {"concertId": --concert} once, --connections in flight; the tokens go to
 *               --tokens FILE (one a line, in user order). Check: every issue 200/201; how many WAITING (with and
 *               without a position) and ACTIVE.
 *   sale-poll   --requests GET /queue/status over the tokens of --tokens FILE, each once per n polls in an order spread
 *               over the line. Check: every poll 200 and WAITING or ACTIVE; how many showed a position.
 *   sale-open   polls --sample tokens spread evenly over --tokens FILE, round robin, from now until --opens-at (the
 *               sale's opensAt, ms since the epoch) + --after-ms. Check, in ms relative to opensAt by this machine's
 *               clock (the server's): the first response that showed a position and the first ACTIVE, the last
 *               one without a position, and the poll latencies before the opening and in its first 2 s.
 * Requests are sent as responses arrive (at most --connections waiting in the engine), so a million of them cost
 * no more client memory than a thousand. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "load/scenario.h"
#include "util/clock.h"
#include "util/stats.h"

#define LOAD_SALE_KEY_FMT "tk_5a1e%028" PRIx64 /* user i's API key; bench/sale.sh: 'tk_5a1e' || lpad(to_hex(i), 28, '0') */
#define OPEN_WINDOW_MS 2000                   /* sale-open: "right after the opening" */

struct lat {
    double *v;
    size_t n, cap;
};

struct load_sale {
    char (*tokens)[LOAD_TOKEN_MAX];
    int ntokens;
    int64_t next, total; /* requests sent so far, and to send (sale-open: until the end of the window) */
    int64_t ok, waiting, positioned, active, expired;
    /* sale-open */
    int64_t end_ms;
    int64_t first_position_ms, first_active_ms, last_unpositioned_ms; /* INT64_MIN: none yet */
    int64_t polls_before, polls_window;
    int sample_active;
    struct lat before, window;
};

static int64_t wall_ms(void) { return clock_now_ms(clock_real()); }

static void lat_add(struct lat *l, double ms)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        double *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = ms;
}

static json_t *lat_json(struct lat *l)
{
    stats_sort(l->v, l->n);
    json_t *j = json_object();
    json_object_set_new(j, "polls", json_integer((json_int_t)l->n));
    json_object_set_new(j, "p50", json_real(stats_percentile(l->v, l->n, 50)));
    json_object_set_new(j, "p99", json_real(stats_percentile(l->v, l->n, 99)));
    json_object_set_new(j, "max", json_real(l->n ? l->v[l->n - 1] : 0));
    return j;
}

static struct load_sale *sale_new(struct load_run *r, int ntokens)
{
    struct load_sale *s = calloc(1, sizeof *s);
    if (!s || !(s->tokens = calloc((size_t)ntokens, sizeof *s->tokens))) {
        free(s);
        fprintf(stderr, "load: out of memory for %d tokens\n", ntokens);
        return NULL;
    }
    s->ntokens = ntokens;
    s->first_position_ms = s->first_active_ms = s->last_unpositioned_ms = INT64_MIN;
    r->sale = s;
    return s;
}

static void sale_cleanup(struct load_run *r)
{
    if (!r->sale)
        return;
    free(r->sale->tokens);
    free(r->sale->before.v);
    free(r->sale->window.v);
    free(r->sale);
    r->sale = NULL;
}

/* Reads the tokens file into a new r->sale (as many tokens as lines, at most 2,000,000). 0, or -1. */
static int read_tokens(struct load_run *r)
{
    const char *path = r->o->tokens_file;
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) {
        fprintf(stderr, "load: --tokens FILE (written by sale-issue) is needed and readable\n");
        return -1;
    }
    int n = 0, c;
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    rewind(f);
    if (n < 1 || n > 2000000 || !sale_new(r, n)) {
        fclose(f);
        fprintf(stderr, "load: %s: %d tokens\n", path, n);
        return -1;
    }
    char line[128];
    int k = 0;
    while (k < n && fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        if (len == 0 || len >= LOAD_TOKEN_MAX)
            continue; /* not a token */
        memcpy(r->sale->tokens[k++], line, len);
    }
    fclose(f);
    r->sale->ntokens = k;
    return k > 0 ? 0 : -1;
}

/* The data of a status or issue response: counts its state; true when it was WAITING or ACTIVE. */
static bool count_state(struct load_sale *s, json_t *root, bool *positioned, bool *active)
{
    json_t *d = json_object_get(root, "data");
    const char *st = json_string_value(json_object_get(d, "status"));
    *positioned = json_is_integer(json_object_get(d, "position"));
    *active = st && strcmp(st, "ACTIVE") == 0;
    if (!st)
        return false;
    if (*active) {
        s->active++;
    } else if (strcmp(st, "WAITING") == 0) {
        s->waiting++;
        s->positioned += *positioned;
    } else {
        s->expired++;
        return false;
    }
    s->ok++;
    return true;
}

/* ---------- sale-issue ---------- */

static void issue_send(struct load_run *r);

static void on_issued(struct load_call *c)
{
    struct load_run *r = c->arg;
    struct load_sale *s = r->sale;
    bool pos, act;
    if ((c->status == 200 || c->status == 201) && c->json && count_state(s, c->json, &pos, &act))
        snprintf(s->tokens[c->tag], LOAD_TOKEN_MAX, "%s", load_data_str(c->json, "token"));
    else if (r->failed_users++ < 5)
        fprintf(stderr, "load: user %" PRId64 ": issue: HTTP %ld %s\n", c->tag + 1, c->status, c->resp ? c->resp : "");
    load_call_free(c);
    issue_send(r);
}

static void issue_send(struct load_run *r)
{
    struct load_sale *s = r->sale;
    if (s->next >= s->total)
        return;
    int64_t i = s->next++;
    struct load_call *c = load_call_new(NULL, "POST", "/queue/issue", on_issued);
    c->arg = r;
    c->tag = i;
    snprintf(c->auth, sizeof c->auth, LOAD_SALE_KEY_FMT, (uint64_t)(i + 1));
    if (asprintf(&c->body, "{\"concertId\":\"%s\"}", r->o->concert) < 0)
        c->body = NULL;
    load_engine_enqueue(&r->e, c);
}

static int sale_issue_setup(struct load_run *r)
{
    if (!r->o->concert || !r->o->tokens_file) {
        fprintf(stderr, "load: sale-issue needs --concert ID and --tokens FILE\n");
        return -1;
    }
    if (!sale_new(r, r->o->users))
        return -1;
    r->sale->total = r->o->users;
    return 0;
}

static void start_window(struct load_run *r, void (*send)(struct load_run *))
{
    for (int i = 0; i < r->o->net.connections; i++)
        send(r);
}

static void sale_issue_start(struct load_run *r) { start_window(r, issue_send); }

static json_t *counts_json(struct load_run *r, bool *ok)
{
    struct load_sale *s = r->sale;
    json_t *c = json_object();
    json_object_set_new(c, "ok", json_integer(s->ok));
    json_object_set_new(c, "waiting", json_integer(s->waiting));
    json_object_set_new(c, "waiting_with_position", json_integer(s->positioned));
    json_object_set_new(c, "active", json_integer(s->active));
    json_object_set_new(c, "expired", json_integer(s->expired));
    json_object_set_new(c, "failed", json_integer(r->failed_users));
    *ok = s->ok == s->total && !r->failed_users;
    return c;
}

static json_t *sale_issue_check(struct load_run *r, bool *ok)
{
    json_t *c = counts_json(r, ok);
    FILE *f = fopen(r->o->tokens_file, "w");
    int written = 0;
    for (int i = 0; f && i < r->sale->ntokens; i++)
        if (r->sale->tokens[i][0])
            written += fprintf(f, "%s\n", r->sale->tokens[i]) > 0;
    if (!f || fclose(f) != 0) {
        fprintf(stderr, "load: cannot write %s\n", r->o->tokens_file);
        *ok = false;
    }
    json_object_set_new(c, "tokens_written", json_integer(written));
    json_object_set_new(c, "tokens_file", json_string(r->o->tokens_file));
    return c;
}

const struct load_scenario LOAD_SCENARIO_SALE_ISSUE = {.name = "sale-issue",
                                                       .setup = sale_issue_setup,
                                                       .start = sale_issue_start,
                                                       .check = sale_issue_check,
                                                       .cleanup = sale_cleanup};

/* ---------- sale-poll ---------- */

static void poll_send(struct load_run *r);

static void on_polled(struct load_call *c)
{
    struct load_run *r = c->arg;
    bool pos, act;
    if (c->status != 200 || !c->json || !count_state(r->sale, c->json, &pos, &act)) {
        if (r->failed_users++ < 5)
            fprintf(stderr, "load: poll of token %" PRId64 ": HTTP %ld %s\n", c->tag, c->status, c->resp ? c->resp : "");
    }
    load_call_free(c);
    poll_send(r);
}

static void poll_send(struct load_run *r)
{
    struct load_sale *s = r->sale;
    if (s->next >= s->total)
        return;
    /* k * 1000003 mod n (a prime stride): every token once per n polls, spread over the whole line, so a poll
     * count below n does not read only the head of the line (a position's cost grows with its place) */
    uint64_t n = (uint64_t)s->ntokens, stride = n % 1000003u ? 1000003u : 1u;
    int64_t i = (int64_t)((uint64_t)(s->next++ % s->ntokens) * stride % n);
    struct load_call *c = load_call_new(NULL, "GET", "/queue/status", on_polled);
    c->arg = r;
    c->tag = i;
    snprintf(c->token_hdr, sizeof c->token_hdr, "%s", s->tokens[i]);
    load_engine_enqueue(&r->e, c);
}

static int sale_poll_setup(struct load_run *r)
{
    if (read_tokens(r) < 0)
        return -1;
    r->sale->total = r->o->requests;
    return 0;
}

static void sale_poll_start(struct load_run *r) { start_window(r, poll_send); }

static json_t *sale_poll_check(struct load_run *r, bool *ok)
{
    json_t *c = counts_json(r, ok);
    json_object_set_new(c, "tokens", json_integer(r->sale->ntokens));
    return c;
}

const struct load_scenario LOAD_SCENARIO_SALE_POLL = {.name = "sale-poll",
                                                      .setup = sale_poll_setup,
                                                      .start = sale_poll_start,
                                                      .check = sale_poll_check,
                                                      .cleanup = sale_cleanup};

/* ---------- sale-open ---------- */

static void open_send(struct load_run *r);

static void on_open_polled(struct load_call *c)
{
    struct load_run *r = c->arg;
    struct load_sale *s = r->sale;
    int64_t now = wall_ms();
    double ms = (double)(clock_mono_ns() - c->start_ns) / 1e6;
    int64_t sent = now - (int64_t)ms, opens = r->o->opens_at_ms;
    bool pos = false, act = false;
    if (c->status != 200 || !c->json || !count_state(s, c->json, &pos, &act)) {
        if (r->failed_users++ < 5)
            fprintf(stderr, "load: poll of token %" PRId64 ": HTTP %ld %s\n", c->tag, c->status, c->resp ? c->resp : "");
    } else {
        if (pos && s->first_position_ms == INT64_MIN)
            s->first_position_ms = now - opens;
        if (act && s->first_active_ms == INT64_MIN)
            s->first_active_ms = now - opens;
        if (!pos && !act && now >= opens)
            s->last_unpositioned_ms = now - opens;
    }
    if (sent < opens) {
        s->polls_before++;
        lat_add(&s->before, ms);
    } else if (sent < opens + OPEN_WINDOW_MS) {
        s->polls_window++;
        lat_add(&s->window, ms);
    }
    load_call_free(c);
    open_send(r);
}

static void open_send(struct load_run *r)
{
    struct load_sale *s = r->sale;
    if (wall_ms() >= s->end_ms)
        return;
    int sample = r->o->sample < s->ntokens ? r->o->sample : s->ntokens;
    int64_t k = s->next++ % sample;
    int64_t i = k * s->ntokens / sample; /* spread evenly over the line's arrival order */
    struct load_call *c = load_call_new(NULL, "GET", "/queue/status", on_open_polled);
    c->arg = r;
    c->tag = i;
    snprintf(c->token_hdr, sizeof c->token_hdr, "%s", s->tokens[i]);
    load_engine_enqueue(&r->e, c);
}

static int sale_open_setup(struct load_run *r)
{
    if (r->o->opens_at_ms <= 0) {
        fprintf(stderr, "load: sale-open needs --opens-at MS (the sale's opensAt, ms since the epoch)\n");
        return -1;
    }
    if (read_tokens(r) < 0)
        return -1;
    r->sale->end_ms = r->o->opens_at_ms + r->o->after_ms;
    return 0;
}

static void sale_open_start(struct load_run *r) { start_window(r, open_send); }

static json_t *ms_or_null(int64_t v) { return v == INT64_MIN ? json_null() : json_integer(v); }

static json_t *sale_open_check(struct load_run *r, bool *ok)
{
    struct load_sale *s = r->sale;
    s->total = s->next; /* every poll sent is one to answer */
    json_t *c = counts_json(r, ok);
    json_object_set_new(c, "sample", json_integer(r->o->sample < s->ntokens ? r->o->sample : s->ntokens));
    json_object_set_new(c, "opens_at_ms", json_integer(r->o->opens_at_ms));
    json_object_set_new(c, "first_position_after_open_ms", ms_or_null(s->first_position_ms));
    json_object_set_new(c, "last_without_position_after_open_ms", ms_or_null(s->last_unpositioned_ms));
    json_object_set_new(c, "first_active_after_open_ms", ms_or_null(s->first_active_ms));
    json_object_set_new(c, "latency_before_open_ms", lat_json(&s->before));
    json_object_set_new(c, "latency_first_2s_ms", lat_json(&s->window));
    if (s->first_position_ms == INT64_MIN)
        *ok = false;
    return c;
}

const struct load_scenario LOAD_SCENARIO_SALE_OPEN = {.name = "sale-open",
                                                      .setup = sale_open_setup,
                                                      .start = sale_open_start,
                                                      .check = sale_open_check,
                                                      .cleanup = sale_cleanup};
