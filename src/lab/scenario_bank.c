/* scenario_bank.c — Jepsen's bank workload: requests move random amounts between random pairs of
 * BANK_ACCOUNTS accounts (two rows each, in random order: a strategy that locks them in request order
 * deadlocks), while BANK_READERS threads keep reading the total. Invariant: the total never changes (at the
 * end, and in every read), no balance goes negative, each balance equals its ledger. */
#include "lab/scenario.h"

#include <pthread.h>
#include <stdio.h>

#define BANK_ACCOUNTS 10
#define BANK_READERS 2
#define OPENING 100000
#define TOTAL ((int64_t)BANK_ACCOUNTS * OPENING)

struct bank_state {
    int64_t users[BANK_ACCOUNTS];
    const char *db_url;
    pthread_t readers[BANK_READERS];
    int nreaders;
    int done; /* atomic builtins: the readers stop */
    uint64_t reads, bad_reads; /* atomic builtins */
};

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s ? *s : 88172645463325252ULL;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* A reader: the sum of every account, read again and again on its own connection until the run ends. */
static void *bank_reader(void *arg)
{
    struct bank_state *s = arg;
    char err[160];
    struct labdb *db = labdb_open(s->db_url, err, sizeof err);
    if (!db) {
        fprintf(stderr, "lab: bank reader: %s\n", err);
        return NULL;
    }
    char sql[512];
    int n = snprintf(sql, sizeof sql, "SELECT SUM(balance) FROM users WHERE id IN (");
    for (int i = 0; i < BANK_ACCOUNTS; i++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, "%s%lld", i ? "," : "", (long long)s->users[i]);
    snprintf(sql + n, sizeof sql - (size_t)n, ")");
    while (!__atomic_load_n(&s->done, __ATOMIC_ACQUIRE)) {
        int64_t sum = 0;
        if (labdb_int(db, sql, &sum) == TK_OK) {
            __atomic_add_fetch(&s->reads, 1, __ATOMIC_RELAXED);
            if (sum != TOTAL)
                __atomic_add_fetch(&s->bad_reads, 1, __ATOMIC_RELAXED);
        }
    }
    labdb_close(db);
    return NULL;
}

/* The accounts, then the readers (last: nothing can fail after them; a reader that cannot start is left out). */
static int bank_setup(const struct lab_params *p, struct tk_store *st, struct labdb *db, void *state)
{
    (void)st;
    struct bank_state *s = state;
    int64_t now = clock_now_ms(clock_real());
    for (int i = 0; i < BANK_ACCOUNTS; i++)
        if (!(s->users[i] = labdb_new_user(db, OPENING, now)))
            return TK_ERR_INTERNAL;
    s->db_url = p->db_url;
    for (; s->nreaders < BANK_READERS; s->nreaders++)
        if (pthread_create(&s->readers[s->nreaders], NULL, bank_reader, s) != 0)
            break;
    return TK_OK;
}

static void bank_finish(void *state)
{
    struct bank_state *s = state;
    __atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < s->nreaders; i++)
        pthread_join(s->readers[i], NULL);
}

static int bank_request(const struct lab_env *env, int i, struct lab_keep *keep)
{
    (void)keep;
    const struct bank_state *s = env->state;
    /* drawn from the request's number: a re-run moves the same money between the same accounts */
    uint64_t rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
    int a = (int)(xorshift(&rng) % BANK_ACCOUNTS);
    int b = (int)(xorshift(&rng) % (BANK_ACCOUNTS - 1));
    if (b >= a)
        b++;
    struct tk_transfer t;
    return wallet_transfer(env->app, s->users[a], s->users[b], 1 + (int64_t)(xorshift(&rng) % 20000), NULL, &t);
}

static void bank_warm_up(const struct lab_env *env, int64_t ghost)
{
    struct tk_transfer t;
    int rc = wallet_transfer(env->app, ghost, ghost + 1, 1, NULL, &t);
    (void)rc; /* NOT_FOUND: nothing changed */
}

static bool bank_check(const struct lab_params *p, void *state, struct labdb *db, json_t *final, json_t *expected)
{
    (void)p;
    const struct bank_state *s = state;
    int64_t total = 0, negative = 0;
    bool ledgers = true;
    for (int i = 0; i < BANK_ACCOUNTS; i++) {
        int64_t b = labdb_balance(db, s->users[i]);
        total += b;
        negative += b < 0;
        ledgers = ledgers && labdb_ledger_sum(db, s->users[i]) == b;
    }
    json_object_set_new(final, "total", json_integer(total));
    json_object_set_new(final, "reads", json_integer((json_int_t)s->reads));
    json_object_set_new(final, "reads_with_wrong_total", json_integer((json_int_t)s->bad_reads));
    json_object_set_new(expected, "total", json_integer(TOTAL));
    json_object_set_new(expected, "reads_with_wrong_total", json_integer(0));
    return total == TOTAL && !negative && ledgers && s->bad_reads == 0;
}

const struct lab_scenario LAB_SCENARIO_BANK = {
    .name = "bank",
    .default_requests = 1000,
    .state_size = sizeof(struct bank_state),
    .setup = bank_setup,
    .request = bank_request,
    .warm_up = bank_warm_up,
    .finish = bank_finish,
    .check = bank_check,
};
