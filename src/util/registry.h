/* registry.h — name lookups over the project's registries: tables of pointers to structs whose FIRST member is
 * `const char *name` (lock strategies, lab scenarios, load scenarios). One lookup and one name list for all of them,
 * so a registry is a table and nothing else. */
#ifndef TK_REGISTRY_H
#define TK_REGISTRY_H

#include <stddef.h>

/* The entry named `name` among items[0..n), or NULL. */
const void *registry_find(const void *const *items, size_t n, const char *name);
/* The names joined by sep into buf (truncated to len); returns buf. */
const char *registry_names(const void *const *items, size_t n, const char *sep, char *buf, size_t len);

#endif
