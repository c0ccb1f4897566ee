/* serial.h — the lab's own `serial` strategy: one writer thread per process takes the requests for the hot
 * key from a queue and commits them in batches (one transaction each, holding the scenario's serial_batch),
 * and ends each request only after its batch has committed (the broker experiment's partition consumer). */
#ifndef TK_LAB_SERIAL_H
#define TK_LAB_SERIAL_H

#include "lab/scenario.h"

struct serial;

/* Ends one queued request with its result (TK_OK, TK_ERR_SEAT_UNAVAILABLE, or the batch's error); called on
 * the writer's thread, once per request. */
typedef void (*serial_done_fn)(void *request, int rc);

/* Starts the writer with its own connection to db_url, for scenario sc and its run state; cap: requests in
 * flight at most (the queue never holds more). NULL (reason in err) on failure; a failed start needs no stop. */
struct serial *serial_start(const char *db_url, const struct lab_scenario *sc, void *state, int cap,
                            serial_done_fn done, char *err, int errlen);
/* Queues a request for the writer, which ends it (done) once its batch has committed. */
void serial_enqueue(struct serial *s, void *request);
/* Commits what is queued, stops the writer and frees it; serial_stop(NULL) is a no-op. */
void serial_stop(struct serial *s);

#endif
