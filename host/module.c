/*
 * module.c — loading, failing, unloading and destroying one module.
 */
#include "host/module.h"

#include <assert.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/faults.h"
#include "bindings/handle.h"
#include "bindings/task.h"
#include "bindings/tcp.h"
#include "bindings/core/log.h"
#include "host/metrics.h"
#include "host/reload.h"
#include "host/sandbox.h"

static const char main_key = 0; /* registry: the compiled top-level chunk */
static const char arg_key = 0;  /* registry: the module's `arg` table */
static const char hook_key = 0; /* registry: its unload hook, if any */

static char *name_of(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t n = strlen(base);
  if (n > 4 && strcmp(base + n - 4, ".lua") == 0) n -= 4;
  return strndup(base, n);
}

static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
}

static void module_free(xcs_module *m);

/* Its last hold went (it unloads, and nothing it owned is left): its state
 * is closed on the host's next tick. */
static void module_settled(xcs_life *l) {
  xcs_module *m = xcs_container_of(l, xcs_module, life);
  xcs_list_push(&m->host->dead, &m->dead);
  xcs_host_poke(m->host);
}

static void module_unpinned(xcs_life *l) { module_free(xcs_container_of(l, xcs_module, pins)); }

static xcs_module *module_alloc(xcs_host *h, const char *name) {
  xcs_module *m = calloc(1, sizeof *m);
  if (m == NULL) return NULL;
  m->host = h;
  m->name = strdup(name);
  xcs_list_init(&m->link);
  xcs_list_init(&m->dead);
  xcs_list_init(&m->handles);
  xcs_list_init(&m->tasks);
  xcs_list_init(&m->held);
  m->svc_ref = LUA_NOREF;
  xcs_life_init(&m->life, h, module_settled);
  xcs_life_init(&m->pins, NULL, module_unpinned);
  return m;
}

static void module_free(xcs_module *m) {
  free(m->name);
  free(m->path);
  free(m->dir);
  free(m->error);
  xcs_faults_free(m->faults);
  free(m);
}

/* Runs protected in the new state: libraries, sandbox, then the file. */
static int setup(lua_State *L) {
  xcs_module *m = lua_touserdata(L, 1);
  m->svc = lua_newthread(L);
  m->svc_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  xcs_sandbox_open(L, m);
  lua_getfield(L, -1, "arg");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &arg_key);
  lua_pop(L, 1);
  xcs_sandbox_loadfile(L, m->path);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &main_key);
  return 0;
}

xcs_module *xcs_module_new(xcs_host *h, const char *path, char **err) {
  char *name = name_of(path);
  xcs_module *m = name ? module_alloc(h, name) : NULL;
  free(name);
  if (m == NULL || (m->path = strdup(path)) == NULL || (m->dir = dir_of(path)) == NULL) {
    if (m) module_free(m);
    *err = strdup("not enough memory");
    return NULL;
  }
  m->limits.budget = h->opt.memory_limit;
  m->limits.burst_ns = (uint64_t)(h->opt.cpu_limit * 1e9);
  m->faults = xcs_faults_new(&h->opt.faults, m->name);
  lua_State *L = lua_newstate(xcs_limits_alloc, &m->limits);
  if (L == NULL) {
    module_free(m);
    *err = strdup("not enough memory");
    return NULL;
  }
  m->L = L;
  m->owns_state = 1;
  *(xcs_module **)lua_getextraspace(L) = m;
  /* Everything setup makes is kept but the compiler's leftovers, which the
   * full collection below frees: incremental steps during it would only
   * walk the new state again and again. The budget still holds (a failed
   * allocation collects even with the collector stopped). */
  lua_gc(L, LUA_GCSTOP);
  lua_pushcfunction(L, setup);
  lua_pushlightuserdata(L, m);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    *err = strdup(msg ? msg : "cannot load the module");
    lua_close(L);
    module_free(m);
    return NULL;
  }
  /* Compiling the prelude and the module left garbage the collector would
   * only reach after the module has allocated as much again: freed now, the
   * next module made reuses the memory (1,000 modules in one host). */
  lua_gc(L, LUA_GCRESTART);
  lua_gc(L, LUA_GCCOLLECT);
  m->phase = XCS_LOADED;
  xcs_list_push(&h->modules, &m->link);
  return m;
}

xcs_module *xcs_module_borrow(xcs_host *h, lua_State *L, const char *name) {
  xcs_module *m = module_alloc(h, name);
  if (m == NULL) luaL_error(L, "not enough memory");
  m->L = L;
  m->svc = lua_newthread(L);
  m->svc_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  m->phase = XCS_RUNNING;
  m->started = 1;
  /* New threads copy the main thread's extra space: set it there. */
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  *(xcs_module **)lua_getextraspace(lua_tothread(L, -1)) = m;
  lua_pop(L, 1);
  *(xcs_module **)lua_getextraspace(L) = m;
  *(xcs_module **)lua_getextraspace(m->svc) = m;
  xcs_list_push(&h->modules, &m->link);
  return m;
}

void xcs_module_pusharg(xcs_module *m) {
  lua_rawgetp(m->svc, LUA_REGISTRYINDEX, &arg_key);
}

/* Runs protected on dst's svc: copies the plain values of src's `arg`. */
static int copy_args(lua_State *L) {
  xcs_module *src = lua_touserdata(L, 1);
  lua_State *S = src->svc;
  xcs_module_pusharg(xcs_module_of(L));
  xcs_module_pusharg(src);
  lua_pushnil(S);
  while (lua_next(S, -2)) {
    int copied = lua_type(S, -2) == LUA_TSTRING;
    if (copied) lua_pushstring(L, lua_tostring(S, -2));
    switch (copied ? lua_type(S, -1) : LUA_TNONE) {
      case LUA_TSTRING: {
        size_t len;
        const char *v = lua_tolstring(S, -1, &len);
        lua_pushlstring(L, v, len);
        break;
      }
      case LUA_TNUMBER:
        if (lua_isinteger(S, -1))
          lua_pushinteger(L, lua_tointeger(S, -1));
        else
          lua_pushnumber(L, lua_tonumber(S, -1));
        break;
      case LUA_TBOOLEAN: lua_pushboolean(L, lua_toboolean(S, -1)); break;
      default:
        if (copied) lua_pop(L, 1);
        copied = 0;
    }
    if (copied) lua_rawset(L, -3);
    lua_pop(S, 1);
  }
  lua_pop(S, 1);
  return 0;
}

void xcs_module_copyargs(xcs_module *dst, xcs_module *src) {
  const char *err = xcs_module_pcall(dst, copy_args, src);
  if (err) xcs_log_at(dst->host, XCS_LOG_ERROR, dst->name, "cannot copy the arguments: %s", err);
}

void xcs_module_setarg(xcs_module *m, const char *key, const char *value) {
  xcs_module_pusharg(m);
  lua_pushstring(m->svc, value);
  lua_setfield(m->svc, -2, key);
  lua_pop(m->svc, 1);
}

static int start_main(lua_State *L) {
  xcs_module *m = lua_touserdata(L, 1);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &main_key);
  xcs_task_spawn(m, L, 0)->is_main = 1;
  lua_pushnil(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &main_key);
  return 0;
}

const char *xcs_module_pcall(xcs_module *m, lua_CFunction f, void *ud) {
  lua_State *S = m->svc;
  lua_settop(S, 0);
  lua_pushcfunction(S, f);
  lua_pushlightuserdata(S, ud);
  /* The collector may run module finalizers here: guard them like a task. */
  lua_State *prev = xcs_limits_running(S);
  xcs_limits saved = m->limits;
  if (saved.slice_start == 0) xcs_limits_enter(&m->limits, uv_hrtime(), 0);
  int status = lua_pcall(S, 1, 0, 0);
  m->limits.slice_start = saved.slice_start;
  m->limits.burst_start = saved.burst_start;
  xcs_limits_running(prev);
  if (status == LUA_OK) return NULL;
  const char *msg = lua_tostring(S, -1);
  return msg ? msg : "(error object is not a string)";
}

void xcs_module_start(xcs_module *m) {
  assert(m->phase == XCS_LOADED);
  m->phase = XCS_RUNNING;
  const char *err = xcs_module_pcall(m, start_main, m);
  if (err) xcs_module_fail(m, err);
}

int xcs_module_l_on_unload(lua_State *L) {
  if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &hook_key);
  return 0;
}

static void stop_timer_cancel(xcs_module *m) {
  if (!m->stop_timing) return;
  m->stop_timing = 0;
  xcs_life_uv_close(&m->life, (uv_handle_t *)&m->stop_timer);
}

static void stop_deadline_cb(uv_timer_t *t) {
  xcs_module *m = t->data;
  xcs_log_at(m->host, XCS_LOG_WARN, m->name, "unload hook still running after %g s (--stop-timeout): unloading",
          m->host->opt.stop_timeout);
  xcs_module_unload(m, 1);
}

static int spawn_hook(lua_State *L) {
  xcs_module *m = lua_touserdata(L, 1);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &hook_key);
  xcs_task_spawn(m, L, 0);
  return 0;
}

/* Retiring (a reload replaced it, no unload hook): every few ms, whether
 * its last connection has gone, or the deadline has come. */
#define RETIRE_LOOK_MS 20
static void retire_cb(uv_timer_t *t) {
  xcs_module *m = t->data;
  if (m->nconnections > 0 && uv_now(&m->host->loop) < m->retire_until) return;
  if (m->nconnections > 0)
    xcs_log_at(m->host, XCS_LOG_WARN, m->name,
               "%d connection%s still open after %g s (--stop-timeout): unloading",
               m->nconnections, m->nconnections == 1 ? "" : "s", m->host->opt.stop_timeout);
  xcs_module_unload(m, 1);
}

static void stop(xcs_module *m, int retire) {
  if (m->phase != XCS_RUNNING || m->stopping) return;
  int hooked = m->owns_state && lua_rawgetp(m->svc, LUA_REGISTRYINDEX, &hook_key) == LUA_TFUNCTION;
  if (m->owns_state) lua_pop(m->svc, 1);
  retire = retire && !hooked && m->owns_state && m->nconnections > 0;
  if (!hooked && !retire) {
    xcs_module_unload(m, 1);
    return;
  }
  m->stopping = 1;
  xcs_tcp_stop_accepting(m);
  uv_loop_t *loop = &m->host->loop;
  uint64_t timeout_ms = (uint64_t)(m->host->opt.stop_timeout * 1000);
  if (retire) {
    /* No hook to finish its work: it goes on serving the clients it holds
     * (a request in flight on one of them is answered) and goes once they
     * have, as nginx's old workers do on a reload. */
    m->retire_until = uv_now(loop) + timeout_ms;
    uv_timer_init(loop, &m->stop_timer);
    m->stop_timer.data = m;
    uv_timer_start(&m->stop_timer, retire_cb, RETIRE_LOOK_MS, RETIRE_LOOK_MS);
    m->stop_timing = 1;
    xcs_log(m->host, m->name, "stopping: serving its %d connection%s to their end (up to %g s)",
            m->nconnections, m->nconnections == 1 ? "" : "s", m->host->opt.stop_timeout);
    return;
  }
  const char *err = xcs_module_pcall(m, spawn_hook, m);
  if (err) {
    xcs_module_fail(m, err);
    return;
  }
  uv_timer_init(loop, &m->stop_timer);
  m->stop_timer.data = m;
  uv_timer_start(&m->stop_timer, stop_deadline_cb, timeout_ms, 0);
  m->stop_timing = 1;
  xcs_log(m->host, m->name, "stopping: unload hook running (up to %g s)",
          m->host->opt.stop_timeout);
}

void xcs_module_stop(xcs_module *m) { stop(m, 0); }

void xcs_module_retire(xcs_module *m) { stop(m, 1); }

int xcs_module_strict(xcs_module *m) {
  if (m->host->opt.strict) return 1;
  if (!m->owns_state || m->phase != XCS_RUNNING) return 0;
  lua_State *S = m->svc;
  xcs_sandbox_push_env(S);
  lua_pushliteral(S, "strict");
  int strict = lua_rawget(S, -2) == LUA_TBOOLEAN && lua_toboolean(S, -1);
  lua_pop(S, 2);
  return strict;
}

void xcs_module_fail(xcs_module *m, const char *msg) {
  if (m->failed || m->phase >= XCS_UNLOADING) return;
  m->failed = 1;
  m->error = strdup(msg ? msg : "(no message)");
  if (!m->owns_state) return; /* the test client: xcs.run reports it */
  m->host->failed++;
  xcs_log_at(m->host, XCS_LOG_ERROR, m->name, "failed: %s", m->error ? m->error : msg);
  xcs_module_unload(m, 1);
}

void xcs_module_unload(xcs_module *m, int graceful) {
  if (m->phase >= XCS_UNLOADING) {
    if (!graceful) /* a forced stop after a graceful one */
      for (xcs_list *n = m->handles.next; n != &m->handles; n = n->next)
        xcs_handle_close(xcs_container_of(n, xcs_handle, link), 0);
    return;
  }
  if (m->owns_state && m->phase == XCS_RUNNING && !m->failed && !m->concluded)
    xcs_log(m->host, m->name, "unloading");
  m->phase = XCS_UNLOADING;
  stop_timer_cancel(m);
  /* __close handlers of suspended tasks run now, still guarded. */
  xcs_limits_enter(&m->limits, uv_hrtime(), 0);
  xcs_task_cancel_all(m);
  xcs_limits_leave(&m->limits);
  /* Handles stay on the list until their close callback, so walking it
   * while closing is safe. */
  for (xcs_list *n = m->handles.next; n != &m->handles; n = n->next)
    xcs_handle_close(xcs_container_of(n, xcs_handle, link), graceful);
  xcs_release(&m->life); /* its own hold: the last one finishes the unload */
}

void xcs_module_conclude(xcs_module *m) {
  if (m->phase >= XCS_UNLOADING) return;
  m->concluded = 1;
  xcs_log(m->host, m->name, "concluded");
  xcs_module_unload(m, 1);
}

void xcs_module_destroy(xcs_module *m) {
  assert(m->life.holds == 0 && xcs_list_empty(&m->handles));
  m->phase = XCS_GONE;
  assert(m->nrefs == 0);
  if (m->owns_state) {
    /* Finalizers are module code: they run guarded, and find every socket
     * call refusing (the module is gone). */
    xcs_limits_enter(&m->limits, uv_hrtime(), 0);
    lua_State *prev = xcs_limits_running(m->L);
    lua_close(m->L);
    xcs_limits_running(prev);
  } else {
    luaL_unref(m->L, LUA_REGISTRYINDEX, m->svc_ref);
  }
  m->L = m->svc = NULL;
  xcs_metrics_retire(m); /* its counters outlive it, under its name */
  xcs_list_remove(&m->link);
  xcs_reload_forget(m);
  xcs_task_wake(&m->watcher, 0);
  xcs_release(&m->pins); /* the state's pin: the struct goes with the last */
}

void xcs_module_pin(xcs_module *m) { xcs_hold(&m->pins); }
void xcs_module_release(xcs_module *m) { xcs_release(&m->pins); }

const xcs_manager xcs_module_manager = {
    .fail = xcs_module_fail,
    .strict = xcs_module_strict,
    .conclude = xcs_module_conclude,
    .pcall = xcs_module_pcall,
    .takeover = xcs_reload_takeover,
    .takeover_path = xcs_reload_takeover_path,
    .started = xcs_reload_started,
    .running = xcs_limits_running,
    .check = xcs_limits_check,
    .on_unload = xcs_module_l_on_unload,
};
