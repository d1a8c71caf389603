/*
 * taskbox.c — what spawn returns: a task's handle, to wait for it, cancel
 * it, or ask how it is.
 *
 *   local t = spawn(fetch, url)
 *   local ok, body = t:wait(5)        -- true, results... | false, err
 *   if ok == nil then t:cancel() end  -- nil, "ETIMEDOUT: ...": still running
 *
 * The box is a plain userdata (no libuv handle) that lives as long as Lua
 * sees it: the task finds it through a weak table of its state, keyed by
 * the task, and does not anchor it. So a task whose box nobody kept (an
 * accept loop's spawn per connection) costs no box while it runs: the box
 * is collected, and the end that nobody can ask about goes unrecorded. A
 * box someone holds (or waits on: the waiter's stack holds it) gets its
 * task's end: its user value holds the results (a table with n) or the
 * error value. Any number of tasks may wait on it (sync.h's wait lists).
 */
#include "bindings/taskbox.h"

#include <lauxlib.h>

#include "bindings/stream.h" /* timeouts and deadlines */
#include "bindings/sync.h"

enum { RUNNING, DONE, FAILED, CANCELLED };
static const char *const state_names[] = {"running", "done", "failed", "cancelled"};

typedef struct xcs_taskbox {
  xcs_task *t; /* NULL once it ended */
  int state;
  xcs_list waiters;
} xcs_taskbox;

static xcs_taskbox *check_box(lua_State *L) { return luaL_checkudata(L, 1, "xcs.task"); }

/* The registry key of the state's weak table: task (light userdata) -> box.
 * Lua clears a box's entry before its __gc runs, so an entry found is a
 * box still alive. */
static const char boxes_key = 0;

/* Pushes t's box, or returns 0 (pushing nothing) if it has none (any more).
 * Never raises. */
static int find_box(lua_State *L, xcs_task *t) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &boxes_key) != LUA_TTABLE) {
    lua_pop(L, 1);
    return 0;
  }
  if (lua_rawgetp(L, -1, t) == LUA_TNIL) {
    lua_pop(L, 2);
    return 0;
  }
  lua_remove(L, -2);
  return 1;
}

void xcs_taskbox_forget(lua_State *L, xcs_task *t) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &boxes_key) == LUA_TTABLE) {
    lua_pushnil(L); /* an existing key's value replaced: no allocation */
    lua_rawsetp(L, -2, t);
  }
  lua_pop(L, 1);
}


/* Runs protected on the module's svc thread: the task's end into its box.
 * ud: the task; its thread holds the results (or the error) on top. */
typedef struct ending {
  xcs_task *t;
  int state, nres;
} ending;

static int record(lua_State *L) {
  ending *e = lua_touserdata(L, 1);
  xcs_task *t = e->t;
  if (!find_box(L, t)) return 0; /* 2 */
  xcs_taskbox *b = lua_touserdata(L, 2);
  b->t = NULL;
  b->state = e->state;
  if (e->state == DONE) {
    lua_createtable(L, e->nres, 1); /* 3 */
    lua_xmove(t->co, L, e->nres);
    for (int i = e->nres; i >= 1; i--) lua_rawseti(L, 3, i);
    lua_pushinteger(L, e->nres);
    lua_setfield(L, 3, "n");
  } else if (e->state == FAILED) {
    lua_xmove(t->co, L, 1); /* the error value, as raised */
  } else {
    lua_pushliteral(L, "cancelled");
  }
  lua_setiuservalue(L, 2, 1);
  return 0;
}

void xcs_taskbox_end(xcs_task *t, int how, int nres) {
  xcs_module *m = xcs_task_module(t);
  if (m->phase == XCS_GONE || !find_box(m->svc, t)) return;
  lua_pop(m->svc, 1);
  ending e = {t, how == XCS_TASK_DONE ? DONE : how == XCS_TASK_FAILED ? FAILED : CANCELLED,
              nres};
  const char *err = m->host->mgr->pcall(m, record, &e);
  /* Found again: gone only if it was collected meanwhile, and then nobody
   * waited on it (a waiter's stack holds the box). */
  if (!find_box(m->svc, t)) return;
  xcs_taskbox *b = lua_touserdata(m->svc, -1);
  lua_pop(m->svc, 1);
  if (err) { /* no memory for its results: it ended all the same */
    b->t = NULL;
    b->state = FAILED;
  }
  xcs_taskbox_forget(m->svc, t);
  while (xcs_waitlist_wake_one(&b->waiters)) {}
}

/* Methods --------------------------------------------------------------------- */

static int results(lua_State *L, xcs_taskbox *b) {
  lua_getiuservalue(L, 1, 1);
  if (b->state == DONE) {
    int tbl = lua_gettop(L);
    lua_getfield(L, tbl, "n");
    int n = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    luaL_checkstack(L, n + 1, "too many results");
    lua_pushboolean(L, 1);
    for (int i = 1; i <= n; i++) lua_rawgeti(L, tbl, i);
    return n + 1;
  }
  if (lua_isnil(L, -1)) lua_pushliteral(L, "not enough memory for the task's results");
  lua_pushboolean(L, 0);
  lua_insert(L, -2);
  return 2;
}

/* Stack: box, timeout (seconds until the first wait, then the deadline). */
static int wait_k(lua_State *L, int status, lua_KContext again) {
  (void)status;
  xcs_taskbox *b = check_box(L);
  if (b->state != RUNNING) return results(L, b);
  if (again ? xcs_timed_out(L, lua_tonumber(L, 2)) : lua_tonumber(L, 2) == 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "ETIMEDOUT: the task is still running");
    lua_pushliteral(L, "ETIMEDOUT");
    return 3;
  }
  return xcs_waitlist_wait(L, &b->waiters, wait_k, 2, (int)again);
}

/* t:wait([timeout]) -> true, results... | false, err (its error, or
 * "cancelled") | nil, "ETIMEDOUT: ...", "ETIMEDOUT" (it still runs). */
static int box_wait(lua_State *L) {
  xcs_taskbox *b = check_box(L);
  double s = xcs_timeout_arg(L, 2, -1);
  lua_settop(L, 1);
  lua_pushnumber(L, s);
  xcs_module *m = xcs_module_of(L);
  if (b->state == RUNNING) {
    if (b->t == m->current) return luaL_error(L, "task:wait: a task cannot wait for itself");
    if (s != 0) xcs_task_check(L, "task:wait");
  }
  return wait_k(L, LUA_OK, 0);
}

/* t:cancel() -> whether it was running: it stops now (its __close handlers
 * run), what it made is closed, and its wait answers false, "cancelled". */
static int box_cancel(lua_State *L) {
  xcs_taskbox *b = check_box(L);
  if (b->state != RUNNING) {
    lua_pushboolean(L, 0);
    return 1;
  }
  xcs_module *m = xcs_module_of(L);
  if (b->t == m->current)
    return luaL_error(L, "task:cancel: a task cannot cancel itself (return, or error())");
  xcs_task_cancel(b->t);
  lua_pushboolean(L, 1);
  return 1;
}

/* t:status() -> "running", "done", "failed" or "cancelled". */
static int box_status(lua_State *L) {
  lua_pushstring(L, state_names[check_box(L)->state]);
  return 1;
}

static int box_gc(lua_State *L) {
  xcs_waitlist_free(&check_box(L)->waiters);
  return 0;
}

static int box_tostring(lua_State *L) {
  lua_pushfstring(L, "xcs.task (%s)", state_names[check_box(L)->state]);
  return 1;
}

static const luaL_Reg box_methods[] = {
    {"wait", box_wait}, {"cancel", box_cancel}, {"status", box_status}, {NULL, NULL}};
const xcs_class xcs_taskbox_class = {"xcs.task", box_methods, box_gc, box_tostring};

/* Pushes the boxes table, made with the first box (most modules spawn
 * nothing). */
static void push_boxes(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &boxes_key) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_createtable(L, 0, 0);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &boxes_key);
}

void xcs_taskbox_push(lua_State *L, xcs_task *t) {
  xcs_taskbox *b = lua_newuserdatauv(L, sizeof *b, 1);
  b->t = NULL;
  b->state = RUNNING;
  xcs_list_init(&b->waiters);
  xcs_sync_class(L, &xcs_taskbox_class);
  lua_setmetatable(L, -2);
  push_boxes(L);
  lua_pushvalue(L, -2);
  lua_rawsetp(L, -2, t); /* may raise: the task has no box then */
  lua_pop(L, 1);
  b->t = t;
}
