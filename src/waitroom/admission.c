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

bool admission_immediate(const struct admission_policy *p, int64_t active, int64_t waiting)
{
    return waiting == 0 && active < p->max_active;
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
        if (b->milli > cap)
            b->milli = cap;
        b->last_ms = now_ms;
    }
}

int64_t admission_quota(const struct admission_policy *p, struct admit_bucket *b, int64_t now_ms, int64_t active,
                        int64_t waiting)
{
    bucket_refill(p, b, now_ms);
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

int64_t admission_estimate_wait_s(const struct admission_policy *p, int64_t position, int64_t active)
{
    if (position <= 0)
        return 0;
    /* admissions per second, as a fraction num/den */
    int64_t num, den;
    if (active < p->max_active) {
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
