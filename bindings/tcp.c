/*
 * tcp.c — listening on a TCP port or a UNIX path: port-keyed reads over all
 * clients, or accept() one connection at a time. Connecting is
 * tcp_connect.c's.
 */
#include "bindings/tcp.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bindings/errors.h"
#include "bindings/inherit.h"
#include "bindings/proxied.h"
#include "bindings/task.h"
#include "bindings/admit.h"
#include "bindings/core/log.h"
#include "bindings/tls_opts.h"
#include "bindings/tls_stream.h"

/* What the log and socket.list() call the listener's protocol. */
static const char *proto_of(const xcs_listener *l) {
  return l->tls ? "TLS" : l->is_unix ? "UNIX" : "TCP";
}

/* "port 7000", or the path, for messages. */
static const char *where(xcs_listener *l) {
  static char buf[XCS_NAMESTRLEN + 8];
  if (l->is_unix) return l->addr;
  snprintf(buf, sizeof buf, "port %d", l->port);
  return buf;
}

/* Listeners ------------------------------------------------------------------ */

/* The stream layer's hooks (stream.h). */
static void client_ready(xcs_conn *c, int now) {
  xcs_listener *l = xcs_conn_owner(c);
  if (!xcs_list_linked(&c->ready)) xcs_list_push(&l->ready, &c->ready);
  if (now)
    xcs_task_wake_now(&l->h.reader, 0);
  else
    xcs_task_wake(&l->h.reader, 0);
}

static void client_forget(xcs_conn *c) {
  xcs_list_remove(&c->client->peers);
  xcs_list_remove(&c->ready);
  xcs_conn_owner(c)->nclients--;
  c->client->owner = NULL;
}

/* A TLS listener's new client c (connected) starts its handshake; 0, or it
 * is refused (too many handshakes in progress) and closed. */
static int tls_start(xcs_listener *l, xcs_conn *c) {
  int r = xcs_tls_attach(c, l->tls, NULL, l->tls_timeout);
  if (r == 0) return 0;
  if (r == XCS_TLS_EBUSY) xcs_gate_tls_busy(l->gate, xcs_conn_peer(c));
  xcs_handle_close(&c->h, 0);
  return r;
}

/* c, admitted, goes to the module: a client of a port-keyed listener, or
 * the next connection accept() returns. addr: its client's address, when a
 * PROXY header gave one; peer: the socket's peer, as admit found it. A TLS
 * listener's client starts its handshake: 0, or -1 when TLS refused it and
 * it was closed. */
static int publish(xcs_listener *l, xcs_conn *c, const struct sockaddr *addr,
                   const struct sockaddr *peer) {
  if (!l->accepting) {
    xcs_client *k = malloc(sizeof *k);
    if (k == NULL) { /* refused under real scarcity, as the gate does */
      xcs_handle_close(&c->h, 0);
      return -1;
    }
    xcs_list_init(&k->deferred.link);
    k->deferred.h = &c->h;
    k->owner = l;
    c->client = k;
    c->is_client = 1;
    xcs_list_push(&l->clients, &k->peers);
    l->nclients++;
  } else {
    c->opts = xcs_kept_share(l->kept);
  }
  xcs_conn_started(c, l->accepting ? &l->opts : NULL, peer);
  if (addr) {
    char peer[XCS_ADDRSTRLEN];
    xcs_addr_format(addr, peer, sizeof peer);
    xcs_conn_name(c, NULL, peer);
  }
  return l->tls && tls_start(l, c) != 0 ? -1 : 0;
}

/* Its PROXY header came: admitted under the address it gave, or closed. */
static void header_done(void *ud, xcs_conn *c, const struct sockaddr *addr) {
  xcs_listener *l = ud;
  if (!xcs_guard_admit(l->gate, &c->guard, addr)) {
    xcs_handle_close(&c->h, 0);
    return;
  }
  if (publish(l, c, addr, NULL) != 0) return;
  if (l->accepting) { /* accept() takes it from the ready list */
    xcs_list_push(&l->ready, &c->ready);
    xcs_task_wake(&l->h.reader, 0);
  }
}

/* Whether l's gate admits the connection c was just accepted into: 1, or
 * 0 and c is closed at once, or -1 while its PROXY header is awaited (then
 * header_done goes on). sa: the peer's address it looked at (AF_UNSPEC:
 * none, a UNIX peer or one gone already). */
static int admit(xcs_listener *l, xcs_conn *c, struct sockaddr_storage *sa) {
  int len = sizeof *sa;
  if (c->is_unix || uv_tcp_getpeername(&c->io.tcp, (struct sockaddr *)sa, &len) != 0)
    sa->ss_family = AF_UNSPEC;
  if (xcs_gate_expects_header(l->gate, (struct sockaddr *)sa)) {
    if (xcs_proxied_start(l->gate, c, (struct sockaddr *)sa, header_done, l) == 0) return -1;
  } else if (xcs_guard_admit(l->gate, &c->guard, (struct sockaddr *)sa)) {
    return 1;
  }
  xcs_handle_close(&c->h, 0);
  return 0;
}

/* Runs protected on the module's svc thread: the box needs Lua memory. */
static int accept_client(lua_State *L) {
  xcs_listener *l = lua_touserdata(L, 1);
  if (xcs_admit(l->h.m, 1, -1) != 0) {
    l->h.m->stats.admit[XCS_A_CONNECTIONS]++; /* the client is closed: refused */
    return luaL_error(L, "the module holds its limit of %d connections (--max-connections)",
                      l->h.m->host->opt.max_connections);
  }
  xcs_conn *c = xcs_conn_new(L, l->h.m, l->is_unix);
  xcs_admit_count(&c->h, 1);
  int r = uv_accept(&l->io.stream, &c->io.stream);
  if (r != 0) {
    xcs_handle_close(&c->h, 0);
    return luaL_error(L, "%s", uv_strerror(r));
  }
  l->h.m->stats.accepts[xcs_listener_proto(l)]++;
  struct sockaddr_storage sa;
  if (admit(l, c, &sa) == 1) publish(l, c, NULL, (struct sockaddr *)&sa);
  return 0;
}

static void refuse_close_cb(uv_handle_t *h) { free(h); }

/* Takes the pending connection and closes it: better a clear close for the
 * client than a connection left hanging in the backlog. */
static void refuse(xcs_listener *l) {
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } *t = malloc(sizeof *t);
  if (t == NULL) return;
  if (l->is_unix)
    uv_pipe_init(&l->h.m->host->loop, &t->pipe, 0);
  else
    uv_tcp_init(&l->h.m->host->loop, &t->tcp);
  uv_accept(&l->io.stream, (uv_stream_t *)t);
  uv_close((uv_handle_t *)t, refuse_close_cb);
}

static void connection_cb(uv_stream_t *server, int status) {
  xcs_listener *l = (xcs_listener *)server->data;
  xcs_module *m = l->h.m;
  if (l->accepting) {
    /* Left in libuv until accept() takes it: libuv stops watching the
     * socket meanwhile, so the kernel's backlog holds the rest. */
    if (status == 0)
      l->pending = 1;
    else if (l->h.reader)
      l->accept_err = status;
    else
      xcs_gate_accept_failed(l->gate, status);
    xcs_task_wake_now(&l->h.reader, 0);
    return;
  }
  if (status < 0) { /* EMFILE comes once per client libuv had to drop */
    xcs_gate_accept_failed(l->gate, status);
    return;
  }
  if (xcs_gate_full(l->gate)) { /* refused before a connection is made for it */
    refuse(l);
    return;
  }
  const char *err = m->host->mgr->pcall(m, accept_client, l);
  if (err) {
    xcs_log_at(m->host, XCS_LOG_ERROR, m->name, "cannot accept a client on %s: %s", l->addr, err);
    if (!l->h.closing) refuse(l);
  }
}

static void listener_close(xcs_handle *h, int graceful) {
  xcs_listener *l = (xcs_listener *)h;
  xcs_module *m = h->m;
  if (l->listening)
    xcs_log_socket(m->host, m->name, "close", l->addr, NULL, proto_of(l), "closed %s (%s)", l->addr,
                   proto_of(l));
  if (l->is_unix) xcs_unix_release(h, &l->file);
  xcs_gate_release(l->gate);
  l->gate = NULL;
  xcs_tls_ctx_unref(l->tls); /* its connections hold their own */
  l->tls = NULL;
  xcs_kept_drop(l->kept); /* ...as they do of these */
  l->kept = NULL;
  xcs_list *n;
  while ((n = l->clients.next) != &l->clients)
    xcs_handle_close(&xcs_client_conn(n)->h, graceful);
  while ((n = xcs_list_shift(&l->ready)) != NULL) /* accept() never took them */
    xcs_handle_close(&xcs_container_of(n, xcs_conn, ready)->h, 0);
  if (!l->stopped) xcs_handle_uv_close(h, &l->io.handle); /* else closed already */
}

void xcs_listener_stop(xcs_handle *h) {
  xcs_listener *l = (xcs_listener *)h;
  if (h->type != &xcs_listener_type || h->closing || l->stopped) return;
  /* Closing the libuv handle frees the port; the handle's own hold keeps
   * the struct for its clients until h closes. */
  l->stopped = 1;
  l->binding.bound = NULL;
  xcs_handle_uv_close(h, &l->io.handle);
  if (l->is_unix) xcs_unix_release(h, &l->file); /* nobody answers there now */
  xcs_log_socket(h->m->host, h->m->name, "stop_accepting", l->addr, NULL, proto_of(l),
                 "stopped accepting on %s (%s)", l->addr, proto_of(l));
}

void xcs_tcp_stop_accepting(xcs_module *m) {
  for (xcs_list *n = m->handles.next; n != &m->handles; n = n->next)
    xcs_listener_stop(xcs_container_of(n, xcs_handle, link));
}

static void listener_describe(xcs_handle *h, char *buf, size_t size) {
  xcs_listener *l = (xcs_listener *)h;
  if (l->accepting)
    snprintf(buf, size, "%s (listening, accept)", l->addr);
  else
    snprintf(buf, size, "%s (listening, %d client%s)", l->addr, l->nclients,
             l->nclients == 1 ? "" : "s");
}

int xcs_listener_read_at(lua_State *L, int idx, lua_KFunction k) {
  xcs_listener *l = (xcs_listener *)xcs_handle_again(L, idx);
  if (l == NULL) return xcs_push_closed(L, "the socket was closed");
  xcs_list *n;
  while ((n = xcs_list_shift(&l->ready)) != NULL) {
    xcs_conn *c = xcs_container_of(n, xcs_conn, ready);
    if (xcs_conn_take(L, c)) {
      if (c->eof || c->err) xcs_list_push(&l->ready, &c->ready); /* "" next */
      xcs_handle_push(L, &c->h);
      return 2;
    }
    if ((c->eof || c->err) && !c->eof_told) {
      c->eof_told = 1;
      lua_pushliteral(L, "");
      xcs_handle_push(L, &c->h);
      xcs_handle_defer_close(&c->h, &c->client->deferred);
      return 2;
    }
  }
  if (l->h.reader)
    return xcs_raise_at_caller(L, "read: socket busy reading (another task is reading %s)",
                               where(l));
  xcs_task_check(L, "read");
  return xcs_task_park(L, &l->h.reader, -1, k, 0);
}

static int listener_read_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  return xcs_listener_read_at(L, 1, listener_read_k);
}

static int listener_read(lua_State *L) {
  xcs_listener *l = (xcs_listener *)xcs_handle_check(L, 1, &xcs_listener_type);
  if (l->accepting)
    return xcs_raise_at_caller(L, "read: this listener (socket.listen) hands out "
                                  "connections: use accept() and read from them");
  return listener_read_k(L, LUA_OK, 0);
}

/* listener:accept([timeout]) -> conn | nil, err, code. Stack: listener,
 * deadline (the seconds until the first wait). */
static int accept_k(lua_State *L, int status, lua_KContext again) {
  (void)status;
  xcs_listener *l = (xcs_listener *)xcs_handle_again(L, 1);
  if (l == NULL) return xcs_push_closed(L, "the socket was closed");
  xcs_list *n = xcs_list_shift(&l->ready); /* its PROXY header came */
  if (n != NULL) {
    xcs_handle_push(L, &xcs_container_of(n, xcs_conn, ready)->h);
    return 1;
  }
  if (l->pending) {
    if (xcs_admit(l->h.m, 1, -1) != 0) { /* it waits in the backlog */
      lua_pushnil(L);
      lua_pushfstring(L, "EMFILE: the module holds its limit of %d connections "
                         "(--max-connections)", l->h.m->host->opt.max_connections);
      lua_pushliteral(L, "EMFILE");
      return 3;
    }
    xcs_conn *c = xcs_conn_new(L, l->h.m, l->is_unix); /* 3 */
    xcs_admit_count(&c->h, 1);
    l->pending = 0;
    int r = uv_accept(&l->io.stream, &c->io.stream);
    if (r == 0) l->h.m->stats.accepts[xcs_listener_proto(l)]++;
    if (r != 0) {
      xcs_handle_close(&c->h, 0);
      return xcs_push_fail(L, r);
    }
    struct sockaddr_storage sa;
    r = admit(l, c, &sa);
    if (r == 1 && publish(l, c, NULL, (struct sockaddr *)&sa) == 0) return 1;
    lua_settop(L, 2); /* refused, or its PROXY header is awaited: wait on */
  }
  if (l->accept_err) {
    int err = l->accept_err;
    l->accept_err = 0;
    return xcs_push_fail(L, err);
  }
  double deadline = lua_tonumber(L, 2);
  if (again && xcs_timed_out(L, deadline))
    return xcs_push_failf(L, UV_ETIMEDOUT, "accept timed out");
  if (!again) {
    if (l->h.reader)
      return xcs_raise_at_caller(L, "accept: socket busy (another task is accepting on %s)",
                                 where(l));
    xcs_task_check(L, "accept");
    deadline = xcs_deadline(l->h.m, deadline); /* slot 2 held the seconds */
    lua_pushnumber(L, deadline);
    lua_replace(L, 2);
  }
  return xcs_wait_until(L, &l->h.reader, accept_k, deadline);
}

static int listener_accept(lua_State *L) {
  xcs_listener *l = (xcs_listener *)xcs_handle_check(L, 1, &xcs_listener_type);
  if (!l->accepting)
    return xcs_raise_at_caller(L, "accept: this listener (socket.open) accepts clients by "
                                  "itself and reads from all of them; use socket.listen to "
                                  "accept");
  double secs = xcs_timeout_arg(L, 2, -1);
  lua_settop(L, 1);
  lua_pushnumber(L, secs);
  return accept_k(L, LUA_OK, 0);
}

static int broadcast(lua_State *L, xcs_listener *l) {
  int sent = 0;
  xcs_list *n, *next;
  for (n = l->clients.next; n != &l->clients; n = next) {
    next = n->next;
    xcs_conn *c = xcs_client_conn(n);
    if (c->eof_told) continue;
    /* A broadcast never waits: a client it would queue too much to has
     * stopped reading, and is dropped rather than hold memory. */
    if (xcs_guard_over_queue(l->h.m->host, c->queued, lua_rawlen(L, 2))) {
      xcs_gate_dropped(l->gate, xcs_conn_peer(c));
      xcs_handle_close(&c->h, 0);
      continue;
    }
    if (xcs_conn_queue(c, L, 2) != 0) continue;
    sent++;
  }
  lua_pushinteger(L, sent);
  return 1;
}

/* listener:write(data, to): to is a client connection, or "*" for all. */
static int listener_write(lua_State *L) {
  xcs_listener *l = (xcs_listener *)xcs_handle_check(L, 1, &xcs_listener_type);
  luaL_checktype(L, 2, LUA_TSTRING);
  if (lua_type(L, 3) == LUA_TSTRING && strcmp(lua_tostring(L, 3), "*") == 0)
    return broadcast(L, l);
  xcs_conn *c = (xcs_conn *)xcs_handle_get(L, 3, &xcs_conn_type);
  if (c == NULL) return xcs_push_closed(L, "that client has gone");
  if (xcs_conn_owner(c) != l) return luaL_argerror(L, 3, "not a client of this port");
  lua_copy(L, 3, 1); /* conn, data: the shape xcs_conn_write takes */
  lua_settop(L, 2);
  return xcs_conn_write(L);
}

/* The port, or for a UNIX listener its path: what the port-keyed calls take. */
static int listener_port(lua_State *L) {
  xcs_listener *l = (xcs_listener *)xcs_handle_check(L, 1, &xcs_listener_type);
  if (l->is_unix)
    lua_pushstring(L, l->addr);
  else
    lua_pushinteger(L, l->port);
  return 1;
}

static int listener_address(lua_State *L) {
  lua_pushstring(L, ((xcs_listener *)xcs_handle_check(L, 1, &xcs_listener_type))->addr);
  return 1;
}

static int listener_clients(lua_State *L) {
  xcs_listener *l = (xcs_listener *)xcs_handle_check(L, 1, &xcs_listener_type);
  lua_createtable(L, l->nclients, 0);
  int i = 0;
  for (xcs_list *n = l->clients.next; n != &l->clients; n = n->next) {
    xcs_handle_push(L, &xcs_client_conn(n)->h);
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

static const luaL_Reg listener_methods[] = {
    {"read", listener_read},       {"write", listener_write},
    {"accept", listener_accept},
    {"port", listener_port},       {"address", listener_address},
    {"clients", listener_clients}, {NULL, NULL}};

static void listener_info(xcs_handle *h, lua_State *L) {
  xcs_listener *l = (xcs_listener *)h;
  xcs_info_str(L, "protocol", proto_of(l));
  xcs_info_str(L, "kind", "listener");
  xcs_info_str(L, "local", l->addr);
  xcs_info_int(L, "clients", (uint64_t)l->nclients);
}

const xcs_handle_type xcs_listener_type = {XCS_T_LISTENER, "xcs.listener", listener_close,
                                           listener_describe, listener_methods,
                                           listener_info, NULL,
                                           offsetof(xcs_listener, binding), NULL, 0};

/* Binds l's socket: a TCP port at sa (or the running version's socket on
 * that port, on a reload; or the other workers' socket, under --workers:
 * then *publish says whether this worker bound it and must hand it on).
 * Returns 0 or a libuv error. */
static int bind_tcp(xcs_listener *l, int port, const struct sockaddr *sa, int *publish) {
  xcs_module *m = l->h.m;
  const xcs_share *share = m->host->share;
  uv_os_sock_t fd;
  int r;
  uv_tcp_init(&m->host->loop, &l->io.tcp);
  l->io.handle.data = &l->h;
  const char *name;
  if (m->host->mgr->takeover(m, &xcs_listener_type, port, &fd) ||
      (share && share->get(m, "tcp", sa, &fd))) {
    if ((r = uv_tcp_open(&l->io.tcp, fd)) != 0) close(fd);
  } else if (xcs_inherit_take(SOCK_STREAM, port, &fd, &name)) {
    /* systemd's socket: it stays open there, so closing ours loses nothing */
    if ((r = uv_tcp_open(&l->io.tcp, fd)) != 0) close(fd);
    if (r == 0)
      xcs_log(m->host, m->name, "port %d (TCP): the socket systemd passed (%s)", port,
              *name ? name : "unnamed");
  } else {
    *publish = share != NULL;
    r = uv_tcp_bind(&l->io.tcp, sa, 0);
  }
  return r;
}

/* Once listening: the port it got, for the log and for reloads. */
static void tcp_listening(xcs_listener *l, int port) {
  struct sockaddr_storage sa;
  int len = sizeof sa;
  uv_tcp_getsockname(&l->io.tcp, (struct sockaddr *)&sa, &len);
  l->port = xcs_addr_port((struct sockaddr *)&sa);
  xcs_addr_format((struct sockaddr *)&sa, l->addr, sizeof l->addr);
  if (l->h.m->first_port == 0) l->h.m->first_port = l->port;
  if (port != 0) {
    l->binding.bound = &l->io.handle;
    l->binding.port = port;
  }
}

/* core.tcp_listen(port | path [, opts, accepting]) -> listener | nil, err,
 * code. A path (a string) listens on a UNIX socket there. */
static int l_listen(lua_State *L) {
  lua_settop(L, 4); /* port, opts, accepting, tls: what is pushed below stays above them */
  int is_unix = lua_type(L, 1) == LUA_TSTRING;
  int port = is_unix ? 0 : (int)luaL_checkinteger(L, 1);
  int accepting = lua_toboolean(L, 3);
  const char *fname = accepting ? "socket.listen" : "socket.open";
  xcs_conn_opts opts;
  xcs_conn_opts_default(&opts);
  int backlog = SOMAXCONN;
  if (is_unix) xcs_unix_check_opts(L, 2, fname);
  xcs_conn_opts_read(L, 2, fname, &opts, &backlog, NULL);
  int proxy = lua_istable(L, 2) && lua_getfield(L, 2, "proxy_protocol") == LUA_TBOOLEAN &&
              lua_toboolean(L, -1);
  xcs_module *m = xcs_module_of(L);
  char path[XCS_UNIX_PATHMAX];
  struct sockaddr_storage sa;
  if (is_unix) {
    int n = xcs_unix_path(L, fname, 1, "path", path);
    if (n) return n;
  } else {
    const xcs_options *o = &m->host->opt;
    const char *want = NULL;
    if (lua_istable(L, 2) && lua_getfield(L, 2, "address") != LUA_TNIL) {
      if (lua_type(L, -1) != LUA_TSTRING)
        return xcs_raise_at_caller(L, "%s: bad option 'address': expected one of the host's "
                                      "--bind addresses (a string), got %s", fname,
                                   luaL_typename(L, -1));
      want = lua_tostring(L, -1);
    }
    if (xcs_addr_choose(o->binds, o->nbinds, want, port, &sa) != 0) {
      char binds[XCS_MAX_BINDS * (XCS_ADDRSTRLEN + 5)];
      xcs_addr_list(o->binds, o->nbinds, binds, sizeof binds);
      return xcs_raise_at_caller(L, "%s: bad option 'address': \"%s\" is not one of the "
                                    "host's --bind addresses (%s)", fname, want ? want : "",
                                 binds);
    }
  }
  xcs_tls_ctx *tls = NULL;
  xcs_tls_opts tlso;
  if (!lua_isnoneornil(L, 4)) {
    int anchor = xcs_tls_opts_read(L, 4, fname, 1, NULL, &tlso);
    tls = xcs_tls_opts_ctx(L, anchor, &tlso, fname);
    lua_replace(L, 1); /* port and path are read: its slot holds the context's box */
  }
  lua_settop(L, 1);
  int refused = xcs_admit(m, 0, is_unix ? -1 : port);
  if (refused) return xcs_admit_refused(L, m, refused, port);
  xcs_listener *l = xcs_handle_new(L, m, sizeof *l, &xcs_listener_type); /* 2 */
  xcs_admit_count(&l->h, 0);
  if (tls) {
    xcs_tls_ctx_ref(tls);
    l->tls = tls;
    l->tls_timeout = tlso.handshake_timeout;
  }
  l->accepting = accepting;
  l->opts = opts;
  l->is_unix = is_unix;
  xcs_list_init(&l->clients);
  xcs_list_init(&l->ready);
  int r, publish = 0;
  if (is_unix) {
    uv_pipe_init(&m->host->loop, &l->io.pipe, 0);
    l->io.handle.data = &l->h;
    snprintf(l->file.path, sizeof l->file.path, "%s", path);
    snprintf(l->addr, sizeof l->addr, "%s", path);
    uv_os_sock_t fd;
    int n = xcs_unix_bind(L, &l->h, &xcs_listener_type, SOCK_STREAM, &l->file, &fd);
    if (n) {
      xcs_handle_close(&l->h, 0);
      return n;
    }
    if ((r = uv_pipe_open(&l->io.pipe, fd)) != 0) close(fd);
  } else {
    xcs_addr_format((struct sockaddr *)&sa, l->addr, sizeof l->addr);
    r = bind_tcp(l, port, (struct sockaddr *)&sa, &publish);
  }
  if (r == 0) r = uv_listen(&l->io.stream, backlog, connection_cb);
  uv_os_fd_t bound = -1;
  if (publish && r == 0 && uv_fileno(&l->io.handle, &bound) == 0) m->host->share->put(m, bound);
  if (r != 0) {
    xcs_handle_close(&l->h, 0);
    return xcs_push_fail(L, r);
  }
  if (is_unix)
    l->binding.bound = &l->io.handle; /* a path is always asked for by name */
  else
    tcp_listening(l, port);
  if ((l->gate = xcs_gate_new(m, l->addr, !accepting)) == NULL ||
      (l->kept = xcs_kept_make(&l->opts.kept)) == NULL) {
    xcs_handle_close(&l->h, 0);
    return xcs_push_fail(L, UV_ENOMEM);
  }
  if (proxy) xcs_gate_expect_proxy(l->gate);
  l->listening = 1;
  xcs_log_socket(m->host, m->name, "listen", l->addr, NULL, proto_of(l), "listening on %s (%s)", l->addr,
                 proto_of(l));
  return 1;
}

void xcs_tcp_open(lua_State *L) {
  static const xcs_conn_hooks hooks = {client_ready, client_forget, xcs_tcp_dial_end,
                                       xcs_tls_stream_methods};
  xcs_conn_set_hooks(&hooks);
  lua_pushcfunction(L, l_listen);
  lua_setfield(L, -2, "tcp_listen");
  xcs_tcp_connect_open(L);
}
