/* waitroom.c — the checks the API puts in front of any waiting-room backend. (The token format itself,
 * waitroom_token_new / waitroom_token_room, lives in waitroom/token.c: the backends make tokens, and a layer
 * never calls the one above it.) */
#include "waitroom/waitroom.h"

int waitroom_require_active(struct tk_waitroom *w, const struct wr_room *r, const char *token, int64_t now_ms,
                            int64_t *user_id)
{
    int64_t room;
    if (waitroom_token_room(token, &room) < 0 || room != r->id)
        return TK_ERR_UNAUTHORIZED;
    if (w->ops->check) {
        int rc = w->ops->check(w, r, token, now_ms, user_id);
        return rc == TK_ERR_NOT_FOUND ? TK_ERR_UNAUTHORIZED : rc;
    }
    struct tk_ticket t;
    int rc = w->ops->status(w, r, token, now_ms, &t);
    if (rc == TK_ERR_NOT_FOUND)
        return TK_ERR_UNAUTHORIZED;
    TK_TRY(rc);
    if (t.state != TOKEN_ACTIVE)
        return TK_ERR_NOT_ADMITTED;
    *user_id = t.user_id;
    return TK_OK;
}

void waitroom_free(struct tk_waitroom *w)
{
    if (w)
        w->ops->free(w);
}
