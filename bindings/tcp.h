/*
 * tcp.h — stream listeners ("xcs.listener", on a TCP port or a UNIX path)
 * and outgoing TCP connections.
 *
 * A listener opened by socket.open(PORT, "TCP") accepts clients as they come
 * and reads from all of them; listener:read() returns the next chunk any of
 * them sent with the client's connection, or "" when a client closed (its
 * connection is then closed once the reading step is over, after what was
 * written to it has been sent). listener:write(data, conn) answers one
 * client and listener:write(data, "*") every client.
 *
 * A listener opened by socket.listen(PORT [, opts]) accepts only when asked:
 * listener:accept([timeout]) returns the next connection as a handle of its
 * own (one task per connection), which outlives the listener. Until then a
 * client waits in libuv (one) and the kernel's backlog (the rest).
 *
 * socket.connect resolves a name without blocking the loop and tries each
 * address it got (IPv4 first) until one connects, within the connect
 * timeout.
 *
 * A listener on a UNIX path (bindings/unix.h) is the same listener over a
 * uv_pipe_t: its connections are UNIX stream connections, its port() is
 * its path, and closing it removes its socket file.
 */
#ifndef XCS_TCP_H
#define XCS_TCP_H

#include "bindings/handle.h"
#include "bindings/stream.h"
#include "bindings/unix.h"

struct xcs_listener {
  xcs_handle h;
  xcs_binding binding; /* its port or path, for a reload (handle.h) */
  union {             /* a uv_tcp_t, or a uv_pipe_t if is_unix */
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } io;
  int is_unix;
  xcs_unix_file file; /* is_unix: the socket file it bound */
  xcs_list clients;   /* xcs_conn.peers */
  xcs_list ready;     /* xcs_conn.ready: clients with data or news to read */
  int nclients;
  int port;
  int listening;      /* bound and listening: worth a log line on close */
  int stopped;        /* no longer accepting (the module is stopping) */
  int accepting;      /* socket.listen: the module accepts, one at a time */
  int pending;        /* a connection waits in libuv for accept() */
  int accept_err;     /* a failed accept, for the task waiting in accept() */
  xcs_conn_opts opts; /* what each accepted connection starts with */
  xcs_conn_kept *kept; /* ...and keeps, shared by all of them (stream.h) */
  xcs_gate *gate;     /* admits clients (guard.h) */
  struct xcs_tls_ctx *tls; /* TLS: each client gets a connection of it */
  double tls_timeout; /* ...and this long for its handshake */
  char addr[XCS_NAMESTRLEN]; /* "ip:port", or the path */
};

extern const xcs_handle_type xcs_listener_type;

/* The protocol l counts under in the metrics, as socket.list() names it. */
static inline int xcs_listener_proto(const xcs_listener *l) {
  return l->tls ? XCS_P_TLS : l->is_unix ? XCS_P_UNIX : XCS_P_TCP;
}

/* listener:read()'s body, for the open listener of socket.open at idx,
 * checked by the caller: pushes the next chunk a client sent (or "" for
 * one that closed) and the client, and returns 2; or waits for one, to be
 * continued by k (which calls this again), as the method itself is. */
int xcs_listener_read_at(lua_State *L, int idx, lua_KFunction k);
/* The module is stopping: its listeners close their listening sockets
 * (new clients are refused, the port is free) but keep their clients. */
void xcs_tcp_stop_accepting(xcs_module *m);
/* The same for one listener. */
void xcs_listener_stop(xcs_handle *h);
/* c's connect is over (connected, failed, or c closes): its look-up is
 * cancelled and its addresses go. No-op when none is in progress. */
void xcs_tcp_dial_end(xcs_conn *c);

/* core.tcp_listen(port | path [, opts, accepting, tls]) (tls: a table of
 * TLS options, tls_opts.h), and xcs_tcp_connect_open's. */
void xcs_tcp_open(lua_State *L);
/* core.tcp_connect(host, port [, opts, tls]) (tcp_connect.c). */
void xcs_tcp_connect_open(lua_State *L);

#endif
