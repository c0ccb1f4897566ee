/* clock.c — real and fake clocks, and the RFC 3339 formatting used in every response. */
#include "util/clock.h"

#include <time.h>
#include <stdio.h>

static int64_t real_now_ms(struct tk_clock *self)
{
    (void)self;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct tk_clock REAL_CLOCK = {.now_ms = real_now_ms};

struct tk_clock *clock_real(void) { return &REAL_CLOCK; }

static int64_t fake_now_ms(struct tk_clock *self) { return __atomic_load_n(&self->fake_now_ms, __ATOMIC_SEQ_CST); }

void clock_fake_init(struct tk_clock *c, int64_t start_ms)
{
    c->now_ms = fake_now_ms;
    c->fake_now_ms = start_ms;
}

void clock_fake_advance(struct tk_clock *c, int64_t delta_ms)
{
    __atomic_add_fetch(&c->fake_now_ms, delta_ms, __ATOMIC_SEQ_CST);
}

int64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t clock_mono_ms(void) { return clock_mono_ns() / 1000000; }

static void to_tm(int64_t ms, struct tm *tm)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    gmtime_r(&t, tm);
}

void clock_format_rfc3339(int64_t ms, char *buf, int buflen)
{
    struct tm tm;
    to_tm(ms, &tm);
    int frac = (int)(((ms % 1000) + 1000) % 1000);
    char whole[24];
    strftime(whole, sizeof whole, "%Y-%m-%dT%H:%M:%S", &tm);
    /* exact: an expiry is shown to the millisecond (never rounded to look earlier or later than it is);
     * whole seconds keep the plain form of the contract's examples */
    if (frac)
        snprintf(buf, (size_t)buflen, "%s.%03dZ", whole, frac);
    else
        snprintf(buf, (size_t)buflen, "%sZ", whole);
}

void clock_format_date(int64_t ms, char *buf, int buflen)
{
    struct tm tm;
    to_tm(ms, &tm);
    strftime(buf, (size_t)buflen, "%Y-%m-%d", &tm);
}
