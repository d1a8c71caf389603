/*
 * sync.c — what a module's tasks wait on besides sockets and time: a
 * queue and a condition.
 *
 *   local jobs = queue(100)            -- push waits while 100 are queued
 *   spawn(function() while true do handle(jobs:pop()) end end)
 *   jobs:push(job)
 *
 *   local changed = condition()
 *   spawn(function() while true do changed:wait() publish() end end)
 *   changed:broadcast()                -- every waiting task wakes
 *
 * Any number of tasks may wait on one object. Each waiting task has a
 * node in the object's list, malloc'd, whose slot the task layer clears
 * when the task is woken, times out or is cancelled (an unload). Nodes are
 * freed only by the object — when it wakes them, when it sweeps the
 * cleared ones, or when it is collected — never by the woken task, so no
 * order of wake, timeout and cancel frees one twice or writes to one that
 * is gone. A waiting task holds the object on its stack, so the object
 * outlives every node that still has a task in it.
 *
 * A woken task looks again (another may have taken the item first), so a
 * wake is a hint and the state is the truth.
 */
#include "bindings/sync.h"

#include <lauxlib.h>
#include <stdlib.h>

#include "bindings/handle.h"
#include "bindings/stream.h" /* timeouts and deadlines, as every wait has them */
#include "bindings/task.h"

typedef struct waiter {
  xcs_list link;
  xcs_task *task; /* the slot: NULL once woken, timed out or cancelled */
} waiter;

typedef struct xcs_cond {
  xcs_list waiters;
} xcs_cond;

typedef struct xcs_queue {
  xcs_list poppers, pushers;
  lua_Integer max, head, n; /* items: uservalue 1 [head + 1 .. head + n] */
} xcs_queue;

/* Frees the nodes whose task is gone. */
static void sweep(xcs_list *l) {
  for (xcs_list *n = l->next, *next; n != l; n = next) {
    next = n->next;
    waiter *w = xcs_container_of(n, waiter, link);
    if (w->task == NULL) {
      xcs_list_remove(n);
      free(w);
    }
  }
}

void xcs_waitlist_free(xcs_list *l) {
  xcs_list *n;
  while ((n = xcs_list_shift(l)) != NULL) {
    waiter *w = xcs_container_of(n, waiter, link);
    if (w->task) xcs_wait_end(&w->task->w); /* cannot happen (see above); be safe anyway */
    free(w);
  }
}

/* Wakes the first task still waiting in l (on the next turn: never inside
 * the call that signals). Returns whether there was one. */
int xcs_waitlist_wake_one(xcs_list *l) {
  xcs_list *n;
  while ((n = xcs_list_shift(l)) != NULL) {
    waiter *w = xcs_container_of(n, waiter, link);
    int had = w->task != NULL;
    if (had) xcs_task_wake(&w->task, 0);
    free(w);
    if (had) return 1;
  }
  return 0;
}

int xcs_waitlist_wait(lua_State *L, xcs_list *l, lua_KFunction k, int at, int again) {
  if (!again) { /* the first wait: the timeout at `at` becomes the deadline */
    lua_pushnumber(L, xcs_deadline(xcs_module_of(L), lua_tonumber(L, at)));
    lua_replace(L, at);
  }
  sweep(l);
  waiter *w = malloc(sizeof *w);
  if (w == NULL) return luaL_error(L, "not enough memory");
  w->task = NULL;
  xcs_list_push(l, &w->link);
  return xcs_wait_until(L, &w->task, k, lua_tonumber(L, at));
}

static int timed_out(lua_State *L, const char *what) {
  lua_pushnil(L);
  lua_pushfstring(L, "ETIMEDOUT: %s", what);
  lua_pushliteral(L, "ETIMEDOUT");
  return 3;
}

/* Conditions ------------------------------------------------------------------- */

static xcs_cond *check_cond(lua_State *L) { return luaL_checkudata(L, 1, "xcs.condition"); }

static int cond_wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  /* Only the deadline's own wake: a signal that came as time ran out counts. */
  if (xcs_task_status(L) == UV_ETIMEDOUT) return timed_out(L, "no signal within the timeout");
  lua_pushboolean(L, 1);
  return 1;
}

/* c:wait([timeout]) -> true | nil, "ETIMEDOUT: ...", "ETIMEDOUT" */
static int cond_wait(lua_State *L) {
  xcs_cond *c = check_cond(L);
  double s = xcs_timeout_arg(L, 2, -1);
  lua_settop(L, 1);
  lua_pushnumber(L, s);
  xcs_task_check(L, "condition:wait");
  return xcs_waitlist_wait(L, &c->waiters, cond_wait_k, 2, 0);
}

/* c:signal() -> whether a task was waiting (it wakes on the next turn). */
static int cond_signal(lua_State *L) {
  lua_pushboolean(L, xcs_waitlist_wake_one(&check_cond(L)->waiters));
  return 1;
}

/* c:broadcast() -> how many tasks were waiting (they all wake). */
static int cond_broadcast(lua_State *L) {
  xcs_cond *c = check_cond(L);
  lua_Integer n = 0;
  while (xcs_waitlist_wake_one(&c->waiters)) n++;
  lua_pushinteger(L, n);
  return 1;
}

static int cond_gc(lua_State *L) {
  xcs_waitlist_free(&check_cond(L)->waiters);
  return 0;
}

static int cond_tostring(lua_State *L) {
  xcs_cond *c = check_cond(L);
  int n = 0;
  for (xcs_list *k = c->waiters.next; k != &c->waiters; k = k->next)
    n += xcs_container_of(k, waiter, link)->task != NULL;
  lua_pushfstring(L, "xcs.condition (%d waiting)", n);
  return 1;
}

static const luaL_Reg cond_methods[] = {
    {"wait", cond_wait}, {"signal", cond_signal}, {"broadcast", cond_broadcast}, {NULL, NULL}};
const xcs_class xcs_cond_class = {"xcs.condition", cond_methods, cond_gc, cond_tostring};

/* condition() -> a condition tasks wait on until another signals. */
static int l_condition(lua_State *L) {
  xcs_cond *c = lua_newuserdatauv(L, sizeof *c, 0);
  xcs_list_init(&c->waiters);
  xcs_sync_class(L, &xcs_cond_class);
  lua_setmetatable(L, -2);
  return 1;
}

/* Queues ---------------------------------------------------------------------- */

static xcs_queue *check_queue(lua_State *L) { return luaL_checkudata(L, 1, "xcs.queue"); }

/* Stack: queue, value, timeout (seconds until the first wait, then the
 * deadline). */
static int push_k(lua_State *L, int status, lua_KContext again) {
  (void)status;
  xcs_queue *q = check_queue(L);
  if (q->n < q->max) {
    lua_getiuservalue(L, 1, 1);
    lua_pushvalue(L, 2);
    lua_rawseti(L, -2, q->head + q->n + 1);
    q->n++;
    xcs_waitlist_wake_one(&q->poppers);
    lua_pushboolean(L, 1);
    return 1;
  }
  if (again && xcs_timed_out(L, lua_tonumber(L, 3))) return timed_out(L, "the queue stayed full");
  return xcs_waitlist_wait(L, &q->pushers, push_k, 3, (int)again);
}

/* q:push(value [, timeout]) -> true | nil, "ETIMEDOUT: ...", "ETIMEDOUT".
 * Waits while the queue is full. */
static int queue_push(lua_State *L) {
  xcs_queue *q = check_queue(L);
  if (lua_isnoneornil(L, 2))
    return luaL_error(L, "queue:push: bad argument #1 (value): nil cannot be queued");
  double s = xcs_timeout_arg(L, 3, -1);
  lua_settop(L, 2);
  lua_pushnumber(L, s);
  if (q->n >= q->max) xcs_task_check(L, "queue:push");
  return push_k(L, LUA_OK, 0);
}

/* Stack: queue, timeout (seconds until the first wait, then the deadline). */
static int pop_k(lua_State *L, int status, lua_KContext again) {
  (void)status;
  xcs_queue *q = check_queue(L);
  if (q->n > 0) {
    lua_getiuservalue(L, 1, 1);
    lua_rawgeti(L, -1, ++q->head);
    lua_pushnil(L);
    lua_rawseti(L, -3, q->head);
    if (--q->n == 0) q->head = 0;
    xcs_waitlist_wake_one(&q->pushers);
    return 1;
  }
  if (again && xcs_timed_out(L, lua_tonumber(L, 2))) return timed_out(L, "the queue stayed empty");
  if (!again && lua_tonumber(L, 2) == 0) return timed_out(L, "the queue is empty");
  return xcs_waitlist_wait(L, &q->poppers, pop_k, 2, (int)again);
}

/* q:pop([timeout]) -> the oldest value | nil, "ETIMEDOUT: ...", "ETIMEDOUT".
 * Waits while the queue is empty (pop(0) only looks). */
static int queue_pop(lua_State *L) {
  xcs_queue *q = check_queue(L);
  double s = xcs_timeout_arg(L, 2, -1);
  lua_settop(L, 1);
  lua_pushnumber(L, s);
  if (q->n == 0 && s != 0) xcs_task_check(L, "queue:pop");
  return pop_k(L, LUA_OK, 0);
}

/* q:len() -> how many values are queued. */
static int queue_len(lua_State *L) {
  lua_pushinteger(L, check_queue(L)->n);
  return 1;
}

static int queue_gc(lua_State *L) {
  xcs_queue *q = check_queue(L);
  xcs_waitlist_free(&q->poppers);
  xcs_waitlist_free(&q->pushers);
  return 0;
}

static int queue_tostring(lua_State *L) {
  xcs_queue *q = check_queue(L);
  if (q->max == LUA_MAXINTEGER)
    lua_pushfstring(L, "xcs.queue (%I queued)", q->n);
  else
    lua_pushfstring(L, "xcs.queue (%I of %I queued)", q->n, q->max);
  return 1;
}

static const luaL_Reg queue_methods[] = {
    {"push", queue_push}, {"pop", queue_pop}, {"len", queue_len}, {NULL, NULL}};
const xcs_class xcs_queue_class = {"xcs.queue", queue_methods, queue_gc, queue_tostring};

/* queue([max]) -> a queue of at most max values (default: no bound but
 * the module's memory). */
static int l_queue(lua_State *L) {
  lua_Integer max = LUA_MAXINTEGER;
  if (!lua_isnoneornil(L, 1)) {
    int isint;
    max = lua_tointegerx(L, 1, &isint);
    if (!isint || max < 1)
      return luaL_error(L, "queue: bad argument #1 (max): expected an integer > 0, got %s",
                        luaL_tolstring(L, 1, NULL));
  }
  xcs_queue *q = lua_newuserdatauv(L, sizeof *q, 1);
  xcs_list_init(&q->poppers);
  xcs_list_init(&q->pushers);
  q->max = max;
  q->head = q->n = 0;
  lua_newtable(L);
  lua_setiuservalue(L, -2, 1);
  xcs_sync_class(L, &xcs_queue_class);
  lua_setmetatable(L, -2);
  return 1;
}

void xcs_sync_class(lua_State *L, const xcs_class *cls) {
  if (luaL_getmetatable(L, cls->name) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_createtable(L, 0, 5); /* __name, __index, __gc, __tostring, __metatable */
    lua_pushstring(L, cls->name);
    lua_setfield(L, -2, "__name");
    int n = 0;
    for (const luaL_Reg *r = cls->methods; r->name; r++) n++;
    lua_createtable(L, 0, n);
    luaL_setfuncs(L, cls->methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, cls->gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, cls->tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "xcs object");
    lua_setfield(L, -2, "__metatable");
    xcs_class_register(L, cls->name, NULL);
  }
}

void xcs_sync_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"queue", l_queue}, {"condition", l_condition}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
