/* load.h — `ticketd load`: an HTTP load generator for the booking flow against one or many instances.
 *
 * One thread drives a libcurl multi handle with at most `connections` requests in flight, spread
 * round-robin over the instance URLs. Each simulated user is a small state machine advanced by its
 * responses. A request that times out or gets 503 is retried with capped exponential backoff and full jitter,
 * with the same Idempotency-Key, at most `retries` times. At the end the run checks the state through the API
 * and prints one JSON summary (wall time, status counts, latency percentiles, retries, the check).
 *
 * Scenarios:
 *   seats  GET /concert/available-seats as fast as possible (throughput)
 *   issue  N users each POST /queue/issue once (token issue rate)
 *   race   N users, each with an ACTIVE token, hold one of `seats` seats of one date at the same moment;
 *          check: exactly min(N, seats) holds, each seat gone from available-seats
 *   multi-race  N users hold K (--hold-seats, default 4) overlapping seats of `seats` each in one request, all at
 *          once; check: no seat in two holds, every 201 holds all K, every 409 names the taken seats and holds
 *          none (available-seats lists exactly the seats nobody won)
 *   flow   N users charge, queue, hold a random free seat of `schedules` dates and pay (retrying conflicts on
 *          another seat); check: no seat sold twice, every payer charged exactly once, no negative balance
 * Only loopback or explicitly given addresses are targeted; every run is bounded by requests and --seconds.
 */
#ifndef TK_LOAD_H
#define TK_LOAD_H

#include "util/err.h"

/* Runs `ticketd load` with argv after the subcommand; returns the process exit code. */
int load_main(int argc, char **argv);

#endif
