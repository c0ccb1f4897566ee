/* lab.h — `ticketd lab`: the lock lab of shared/LAB.md.
 *
 * The same contended writes (a bank transfer, a wallet charge, a seat race, a stock decrement, Jepsen's bank
 * workload, a double spend, a lost update) run under every concurrency-control strategy, with the service's
 * own code paths: core/wallet.c, core/booking.c and the lock strategies of lock/. Each run prints one JSON
 * report whose invariant is decided by reading the database afterwards, never from the workers' counts; a
 * failed invariant exits non-zero, except for the control group `none`. `--all` runs the matrix and writes
 * Markdown, JSON and an SVG chart to a folder.
 *
 * Requests run the way `ticketd serve` runs them: --concurrency C clients submit to one bounded executor
 * (util/exec.h) of --db-pool W workers per process, with a store pool of W + 2 connections.
 */
#ifndef TK_LAB_H
#define TK_LAB_H

/* Runs `ticketd lab` with argv after the subcommand; returns the process exit code. */
int lab_main(int argc, char **argv);

#endif
