/* registry.c — name lookups over registries (registry.h). */
#include "util/registry.h"

#include <stdio.h>
#include <string.h>

/* An entry's name: its struct's first member (a pointer to a struct is a pointer to its first member). */
static const char *entry_name(const void *item) { return *(const char *const *)item; }

const void *registry_find(const void *const *items, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(entry_name(items[i]), name) == 0)
            return items[i];
    return NULL;
}

const char *registry_names(const void *const *items, size_t n, const char *sep, char *buf, size_t len)
{
    size_t at = 0;
    if (len)
        buf[0] = 0;
    for (size_t i = 0; i < n && at < len; i++) {
        int w = snprintf(buf + at, len - at, "%s%s", i ? sep : "", entry_name(items[i]));
        if (w < 0)
            break;
        at += (size_t)w;
    }
    return buf;
}
