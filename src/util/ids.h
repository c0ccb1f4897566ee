/* ids.h — ids travel as decimal strings of 1–18 digits ("17"); inside they are positive int64. */
#ifndef TK_IDS_H
#define TK_IDS_H

#include <stdint.h>
#include "util/err.h"

#define ID_STR_MAX 24

/* Parses s into *out; TK_ERR_INVALID unless s is 1–18 ASCII digits with a value >= 1. */
int id_parse(const char *s, int64_t *out) TK_MUST_CHECK;
/* Parses s as plain decimal digits (no sign, space or other character; 1–18 digits) into *out;
 * TK_ERR_INVALID unless the value is in min..max. Query integers use it ("+5", " 5", "5x" are refused). */
int uint_parse(const char *s, int64_t min, int64_t max, int64_t *out) TK_MUST_CHECK;
/* Writes the id as a decimal string into buf (size >= ID_STR_MAX). */
void id_format(int64_t id, char *buf);

#endif
