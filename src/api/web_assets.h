/* web_assets.h — the pages' static files (web/), compiled into the binary by cmake/embed_web.cmake. */
#ifndef TK_WEB_ASSETS_H
#define TK_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
    const char *name; /* file name in web/, e.g. "buyer.js" */
    const char *data; /* its bytes (NUL after the last one) */
    size_t len;
    const char *etag; /* "\"<16 hex of SHA-256>\"" */
};

extern const struct web_asset web_assets[];
extern const int web_asset_count;

#endif
