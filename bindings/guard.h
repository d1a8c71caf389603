/*
 * guard.h — defence of the host against clients that flood or dawdle: who
 * may connect, how long a silent client may stay, and one log line per kind
 * of event and interval rather than one per packet.
 *
 * Every TCP listener has a gate. A client is accepted first (its address is
 * only known then) and admitted by the gate, or closed at once when that
 * would pass
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
 * A client of a socket.open listener (no framing, so no per-read timeout)
 * is ended when no byte passed either way within --first-data-timeout of
 * connecting, or within --idle-timeout of the last one: the module reads ""
 * for it, as if it had closed, and the host then closes it. Data the module
 * has not read yet keeps a client alive: then the module is the slow one.
 * Connections of socket.listen have their own read timeouts.
 *
 * Bytes queued toward one connection are capped (--max-queued): a write that
 * cannot wait and would pass the cap fails with ENOBUFS (a "*" broadcast
 * drops that client instead).
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
  xcs_list watched;    /* gate's clients under the idle watch */
  uint64_t seen;       /* bytes in and out at the last look */
  uint64_t since;      /* uv_now (ms) when they last changed, or it connected */
  int active;          /* a byte passed since it connected */
} xcs_guard_slot;

/* A gate for the listener of m at addr; watch: its clients are port-keyed
 * (socket.open) and under the idle watch. NULL when out of memory. */
xcs_gate *xcs_gate_new(xcs_module *m, const char *addr, int watch);
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

void xcs_guard_options_default(xcs_guard_options *o);
/* Reads the guard options present in the table at idx (max_clients,
 * max_per_address, accept_rate, accept_burst, first_data_timeout,
 * idle_timeout, max_queued, report_interval) into o; raises naming fname. */
void xcs_guard_options_read(lua_State *L, int idx, const char *fname, xcs_guard_options *o);

#endif
