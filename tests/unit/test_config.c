/* test_config.c — defaults, environment, flags (both --x v and --x=v), ranges and subcommands. */
#include "unit.h"
#include <stdlib.h>
#include <string.h>
#include "config.h"

static int load(struct tk_config *c, int argc, const char **argv, char *err)
{
    return config_load(c, argc, (char **)argv, err, 256);
}

static void defaults_of_the_contract(void **state)
{
    (void)state;
    unsetenv("TICKETD_PORT");
    unsetenv("TICKETD_MAX_ACTIVE");
    struct tk_config c;
    char err[256];
    const char *argv[] = {"ticketd"};
    assert_int_equal(load(&c, 1, argv, err), TK_OK);
    assert_string_equal(c.command, "serve");
    assert_int_equal(c.port, 8080);
    assert_string_equal(c.db, "sqlite:ticketd.db");
    assert_string_equal(c.redis, "");
    assert_string_equal(c.bind, "127.0.0.1");
    assert_int_equal(c.max_active, 1000);
    assert_int_equal(c.admit_per_sec, 100);
    assert_int_equal(c.token_seconds, 600);
    assert_int_equal(c.idle_seconds, 60);
    assert_int_equal(c.hold_seconds, 300);
    assert_int_equal(c.max_holds_per_user, 4);
}

static void env_then_flags(void **state)
{
    (void)state;
    setenv("TICKETD_PORT", "9090", 1);
    setenv("TICKETD_MAX_ACTIVE", "50", 1);
    struct tk_config c;
    char err[256];
    const char *argv[] = {"ticketd", "serve", "--port", "7070", "--hold-seconds=5", "--db", "sqlite:/tmp/x.db"};
    assert_int_equal(load(&c, 7, argv, err), TK_OK);
    assert_int_equal(c.port, 7070);      /* flag beats env */
    assert_int_equal(c.max_active, 50);  /* env beats default */
    assert_int_equal(c.hold_seconds, 5);
    assert_string_equal(c.db, "sqlite:/tmp/x.db");
    unsetenv("TICKETD_PORT");
    unsetenv("TICKETD_MAX_ACTIVE");
}

static void refusals(void **state)
{
    (void)state;
    struct tk_config c;
    char err[256];
    const char *bad_range[] = {"ticketd", "--port", "70000"};
    assert_int_equal(load(&c, 3, bad_range, err), TK_ERR_INVALID);
    assert_non_null(strstr(err, "--port"));
    const char *not_int[] = {"ticketd", "--max-active", "lots"};
    assert_int_equal(load(&c, 3, not_int, err), TK_ERR_INVALID);
    const char *unknown[] = {"ticketd", "--frobnicate", "1"};
    assert_int_equal(load(&c, 3, unknown, err), TK_ERR_INVALID);
    assert_non_null(strstr(err, "--frobnicate"));
    const char *missing[] = {"ticketd", "--port"};
    assert_int_equal(load(&c, 2, missing, err), TK_ERR_INVALID);
    const char *cmd[] = {"ticketd", "dance"};
    assert_int_equal(load(&c, 2, cmd, err), TK_ERR_INVALID);
    setenv("TICKETD_HOLD_SECONDS", "0", 1);
    const char *plain[] = {"ticketd"};
    assert_int_equal(load(&c, 1, plain, err), TK_ERR_INVALID);
    assert_non_null(strstr(err, "TICKETD_HOLD_SECONDS"));
    unsetenv("TICKETD_HOLD_SECONDS");
    const char *help[] = {"ticketd", "seed", "--help"};
    assert_int_equal(load(&c, 3, help, err), TK_OK);
    assert_true(c.help);
    assert_string_equal(c.command, "seed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_of_the_contract),
        cmocka_unit_test(env_then_flags),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
