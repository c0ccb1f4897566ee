/* admission.c — waiting-room rules: state machine, immediate admission, rate bucket, wait estimate. */
#include "waitroom/admission.h"

static const char *const STATE_NAMES[] = {"WAITING", "ACTIVE", "EXPIRED"};

const char *token_state_name(enum tk_token_state s)
{
    TK_ASSERT(s >= TOKEN_WAITING && s <= TOKEN_EXPIRED);
    return STATE_NAMES[s];
}

bool token_transition_ok(enum tk_token_state from, enum tk_token_state to)
{
    return (from == TOKEN_WAITING && (to == TOKEN_ACTIVE || to == TOKEN_EXPIRED)) ||
           (from == TOKEN_ACTIVE && to == TOKEN_EXPIRED);
}

void token_transition(enum tk_token_state *state, enum tk_token_state to)
{
    if (!token_transition_ok(*state, to)) {
        fprintf(stderr, "ticketd: illegal token transition %s -> %s\n", token_state_name(*state),
                token_state_name(to));
        TK_ASSERT(!"illegal token transition");
    }
    *state = to;
}

bool admission_opened(const struct admission_policy *p, int64_t now_ms) { return now_ms >= p->opens_at_ms; }

bool admission_admitting(const struct admission_policy *p, int64_t now_ms)
{
    return p->mode == WR_OPEN && admission_opened(p, now_ms);
}

bool admission_immediate(const struct admission_policy *p, int64_t now_ms, int64_t active, int64_t waiting)
{
    return admission_admitting(p, now_ms) && waiting == 0 && active < p->max_active;
}

void admit_bucket_init(struct admit_bucket *b, const struct admission_policy *p, int64_t now_ms)
{
    b->milli = (int64_t)p->admit_per_sec * 1000;
    b->last_ms = now_ms;
}

static void bucket_refill(const struct admission_policy *p, struct admit_bucket *b, int64_t now_ms)
{
    int64_t cap = (int64_t)p->admit_per_sec * 1000;
    if (now_ms > b->last_ms) {
        int64_t elapsed = now_ms - b->last_ms;
        /* admit_per_sec admissions a second = admit_per_sec milli-admissions a millisecond */
        b->milli = elapsed >= 1000 ? cap : b->milli + elapsed * p->admit_per_sec;
        b->last_ms = now_ms;
    }
    if (b->milli > cap) /* also when no time passed: admit_per_sec may have been cut live */
        b->milli = cap;
}

int64_t admission_quota(const struct admission_policy *p, struct admit_bucket *b, int64_t now_ms, int64_t active,
                        int64_t waiting)
{
    bucket_refill(p, b, now_ms);
    if (!admission_admitting(p, now_ms))
        return 0;
    int64_t n = p->max_active - active;
    if (b->milli / 1000 < n)
        n = b->milli / 1000;
    if (waiting < n)
        n = waiting;
    return n > 0 ? n : 0;
}

void admit_bucket_take(struct admit_bucket *b, int64_t n)
{
    TK_ASSERT(n >= 0 && n * 1000 <= b->milli);
    b->milli -= n * 1000;
}

void admission_decide(const struct admission_input *in, struct admission_decision *out)
{
    out->bucket = in->bucket;
    out->quota = admission_quota(&in->policy, &out->bucket, in->now_ms, in->active, in->waiting);
    admit_bucket_take(&out->bucket, out->quota);
    out->immediate = admission_immediate(&in->policy, in->now_ms, in->active, in->waiting);
}

int64_t admission_estimate_wait_s(const struct admission_policy *p, int64_t now_ms, int64_t position, int64_t active,
                                  int64_t admitted_last_minute, int64_t window_ms)
{
    if (!admission_opened(p, now_ms) || position < 0)
        return -1;
    if (position == 0)
        return 0;
    /* admissions per second, as a fraction num/den */
    int64_t num, den;
    if (admitted_last_minute > 0 && window_ms > 0) { /* measured: admitted_last_minute per window */
        num = admitted_last_minute * 1000;
        den = window_ms < 1000 ? 1000 : window_ms;
    } else if (active < p->max_active) {
        num = p->admit_per_sec;
        den = 1;
    } else {
        num = (int64_t)p->max_active * 1000; /* every active token lapses within token_ms */
        den = p->token_ms;
        if (num * 1 > (int64_t)p->admit_per_sec * den) {
            num = p->admit_per_sec;
            den = 1;
        }
    }
    return (position * den + num - 1) / num; /* ceil(position / rate) */
}

int admission_wait_bucket(int64_t wait_ms)
{
    int64_t s = wait_ms < 0 ? 0 : wait_ms / 1000;
    if (s < 120)
        return (int)s;
    int64_t m = s / 60; /* 2 .. */
    if (m < 120)
        return (int)(120 + m - 2);
    return ADMISSION_WAIT_BUCKETS - 1;
}

int64_t admission_wait_bucket_s(int i)
{
    TK_ASSERT(i >= 0 && i < ADMISSION_WAIT_BUCKETS);
    return i < 120 ? i : (int64_t)(i - 120 + 2) * 60;
}

int64_t admission_wait_quantile_s(const uint64_t counts[ADMISSION_WAIT_BUCKETS], double q)
{
    uint64_t total = 0;
    for (int i = 0; i < ADMISSION_WAIT_BUCKETS; i++)
        total += counts[i];
    if (total == 0)
        return -1;
    uint64_t rank = (uint64_t)(q * (double)total + 0.999999); /* the ceil(q*n)-th smallest, 1-based */
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < ADMISSION_WAIT_BUCKETS; i++) {
        seen += counts[i];
        if (seen >= rank)
            return admission_wait_bucket_s(i);
    }
    return admission_wait_bucket_s(ADMISSION_WAIT_BUCKETS - 1);
}
