/* router.c — the route table, authentication, and dispatch. */
#include "api/api.h"

#include <string.h>

const struct api_route API_ROUTES[] = {
    {"POST", "/users", AUTH_NONE, api_users_create},
    {"POST", "/user/charge", AUTH_BEARER, api_user_charge},
    {"GET", "/user/check", AUTH_BEARER, api_user_check},
    {"POST", "/queue/issue", AUTH_BEARER, api_queue_issue},
    {"GET", "/queue/status", AUTH_NONE, api_queue_status}, /* checks its token itself: any state answers */
    {"GET", "/concerts", AUTH_QUEUE, api_concerts},
    {"GET", "/concert/available-dates", AUTH_QUEUE, api_available_dates},
    {"GET", "/concert/available-seats", AUTH_QUEUE, api_available_seats},
    {"POST", "/reservation", AUTH_QUEUE, api_reservation},
    {"POST", "/payment", AUTH_QUEUE, api_payment},
    {"GET", "/health", AUTH_NONE, api_health},
    {"GET", "/metrics", AUTH_NONE, api_metrics},
    {"GET", "/openapi.json", AUTH_NONE, api_openapi},
};
const int API_ROUTE_COUNT = (int)(sizeof API_ROUTES / sizeof API_ROUTES[0]);

const char *const API_ROUTE_NAMES[] = {
    "/users", "/user/charge", "/user/check", "/queue/issue", "/queue/status", "/concerts",
    "/concert/available-dates", "/concert/available-seats", "/reservation", "/payment", "/health", "/metrics",
    "/openapi.json", "unmatched",
};

int api_route_find(const char *method, const char *path, int *route)
{
    bool path_known = false;
    for (int i = 0; i < API_ROUTE_COUNT; i++) {
        if (strcmp(API_ROUTES[i].path, path) != 0)
            continue;
        path_known = true;
        if (strcmp(API_ROUTES[i].method, method) == 0) {
            *route = i;
            return TK_OK;
        }
    }
    return path_known ? TK_ERR_METHOD : TK_ERR_NOT_FOUND;
}

static int authenticate(struct tk_api *api, const struct api_route *r, struct api_request *req,
                        struct api_response *resp)
{
    struct tk_app *app = api->app;
    switch (r->auth) {
    case AUTH_NONE:
        return TK_OK;
    case AUTH_BEARER: {
        int rc = account_authenticate(app, req->header(req->ctx, "Authorization"), &req->user_id);
        return rc < 0 ? api_fail(resp, rc, rc == TK_ERR_UNAUTHORIZED ? "missing or unknown API key" : NULL) : TK_OK;
    }
    case AUTH_QUEUE: {
        req->queue_token = req->header(req->ctx, "queue-token");
        int rc = waitroom_require_active(app->waitroom, req->queue_token, app_now_ms(app), &req->user_id);
        if (rc == TK_ERR_UNAUTHORIZED)
            return api_fail(resp, rc, "missing or unknown queue-token");
        if (rc == TK_ERR_NOT_ADMITTED)
            return api_fail(resp, rc, "queue token is waiting or expired; poll GET /queue/status");
        return rc < 0 ? api_fail(resp, rc, NULL) : TK_OK;
    }
    }
    return api_fail(resp, TK_ERR_INTERNAL, NULL);
}

void api_dispatch(struct tk_api *api, int route, struct api_request *req, struct api_response *resp)
{
    TK_ASSERT(route >= 0 && route < API_ROUTE_COUNT);
    const struct api_route *r = &API_ROUTES[route];
    if (authenticate(api, r, req, resp) < 0)
        return;
    int rc = r->handler(api, req, resp);
    if (rc < 0 && resp->status == 0)
        (void)api_fail(resp, rc, NULL);
    TK_ASSERT(resp->status != 0);
}
