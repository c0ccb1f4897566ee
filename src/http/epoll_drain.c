/* epoll_drain.c — mends libmicrohttpd 0.9.75's epoll loop (Debian 12's libmicrohttpd12) by defining
 * epoll_wait(2) for this process.
 *
 * The fault (MHD_epoll() in its daemon.c): the loop drains the kernel's ready list in batches of 128 events,
 *     while (num_events == 128) num_events = epoll_wait(fd, events, 128, timeout_ms);
 * and handles the connections it marked only after the loop. timeout_ms is the blocking timeout of the whole
 * turn (up to the 120 s connection timeout). So when the ready list held exactly 128 (or 256, …) events, the
 * call after the last full batch sleeps with up to 128 requests read off the kernel's list and not yet
 * handled: their clients wait until some other event arrives on that thread, which at the end of a burst is
 * never. Seen as api_test_shop's flash sale (about one run in a hundred): the server idle in epoll_wait,
 * requests sitting unread in their sockets, a GET with no answer after 60 s.
 *
 * The mend: a call made on the same thread, on the same epoll descriptor, right after a call that filled its
 * whole buffer does not block (timeout 0) — which is what the drain loop means to do. A 0 return is always a
 * legal answer of epoll_wait, so any other caller stays correct. The executable's definition comes first in
 * the dynamic linker's order, so libmicrohttpd's calls land here; the kernel is reached through
 * epoll_pwait(…, NULL), the same call without a signal mask (and what a sanitizer intercepts). Per-thread
 * state only: one int. http_server_start checks that the definition is the one in use (epoll_drain_active).
 * Test: tests/api/test_engine.c test_full_event_batch fills one event thread's ready list with exactly 128
 * requests while the server is stopped, and fails without this file. */
#include "http/server.h"

#include <dlfcn.h>
#include <sys/epoll.h>

static __thread int FULL_FD = -1; /* this thread's last call filled its buffer on this descriptor */

int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
    if (FULL_FD == epfd)
        timeout = 0; /* still draining a turn: never sleep with events in hand */
    int n = epoll_pwait(epfd, events, maxevents, timeout, NULL);
    FULL_FD = (n > 0 && n == maxevents) ? epfd : -1;
    return n;
}

bool epoll_drain_active(void)
{
    return dlsym(RTLD_DEFAULT, "epoll_wait") == (void *)epoll_wait;
}
