/* buf.h — a growable byte buffer for building responses. The owner frees it with buf_free. */
#ifndef TK_BUF_H
#define TK_BUF_H

#include <stddef.h>
#include <stdbool.h>

struct buf {
    char *p;
    size_t len, cap;
    bool oom; /* set when a grow failed; later appends are dropped */
};

void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_append(struct buf *b, const char *s, size_t n);
/* Appends s as a JSON string literal (with quotes and escapes). */
void buf_json_str(struct buf *b, const char *s);
void buf_free(struct buf *b);

#endif
