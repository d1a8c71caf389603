/*
 * stream.h — a stream connection ("xcs.tcp"), over TCP or a UNIX socket:
 * what was received and not yet read, what was written and not yet sent,
 * and how it closes. Everything below holds for both; only the socket
 * options differ (nodelay and keepalive are TCP's), and close("reset") on
 * a UNIX socket drops what is queued and closes at once (there is no RST).
 *
 * Bounded both ways. Reading pauses while more than XCS_READ_HIGH bytes wait
 * to be read, or more than a framed read in progress needs (read(n) up to n,
 * "*l" up to maxline, "*a" up to maxall), so a buffer never grows past what
 * a reader asked for. A write waits (yields) while more than XCS_WRITE_HIGH
 * bytes are queued, or while its data would take the queue past the host's
 * --max-queued (guard.h), and only then queues its data, so a send timeout
 * means none of that write was queued. A write that cannot wait fails with
 * ENOBUFS rather than pass the cap.
 *
 * Reads and writes wait at most the connection's timeouts (settimeouts, or
 * a per-call argument). A timeout, the peer closing part-way or a line too
 * long leaves what arrived buffered (a framed read returns it as `partial`
 * and a retry loses nothing); any other error is sticky and releases the
 * socket at once, while the handle stays readable until closed.
 *
 * Closing is orderly: queued writes are flushed, FIN is sent, and what the
 * peer still sends is read and dropped until its FIN (so the close never
 * turns into a reset), all within the host's linger deadline. close("reset")
 * aborts instead: queued data is dropped and the peer gets RST.
 */
#ifndef XCS_STREAM_H
#define XCS_STREAM_H

#include <stdint.h>
#include <uv.h>

#include "bindings/addr.h"
#include "bindings/faults.h"
#include "bindings/guard.h"
#include "bindings/handle.h"

#define XCS_READ_HIGH (256 * 1024)
#define XCS_WRITE_HIGH (1024 * 1024)

/* Defaults of the per-connection settings (seconds, bytes). */
#define XCS_CONNECT_TIMEOUT 10.0
#define XCS_SEND_TIMEOUT 60.0
#define XCS_READ_TIMEOUT 60.0
#define XCS_MAXLINE (64 * 1024)
#define XCS_MAXALL (16 * 1024 * 1024)

/* Room for an address ("[ip]:port", XCS_ADDRSTRLEN) or a UNIX path
 * (sun_path), with its NUL. */
#define XCS_NAMESTRLEN 112
/* What a UNIX socket that bound no path is called (peer() of a client). */
#define XCS_UNNAMED "(unnamed)"

typedef struct xcs_listener xcs_listener;
typedef struct xcs_dial xcs_dial;
typedef struct xcs_client xcs_client;
typedef struct xcs_conn xcs_conn;

/* A layer between the socket and the stream's buffers (TLS: tls_stream.h).
 * Without one, bytes go straight between the socket and the buffers. */
typedef struct xcs_transport {
  const char *name;  /* the protocol socket.list() shows: "TLS" */
  /* The socket connected (xcs_conn_started). */
  void (*start)(xcs_conn *c);
  /* What the socket read (past --delay): data, or UV_EOF or an error. The
   * layer hands data on with xcs_conn_deliver and the end with
   * xcs_conn_end. */
  void (*input)(xcs_conn *c, ssize_t nread, const char *data);
  /* The module's data, for xcs_conn_send. 0 or an error. */
  int (*queue)(xcs_conn *c, const char *data, size_t n);
  /* FIN is about to be sent. */
  void (*shutdown)(xcs_conn *c);
  /* Pushes nil, msg, code for one of its own error codes and returns 3,
   * or returns 0 for a code that is not its own. */
  int (*push_error)(lua_State *L, xcs_conn *c, int status);
  /* The socket closes: the layer frees its state, leaving its last
   * error's words (a static string) in tr_why for push_error. */
  void (*close)(xcs_conn *c);
  /* Bytes the layer holds for c (its share of memory), shown by
   * socket.list() as memory and by ctl status. */
  size_t (*memory)(xcs_conn *c);
} xcs_transport;

/* What a connection keeps of its options once it started (the socket
 * options are the socket's from then on, and the connect timeout is
 * socket.connect's own): the timeouts and bounds its reads and writes use.
 * Timeouts < 0 mean none. A connection points at them, shared: most have
 * the defaults, or their listener's (stream_opts.c). */
typedef struct xcs_conn_kept {
  double send_timeout, read_timeout;
  size_t maxline, maxall;
} xcs_conn_kept;

/* What a connection is set up with: socket.connect's and socket.listen's
 * options, settimeouts and setoption. */
typedef struct xcs_conn_opts {
  xcs_conn_kept kept;
  int nodelay;
  int keepalive;       /* seconds of idle before probes; 0: off */
  int sndbuf, rcvbuf;  /* bytes; 0: the system's default */
} xcs_conn_opts;

/* What a connection received and the module has not read, and what a
 * read waits for: made only while there is any (stream_rx.c). */
typedef struct xcs_rx {
  char *buf;      /* buf[off, off + len); borrowed: still in the read buffer */
  size_t off, len, cap;
  size_t scan;    /* bytes of buf known to hold no delimiter */
  size_t want;    /* a framed read's buffer needs: pause reading past it */
  size_t need;    /* wake the reader once len reaches this */
} xcs_rx;

struct xcs_conn {
  xcs_handle h;
  xcs_list ready;        /* owner's queue of clients with something to read,
                            or accept()'s of connections to hand out */
  union {                /* what only some connections have (is_client and
                            draining tell): */
    xcs_dial *dial;      /* a connect in progress: its look-up, the addresses
                            to try (tcp.c); NULL once connected */
    xcs_client *client;  /* a port-keyed listener's client: its place among
                            the listener's clients (below) */
    struct xcs_conn_linger *linger; /* closed, flushing: its deadline (stream.c);
                            the close ended the others */
  };
  xcs_conn_kept *opts;   /* shared: read here, changed by xcs_conn_keep */
  xcs_guard_slot guard;  /* admitted by a listener's gate (guard.h) */
  xcs_rx *rx;            /* received, not yet read (stream_rx.c); NULL: nothing,
                            and a read waits (if one does) for any byte */
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
  unsigned drain_hold : 1; /* draining after close holds the struct (core/life.h) */
  unsigned recycling : 1; /* closing the socket of a failed connect attempt */
  unsigned released : 1; /* socket closed after an error; the handle lives on */
  unsigned reset : 1;    /* close with RST */
  unsigned is_unix : 1;  /* a UNIX stream socket */
  unsigned borrowed : 1; /* rx->buf is not ours: xcs_rx_keep copies what is left */
  unsigned lent : 1;     /* rx is on the stack of the delivery (stream_rx.c) */
  unsigned flushing : 1; /* wake the writer once nothing is queued (else once
                            XCS_WRITE_HIGH bytes or fewer are) */
  unsigned v4_names : 1; /* names are the IPv4 addresses below */
  unsigned handshaking : 1; /* the transport's handshake is not done yet */
  unsigned delayed : 1;  /* an xcs_conn_delayed: --delay holds data back */
  unsigned tr_open : 1;  /* tr_data is the transport's state (else tr_why) */
  unsigned is_client : 1; /* client, not dial: a port-keyed listener's client */
  union {
    struct {                        /* v4_names: */
      uint32_t local_ip, peer_ip;     /* ...in network order: text when asked */
      uint16_t local_port, peer_port; /* ...and host order */
    };
    char *names;         /* else "local\0peer\0" (stream.c), or NULL: both "?" */
  };
  const xcs_transport *tr; /* a layer under the stream (TLS), or NULL */
  union {
    void *tr_data;         /* ...and its state, while tr_open (until the
                              socket closes) */
    const char *tr_why;    /* ...and then the words of its error */
  };
  /* Last: a TCP connection's struct ends with its uv_tcp_t, sparing it the
   * larger uv_pipe_t's bytes (xcs_conn_new). */
  union {               /* the socket: a uv_tcp_t, or a uv_pipe_t if is_unix */
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } io;
};

/* What a port-keyed listener's client has beyond a connection, made as the
 * listener takes it (tcp.c): no other connection carries it. */
struct xcs_client {
  xcs_listener *owner;   /* the listener, until it let go (xcs_conn_owner) */
  xcs_list peers;        /* owner's clients */
  xcs_deferred deferred; /* its close waits for the module's step to end */
};

/* What this layer tells the one above it (tcp.c) of a connection, through
 * hooks it sets once (xcs_tcp_open), so nothing here includes it:
 *   ready     a port-keyed client has something to read (or news of its
 *             end): queue it for its listener's reader, woken now or, when
 *             now is 0, on the loop's next turn;
 *   forget    such a client closes: it is no client of its listener now;
 *   dial_end  a connect is over, or its connection closes: the look-up is
 *             cancelled and the dial record goes (no-op when none);
 *   methods   adds the methods of the layers above (TLS's starttls and
 *             tlsinfo, at most XCS_CONN_MORE_METHODS) to the table of the
 *             connection class as a state makes it (stack: methods). */
typedef struct xcs_conn_hooks {
  void (*ready)(xcs_conn *c, int now);
  void (*forget)(xcs_conn *c);
  void (*dial_end)(xcs_conn *c);
  void (*methods)(lua_State *L);
} xcs_conn_hooks;
#define XCS_CONN_MORE_METHODS 2
void xcs_conn_set_hooks(const xcs_conn_hooks *hooks);

/* The port-keyed listener c came from, or NULL. */
static inline xcs_listener *xcs_conn_owner(const xcs_conn *c) {
  return c->is_client ? c->client->owner : NULL;
}

/* The connection whose client record holds n, a node of a listener's
 * clients. */
static inline xcs_conn *xcs_client_conn(xcs_list *n) {
  return (xcs_conn *)xcs_container_of(n, xcs_client, peers)->deferred.h;
}

/* Under --delay a connection's struct carries its inflow (the data held
 * back before it counts as read) after it; every other connection is
 * spared those bytes. */
typedef struct xcs_conn_delayed {
  xcs_conn c;
  xcs_inflow in;
} xcs_conn_delayed;

/* c's inflow, or NULL when nothing is held back (no --delay). */
static inline xcs_inflow *xcs_conn_inflow(xcs_conn *c) {
  return c->delayed ? &((xcs_conn_delayed *)c)->in : NULL;
}
/* Bytes --delay holds back for c. */
static inline size_t xcs_conn_held(xcs_conn *c) {
  return c->delayed ? ((xcs_conn_delayed *)c)->in.bytes : 0;
}

extern const xcs_handle_type xcs_conn_type;

/* The protocol c's bytes count under in the metrics (XCS_P_*, stats.h), as
 * socket.list() names it: TLS once a TLS layer is under the stream. */
static inline int xcs_conn_proto(const xcs_conn *c) {
  return c->tr ? XCS_P_TLS : c->is_unix ? XCS_P_UNIX : XCS_P_TCP;
}

/* A new, unconnected connection of m with default settings, over TCP or
 * (is_unix) a UNIX socket; pushes its box. */
xcs_conn *xcs_conn_new(lua_State *L, xcs_module *m, int is_unix);
/* Its local and remote address ("ip:port", "[ip]:port" or a UNIX name),
 * "?" while unknown; kept until the handle is closed, so they answer after
 * an error released the socket. An IPv4 pair is kept as numbers and
 * formatted into a buffer of each function's own: the text is good until
 * the next call of the same function. */
const char *xcs_conn_local(const xcs_conn *c);
const char *xcs_conn_peer(const xcs_conn *c);
/* Notes them (NULL: keeps that one); on out of memory they stay as they were. */
void xcs_conn_name(xcs_conn *c, const char *local, const char *peer);
/* Connected (accepted, or connect succeeded): note addresses (peer: the
 * peer's, when the caller asked the socket already; NULL: ask), apply the
 * socket options of o (NULL: the defaults), start reading. */
void xcs_conn_started(xcs_conn *c, const xcs_conn_opts *o, const struct sockaddr *peer);
/* Queues the string at idx; 0 or a libuv error. Never waits. */
int xcs_conn_queue(xcs_conn *c, lua_State *L, int idx);
/* The host ends c (guard.c: a client that dawdled): its reads and writes
 * fail with status from now on, and a port-keyed read returns "" for it as
 * if the peer had closed. The socket closes with the handle. */
void xcs_conn_expire(xcs_conn *c, int status);
/* For a transport: data, decrypted, counts as received. */
void xcs_conn_deliver(xcs_conn *c, const char *data, size_t n);
/* For a transport: the stream ends with UV_EOF or an error (once). */
void xcs_conn_end(xcs_conn *c, int status);
/* For a transport: n bytes for the socket, `plain` of them the module's
 * (counted as queued until sent). Copied. 0 or a libuv error. */
int xcs_conn_send(xcs_conn *c, const char *data, size_t n, size_t plain);
/* Pushes nil, msg, code for status as c's transport or libuv words it. */
int xcs_conn_push_error(lua_State *L, xcs_conn *c, int status);
/* The host is short of descriptors and sheds c (guard.c): its socket
 * closes now; a port-keyed read returns "" for it, and its other reads and
 * writes fail with ECONNABORTED. Wakes nobody before the next turn. */
void xcs_conn_shed(xcs_conn *c);
/* Pushes everything buffered and returns 1, or returns 0 if nothing is. */
int xcs_conn_take(lua_State *L, xcs_conn *c);
/* conn:write's body for the open connection at index 1 and the string at 2
 * (and an optional timeout at 3), both checked by the caller. */
int xcs_conn_write(lua_State *L);

void xcs_conn_opts_default(xcs_conn_opts *o);
/* Kept options to share: the defaults (k NULL, or equal to them: never
 * freed), else a counted copy of k; NULL when out of memory. */
xcs_conn_kept *xcs_kept_make(const xcs_conn_kept *k);
/* One more holder of k, which it gives back with xcs_kept_drop. */
xcs_conn_kept *xcs_kept_share(xcs_conn_kept *k);
void xcs_kept_drop(xcs_conn_kept *k);
/* c keeps k from now on (copied, if c shares what it had); 0 or UV_ENOMEM
 * (then c keeps what it had). */
int xcs_conn_keep(xcs_conn *c, const xcs_conn_kept *k);
/* Reads the options table at idx (nil: none) into *o, raising naming fname
 * on an unknown name or a bad value. Connections take "nodelay",
 * "keepalive", "sndbuf", "rcvbuf", "maxline", "maxall", "read_timeout" and
 * "send_timeout"; with backlog NULL (socket.connect) also "timeout" (into
 * *timeout, seconds or -1), else (socket.listen) "backlog" and "reuseaddr". */
void xcs_conn_opts_read(lua_State *L, int idx, const char *fname, xcs_conn_opts *o,
                        int *backlog, double *timeout);
/* A per-call timeout argument: seconds at idx, dflt when nil; math.huge
 * means none (-1). Raises an argument error otherwise. */
double xcs_timeout_arg(lua_State *L, int idx, double dflt);
/* The loop time (ms) `seconds` from now, or -1 for none. */
double xcs_deadline(xcs_module *m, double seconds);
/* Waits in slot as xcs_task_park, until the deadline from xcs_deadline;
 * k is called with ctx 1 (a continuation). */
int xcs_wait_until(lua_State *L, xcs_task **slot, lua_KFunction k, double deadline);
/* In a continuation: whether the deadline passed (or woke the task). */
int xcs_timed_out(lua_State *L, double deadline);

/* Closes a connection with a reset (RST: its peer knows it was cut), what
 * is queued dropped; any other handle is left alone. */
void xcs_conn_reset(xcs_handle *h);

/* Between the parts of a stream (stream.c, stream_read.c, stream_opts.c,
 * stream_names.c, stream_rx.c). */

/* The connection a method is called on (argument 1), or raises. */
static inline xcs_conn *xcs_conn_check(lua_State *L) {
  return (xcs_conn *)xcs_handle_check(L, 1, &xcs_conn_type);
}
/* The buffered bytes (never a null pointer, even when empty). */
const char *xcs_conn_data(const xcs_conn *c);
/* Drops the first n buffered bytes, which a read has just returned, and
 * reads on if reading was paused. */
void xcs_conn_consume(xcs_conn *c, size_t n);
/* Reads from the socket, unless the buffer is at its high mark (or the
 * connection cannot). */
void xcs_conn_start_reading(xcs_conn *c);
/* The read methods (stream_read.c); xcs_conn_push_read pushes read as the
 * class has it, with its cache of short strings. */
int xcs_conn_read(lua_State *L);
int xcs_conn_readany(lua_State *L);
int xcs_conn_readuntil(lua_State *L);
void xcs_conn_push_read(lua_State *L);
/* Sends FIN after everything queued; 0 or a libuv error. */
int xcs_conn_send_fin(xcs_conn *c);
/* The write methods but write itself (stream_write.c). */
int xcs_conn_trywrite(lua_State *L);
int xcs_conn_buffered_method(lua_State *L);
int xcs_conn_flush(lua_State *L);
int xcs_conn_shutdown(lua_State *L);
int xcs_conn_write_method(lua_State *L);

/* nil, msg, code for c's sticky error [, what is buffered if partial],
 * and the socket released; what a failed call returns. */
int xcs_conn_fail(lua_State *L, xcs_conn *c, int partial);
/* Applies o's socket options to the connected socket: all (only NULL), as
 * it starts, or the one setoption changed. 0 or the first libuv error. */
int xcs_conn_apply_options(xcs_conn *c, const xcs_conn_opts *o, const char *only);
/* Notes the addresses of a socket that just connected (known: the peer's,
 * as for xcs_conn_started). */
void xcs_conn_note_names(xcs_conn *c, const struct sockaddr *known);
/* Bytes received and not yet read. */
static inline size_t xcs_conn_buffered(const xcs_conn *c) { return c->rx ? c->rx->len : 0; }
/* The receive buffer (stream_rx.c). c's record, made if need be; NULL when
 * out of memory. */
xcs_rx *xcs_rx_own(xcs_conn *c);
/* A read waits for need bytes (want in the buffer, scan of them looked
 * at): noted in c's record, made only if they are not any byte's; 0 or
 * UV_ENOMEM. */
int xcs_rx_wait(xcs_conn *c, size_t need, size_t want, size_t scan);
/* n bytes at p arrive; borrowed, with *lent for a record if c has none, until
 * xcs_rx_keep (before the caller returns). 0 or UV_ENOMEM. */
int xcs_rx_append(xcs_conn *c, const char *p, size_t n, xcs_rx *lent);
/* Copies what is borrowed and left unread; 0 or UV_ENOMEM (it is lost). */
int xcs_rx_keep(xcs_conn *c);
/* Drops everything buffered; the record goes unless a read waits. */
void xcs_rx_release(xcs_conn *c);
/* ...and the record, whatever waits (the handle closes). */
void xcs_rx_free(xcs_conn *c);
/* Frees the names' text block, if they have one (closing). */
void xcs_conn_free_names(xcs_conn *c);
/* The methods setoption, settimeouts, address, peer and port. */
int xcs_conn_setoption(lua_State *L);
int xcs_conn_settimeouts(lua_State *L);
int xcs_conn_address(lua_State *L);
int xcs_conn_peer_method(lua_State *L);
int xcs_conn_port(lua_State *L);

#endif
