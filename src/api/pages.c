/* pages.c — GET / (the buyers' page), GET /admin (the organizer's page) and GET /static/<name> (their scripts and
 * styles): files of web/ compiled into the binary (web_assets.h), answered on the event thread.
 *
 * Every answer carries a strong ETag and "Cache-Control: no-cache" (a browser revalidates and gets 304 while the
 * binary is the same, and never runs an old script against a new server); pages carry a Content-Security-Policy
 * that lets them load and call nothing but this server. Names are looked up in the table, never on disk, so no
 * path can reach outside it. Limits: the table is fixed at build time; a name is one path segment (< 48 bytes). */
#include "api/api.h"

#include <string.h>
#include "api/web_assets.h"

/* What a page may load and call: this server only (no inline script, no other origin). */
#define PAGE_CSP                                                                                                  \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "          \
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

struct content_type {
    const char *ext;
    const char *type;
    bool page; /* a document a browser renders: gets the CSP */
};

static const struct content_type CONTENT_TYPES[] = {
    {".html", "text/html; charset=utf-8", true},
    {".js", "text/javascript; charset=utf-8", false},
    {".css", "text/css; charset=utf-8", false},
    {".svg", "image/svg+xml", false},
    {".png", "image/png", false},
    {".ico", "image/x-icon", false},
    {".json", "application/json", false},
    {".txt", "text/plain; charset=utf-8", false},
};
static const struct content_type OTHER = {"", "application/octet-stream", false};

static const struct content_type *content_type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof CONTENT_TYPES / sizeof CONTENT_TYPES[0]; i++)
            if (strcmp(dot, CONTENT_TYPES[i].ext) == 0)
                return &CONTENT_TYPES[i];
    return &OTHER;
}

const struct web_asset *api_web_asset(const char *name)
{
    for (int i = 0; i < web_asset_count; i++)
        if (strcmp(web_assets[i].name, name) == 0)
            return &web_assets[i];
    return NULL;
}

/* If-None-Match holds our tag (alone, in a list, or "*"): the browser's copy is current. */
static bool not_modified(const struct api_request *req, const char *etag)
{
    const char *inm = req->header ? req->header(req->ctx, "If-None-Match") : NULL;
    return inm && (strstr(inm, etag) != NULL || strcmp(inm, "*") == 0);
}

static int serve_asset(struct api_request *req, struct api_response *resp, const char *name)
{
    const struct web_asset *a = api_web_asset(name);
    if (!a)
        return api_fail(resp, TK_ERR_NOT_FOUND, "no such page or file");
    const struct content_type *ct = content_type_of(a->name);
    resp->content_type = ct->type;
    resp->cache_control = "no-cache";
    resp->etag = a->etag;
    if (ct->page)
        resp->csp = PAGE_CSP;
    if (not_modified(req, a->etag)) {
        resp->status = 304;
        resp->static_body = "";
        resp->static_len = 0;
        return TK_OK;
    }
    resp->status = 200;
    resp->static_body = a->data;
    resp->static_len = a->len;
    return TK_OK;
}

int api_page_buyer(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    (void)api;
    return serve_asset(req, resp, "index.html");
}

int api_page_admin(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    (void)api;
    return serve_asset(req, resp, "admin.html");
}

int api_page_static(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    (void)api;
    return serve_asset(req, resp, req->path_param);
}
