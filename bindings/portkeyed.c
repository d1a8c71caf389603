/*
 * portkeyed.c — socket.read(port) and socket.write(port, data [, to]) for
 * the common case, in C: a port held by one socket, a listener's client or
 * a UDP sender as `to`, or none (the calling task's last peer). Everything
 * else — handles and paths in place of the port, misuse and its errors —
 * goes to the prelude's own functions, which these stand in front of and
 * which define what the calls mean (lua/prelude.lua). Both share the
 * prelude's tables: the sockets open by port, and each task's last peer
 * per socket.
 *
 * A read or write may wait. A read runs the listener's or UDP socket's
 * read in its own frame and waits there, its continuation noting the peer.
 * A write to a UDP address sends from here (xcs_udp_send); other writes run
 * the method (to a listener's client: the connection's write) in its own
 * frame, the method's continuation finishing the call.
 */
#include "bindings/portkeyed.h"

#include <lauxlib.h>
#include <string.h>

#include "bindings/errors.h"
#include "bindings/handle.h"
#include "bindings/stream.h"
#include "bindings/task.h"
#include "bindings/tcp.h"
#include "bindings/udp.h"

/* Upvalues of both closures. */
enum { UP_TCP = 1, UP_UDP, UP_TLS, UP_LAST, UP_WEAK, UP_CACHE, UP_SLOW };

/* The last port the tables answered with one socket, shared by both
 * closures (a userdata whose user value is that socket's box): a loop on
 * one port finds it with no table look-up, and knows it is still open by
 * the box's own pointer (the user value keeps the box). The prelude forgets
 * it whenever it puts a socket in the tables (a port may then be held
 * twice); a socket taken out of them was closed, which that pointer tells. */
typedef struct pk_cache {
  lua_Integer port;
  xcs_handle *const *box; /* the box's pointer to its handle: NULL once closed */
  xcs_handle *h;
  int udp;
  int valid;
} pk_cache;

/* A handle type's read (write) method, found once per type. */
static lua_CFunction found[XCS_NTYPES][2];

static lua_CFunction find_method(const xcs_handle_type *type, int write) {
  lua_CFunction *f = &found[type->id][write];
  for (const luaL_Reg *r = type->methods; r->name; r++)
    if (strcmp(r->name, write ? "write" : "read") == 0) *f = r->func;
  return *f;
}

static inline lua_CFunction method_of(const xcs_handle_type *type, int write) {
  lua_CFunction f = found[type->id][write];
  return f ? f : find_method(type, write);
}

/* Whether a port-keyed call serves h (a UDP socket if *udp): a listener of
 * socket.open, or a UDP socket that is not connected. */
static int served(xcs_handle *h, int *udp) {
  if (h == NULL) return 0;
  if (h->type == &xcs_listener_type) {
    *udp = 0;
    return !((xcs_listener *)h)->accepting;
  }
  *udp = 1;
  return h->type == &xcs_udp_type && !xcs_udp_connected(h);
}

/* The socket open on the port at index 1 by one protocol only, pushed, and
 * whether it is a UDP socket; NULL (nothing pushed) otherwise, and for the
 * kinds the prelude treats apart: a connected UDP socket, a listener that
 * hands out connections (socket.listen). */
static xcs_handle *held(lua_State *L, int *udp) {
  int t, u;
  pk_cache *cache = lua_touserdata(L, lua_upvalueindex(UP_CACHE));
  int port_given = lua_isinteger(L, 1);
  lua_Integer port = port_given ? lua_tointeger(L, 1) : 0;
  if (port_given && cache->valid && cache->port == port && *cache->box == cache->h &&
      served(cache->h, udp)) {
    lua_getiuservalue(L, lua_upvalueindex(UP_CACHE), 1);
    return cache->h;
  }
  if (lua_type(L, 1) == LUA_TUSERDATA) { /* the handle itself */
    lua_pushvalue(L, 1);
  } else {
    if (port_given) { /* a port: the tables' integer path, no hashing */
      t = lua_rawgeti(L, lua_upvalueindex(UP_TCP), port) != LUA_TNIL;
      u = lua_rawgeti(L, lua_upvalueindex(UP_UDP), port) != LUA_TNIL;
      /* TLS shares TCP's port space: a UDP port may be a TLS one too, which
       * the prelude refuses as ambiguous. */
      if (u && !t) {
        t = lua_rawgeti(L, lua_upvalueindex(UP_TLS), port) != LUA_TNIL;
        lua_pop(L, 1);
      }
    } else {
      lua_pushvalue(L, 1);
      t = lua_rawget(L, lua_upvalueindex(UP_TCP)) != LUA_TNIL;
      lua_pushvalue(L, 1);
      u = lua_rawget(L, lua_upvalueindex(UP_UDP)) != LUA_TNIL;
      if (u && !t) {
        lua_pushvalue(L, 1);
        t = lua_rawget(L, lua_upvalueindex(UP_TLS)) != LUA_TNIL;
        lua_pop(L, 1);
      }
    }
    if (t == u) {
      lua_pop(L, 2);
      return NULL;
    }
    lua_remove(L, t ? -1 : -2);
  }
  const xcs_box *box = lua_touserdata(L, -1);
  xcs_handle *h = xcs_handle_opt(L, -1);
  if (!served(h, udp)) {
    lua_pop(L, 1);
    return NULL;
  }
  if (port_given) {
    /* one socket: the next call on this port finds it here */
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, lua_upvalueindex(UP_CACHE), 1);
    cache->port = port;
    cache->box = &box->h;
    cache->h = h;
    cache->valid = 1;
  }
  return h;
}

/* Pushes the calling task's table of last peers (creating it if create),
 * or returns 0 with nothing pushed: outside a task, or none yet. */
static int peers_of_task(lua_State *L, int create) {
  xcs_module *m = xcs_module_of(L);
  if (m == NULL || m->current == NULL) return 0;
  xcs_task *t = m->current;
  if (t->peers) { /* found before: the prelude never replaces a task's table */
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->peers);
    return 1;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref); /* task */
  lua_pushvalue(L, -1);
  if (lua_rawget(L, lua_upvalueindex(UP_LAST)) != LUA_TNIL) { /* task peers */
    lua_remove(L, -2);
    lua_pushvalue(L, -1);
    t->peers = xcs_ref(m, L);
    return 1;
  }
  lua_pop(L, 1);
  if (!create) {
    lua_pop(L, 1);
    return 0;
  }
  lua_newtable(L); /* task peers */
  lua_pushvalue(L, lua_upvalueindex(UP_WEAK));
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_insert(L, -3); /* peers task peers */
  lua_rawset(L, lua_upvalueindex(UP_LAST));
  lua_pushvalue(L, -1);
  t->peers = xcs_ref(m, L);
  return 1;
}

/* Hands the call, as it came (arguments 1..n), to the prelude's function. */
static int slow(lua_State *L, int n);

static int results(lua_State *L, int status, lua_KContext base) {
  (void)status;
  return lua_gettop(L) - (int)base;
}

static int slow(lua_State *L, int n) {
  lua_settop(L, n);
  lua_pushvalue(L, lua_upvalueindex(UP_SLOW));
  lua_insert(L, 1);
  lua_callk(L, n, LUA_MULTRET, 0, results);
  return results(L, LUA_OK, 0);
}

/* After the read: stack what, h, results... Notes the peer as the prelude's
 * finish_read does. */
static int read_done(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (lua_toboolean(L, 3) && lua_type(L, 4) > LUA_TNIL && peers_of_task(L, 1)) {
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 4);
    lua_rawset(L, -3);
    lua_pop(L, 1);
  }
  return lua_gettop(L) - 2;
}

/* A UDP socket's read, waiting in this frame: one C call per datagram. */
static int udp_read_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  lua_settop(L, 2); /* what h */
  xcs_handle *h = xcs_handle_again(L, 2);
  if (h == NULL) xcs_push_closed(L, "the socket was closed");
  else xcs_udp_read(L, h, udp_read_k);
  return read_done(L, LUA_OK, 0);
}

/* A listener's read, run in fast_read's own frame (stack: what h), so a
 * wait continues here, with no call between. */
static int listener_read_k(lua_State *L, int status, lua_KContext ctx) {
  int n = xcs_listener_read_at(L, 2, listener_read_k);
  if (n != 2) return n; /* nil, msg, code: the listener was closed */
  return read_done(L, status, ctx);
}

static int fast_read(lua_State *L) {
  lua_settop(L, 1);
  int udp;
  xcs_handle *h = held(L, &udp); /* what h */
  if (h == NULL) return slow(L, 1);
  return udp ? udp_read_k(L, LUA_OK, 0) : listener_read_k(L, LUA_OK, 0);
}

/* Whether it (of Lua type type) is "*", or an open connection that is a
 * client of l. */
static int is_client(lua_State *L, int idx, int type, xcs_handle *l) {
  if (type == LUA_TSTRING) return strcmp(lua_tostring(L, idx), "*") == 0;
  xcs_handle *c = xcs_handle_test(L, idx, &xcs_conn_type);
  /* A closed one, or another kind of handle: the method says what is wrong. */
  return c != NULL && xcs_conn_owner((xcs_conn *)c) == (xcs_listener *)l;
}

static int fast_write(lua_State *L) {
  const int n = 3; /* the prelude's function takes what, data, to: no more */
  lua_settop(L, 3); /* what data to */
  int udp;
  xcs_handle *h;
  if (lua_type(L, 2) != LUA_TSTRING || (h = held(L, &udp)) == NULL) return slow(L, n);
  /* what data to h */
  int to = lua_type(L, 3);
  int given = to != LUA_TNIL;
  if (!given) {
    if (!peers_of_task(L, 0)) return slow(L, n); /* nothing read: the prelude says so */
    lua_pushvalue(L, 4);
    lua_rawget(L, -2);
    if (lua_isnil(L, -1)) return slow(L, n);
    lua_replace(L, 3);
    lua_pop(L, 1);
    to = lua_type(L, 3);
  }
  if (udp) { /* an address: sent here, no call */
    int sent = xcs_udp_send(L, h);
    if (sent >= 0) return sent;
  }
  if (given && (udp || !is_client(L, 3, to, h))) return slow(L, n); /* raises, naming what was wrong */
  if (!udp && to == LUA_TUSERDATA) {
    /* A client of the listener, checked above: its own write's body, as
     * listener:write runs it (and in this frame, as below). */
    lua_copy(L, 3, 1);
    lua_settop(L, 2); /* conn data */
    return xcs_conn_write(L);
  }
  /* The socket's write runs in this frame, with the arguments it takes: if
   * it waits (a TCP write over the high-water mark), its continuation
   * finishes this call, as nothing is left to do here after it. */
  lua_replace(L, 1); /* h data to */
  return method_of(h->type, 1)(L);
}

/* forget(): the prelude put a socket in the tables. */
static int forget(lua_State *L) {
  pk_cache *cache = lua_touserdata(L, lua_upvalueindex(1));
  cache->valid = 0;
  lua_pushnil(L); /* and the socket may go */
  lua_setiuservalue(L, lua_upvalueindex(1), 1);
  return 0;
}

/* core.portkeyed(open_tcp, open_udp, open_tls, last, weak_mt, slow_read, slow_write)
 *   -> read, write, forget */
static int l_portkeyed(lua_State *L) {
  lua_settop(L, 7);
  pk_cache *cache = lua_newuserdatauv(L, sizeof *cache, 1); /* 8 */
  memset(cache, 0, sizeof *cache); /* padding too: never taken for a handle's box */
  for (int f = 0; f < 2; f++) {
    for (int i = 1; i <= 5; i++) lua_pushvalue(L, i);
    lua_pushvalue(L, 8);
    lua_pushvalue(L, 6 + f);
    lua_pushcclosure(L, f ? fast_write : fast_read, UP_SLOW);
  }
  lua_pushvalue(L, 8);
  lua_pushcclosure(L, forget, 1);
  return 3;
}

void xcs_portkeyed_open(lua_State *L) {
  xcs_errors_see_through(fast_read); /* misuse is told at the module's line */
  xcs_errors_see_through(fast_write);
  lua_pushcfunction(L, l_portkeyed);
  lua_setfield(L, -2, "portkeyed");
}
