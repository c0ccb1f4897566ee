/* test_sha256.c — the FIPS 180-4 / NIST example vectors, and block-boundary lengths fed in pieces. */
#include "unit.h"
#include <stdio.h>
#include <string.h>
#include "util/sha256.h"

static void vectors(void **state)
{
    (void)state;
    char hex[65];
    sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(two, strlen(two), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void million_a_in_pieces(void **state)
{
    (void)state;
    struct sha256 s;
    sha256_init(&s);
    char chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    for (int i = 0; i < 1000; i++)
        sha256_update(&s, chunk, sizeof chunk);
    unsigned char d[32];
    sha256_final(&s, d);
    static const unsigned char want[32] = {0xcd, 0xc7, 0x6e, 0x5c, 0x99, 0x14, 0xfb, 0x92, 0x81, 0xa1, 0xc7,
                                           0xe2, 0x84, 0xd7, 0x3e, 0x67, 0xf1, 0x80, 0x9a, 0x48, 0xa4, 0x97,
                                           0x20, 0x0e, 0x04, 0x6d, 0x39, 0xcc, 0xc7, 0x11, 0x2c, 0xd0};
    assert_memory_equal(d, want, 32);
}

static void split_feeding_matches(void **state)
{
    (void)state;
    char msg[200];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (char)('a' + i % 26);
    for (size_t len = 50; len < 140; len++) { /* across the 55/56/64-byte padding edges */
        char whole[65];
        sha256_hex(msg, len, whole);
        struct sha256 s;
        sha256_init(&s);
        for (size_t i = 0; i < len; i++)
            sha256_update(&s, msg + i, 1);
        unsigned char d[32];
        sha256_final(&s, d);
        char piece[65];
        for (int i = 0; i < 32; i++)
            sprintf(piece + 2 * i, "%02x", d[i]);
        assert_string_equal(piece, whole);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vectors),
        cmocka_unit_test(million_a_in_pieces),
        cmocka_unit_test(split_feeding_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
