/*
 * xcs.c — luaopen_xcs: the host as a Lua C module, for busted specs (with
 * xcs_module.c and xcs_configure.c; see xcs.h).
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

#include "bindings/handle.h"
#include "bindings/lib.h"
#include "bindings/process.h"
#include "bindings/socket.h"
#include "bindings/task.h"
#include "host/xcs.h"
#include "bindings/core/log.h"

static const char test_key = 0;
static const char results_key = 0;
static const char error_key = 0;
static const char module_key = 0; /* the xcs table, returned by every require */

xcs_test *xcs_test_of(lua_State *L) {
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

void xcs_test_push_log(lua_State *L, xcs_test *x, const char *tag, uint64_t since) {
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

/* Running --------------------------------------------------------------------- */

/* The run's function returned or raised: keep its results, or its error
 * as it was raised (a busted assertion is a table), for l_run. */
static int run_done(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  xcs_test *x = xcs_test_of(L);
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
  xcs_test *x = xcs_test_of(L);
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
  xcs_test_scope_begin(x);
  lua_pushcfunction(L, run_body);
  lua_insert(L, 1);
  xcs_task_spawn(c, L, nargs + 1);

  x->timed_out = 0;
  uv_timer_start(&x->timeout, run_timeout_cb, (uint64_t)(timeout * 1000), 0);
  while (!x->done && !c->failed && !x->timed_out) uv_run(&x->host.loop, UV_RUN_ONCE);
  uv_timer_stop(&x->timeout);
  run_cleanup(x);
  x->running = 0;
  xcs_test_scope_end(x); /* what it configured is undone */

  int unseen = xcs_test_unseen_failures(L, x);
  if (x->raised) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &error_key);
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &error_key);
    return lua_error(L);
  }
  if (c->failed) return luaL_error(L, "%s", c->error);
  if (x->timed_out)
    return luaL_error(L, "xcs.run: timed out after %f s%s%s", timeout, unseen ? "; " : "",
                      unseen ? lua_tostring(L, -1) : "");
  if (unseen) return lua_error(L);
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
  xcs_test_push_log(L, xcs_test_of(L), luaL_optstring(L, 1, NULL), 0);
  return 1;
}

/* Under busted, what xcs.configure sets lasts until the end of the test,
 * describe block or file it was set in (xcs_configure.c): its events mark
 * where each begins and ends. */
static const char busted_hooks[] =
    "local scope = ...\n"
    "if not package.loaded['busted.core'] then return end\n"
    "local busted = require 'busted'\n"
    "local subscribe = busted.subscribe\n"
    "if type(subscribe) ~= 'function' then return end\n"
    "local function on(event, what)\n"
    "  subscribe(event, function() scope(what) return nil, true end)\n"
    "end\n"
    "on({ 'describe', 'start' }, 'begin')\n"
    "on({ 'describe', 'end' }, 'end')\n"
    "on({ 'test', 'start' }, 'begin')\n"
    "on({ 'test', 'end' }, 'end')\n"
    "on({ 'file', 'end' }, 'file')\n";

static int test_gc(lua_State *L) {
  xcs_test *x = lua_touserdata(L, 1);
  if (x->client == NULL) return 0;
  xcs_host_close(&x->host);
  x->client = NULL;
  for (int i = 0; i < LOG_LINES; i++) free(x->log[i]);
  free(x->watched);
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

  static const luaL_Reg fns[] = {{"run", l_run}, {"logs", l_logs}, {NULL, NULL}};
  luaL_newlib(L, fns);
  xcs_test_module_open(L);
  xcs_test_configure_open(L);
  xcs_socket_open(L, 0);
  xcs_lib_open(L);
  xcs_process_open(L);
  lua_pushstring(L, XCS_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &module_key);
  x->defaults = x->host.opt;
  int top = lua_gettop(L);
  if (luaL_loadstring(L, busted_hooks) == LUA_OK) {
    lua_getfield(L, -2, "_scope");
    lua_pcall(L, 1, 0, 0); /* not under busted, or an odd one: runs still scope */
  }
  lua_settop(L, top);
  return 1;
}
