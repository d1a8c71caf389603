/*
 * tcp.c — listening (with port-keyed reads over all clients) and connecting.
 */
#include "bindings/tcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bindings/errors.h"
#include "bindings/task.h"
#include "host/log.h"
#include "host/reload.h"

struct xcs_resolve {
  uv_getaddrinfo_t req;
  xcs_module *m;
  xcs_conn *c; /* NULL once the connection closed */
};

/* Listeners ------------------------------------------------------------------ */

void xcs_listener_ready(xcs_listener *l, xcs_conn *c) {
  if (!xcs_list_linked(&c->ready)) xcs_list_push(&l->ready, &c->ready);
  xcs_task_wake_now(&l->h.reader, 0);
}

void xcs_listener_forget(xcs_listener *l, xcs_conn *c) {
  xcs_list_remove(&c->peers);
  xcs_list_remove(&c->ready);
  l->nclients--;
  c->owner = NULL;
}

/* Runs protected on the module's svc thread: the box needs Lua memory. */
static int accept_client(lua_State *L) {
  xcs_listener *l = lua_touserdata(L, 1);
  xcs_conn *c = xcs_conn_new(L, l->h.m);
  int r = uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)&c->tcp);
  if (r != 0) {
    xcs_handle_close(&c->h, 0);
    return luaL_error(L, "%s", uv_strerror(r));
  }
  c->owner = l;
  xcs_list_push(&l->clients, &c->peers);
  l->nclients++;
  xcs_conn_started(c);
  return 0;
}

static void refuse_close_cb(uv_handle_t *h) { free(h); }

/* Takes the pending connection and closes it: better a clear close for the
 * client than a connection left hanging in the backlog. */
static void refuse(xcs_listener *l) {
  uv_tcp_t *t = malloc(sizeof *t);
  if (t == NULL) return;
  uv_tcp_init(&l->h.m->host->loop, t);
  uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)t);
  uv_close((uv_handle_t *)t, refuse_close_cb);
}

static void connection_cb(uv_stream_t *server, int status) {
  xcs_listener *l = (xcs_listener *)server->data;
  xcs_module *m = l->h.m;
  if (status < 0) {
    xcs_log(m->host, m->name, "accept on %s failed: %s", l->addr, uv_strerror(status));
    return;
  }
  if (l->nclients >= XCS_MAX_CLIENTS) {
    refuse(l);
    return;
  }
  const char *err = xcs_module_pcall(m, accept_client, l);
  if (err) {
    xcs_log(m->host, m->name, "cannot accept a client on %s: %s", l->addr, err);
    if (!l->h.closing) refuse(l);
  }
}

static void listener_close(xcs_handle *h, int graceful) {
  xcs_listener *l = (xcs_listener *)h;
  xcs_module *m = h->m;
  if (l->listening) xcs_log(m->host, m->name, "closed %s (TCP)", l->addr);
  xcs_list *n;
  while ((n = l->clients.next) != &l->clients)
    xcs_handle_close(&xcs_container_of(n, xcs_conn, peers)->h, graceful);
  if (l->stopped)
    uv_close((uv_handle_t *)&l->anchor, xcs_handle_close_cb); /* its hold on h */
  else
    xcs_handle_uv_close(h, (uv_handle_t *)&l->tcp);
}

void xcs_listener_stop(xcs_handle *h) {
  xcs_listener *l = (xcs_listener *)h;
  if (h->type != &xcs_listener_type || h->closing || l->stopped) return;
  /* Closing the libuv handle frees the port; the anchor counts as one more
   * libuv handle of h, so the struct stays for its clients until h closes. */
  l->stopped = 1;
  uv_timer_init(&h->m->host->loop, &l->anchor);
  l->anchor.data = h;
  h->nuv++;
  h->bound = NULL;
  xcs_handle_uv_close(h, (uv_handle_t *)&l->tcp);
  xcs_log(h->m->host, h->m->name, "stopped accepting on %s (TCP)", l->addr);
}

void xcs_tcp_stop_accepting(xcs_module *m) {
  for (xcs_list *n = m->handles.next; n != &m->handles; n = n->next)
    xcs_listener_stop(xcs_container_of(n, xcs_handle, link));
}

static void listener_describe(xcs_handle *h, char *buf, size_t size) {
  xcs_listener *l = (xcs_listener *)h;
  snprintf(buf, size, "%s (listening, %d client%s)", l->addr, l->nclients,
           l->nclients == 1 ? "" : "s");
}

static int listener_read_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  xcs_listener *l = (xcs_listener *)xcs_handle_get(L, 1, &xcs_listener_type);
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
      xcs_handle_defer_close(&c->h);
      return 2;
    }
  }
  if (l->h.reader)
    return luaL_error(L, "read: socket busy reading (another task is reading port %d)",
                      l->port);
  xcs_task_check(L, "read");
  return xcs_task_wait(L, &l->h.reader, listener_read_k, 0);
}

static int listener_read(lua_State *L) {
  xcs_handle_check(L, 1, &xcs_listener_type);
  return listener_read_k(L, LUA_OK, 0);
}

static int broadcast(lua_State *L, xcs_listener *l) {
  int sent = 0;
  xcs_list *n, *next;
  for (n = l->clients.next; n != &l->clients; n = next) {
    next = n->next;
    xcs_conn *c = xcs_container_of(n, xcs_conn, peers);
    if (c->eof_told || xcs_conn_queue(c, L, 2) != 0) continue;
    if (c->queued > XCS_WRITE_CAP) {
      xcs_log(l->h.m->host, l->h.m->name,
              "dropping client %s of %s: it stopped reading (%zu bytes queued)",
              c->peer, l->addr, c->queued);
      xcs_handle_close(&c->h, 0);
      continue;
    }
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
  if (c->owner != l) return luaL_argerror(L, 3, "not a client of this port");
  lua_copy(L, 3, 1); /* conn, data: the shape xcs_conn_write takes */
  lua_settop(L, 2);
  return xcs_conn_write(L);
}

static int listener_port(lua_State *L) {
  lua_pushinteger(L, ((xcs_listener *)xcs_handle_check(L, 1, &xcs_listener_type))->port);
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
    xcs_handle_push(L, &xcs_container_of(n, xcs_conn, peers)->h);
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

static const luaL_Reg listener_methods[] = {
    {"read", listener_read},       {"write", listener_write},
    {"port", listener_port},       {"address", listener_address},
    {"clients", listener_clients}, {NULL, NULL}};

const xcs_handle_type xcs_listener_type = {XCS_T_LISTENER, "xcs.listener", listener_close,
                                           listener_describe, listener_methods};

/* core.tcp_listen(port) -> listener | nil, err, code */
static int l_listen(lua_State *L) {
  int port = (int)luaL_checkinteger(L, 1);
  xcs_module *m = xcs_module_of(L);
  struct sockaddr_storage sa;
  if (xcs_addr_from(m->host->opt.bind, port, &sa) != 0)
    return luaL_error(L, "socket.open: bad bind address '%s'", m->host->opt.bind);
  xcs_listener *l = xcs_handle_new(L, m, sizeof *l, &xcs_listener_type);
  xcs_list_init(&l->clients);
  xcs_list_init(&l->ready);
  uv_tcp_init(&m->host->loop, &l->tcp);
  l->tcp.data = &l->h;
  xcs_addr_format((struct sockaddr *)&sa, l->addr, sizeof l->addr);
  uv_os_sock_t fd;
  int r;
  if (xcs_reload_takeover(m, &xcs_listener_type, port, &fd)) {
    if ((r = uv_tcp_open(&l->tcp, fd)) != 0) close(fd);
  } else {
    r = uv_tcp_bind(&l->tcp, (struct sockaddr *)&sa, 0);
  }
  if (r == 0) r = uv_listen((uv_stream_t *)&l->tcp, SOMAXCONN, connection_cb);
  if (r != 0) {
    xcs_handle_close(&l->h, 0);
    return xcs_push_fail(L, r);
  }
  int len = sizeof sa;
  uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&sa, &len);
  l->port = xcs_addr_port((struct sockaddr *)&sa);
  xcs_addr_format((struct sockaddr *)&sa, l->addr, sizeof l->addr);
  if (m->first_port == 0) m->first_port = l->port;
  if (port != 0) {
    l->h.bound = (uv_handle_t *)&l->tcp;
    l->h.port = port;
  }
  l->listening = 1;
  xcs_log(m->host, m->name, "listening on %s (TCP)", l->addr);
  return 1;
}

/* Connecting ------------------------------------------------------------------ */

static void connect_cb(uv_connect_t *req, int status) {
  xcs_conn *c = (xcs_conn *)req->handle->data;
  if (status == 0)
    xcs_conn_started(c);
  else if (c->err == 0)
    c->err = status;
  xcs_task_wake_now(&c->h.writer, status);
}

static int start_connect(xcs_conn *c, const struct sockaddr *sa) {
  int r = uv_tcp_connect(&c->connect, &c->tcp, sa, connect_cb);
  if (r != 0) c->err = r;
  return r;
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  xcs_resolve *rs = (xcs_resolve *)req;
  xcs_conn *c = rs->c;
  if (c != NULL) {
    c->resolve = NULL;
    if (status == 0) {
      /* Prefer IPv4: "localhost" should reach a server on 127.0.0.1. */
      struct addrinfo *ai = res;
      for (struct addrinfo *p = res; p; p = p->ai_next)
        if (p->ai_family == AF_INET) {
          ai = p;
          break;
        }
      status = start_connect(c, ai->ai_addr);
    } else {
      c->err = status;
    }
    if (status != 0) xcs_task_wake_now(&c->h.writer, status);
  }
  uv_freeaddrinfo(res);
  xcs_module *m = rs->m;
  free(rs);
  m->nlive--;
  xcs_module_settle(m);
}

void xcs_tcp_cancel_resolve(xcs_conn *c) {
  c->resolve->c = NULL;
  uv_cancel((uv_req_t *)&c->resolve->req);
  c->resolve = NULL;
}

static int connect_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  xcs_conn *c = (xcs_conn *)xcs_handle_get(L, 3, &xcs_conn_type);
  if (c == NULL) return xcs_push_closed(L, "the socket was closed while connecting");
  if (c->err) {
    int err = c->err;
    xcs_handle_close(&c->h, 0);
    return xcs_push_fail(L, err);
  }
  lua_settop(L, 3);
  return 1;
}

/* core.tcp_connect(host, port) -> conn | nil, err, code */
static int l_connect(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  int port = (int)luaL_checkinteger(L, 2);
  lua_settop(L, 2);
  xcs_task_check(L, "socket.connect");
  xcs_module *m = xcs_module_of(L);
  xcs_conn *c = xcs_conn_new(L, m); /* 3 */
  snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
  struct sockaddr_storage sa;
  if (xcs_addr_from(host, port, &sa) == 0) {
    if (start_connect(c, (struct sockaddr *)&sa) != 0) return connect_k(L, LUA_OK, 0);
  } else {
    xcs_resolve *rs = calloc(1, sizeof *rs);
    if (rs == NULL) return luaL_error(L, "not enough memory");
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    rs->m = m;
    rs->c = c;
    int r = uv_getaddrinfo(&m->host->loop, &rs->req, resolved_cb, host, service, &hints);
    if (r != 0) {
      free(rs);
      c->err = r;
      return connect_k(L, LUA_OK, 0);
    }
    c->resolve = rs;
    m->nlive++;
  }
  return xcs_task_wait(L, &c->h.writer, connect_k, 0);
}

void xcs_tcp_open(lua_State *L) {
  xcs_stream_open(L);
  xcs_handle_register(L, &xcs_listener_type);
  lua_pushcfunction(L, l_listen);
  lua_setfield(L, -2, "tcp_listen");
  lua_pushcfunction(L, l_connect);
  lua_setfield(L, -2, "tcp_connect");
}
