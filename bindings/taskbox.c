/*
 * taskbox.c — what spawn returns: a task's handle, to wait for it, cancel
 * it, or ask how it is.
 *
 *   local t = spawn(fetch, url)
 *   local ok, body = t:wait(5)        -- true, results... | false, err
 *   if ok == nil then t:cancel() end  -- nil, "ETIMEDOUT: ...": still running
 *
 * The box is a plain userdata (no libuv handle): the task anchors it while
 * it runs, so its end is recorded even when nobody kept the box; after
 * that the box lives as long as Lua sees it. Its user value holds the
 * results (a table with n) or the error value. Any number of tasks may
 * wait on it (sync.h's wait lists).
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

void xcs_taskbox_push(lua_State *L, xcs_task *t) {
  xcs_taskbox *b = lua_newuserdatauv(L, sizeof *b, 1);
  b->t = NULL;
  b->state = RUNNING;
  xcs_list_init(&b->waiters);
  luaL_setmetatable(L, "xcs.task");
  lua_pushvalue(L, -1);
  t->box_ref = xcs_ref(t->m, L); /* may raise: the task has no box then */
  b->t = t;
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
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->box_ref); /* 2 */
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
  if (t->box_ref == LUA_NOREF) return;
  xcs_module *m = t->m;
  ending e = {t, how == XCS_TASK_DONE ? DONE : how == XCS_TASK_FAILED ? FAILED : CANCELLED,
              nres};
  if (m->phase != XCS_GONE) {
    const char *err = m->host->mgr->pcall(m, record, &e);
    lua_rawgeti(m->svc, LUA_REGISTRYINDEX, t->box_ref);
    xcs_taskbox *b = lua_touserdata(m->svc, -1);
    lua_pop(m->svc, 1);
    if (err) { /* no memory for its results: it ended all the same */
      b->t = NULL;
      b->state = FAILED;
    }
    while (xcs_waitlist_wake_one(&b->waiters)) {}
  }
  xcs_unref(m, t->box_ref);
  t->box_ref = LUA_NOREF;
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

void xcs_taskbox_open(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"wait", box_wait}, {"cancel", box_cancel}, {"status", box_status}, {NULL, NULL}};
  xcs_sync_class(L, "xcs.task", methods, box_gc, box_tostring);
}
