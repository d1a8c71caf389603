/*
 * xcs_module.c — xcs.load and the module objects it returns: a spec's view
 * of a module it loaded (status, error, logs, ports), and its hold on it.
 *
 * Every module loaded during an xcs.run is watched until the run ends: if
 * one failed and the spec never looked — no m:status(), m:error() or
 * m:wait() that told it "failed" — the run fails with that module's error,
 * so a spec cannot pass while the module it tests is dead. A spec that lets
 * a module fail without caring loads it with { may_fail = true }.
 */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bindings/faults.h"
#include "bindings/handle.h"
#include "bindings/task.h"
#include "host/xcs.h"
#include "bindings/core/log.h"
#include "host/reload.h"

typedef struct modref {
  xcs_module *m;
  uint64_t first_line; /* its lines are those captured since it was loaded */
} modref;

static xcs_module *check_module(lua_State *L) {
  return ((modref *)luaL_checkudata(L, 1, "xcs.module"))->m;
}

/* Watching -------------------------------------------------------------------- */

static xcs_watched *watched_of(xcs_test *x, xcs_module *m) {
  for (int i = 0; i < x->nwatched; i++)
    if (x->watched[i].m == m) return &x->watched[i];
  return NULL;
}

static void watch(lua_State *L, xcs_test *x, xcs_module *m, int may_fail) {
  if (x->nwatched == x->watched_cap) {
    int cap = x->watched_cap ? 2 * x->watched_cap : 16;
    xcs_watched *w = realloc(x->watched, sizeof *w * (size_t)cap);
    if (w == NULL) luaL_error(L, "not enough memory");
    x->watched = w;
    x->watched_cap = cap;
  }
  x->watched[x->nwatched++] = (xcs_watched){m, 0, may_fail};
  xcs_module_pin(m);
}

int xcs_test_unseen_failures(lua_State *L, xcs_test *x) {
  luaL_Buffer b;
  int unseen = 0;
  luaL_buffinit(L, &b);
  for (int i = 0; i < x->nwatched; i++) {
    xcs_watched *w = &x->watched[i];
    if (w->m->failed && !w->seen && !w->may_fail) {
      luaL_addstring(&b, unseen++ ? "; module " : "xcs.run: module ");
      luaL_addstring(&b, w->m->name);
      luaL_addstring(&b, " failed: ");
      luaL_addstring(&b, w->m->error ? w->m->error : "(no message)");
    }
    xcs_module_release(w->m);
  }
  x->nwatched = 0;
  if (unseen)
    luaL_addstring(&b, " (a spec that expects a failure reads m:status(), m:error() or "
                       "m:wait(), or loads the module with { may_fail = true })");
  luaL_pushresult(&b);
  if (unseen) return 1;
  lua_pop(L, 1);
  return 0;
}

static const char *status_of(xcs_module *m) {
  if (m->failed) return "failed";
  if (m->concluded) return "concluded";
  switch (m->phase) {
    case XCS_LOADED: return "loaded";
    case XCS_RUNNING: return "running";
    case XCS_UNLOADING: return "unloading";
    default: return "unloaded";
  }
}

/* The status, as the spec is told it: a failure told is a failure seen. */
static const char *tell_status(lua_State *L, xcs_module *m) {
  if (m->failed) {
    xcs_watched *w = watched_of(xcs_test_of(L), m);
    if (w) w->seen = 1;
  }
  return status_of(m);
}

/* Methods --------------------------------------------------------------------- */

static int mod_port(lua_State *L) {
  xcs_module *m = check_module(L);
  if (m->first_port == 0) return 0;
  lua_pushinteger(L, m->first_port);
  return 1;
}

/* m:ports([protocol]) -> the ports of its TCP listeners and bound UDP
 * sockets open now, in the order it opened them ("TCP" or "UDP": only
 * those). */
static int mod_ports(lua_State *L) {
  xcs_module *m = check_module(L);
  const char *want = NULL;
  if (!lua_isnoneornil(L, 2)) {
    const char *p = luaL_checkstring(L, 2);
    want = strcasecmp(p, "TCP") == 0 ? "TCP" : strcasecmp(p, "UDP") == 0 ? "UDP" : NULL;
    if (want == NULL)
      luaL_error(L, "ports: bad argument #1 (expected \"TCP\" or \"UDP\", got \"%s\")", p);
  }
  lua_newtable(L);
  int t = lua_gettop(L), n = 0;
  for (xcs_list *k = m->handles.next; m->phase < XCS_GONE && k != &m->handles; k = k->next) {
    xcs_handle *h = xcs_container_of(k, xcs_handle, link);
    if (h->type->info == NULL || h->closing) continue;
    lua_newtable(L);
    h->type->info(h, L);
    lua_getfield(L, -1, "protocol");
    lua_getfield(L, -2, "kind");
    lua_getfield(L, -3, "local");
    const char *proto = lua_tostring(L, -3), *kind = lua_tostring(L, -2);
    const char *addr = lua_tostring(L, -1), *colon = addr ? strrchr(addr, ':') : NULL;
    int tcp = proto && strcmp(proto, "TCP") == 0 && kind && strcmp(kind, "listener") == 0;
    int udp = proto && strcmp(proto, "UDP") == 0 && kind && strcmp(kind, "socket") == 0;
    if ((tcp || udp) && colon && (want == NULL || strcmp(want, proto) == 0)) {
      lua_pushinteger(L, strtol(colon + 1, NULL, 10));
      lua_rawseti(L, t, ++n);
    }
    lua_settop(L, t);
  }
  return 1;
}

static int mod_status(lua_State *L) {
  lua_pushstring(L, tell_status(L, check_module(L)));
  return 1;
}

static int mod_error(lua_State *L) {
  xcs_module *m = check_module(L);
  tell_status(L, m);
  if (m->error == NULL) return 0;
  lua_pushstring(L, m->error);
  return 1;
}

static int mod_name(lua_State *L) {
  lua_pushstring(L, check_module(L)->name);
  return 1;
}

static int mod_logs(lua_State *L) {
  modref *r = luaL_checkudata(L, 1, "xcs.module");
  xcs_test_push_log(L, xcs_test_of(L), r->m->name, r->first_line);
  return 1;
}

/* m:unload(): closes everything the module holds, now. */
static int mod_unload(lua_State *L) {
  xcs_module_unload(check_module(L), 1);
  return 0;
}

/* m:wait(): waits until the module has ended and its state is closed;
 * returns its status ("concluded", "failed", "unloaded") and error. */
static int mod_wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  xcs_module *m = check_module(L);
  if (m->phase == XCS_GONE) {
    lua_pushstring(L, tell_status(L, m));
    if (m->error) lua_pushstring(L, m->error);
    return m->error ? 2 : 1;
  }
  if (m->watcher) return luaL_error(L, "wait: another task is waiting on this module");
  return xcs_task_park(L, &m->watcher, -1, mod_wait_k, 0);
}

static int mod_wait(lua_State *L) {
  check_module(L);
  lua_settop(L, 1);
  xcs_task_check(L, "wait");
  return mod_wait_k(L, LUA_OK, 0);
}

/* m:faults(): what fault injection did to what the module received, or
 * nil when it injects nothing. */
static int mod_faults(lua_State *L) {
  xcs_faults *f = check_module(L)->faults;
  if (f == NULL) return 0;
  lua_createtable(L, 0, 6);
  const xcs_fault_stats *s = &f->stats;
  lua_pushinteger(L, (lua_Integer)s->received);
  lua_setfield(L, -2, "received");
  lua_pushinteger(L, (lua_Integer)s->dropped);
  lua_setfield(L, -2, "dropped");
  lua_pushinteger(L, (lua_Integer)s->duplicated);
  lua_setfield(L, -2, "duplicated");
  lua_pushinteger(L, (lua_Integer)s->reordered);
  lua_setfield(L, -2, "reordered");
  lua_pushinteger(L, (lua_Integer)s->delayed);
  lua_setfield(L, -2, "delayed");
  lua_pushinteger(L, (lua_Integer)f->opt.seed);
  lua_setfield(L, -2, "seed");
  return 1;
}

static int mod_gc(lua_State *L) {
  modref *r = luaL_checkudata(L, 1, "xcs.module");
  if (r->m) xcs_module_release(r->m);
  r->m = NULL;
  return 0;
}

static int mod_tostring(lua_State *L) {
  xcs_module *m = check_module(L);
  lua_pushfstring(L, "xcs.module %s (%s)", m->name, status_of(m));
  return 1;
}

/* Loading --------------------------------------------------------------------- */

/* Copies a spec's argument into the module's `arg` table. Only plain
 * values cross: the two states share nothing. */
static void copy_arg(lua_State *L, xcs_module *m) {
  /* stack: key value */
  lua_State *S = m->svc;
  xcs_module_pusharg(m);
  switch (lua_type(L, -1)) {
    case LUA_TNUMBER:
      if (lua_isinteger(L, -1))
        lua_pushinteger(S, lua_tointeger(L, -1));
      else
        lua_pushnumber(S, lua_tonumber(L, -1));
      break;
    case LUA_TBOOLEAN: lua_pushboolean(S, lua_toboolean(L, -1)); break;
    case LUA_TSTRING: {
      size_t len;
      const char *v = lua_tolstring(L, -1, &len);
      lua_pushlstring(S, v, len);
      break;
    }
    default:
      luaL_error(L, "xcs.load: argument '%s' is a %s; only strings, numbers and "
                    "booleans can be passed", lua_tostring(L, -2), luaL_typename(L, -1));
  }
  lua_setfield(S, -2, lua_tostring(L, -2));
  lua_pop(S, 1);
}

static const char *const load_keys[] = {"udp_loss", "udp_dup", "udp_reorder", "delay_ms",
                                        "seed", "may_fail", NULL};

/* xcs.load's third argument: faults for that module alone, and may_fail. */
static int load_options(lua_State *L, int idx, xcs_fault_options *o, int *may_fail) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int known = 0;
    for (int i = 0; load_keys[i]; i++)
      known |= lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), load_keys[i]) == 0;
    if (!known)
      luaL_error(L, "xcs.load: unknown option %s (expected udp_loss, udp_dup, udp_reorder, "
                    "delay_ms, seed or may_fail)", luaL_tolstring(L, -1, NULL));
  }
  lua_getfield(L, idx, "may_fail");
  *may_fail = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return xcs_test_read_faults(L, idx, "xcs.load", o);
}

static int load_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  lua_settop(L, 3);
  return 1;
}

/* Pushes a new module object for m, watched for the rest of the run. */
static void push_module(lua_State *L, xcs_module *m, int may_fail) {
  xcs_test *x = xcs_test_of(L);
  modref *r = lua_newuserdatauv(L, sizeof *r, 0);
  r->m = m;
  r->first_line = x->logged;
  xcs_module_pin(m);
  luaL_setmetatable(L, "xcs.module");
  watch(L, x, m, may_fail);
}

/* xcs.load(path [, args [, options]]) -> module | nil, err. Returns once the
 * module's top-level code has run up to its first wait (so its sockets are
 * open). options: the faults injected into what this module receives,
 * { udp_loss =, udp_dup =, udp_reorder =, delay_ms =, seed = }, over the
 * host-wide ones, and may_fail = true (the run does not fail if it does). */
static int l_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  xcs_test *x = xcs_test_of(L);
  xcs_fault_options faults = x->host.opt.faults;
  int may_fail = 0;
  int own_faults = lua_istable(L, 3) && load_options(L, 3, &faults, &may_fail);
  lua_settop(L, 2);
  xcs_task_check(L, "xcs.load");
  char *err = NULL;
  xcs_module *m = xcs_module_new(&x->host, path, &err);
  if (m == NULL) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    free(err);
    return 2;
  }
  push_module(L, m, may_fail); /* 3 */
  if (own_faults) {
    if (!faults.seed_set) {
      faults.seed = xcs_faults_random_seed();
      faults.seed_set = 1;
    }
    xcs_faults_free(m->faults);
    m->faults = xcs_faults_new(&faults, m->name);
    if (m->faults) {
      char desc[160];
      xcs_faults_describe(&faults, desc, sizeof desc);
      xcs_log(&x->host, m->name, "injecting faults into what it receives: %s", desc);
    }
  }
  if (lua_istable(L, 2)) {
    lua_pushnil(L);
    while (lua_next(L, 2)) {
      if (lua_type(L, -2) != LUA_TSTRING)
        return luaL_error(L, "xcs.load: argument names must be strings");
      copy_arg(L, m);
      lua_pop(L, 1);
    }
  }
  xcs_module_start(m);
  if (m->started || m->phase >= XCS_UNLOADING) return load_k(L, LUA_OK, 0);
  return xcs_task_park(L, &m->watcher, -1, load_k, 0);
}

/* m:reload() -> the new version | nil, err. Loads the file again; the new
 * version takes over the ports the old one opened by number, and the old
 * one is unloaded once the new one's first step is over (host/reload.h). */
static int mod_reload(lua_State *L) {
  xcs_module *m = check_module(L);
  lua_settop(L, 1);
  xcs_task_check(L, "reload");
  char *err = NULL;
  xcs_module *next = xcs_reload(m, &err);
  if (next == NULL) {
    lua_pushnil(L);
    lua_pushstring(L, err ? err : "cannot reload");
    free(err);
    return 2;
  }
  xcs_watched *w = watched_of(xcs_test_of(L), m);
  push_module(L, next, w && w->may_fail); /* 2 */
  lua_pushnil(L); /* load_k returns index 3 */
  lua_insert(L, 2);
  if (next->started || next->phase >= XCS_UNLOADING) return load_k(L, LUA_OK, 0);
  return xcs_task_park(L, &next->watcher, -1, load_k, 0);
}

void xcs_test_module_open(lua_State *L) {
  luaL_newmetatable(L, "xcs.module");
  static const luaL_Reg methods[] = {
      {"port", mod_port},     {"ports", mod_ports},   {"status", mod_status},
      {"error", mod_error},   {"name", mod_name},     {"logs", mod_logs},
      {"unload", mod_unload}, {"wait", mod_wait},     {"reload", mod_reload},
      {"faults", mod_faults}, {NULL, NULL}};
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, mod_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, mod_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_load);
  lua_setfield(L, -2, "load");
}
