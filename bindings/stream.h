/*
 * stream.h — a TCP connection ("xcs.tcp"): what was received and not yet
 * read, what was written and not yet sent, and how it closes.
 *
 * Bounded both ways: reading stops while more than XCS_READ_HIGH bytes wait
 * to be read, and a write waits (yields) while more than XCS_WRITE_HIGH bytes
 * are queued. Closing is orderly: queued writes are flushed, FIN is sent, and
 * what the peer still sends is read and dropped until its FIN (so the close
 * never turns into a reset), all within the host's linger deadline.
 */
#ifndef XCS_STREAM_H
#define XCS_STREAM_H

#include <stdint.h>
#include <uv.h>

#include "bindings/addr.h"
#include "bindings/faults.h"
#include "bindings/handle.h"

#define XCS_READ_HIGH (256 * 1024)
#define XCS_WRITE_HIGH (1024 * 1024)
/* A broadcast never waits, so a client that stops reading is dropped once
 * this much is queued to it rather than holding memory without bound. */
#define XCS_WRITE_CAP (16 * 1024 * 1024)

typedef struct xcs_listener xcs_listener;
typedef struct xcs_resolve xcs_resolve;

typedef struct xcs_conn {
  xcs_handle h;
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_shutdown_t shutdown;
  xcs_listener *owner;   /* the port-keyed listener it came from, or NULL */
  xcs_list peers;        /* owner's clients */
  xcs_list ready;        /* owner's queue of clients with something to read */
  xcs_resolve *resolve;  /* name look-up in flight for a connect */
  xcs_linger linger;
  xcs_inflow in;         /* --delay: data held back before it counts as read */
  char *buf;             /* received, not yet read: buf[off, off + len) */
  size_t off, len, cap;
  size_t queued;         /* bytes in writes not yet completed */
  uint64_t bytes_in, bytes_out;
  int err;               /* the first read or write error */
  unsigned eof : 1;      /* the peer sent FIN */
  unsigned eof_told : 1; /* a port-keyed read returned "" for it */
  unsigned reading : 1;
  unsigned connected : 1;
  unsigned shut : 1;     /* our FIN is queued: no more writes */
  unsigned shut_done : 1; /* ...and sent, after everything queued before it */
  unsigned draining : 1; /* closing: reads are dropped */
  unsigned uv_closed : 1;
  char local[XCS_ADDRSTRLEN], peer[XCS_ADDRSTRLEN];
} xcs_conn;

extern const xcs_handle_type xcs_conn_type;

/* A new, unconnected connection of m; pushes its box. */
xcs_conn *xcs_conn_new(lua_State *L, xcs_module *m);
/* Connected (accepted, or connect succeeded): note addresses, start reading. */
void xcs_conn_started(xcs_conn *c);
/* Queues the string at idx; 0 or a libuv error. Never waits. */
int xcs_conn_queue(xcs_conn *c, lua_State *L, int idx);
/* Pushes everything buffered and returns 1, or returns 0 if nothing is. */
int xcs_conn_take(lua_State *L, xcs_conn *c);
/* conn:write's body for the connection at index 1 and data at 2. */
int xcs_conn_write(lua_State *L);

void xcs_stream_open(lua_State *L);

#endif
