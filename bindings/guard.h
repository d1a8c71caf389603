/*
 * guard.h — defence of the host against clients that flood or dawdle: who
 * may connect, how long a silent client may stay, and one log line per kind
 * of event and interval rather than one per packet.
 *
 * Every TCP listener has a gate. A client is accepted first (its address is
 * only known then) and admitted by the gate. By default the gate refuses
 * only when file descriptors run short (the host's RLIMIT_NOFILE less a
 * reserve): then the address holding the most connections across the host
 * gives one up (one that sent nothing among its oldest, else its oldest),
 * unless the newcomer's own address holds the most, and then the newcomer
 * is refused. An address with a handful of connections is never refused
 * because another floods. Hard limits, off unless the operator sets them,
 * close a client at once when it would pass
 *   - the listener's most clients open at once (--max-clients),
 *   - the most connections open at once from the client's address, across
 *     the whole host (--max-per-address; an IPv6 address counts by its /64,
 *     which one machine usually has whole),
 *   - the listener's accept rate, a token bucket (--accept-rate, with
 *     --accept-burst tokens). Only clients admitted otherwise take a token,
 *     so an address over its limit cannot use up the rate of the others.
 * Excess clients are accepted and closed rather than left in the backlog: a
 * full backlog would make every client wait, the good ones included.
 *
 * When --first-data-timeout or --idle-timeout is set, a client of a
 * socket.open listener (no framing, so no per-read timeout) is ended when
 * no byte passed either way within --first-data-timeout of connecting, or
 * within --idle-timeout of the last one: the module reads ""
 * for it, as if it had closed, and the host then closes it. Data the module
 * has not read yet keeps a client alive: then the module is the slow one.
 * Connections of socket.listen have their own read timeouts.
 *
 * Bytes queued toward one connection are capped (--max-queued): a write that
 * cannot wait and would pass the cap fails with ENOBUFS (a "*" broadcast
 * drops that client instead).
 *
 * A connection from a source in --proxy-protocol-from (or to a listener
 * with proxy_protocol) is admitted only once its PROXY protocol header has
 * come (proxied.h), under the address the header gives.
 *
 * The first event of a kind on a listener (a refusal, a client ended, a
 * failed accept) is logged at once; the next ones are counted and summed
 * up every --report-interval seconds:
 *     echo: refused 1234 connections from 127.0.0.1 to 127.0.0.1:7000 over
 *     the per-address limit (64) in the last 5 s
 */
#ifndef XCS_GUARD_H
#define XCS_GUARD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "bindings/list.h"
#include "bindings/core/module.h"

typedef struct xcs_gate xcs_gate;
typedef struct xcs_peer xcs_peer;

/* A connection's place in the defence; zero (not admitted) until a gate
 * admits it. Lives in the connection (xcs_conn.guard). */
typedef struct xcs_guard_slot {
  xcs_gate *gate;      /* the listener's gate that admitted it, or NULL */
  xcs_peer *peer;      /* its address's count, or NULL */
  xcs_list by_peer;    /* its address's connections (xcs_peer.conns) */
  struct xcs_watched *watched; /* under the idle watch (a port-keyed client:
                                  guard.c), or NULL */
  struct xcs_proxied *wait; /* its PROXY header is awaited (proxied.h) */
} xcs_guard_slot;

/* A gate for the listener of m at addr; watch: its clients are port-keyed
 * (socket.open) and under the idle watch. NULL when out of memory. */
xcs_gate *xcs_gate_new(xcs_module *m, const char *addr, int watch);
/* Connections to the listener must begin with a PROXY protocol header
 * (socket.listen's proxy_protocol option), whatever their source. */
void xcs_gate_expect_proxy(xcs_gate *g);
/* Whether a connection from peer must begin with one: the listener says
 * so, or peer is in --proxy-protocol-from. */
int xcs_gate_expects_header(xcs_gate *g, const struct sockaddr *peer);
/* Seconds a header may take: --first-data-timeout, or 10 when that is off. */
double xcs_gate_header_timeout(xcs_gate *g);
/* A header is awaited at link (held until unhold), or was bad: from (the
 * "ip:port" it came from) and why, for the log. */
void xcs_gate_hold(xcs_gate *g, xcs_list *link);
void xcs_gate_unhold(xcs_gate *g);
void xcs_gate_bad_header(xcs_gate *g, const char *from, const char *why);
/* The listener closes: the gate goes once its last client has too. */
void xcs_gate_release(xcs_gate *g);
/* Whether the listener holds its most clients: the refusal is counted, so
 * the caller refuses the next connection without accepting it into a
 * connection of its own. */
int xcs_gate_full(xcs_gate *g);
/* Admits the just-accepted connection whose slot is s and peer is `peer`:
 * 1, or 0 after counting the refusal (the caller closes it at once). */
int xcs_guard_admit(xcs_gate *g, xcs_guard_slot *s, const struct sockaddr *peer);
/* The connection closes: it no longer counts. Idempotent. */
void xcs_guard_leave(xcs_guard_slot *s);

/* Whether queueing len more bytes to a connection with `queued` bytes
 * queued would pass --max-queued. A connection with nothing queued always
 * takes a write, so every write can be sent somehow. */
int xcs_guard_over_queue(xcs_host *h, size_t queued, size_t len);
/* Accepting a client failed (EMFILE: out of descriptors, say). */
void xcs_gate_accept_failed(xcs_gate *g, int status);
/* A broadcast dropped a client of g's listener that stopped reading. */
void xcs_gate_dropped(xcs_gate *g, const char *peer);
/* A TLS client of g's listener was refused: too many handshakes were in
 * progress. */
void xcs_gate_tls_busy(xcs_gate *g, const char *peer);
/* A port-keyed TLS client failed its handshake (the module never saw it). */
void xcs_gate_tls_failed(xcs_gate *g, const char *peer);

void xcs_guard_options_default(xcs_guard_options *o);
/* The host closes: what the guard kept for it goes. */
void xcs_guard_free(xcs_host *h);
/* Reads the guard options present in the table at idx (max_clients,
 * max_per_address, accept_rate, accept_burst, first_data_timeout,
 * idle_timeout, max_queued, report_interval) into o; raises naming fname. */
void xcs_guard_options_read(lua_State *L, int idx, const char *fname, xcs_guard_options *o);

#endif
