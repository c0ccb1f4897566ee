/* write_mode.h — how a contended row write is performed. The lock strategy chooses it (lock/strategy.h), the
 * store carries it out (store/store.h); it lives here, below both, so that neither includes the other.
 *   ATOMIC       one conditional statement per row (UPDATE … WHERE balance + x <= max)
 *   PESSIMISTIC  read then write inside one transaction holding the row lock (FOR UPDATE / BEGIN IMMEDIATE)
 *   OPTIMISTIC   read the row's version outside a transaction, then compare-and-set on the version;
 *                TK_ERR_CONFLICT when another writer got there first (the strategy retries)
 *   UNSAFE       read, then blind write, no protection: only for the lab's control group or behind an
 *                external lock (the mutex / Redis lock strategies) */
#ifndef TK_WRITE_MODE_H
#define TK_WRITE_MODE_H

enum tk_write_mode { TK_WRITE_ATOMIC, TK_WRITE_PESSIMISTIC, TK_WRITE_OPTIMISTIC, TK_WRITE_UNSAFE };

#endif
