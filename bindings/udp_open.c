/*
 * udp_open.c — opening a UDP socket: socket.udp_open binds it (or takes
 * over a reload's), socket.udp_connect resolves a name without blocking
 * and connects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bindings/udp_impl.h"
#include "bindings/admit.h"
#include "bindings/errors.h"
#include "bindings/inherit.h"

/* A new UDP socket of the calling module, its box pushed; or NULL with
 * nil, msg, code pushed when the module may not open one (port < 0: a
 * connected socket, whose local port the system picks). */
static xcs_udp *udp_new(lua_State *L, int port) {
  xcs_module *m = xcs_module_of(L);
  int refused = xcs_admit(m, 0, port);
  if (refused) {
    xcs_admit_refused(L, m, refused, port);
    return NULL;
  }
  xcs_udp *u = xcs_udp_alloc(L, m);
  xcs_admit_count(&u->h, 0);
  return u;
}

/* Binds u to sa, or, when a reload hands it the running version's socket
 * on that port, opens that one (the manager's takeover). */
static int udp_bind(xcs_udp *u, const struct sockaddr *sa, unsigned flags, int opened) {
  uv_os_sock_t fd;
  /* Under --workers a port socket.open binds is shared; a client's is not. */
  const xcs_share *share = flags == 0 && opened ? u->h.m->host->share : NULL;
  int port = xcs_addr_port(sa), r;
  const char *name;
  if ((flags == 0 && u->h.m->host->mgr->takeover(u->h.m, &xcs_udp_type, port, &fd)) ||
      (share && share->get(u->h.m, "udp", sa, &fd))) {
    if ((r = uv_udp_open(&u->udp, fd)) != 0) close(fd);
  } else if (flags == 0 && xcs_inherit_take(SOCK_DGRAM, port, &fd, &name)) {
    if ((r = uv_udp_open(&u->udp, fd)) != 0) close(fd);
    if (r == 0)
      xcs_log(u->h.m->host, u->h.m->name, "port %d (UDP): the socket systemd passed (%s)", port,
              *name ? name : "unnamed");
  } else {
    r = uv_udp_bind(&u->udp, sa, flags);
    uv_os_fd_t bound = -1;
    if (share && r == 0 && uv_fileno((uv_handle_t *)&u->udp, &bound) == 0) share->put(u->h.m, bound);
  }
  if (r != 0) return r;
  if (port != 0 && flags == 0) {
    u->binding.bound = (uv_handle_t *)&u->udp;
    u->binding.port = port;
  }
  struct sockaddr_storage local;
  int len = sizeof local;
  r = uv_udp_getsockname(&u->udp, (struct sockaddr *)&local, &len);
  if (r != 0) return r;
  u->port = xcs_addr_port((struct sockaddr *)&local);
  u->family = local.ss_family;
  xcs_addr_format((struct sockaddr *)&local, u->addr, sizeof u->addr);
  return 0;
}

/* Binds the local side a datagram to peer leaves from, and connects. A
 * loopback peer is reached from loopback, anything else from any address. */
static int bind_connect(xcs_udp *u, const struct sockaddr *peer) {
  struct sockaddr_storage local;
  const char *any = peer->sa_family == AF_INET6 ? "::" : "0.0.0.0";
  if (peer->sa_family == AF_INET &&
      (ntohl(((const struct sockaddr_in *)peer)->sin_addr.s_addr) >> 24) == 127)
    any = "127.0.0.1";
  if (peer->sa_family == AF_INET6 &&
      IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)peer)->sin6_addr))
    any = "::1";
  xcs_addr_from(any, 0, &local);
  int r = udp_bind(u, (struct sockaddr *)&local, 0, 0);
  if (r == 0) r = uv_udp_connect(&u->udp, peer);
  if (r != 0) return r;
  u->connected = 1;
  xcs_addr_format(peer, u->peer, sizeof u->peer);
  xcs_log_socket(u->h.m->host, u->h.m->name, "connect", u->addr, u->peer, "UDP",
                 "sending from %s to %s (UDP)", u->addr, u->peer);
  xcs_udp_start_receiving(u);
  return 0;
}

/* Whether sa is a broadcast address: the limited one, or one of an
 * interface's (its address with every host bit set). */
static int is_broadcast(const struct sockaddr *sa) {
  if (sa->sa_family != AF_INET) return 0;
  uint32_t a = ((const struct sockaddr_in *)sa)->sin_addr.s_addr;
  if (a == htonl(INADDR_BROADCAST)) return 1;
  uv_interface_address_t *ifs;
  int n, yes = 0;
  if (uv_interface_addresses(&ifs, &n) != 0) return 0;
  for (int i = 0; i < n && !yes; i++) {
    if (ifs[i].address.address4.sin_family != AF_INET) continue;
    uint32_t mask = ifs[i].netmask.netmask4.sin_addr.s_addr;
    yes = mask != htonl(0xffffffffu) && (ifs[i].address.address4.sin_addr.s_addr | ~mask) == a;
  }
  uv_free_interface_addresses(ifs, n);
  return yes;
}

/* core.udp_open(port [, address]) -> udp | nil, err, code | false, misuse.
 * The address is the first of --bind's, one of them the module names, or
 * a multicast group or broadcast address: those only choose which
 * datagrams it gets, not which network it serves, and several sockets may
 * share such an address and port. */
static int l_udp_open(lua_State *L) {
  int port = (int)luaL_checkinteger(L, 1);
  xcs_module *m = xcs_module_of(L);
  const xcs_options *o = &m->host->opt;
  const char *ip = luaL_optstring(L, 2, NULL);
  unsigned flags = 0;
  struct sockaddr_storage sa;
  int r = xcs_addr_choose(o->binds, o->nbinds, ip, port, &sa);
  if (r != 0 && ip && xcs_addr_from(ip, port, &sa) == 0 &&
      (xcs_udp_is_multicast((struct sockaddr *)&sa) || is_broadcast((struct sockaddr *)&sa))) {
    flags = UV_UDP_REUSEADDR;
  } else if (r != 0) {
    char binds[XCS_MAX_BINDS * (XCS_ADDRSTRLEN + 5)];
    xcs_addr_list(o->binds, o->nbinds, binds, sizeof binds);
    lua_pushboolean(L, 0);
    lua_pushfstring(L, "socket.open: bad argument #3 (options): address must be one of the "
                       "host's --bind addresses (%s), a multicast group or a broadcast "
                       "address, got \"%s\"", binds, ip ? ip : "");
    return 2;
  }
  xcs_udp *u = udp_new(L, port);
  if (u == NULL) return 3;
  r = udp_bind(u, (struct sockaddr *)&sa, flags, 1);
  if (r != 0) {
    xcs_handle_close(&u->h, 0);
    return xcs_push_fail(L, r);
  }
  if (m->first_port == 0) m->first_port = u->port;
  xcs_log_socket(m->host, m->name, "bind", u->addr, NULL, "UDP", "bound to %s (UDP)", u->addr);
  xcs_udp_start_receiving(u);
  return 1;
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  udp_resolve *rs = (udp_resolve *)req;
  xcs_udp *u = rs->u;
  if (u != NULL) {
    u->resolve = NULL;
    if (status == 0) {
      /* Prefer IPv4, as TCP connects do: "localhost" reaches 127.0.0.1. */
      struct addrinfo *ai = res;
      for (struct addrinfo *p = res; p; p = p->ai_next)
        if (p->ai_family == AF_INET) {
          ai = p;
          break;
        }
      status = bind_connect(u, ai->ai_addr);
    }
    if (status != 0) u->err = status;
    xcs_task_wake_now(&u->h.writer, status);
  }
  uv_freeaddrinfo(res);
  xcs_module *m = rs->m;
  free(rs);
  xcs_release(&m->life); /* the look-up's hold */
}

static int connect_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  xcs_udp *u = (xcs_udp *)xcs_handle_get(L, 3, &xcs_udp_type);
  if (u == NULL) return xcs_push_closed(L, "the socket was closed while resolving");
  if (u->err) {
    int err = u->err;
    xcs_handle_close(&u->h, 0);
    return xcs_push_fail(L, err);
  }
  lua_settop(L, 3);
  return 1;
}

/* core.udp_connect(host, port) -> udp | nil, err, code: a UDP socket whose
 * writes go to host:port. A name is looked up without blocking the loop. */
static int l_udp_connect(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  int port = (int)luaL_checkinteger(L, 2);
  lua_settop(L, 2);
  struct sockaddr_storage peer;
  if (xcs_addr_from(host, port, &peer) == 0) {
    xcs_udp *u = udp_new(L, -1); /* 3 */
    if (u == NULL) return 3;
    int r = bind_connect(u, (struct sockaddr *)&peer);
    if (r != 0) {
      xcs_handle_close(&u->h, 0);
      return xcs_push_fail(L, r);
    }
    return 1;
  }
  xcs_task_check(L, "socket.connect");
  xcs_module *m = xcs_module_of(L);
  xcs_udp *u = udp_new(L, -1); /* 3; may raise: before anything to free */
  if (u == NULL) return 3;
  snprintf(u->peer, sizeof u->peer, "%s:%d", host, port);
  udp_resolve *rs = calloc(1, sizeof *rs);
  if (rs == NULL) {
    xcs_handle_close(&u->h, 0);
    return luaL_error(L, "not enough memory");
  }
  char service[8];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
  rs->m = m;
  rs->u = u;
  int r = uv_getaddrinfo(&m->host->loop, &rs->req, resolved_cb, host, service, &hints);
  if (r != 0) {
    free(rs);
    u->err = r;
    return connect_k(L, LUA_OK, 0);
  }
  u->resolve = rs;
  xcs_hold(&m->life); /* until resolved_cb, cancelled or not */
  return xcs_task_park(L, &u->h.writer, -1, connect_k, 0);
}

void xcs_udp_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"udp_open", l_udp_open}, {"udp_connect", l_udp_connect}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
