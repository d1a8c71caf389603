/*
 * udp_opts.c — what a UDP socket may be set to: setoption (broadcast, ttl,
 * multicast, buffer sizes) and multicast membership (join, leave).
 */
#include "bindings/udp_impl.h"
#include "bindings/errors.h"

static int check_flag(lua_State *L, int idx) {
  luaL_argexpected(L, lua_isboolean(L, idx), idx, "boolean");
  return lua_toboolean(L, idx);
}

static int check_ttl(lua_State *L, int idx, int lowest) {
  lua_Integer v = luaL_checkinteger(L, idx);
  if (v < lowest || v > 255)
    luaL_argerror(L, idx, lua_pushfstring(L, "expected an integer from %d to 255, got %I",
                                          lowest, v));
  return (int)v;
}

static int check_bytes(lua_State *L, int idx) {
  int isint;
  lua_Integer v = lua_tointegerx(L, idx, &isint);
  if (!isint || v < 1 || v > INT_MAX)
    luaL_error(L, "udp:setoption: %s must be bytes (an integer > 0), got %s", lua_tostring(L, 2),
               luaL_tolstring(L, idx, NULL));
  return (int)v;
}

static const char *check_ip(lua_State *L, int idx, const char *what) {
  const char *s = luaL_checkstring(L, idx);
  struct sockaddr_storage sa;
  if (xcs_addr_from(s, 0, &sa) != 0)
    luaL_argerror(L, idx, lua_pushfstring(L, "expected %s, got \"%s\"", what, s));
  return s;
}

/* setoption(name, value) -> true | nil, err, code */
int xcs_udp_setoption(lua_State *L) {
  xcs_udp *u = (xcs_udp *)xcs_handle_check(L, 1, &xcs_udp_type);
  static const char *const names[] = {"broadcast", "ttl", "multicast_loop", "multicast_ttl",
                                      "multicast_interface", "rcvbuf", "sndbuf", NULL};
  int r, v;
  switch (xcs_check_choice(L, 2, "udp:setoption", "option", names)) {
    case 0: r = uv_udp_set_broadcast(&u->udp, check_flag(L, 3)); break;
    case 1: r = uv_udp_set_ttl(&u->udp, check_ttl(L, 3, 1)); break;
    case 2: r = uv_udp_set_multicast_loop(&u->udp, check_flag(L, 3)); break;
    case 3: r = uv_udp_set_multicast_ttl(&u->udp, check_ttl(L, 3, 0)); break;
    case 4:
      r = uv_udp_set_multicast_interface(
          &u->udp, check_ip(L, 3, "the IP address of an interface, such as \"127.0.0.1\""));
      break;
    default: /* the kernel doubles what it is given (for its bookkeeping) */
      v = check_bytes(L, 3);
      r = lua_tostring(L, 2)[0] == 'r' ? uv_recv_buffer_size((uv_handle_t *)&u->udp, &v)
                                       : uv_send_buffer_size((uv_handle_t *)&u->udp, &v);
  }
  if (r != 0) return xcs_push_fail(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

int xcs_udp_is_multicast(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 28) == 0xe;
  return sa->sa_family == AF_INET6 &&
         ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr[0] == 0xff;
}

/* join(group [, interface]) / leave(...) -> true | nil, err, code. The
 * interface defaults to the host's bind address when that is one address
 * (so a loopback host joins on loopback), else the system's choice. */
static int membership(lua_State *L, uv_membership how) {
  xcs_udp *u = (xcs_udp *)xcs_handle_check(L, 1, &xcs_udp_type);
  const char *fname = how == UV_JOIN_GROUP ? "join" : "leave";
  const char *group = luaL_checkstring(L, 2);
  struct sockaddr_storage g, local;
  if (xcs_addr_from(group, 0, &g) != 0 || !xcs_udp_is_multicast((struct sockaddr *)&g))
    return luaL_argerror(L, 2, lua_pushfstring(L, "expected a multicast group address such "
                                                  "as \"239.1.2.3\", got \"%s\"", group));
  const char *iface = lua_isnoneornil(L, 3)
                          ? NULL
                          : check_ip(L, 3, "the IP address of an interface, such as \"127.0.0.1\"");
  int len = sizeof local;
  if (uv_udp_getsockname(&u->udp, (struct sockaddr *)&local, &len) == 0 &&
      !xcs_addr_is_wildcard((struct sockaddr *)&local) && !xcs_udp_is_multicast((struct sockaddr *)&local))
    return luaL_error(L, "%s: this socket is bound to %s and never sees a group's datagrams; "
                         "open it with socket.open(port, \"UDP\", { address = \"%s\" })",
                      fname, u->addr, group);
  if (iface == NULL && g.ss_family == AF_INET) {
    struct sockaddr_storage b;
    const char *bind = u->h.m->host->opt.binds[0];
    if (xcs_addr_from(bind, 0, &b) == 0 && b.ss_family == AF_INET &&
        !xcs_addr_is_wildcard((struct sockaddr *)&b))
      iface = bind;
  }
  int r = uv_udp_set_membership(&u->udp, group, iface, how);
  if (r != 0) return xcs_push_fail(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

int xcs_udp_join(lua_State *L) { return membership(L, UV_JOIN_GROUP); }
int xcs_udp_leave(lua_State *L) { return membership(L, UV_LEAVE_GROUP); }

