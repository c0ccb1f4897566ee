/* clock.h — the one source of time. Everything that expires (holds, tokens, idle waiters, idempotency
 * records) reads time through a struct tk_clock so tests can move time without sleeping. */
#ifndef TK_CLOCK_H
#define TK_CLOCK_H

#include <stdint.h>
#include <stdbool.h>
#include "util/err.h"

struct tk_clock {
    int64_t (*now_ms)(struct tk_clock *self);
    int64_t fake_now_ms; /* used by the fake clock only */
};

/* The process-wide real clock (CLOCK_REALTIME, ms since the epoch). Never freed. */
struct tk_clock *clock_real(void);
/* A fake clock starting at start_ms; advance it with clock_fake_advance. */
void clock_fake_init(struct tk_clock *c, int64_t start_ms);
void clock_fake_advance(struct tk_clock *c, int64_t delta_ms);

static inline int64_t clock_now_ms(struct tk_clock *c) { return c->now_ms(c); }

/* Monotonic ms, for measuring durations only. */
int64_t clock_mono_ms(void);
int64_t clock_mono_ns(void);

/* Formats ms since the epoch as RFC 3339 UTC: "2026-12-24T19:00:00Z", or with milliseconds when they are not
 * zero ("2026-12-24T19:00:00.250Z"); buf >= 25 bytes. */
void clock_format_rfc3339(int64_t ms, char *buf, int buflen);
/* Parses an RFC 3339 time ("2026-12-24T19:00:00Z", fractions and ±HH:MM offsets too, year >= 1970) into ms since
 * the epoch; TK_ERR_INVALID otherwise. */
int clock_parse_rfc3339(const char *s, int64_t *ms) TK_MUST_CHECK;
/* Formats the calendar date "YYYY-MM-DD"; buf >= 11 bytes. */
void clock_format_date(int64_t ms, char *buf, int buflen);

#endif
