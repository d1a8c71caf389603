/*
 * proxied.h — a new connection from a load balancer, before the module
 * sees it: its PROXY protocol header (proxy.h) is read off the socket, and
 * only then is the connection handed on, with the client's address the
 * header gave.
 *
 * The header is read with MSG_PEEK and only its own bytes are taken from
 * the socket, so the first bytes of the client's data stay there for the
 * connection to read as usual. A header that is not valid, or does not come
 * within the timeout, or a connection that ends first, closes the
 * connection with one log line (summed up per interval, guard.c).
 */
#ifndef XCS_PROXIED_H
#define XCS_PROXIED_H

#include <sys/socket.h>

#include "bindings/guard.h"
#include "bindings/stream.h"

/* The header came: addr is the client's (or c's own peer, for a LOCAL or
 * UNKNOWN header). */
typedef void (*xcs_proxied_done)(void *ud, xcs_conn *c, const struct sockaddr *addr);

/* Starts waiting for the header of c, which came from `from`, for gate g;
 * done(ud, c, addr) runs when it came. 0, or a libuv error (then nothing
 * was started). */
int xcs_proxied_start(xcs_gate *g, xcs_conn *c, const struct sockaddr *from, xcs_proxied_done done,
                      void *ud);
/* c closes while its header is awaited: the wait ends, done is not called. */
void xcs_proxied_cancel(struct xcs_proxied *w);
/* The gate's listener closes: the connection whose wait is linked at link
 * (xcs_gate.waiting) closes too. */
void xcs_proxied_abort(xcs_list *link);

#endif
