/*
 * xcs.c — luaopen_xcs: the host as a Lua C module, for busted specs.
 *
 *   local xcs = require "xcs"
 *   xcs.run(function()
 *     local m = xcs.load("examples/echo.lua", { port = 0 })
 *     local c = xcs.socket.connect("127.0.0.1", m:port(), "TCP")
 *     c:write("hi\n")
 *     assert.are.equal("hi\n", c:read())
 *     m:unload()
 *   end)
 *
 * The interpreter running the spec becomes the "client" module of an
 * in-process host: xcs.run runs a function as one of its tasks, so it uses
 * the same socket table a module does, while xcs.load loads real modules
 * into their own sandboxed states on the same loop. Everything a run opened
 * or loaded is closed or unloaded when the run ends.
 */
#include <lauxlib.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/addr.h"
#include "bindings/faults.h"
#include "bindings/guard.h"
#include "bindings/handle.h"
#include "bindings/lib.h"
#include "bindings/process.h"
#include "bindings/socket.h"
#include "bindings/task.h"
#include "host/host.h"
#include "bindings/core/log.h"
#include "host/module.h"
#include "host/reload.h"

#define LOG_LINES 2000 /* the log kept for m:logs() and xcs.logs() */

typedef struct xcs_test {
  xcs_host host;
  xcs_module *client;
  char *log[LOG_LINES]; /* "tag: line", oldest overwritten first */
  uint64_t log_seq[LOG_LINES];
  size_t log_len[LOG_LINES];
  uint64_t logged;      /* lines captured so far */
  int log_next;
  int running, done, timed_out, raised;
  uv_timer_t timeout;   /* bounds each xcs.run */
  int echo_log;         /* XCS_LOG=1: also to stderr */
} xcs_test;

typedef struct modref {
  xcs_module *m;
  uint64_t first_line; /* its lines are those captured since it was loaded */
} modref;

static const char test_key = 0;
static const char results_key = 0;
static const char error_key = 0;
static const char module_key = 0; /* the xcs table, returned by every require */

static xcs_test *test_of(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &test_key);
  xcs_test *x = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return x;
}

static void capture_log(void *ud, const xcs_log_record *r) {
  xcs_test *x = ud;
  const char *tag = r->tag, *line = r->line;
  size_t len = r->len;
  size_t tlen = strlen(tag);
  char *s = malloc(tlen + 2 + len + 1);
  if (s) {
    memcpy(s, tag, tlen);
    memcpy(s + tlen, ": ", 2);
    memcpy(s + tlen + 2, line, len);
    s[tlen + 2 + len] = '\0';
  }
  free(x->log[x->log_next]);
  x->log[x->log_next] = s;
  x->log_seq[x->log_next] = x->logged++;
  x->log_len[x->log_next] = s ? tlen + 2 + len : 0;
  x->log_next = (x->log_next + 1) % LOG_LINES;
  if (x->echo_log) xcs_log_stderr(NULL, r);
}

/* Pushes the captured lines (those of `tag` only, if given, from line
 * number `since` on), oldest first. */
static void push_log(lua_State *L, xcs_test *x, const char *tag, uint64_t since) {
  lua_newtable(L);
  size_t tlen = tag ? strlen(tag) : 0;
  int n = 0;
  for (int i = 0; i < LOG_LINES; i++) {
    int at = (x->log_next + i) % LOG_LINES;
    const char *s = x->log[at];
    if (s == NULL || x->log_seq[at] < since) continue;
    size_t len = x->log_len[at];
    if (tag) {
      if (strncmp(s, tag, tlen) != 0 || strncmp(s + tlen, ": ", 2) != 0) continue;
      s += tlen + 2;
      len -= tlen + 2;
    }
    lua_pushlstring(L, s, len);
    lua_rawseti(L, -2, ++n);
  }
}

/* Modules ------------------------------------------------------------------- */

static xcs_module *check_module(lua_State *L) {
  return ((modref *)luaL_checkudata(L, 1, "xcs.module"))->m;
}

static int mod_port(lua_State *L) {
  xcs_module *m = check_module(L);
  if (m->first_port == 0) return 0;
  lua_pushinteger(L, m->first_port);
  return 1;
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

static int mod_status(lua_State *L) {
  lua_pushstring(L, status_of(check_module(L)));
  return 1;
}

static int mod_error(lua_State *L) {
  xcs_module *m = check_module(L);
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
  push_log(L, test_of(L), r->m->name, r->first_line);
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
    lua_pushstring(L, status_of(m));
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
  lua_createtable(L, 0, 5);
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

/* Fault options ------------------------------------------------------------------ */

static const char *const fault_keys[] = {"udp_loss", "udp_dup", "udp_reorder", "delay_ms",
                                         "seed", NULL};

/* Reads the fault options present in the table at idx into o (the others
 * keep their value); raises naming fname. Returns whether any was given. */
static int read_faults(lua_State *L, int idx, const char *fname, xcs_fault_options *o) {
  int any = 0;
  double *probs[] = {&o->udp_loss, &o->udp_dup, &o->udp_reorder};
  for (int i = 0; fault_keys[i]; i++) {
    if (lua_getfield(L, idx, fault_keys[i]) == LUA_TNIL) {
      lua_pop(L, 1);
      continue;
    }
    any = 1;
    int isnum;
    if (i < 3) {
      lua_Number p = lua_tonumberx(L, -1, &isnum);
      if (!isnum || !(p >= 0 && p <= 1))
        luaL_error(L, "%s: %s must be a probability from 0 to 1, got %s", fname, fault_keys[i],
                   luaL_tolstring(L, -1, NULL));
      *probs[i] = p;
    } else {
      lua_Integer v = lua_tointegerx(L, -1, &isnum);
      lua_Integer top = i == 3 ? XCS_FAULT_MAX_DELAY_MS : LUA_MAXINTEGER;
      if (!isnum || v < 0 || v > top)
        luaL_error(L, "%s: %s must be an integer from 0 to %I, got %s", fname, fault_keys[i],
                   top, luaL_tolstring(L, -1, NULL));
      if (i == 3) {
        o->delay_ms = (unsigned)v;
      } else {
        o->seed = (uint64_t)v;
        o->seed_set = 1;
      }
    }
    lua_pop(L, 1);
  }
  return any;
}

/* xcs.load's third argument: faults for that module alone. */
static int load_options(lua_State *L, int idx, xcs_fault_options *o) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int known = 0;
    for (int i = 0; fault_keys[i]; i++)
      known |= lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), fault_keys[i]) == 0;
    if (!known)
      luaL_error(L, "xcs.load: unknown option %s (expected udp_loss, udp_dup, udp_reorder, "
                    "delay_ms or seed)", luaL_tolstring(L, -1, NULL));
  }
  return read_faults(L, idx, "xcs.load", o);
}

static int load_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  lua_settop(L, 3);
  return 1;
}

/* xcs.load(path [, args [, options]]) -> module | nil, err. Returns once the
 * module's top-level code has run up to its first wait (so its sockets are
 * open). options: the faults injected into what this module receives,
 * { udp_loss =, udp_dup =, udp_reorder =, delay_ms =, seed = }, over the
 * host-wide ones. */
static int l_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  xcs_test *x = test_of(L);
  xcs_fault_options faults = x->host.opt.faults;
  int own_faults = lua_istable(L, 3) && load_options(L, 3, &faults);
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
  modref *r = lua_newuserdatauv(L, sizeof *r, 0); /* 3 */
  r->m = m;
  r->first_line = x->logged;
  xcs_module_pin(m);
  luaL_setmetatable(L, "xcs.module");
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
  modref *r = lua_newuserdatauv(L, sizeof *r, 0); /* 2 */
  r->m = next;
  r->first_line = test_of(L)->logged;
  xcs_module_pin(next);
  luaL_setmetatable(L, "xcs.module");
  lua_pushnil(L); /* load_k returns index 3 */
  lua_insert(L, 2);
  if (next->started || next->phase >= XCS_UNLOADING) return load_k(L, LUA_OK, 0);
  return xcs_task_park(L, &next->watcher, -1, load_k, 0);
}

/* Running --------------------------------------------------------------------- */

/* The run's function returned or raised: keep its results, or its error
 * as it was raised (a busted assertion is a table), for l_run. */
static int run_done(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  xcs_test *x = test_of(L);
  x->done = 1;
  if (status != LUA_OK && status != LUA_YIELD) {
    x->raised = 1;
    lua_rawsetp(L, LUA_REGISTRYINDEX, &error_key);
    return 0;
  }
  int n = lua_gettop(L);
  lua_createtable(L, n, 1);
  lua_insert(L, 1);
  for (int i = n; i >= 1; i--) lua_rawseti(L, 1, i);
  lua_pushinteger(L, n);
  lua_setfield(L, 1, "n");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &results_key);
  return 0;
}

static int run_body(lua_State *L) {
  int status = lua_pcallk(L, lua_gettop(L) - 1, LUA_MULTRET, 0, 0, run_done);
  return run_done(L, status, 0);
}

static void run_timeout_cb(uv_timer_t *t) { ((xcs_test *)t->data)->timed_out = 1; }

/* Closes and unloads what the run left behind, so the next starts clean. */
static void run_cleanup(xcs_test *x) {
  xcs_module *c = x->client;
  xcs_task_cancel_all(c);
  for (xcs_list *n = c->handles.next; n != &c->handles; n = n->next)
    xcs_handle_close(xcs_container_of(n, xcs_handle, link), 1);
  for (xcs_list *n = x->host.modules.next; n != &x->host.modules; n = n->next) {
    xcs_module *m = xcs_container_of(n, xcs_module, link);
    if (m != c) xcs_module_unload(m, 1);
  }
  /* Bounded by the linger deadline: every handle is closing. */
  uint64_t until = uv_now(&x->host.loop) + x->host.opt.linger_ms + 1000;
  while ((x->host.modules.next != &c->link || x->host.modules.prev != &c->link ||
          c->life.holds > 1) &&
         uv_now(&x->host.loop) < until)
    uv_run(&x->host.loop, UV_RUN_ONCE);
}

/* xcs.run(fn, ... [, {timeout = seconds}]) -> fn's results; raises fn's
 * error, or a timeout (default 10 s). */
static int l_run(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  xcs_test *x = test_of(L);
  if (x->running) return luaL_error(L, "xcs.run: already running (runs do not nest)");
  double timeout = 10;
  int nargs = lua_gettop(L) - 1;
  if (nargs > 0 && lua_istable(L, -1) && lua_getfield(L, -1, "timeout") != LUA_TNIL) {
    timeout = luaL_checknumber(L, -1);
    lua_pop(L, 2);
    nargs--;
  } else if (nargs > 0 && lua_istable(L, -1)) {
    lua_pop(L, 1);
  }
  xcs_module *c = x->client;
  free(c->error);
  c->error = NULL;
  c->failed = 0;
  x->done = x->raised = 0;
  x->running = 1;
  lua_pushcfunction(L, run_body);
  lua_insert(L, 1);
  xcs_task_spawn(c, L, nargs + 1);

  x->timed_out = 0;
  uv_timer_start(&x->timeout, run_timeout_cb, (uint64_t)(timeout * 1000), 0);
  while (!x->done && !c->failed && !x->timed_out) uv_run(&x->host.loop, UV_RUN_ONCE);
  uv_timer_stop(&x->timeout);
  run_cleanup(x);
  x->running = 0;

  if (x->raised) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &error_key);
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &error_key);
    return lua_error(L);
  }
  if (c->failed) return luaL_error(L, "%s", c->error);
  if (x->timed_out) return luaL_error(L, "xcs.run: timed out after %f s", timeout);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &results_key);
  lua_pushnil(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &results_key);
  lua_getfield(L, -1, "n");
  int n = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  luaL_checkstack(L, n, "too many results");
  for (int i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
  return n;
}

/* xcs.logs([tag]): captured log lines, "tag: line" (or just the lines of
 * one tag). */
static int l_logs(lua_State *L) {
  push_log(L, test_of(L), luaL_optstring(L, 1, NULL), 0);
  return 1;
}

/* xcs.configure{ bind=, memory_limit=MB, cpu_limit=s, linger_ms=, udp_loss=,
 * udp_dup=, udp_reorder=, delay_ms=, seed=, unix_dir=, lua_path={dirs}, and the guard's
 * (guard.h): max_clients=, max_per_address=, accept_rate=, accept_burst=,
 * first_data_timeout=, idle_timeout=, max_queued=, report_interval= }: host
 * options for the modules loaded from now on (unix_dir = false: none again). */
static int l_configure(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  xcs_test *x = test_of(L);
  xcs_options *o = &x->host.opt;
  if (lua_getfield(L, 1, "bind") != LUA_TNIL) {
    struct sockaddr_storage sa;
    if (xcs_addr_from(luaL_checkstring(L, -1), 0, &sa) != 0)
      return luaL_error(L, "xcs.configure: bind needs an IP address, not '%s'",
                        lua_tostring(L, -1));
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &o->bind); /* keeps the string alive */
    o->bind = luaL_checkstring(L, -1);
  }
  if (lua_getfield(L, 1, "memory_limit") != LUA_TNIL)
    o->memory_limit = (size_t)luaL_checkinteger(L, -1) << 20;
  if (lua_getfield(L, 1, "cpu_limit") != LUA_TNIL) o->cpu_limit = luaL_checknumber(L, -1);
  if (lua_getfield(L, 1, "max_sockets") != LUA_TNIL)
    o->max_sockets = (int)luaL_checkinteger(L, -1);
  if (lua_getfield(L, 1, "max_connections") != LUA_TNIL)
    o->max_connections = (int)luaL_checkinteger(L, -1);
  if (lua_getfield(L, 1, "ports") != LUA_TNIL && xcs_ports_parse(luaL_checkstring(L, -1), o) != 0)
    return luaL_error(L, "xcs.configure: ports must be a list such as \"0,1024-65535\"");
  if (lua_getfield(L, 1, "linger_ms") != LUA_TNIL)
    o->linger_ms = (unsigned)luaL_checkinteger(L, -1);
  if (lua_getfield(L, 1, "unix_dir") != LUA_TNIL) {
    if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) {
      o->unix_dir = NULL;
    } else {
      luaL_checktype(L, -1, LUA_TSTRING);
      lua_pushvalue(L, -1);
      lua_rawsetp(L, LUA_REGISTRYINDEX, &o->unix_dir); /* keeps the string alive */
      o->unix_dir = lua_tostring(L, -1);
    }
  }
  if (lua_getfield(L, 1, "lua_path") != LUA_TNIL) {
    /* A list of directories, as --lua-path given once for each; false or
     * {} for none. The list is kept in the registry, so its strings live. */
    if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) lua_newtable(L);
    luaL_checktype(L, -1, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    if (n > XCS_MAX_LUA_PATHS)
      return luaL_error(L, "xcs.configure: lua_path takes at most %d directories", XCS_MAX_LUA_PATHS);
    for (lua_Integer i = 1; i <= n; i++) {
      if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
        return luaL_error(L, "xcs.configure: lua_path must be a list of directories");
      lua_pop(L, 1);
    }
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      o->lua_paths[i - 1] = lua_tostring(L, -1); /* the list below holds it */
      lua_pop(L, 1);
    }
    o->nlua_paths = (int)n;
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, o->lua_paths); /* keeps the strings alive */
  }
  xcs_guard_options_read(L, 1, "xcs.configure", &o->guard);
  xcs_fault_options faults = o->faults;
  if (read_faults(L, 1, "xcs.configure", &faults)) {
    o->faults = faults;
    xcs_faults_announce(&x->host); /* picks a seed if none was given */
  }
  return 0;
}

static int test_gc(lua_State *L) {
  xcs_test *x = lua_touserdata(L, 1);
  if (x->client == NULL) return 0;
  xcs_host_close(&x->host);
  x->client = NULL;
  for (int i = 0; i < LOG_LINES; i++) free(x->log[i]);
  return 0;
}

__attribute__((visibility("default"))) int luaopen_xcs(lua_State *L) {
  /* One host per interpreter: busted may clear package.loaded between spec
   * files, and a second require must find the same host. */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &module_key) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  signal(SIGPIPE, SIG_IGN);

  xcs_test *x = lua_newuserdatauv(L, sizeof *x, 0);
  memset(x, 0, sizeof *x);
  xcs_options o;
  xcs_options_default(&o);
  o.linger_ms = 500; /* specs should not wait on peers that never close */
  o.log_level = XCS_LOG_DEBUG; /* a spec sees every line, log.debug's too */
  if (xcs_host_init(&x->host, &o) != 0) return luaL_error(L, "xcs: cannot start a loop");
  uv_timer_init(&x->host.loop, &x->timeout);
  x->timeout.data = x;
  x->host.log = capture_log;
  x->host.log_ud = x;
  const char *e = getenv("XCS_LOG");
  x->echo_log = e && *e && strcmp(e, "0") != 0;
  lua_newtable(L);
  lua_pushcfunction(L, test_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &test_key);
  x->client = xcs_module_borrow(&x->host, L, "spec");

  luaL_newmetatable(L, "xcs.module");
  static const luaL_Reg mod_methods[] = {
      {"port", mod_port},     {"status", mod_status}, {"error", mod_error},
      {"name", mod_name},     {"logs", mod_logs},     {"unload", mod_unload},
      {"wait", mod_wait},     {"reload", mod_reload}, {"faults", mod_faults},
      {NULL, NULL}};
  luaL_newlib(L, mod_methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, mod_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, mod_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);

  static const luaL_Reg fns[] = {{"run", l_run},   {"load", l_load},
                                 {"logs", l_logs}, {"configure", l_configure},
                                 {NULL, NULL}};
  luaL_newlib(L, fns);
  xcs_socket_open(L, 0);
  xcs_lib_open(L);
  xcs_process_open(L);
  lua_pushstring(L, XCS_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &module_key);
  return 1;
}
