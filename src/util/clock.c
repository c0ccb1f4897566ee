/* clock.c — real and fake clocks, and the RFC 3339 formatting used in every response. */
#include "util/clock.h"

#include <time.h>
#include <stdio.h>
#include <string.h>

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

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), no time zone involved. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int clock_parse_rfc3339(const char *s, int64_t *ms)
{
    /* YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM) */
    int y, mo, d, h, mi, sec;
    if (!s || strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) || s[13] != ':' ||
        !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
        return TK_ERR_INVALID;
    static const int MDAYS[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > MDAYS[mo - 1] || (mo == 2 && d == 29 && !leap) || h > 23 ||
        mi > 59 || sec > 59)
        return TK_ERR_INVALID;
    const char *p = s + 19;
    int frac_ms = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        while (p[n] >= '0' && p[n] <= '9')
            n++;
        if (n == 0 || n > 9)
            return TK_ERR_INVALID;
        for (int i = 0; i < 3; i++)
            frac_ms = frac_ms * 10 + (i < n ? p[i] - '0' : 0);
        p += n;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return TK_ERR_INVALID;
        offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return TK_ERR_INVALID;
    }
    if (*p)
        return TK_ERR_INVALID;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - (int64_t)offset_min * 60;
    *ms = secs * 1000 + frac_ms;
    return TK_OK;
}
