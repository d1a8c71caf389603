/*
 * task.c — spawning, parking, waking and resuming tasks.
 */
#include "bindings/task.h"

#include <assert.h>
#include <lauxlib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "bindings/core/log.h"
#include "bindings/handle.h"
#include "bindings/taskbox.h"

const char xcs_host_yield = 0;

/* The CPU limit's bookkeeping, which host/limits.c keeps (through the
 * manager): which thread runs module code now, and whether it was stopped. */
static lua_State *now_running(xcs_module *m, lua_State *co) { return m->host->mgr->running(co); }
static void limit_check(lua_State *L) { xcs_module_of(L)->host->mgr->check(L); }

/* A live task's thread carries its module's pointer with the low bit set
 * (core/module.h), so the prelude's coroutine.yield tells a task from a
 * module's own coroutine with no table: a thread costs nothing more for
 * being a task. */
static void task_mark(lua_State *co, int on) {
  uintptr_t *v = lua_getextraspace(co);
  *v = on ? *v | XCS_TASK_BIT : *v & ~(uintptr_t)XCS_TASK_BIT;
}

/* Its deadline passed: the task wakes with ETIMEDOUT (core/wait.c). */
static void expired(xcs_wait *w) {
  xcs_task_wake_now(w->slot, UV_ETIMEDOUT);
}

/* On the host's ready list: it runs on the loop's next tick. */
static void queue(xcs_task *t) {
  if (!t->queued) xcs_task_module(t)->nqueued++;
  t->queued = 1;
  xcs_list_push(&xcs_task_module(t)->host->ready, &t->ready);
  xcs_host_poke(xcs_task_module(t)->host);
}

xcs_task *xcs_task_spawn(xcs_module *m, lua_State *L, int nargs) {
  /* Everything that can raise (Lua memory) comes before the calloc. */
  lua_State *co = lua_newthread(L); /* fn args... co */
  lua_insert(L, -(nargs + 2));      /* co fn args... */
  lua_xmove(L, co, nargs + 1);      /* co */
  lua_pushvalue(L, -1);
  int ref = xcs_ref(m, L); /* co */
  xcs_task *t = calloc(1, sizeof *t);
  if (t == NULL) {
    xcs_unref(m, ref);
    luaL_error(L, "not enough memory");
  }
  lua_pop(L, 1);
  task_mark(co, 1);
  static uint64_t last_id;
  t->co = co;
  assert(xcs_task_module(t) == m); /* the thread copied the state's module */
  t->ref = ref;
  t->id = ++last_id;
  t->nargs = (unsigned)nargs;
  xcs_list_init(&t->ready);
  xcs_list_push(&m->tasks, &t->link);
  m->ntasks++;
  queue(t);
  return t;
}

_Static_assert(offsetof(xcs_task, w) == 0, "a task begins with its wait (core/wait.h)");

static void task_free(xcs_task *t) {
  xcs_module *m = xcs_task_module(t);
  xcs_wait_end(&t->w);
  xcs_list_remove(&t->link);
  xcs_list_remove(&t->ready);
  if (t->queued) m->nqueued--;
  m->ntasks--;
  if (m->phase != XCS_GONE) {
    task_mark(t->co, 0); /* anchored by t->ref until the unref */
    xcs_unref(m, t->ref);
    if (t->peers) xcs_unref(m, t->peers);
    xcs_taskbox_forget(m->svc, t); /* an unload: nobody is left to ask it */
  }
  free(t);
}

int xcs_task_can_wait(lua_State *L) {
  xcs_module *m = xcs_module_of(L);
  return m != NULL && m->current != NULL && m->phase == XCS_RUNNING && m->wait_thread == L &&
         lua_isyieldable(L);
}

xcs_task *xcs_task_check(lua_State *L, const char *fname) {
  xcs_module *m = xcs_module_of(L);
  if (m == NULL || m->current == NULL)
    luaL_error(L, "%s: can only wait inside a task (module code, or a "
                  "function given to spawn)", fname);
  if (m->phase != XCS_RUNNING)
    luaL_error(L, "%s: the module is unloading", fname);
  if (m->wait_thread != L || !lua_isyieldable(L))
    luaL_error(L, "%s: cannot wait here: inside a C function such as "
                  "table.sort, string.gsub, require, or a metamethod, or in a coroutine "
                  "that cannot pass the wait up to its task", fname);
  return m->current;
}

/* The name of the C function running in L, for messages ("read"). */
static const char *running_name(lua_State *L) {
  lua_Debug ar;
  if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name) return ar.name;
  return "wait";
}

int xcs_task_park(lua_State *L, xcs_task **slot, double seconds, lua_KFunction k,
                  lua_KContext ctx) {
  /* The name is looked up only for an error: this runs on every wait. */
  xcs_task *t = xcs_task_can_wait(L) ? xcs_module_of(L)->current : xcs_task_check(L, running_name(L));
  int r = xcs_wait_arm(&t->w, slot, seconds, xcs_task_module(t)->host, &xcs_task_module(t)->life,
                       expired);
  if (r == UV_EBUSY)
    return luaL_error(L, "%s: busy: another task is waiting on this handle", running_name(L));
  if (r != 0) return luaL_error(L, "not enough memory");
  t->status = 0;
  lua_pushlightuserdata(L, XCS_HOST); /* alone: a wait */
  return lua_yieldk(L, 1, ctx, k);
}

int xcs_task_pass(lua_State *L, lua_KFunction k, lua_KContext ctx) {
  xcs_task *t = xcs_module_of(L)->current;
  t->status = 0;
  queue(t);
  lua_pushlightuserdata(L, XCS_HOST);
  return lua_yieldk(L, 1, ctx, k);
}

/* A task woken now runs at once only when no task of its module is
 * queued: else it goes behind them, or one woken on every turn (a short
 * sleep's timer) would keep them waiting for as long as it runs, the tasks
 * a preempted step held back among them. Other modules' tasks do not delay
 * it: a neighbour computing never slows an answer. */
void xcs_task_wake_now(xcs_task **slot, int status) {
  xcs_task *t = xcs_wait_take(slot);
  if (t == NULL) return;
  t->status = status;
  if (xcs_task_module(t)->nqueued == 0)
    xcs_task_run(t);
  else
    queue(t);
}

void xcs_task_wake(xcs_task **slot, int status) {
  xcs_task *t = xcs_wait_take(slot);
  if (t == NULL) return;
  t->status = status;
  queue(t);
}

int xcs_task_status(lua_State *L) {
  xcs_module *m = xcs_module_of(L);
  return m && m->current ? m->current->status : 0;
}

/* Closes what the task with this id made or was given: a connection with
 * a reset when the task failed (its peer must not take the cut for an
 * end), the rest as close() would. */
static void close_owned(xcs_module *m, uint64_t id, int failed) {
  for (xcs_list *n = m->handles.next; n != &m->handles; n = n->next) {
    xcs_handle *h = xcs_container_of(n, xcs_handle, link);
    if (h->owner != id || h->closing) continue;
    if (failed && h->type->abort)
      h->type->abort(h);
    else
      xcs_handle_close(h, 1);
  }
}

static void release_held(xcs_module *m);

/* Whether m has nothing left to run: no task, and no after/every timer
 * still to fire, unless it is stopping (its timers go with it then). The
 * test client (its state not its own) never concludes. */
static int finished(xcs_module *m) {
  return m->ntasks == 0 && (m->ntimers == 0 || m->stopping) && m->owns_state;
}

/* A task's end other than its return: the handle is told, what it owned
 * is closed, and the module concludes if it was the last. */
static void task_ended(xcs_task *t, int how) {
  xcs_module *m = xcs_task_module(t);
  if (m->preempted == t) release_held(m);
  xcs_taskbox_end(t, how, 0);
  close_owned(m, t->id, how == XCS_TASK_FAILED);
  task_free(t);
  if (finished(m) && m->current == NULL) m->host->mgr->conclude(m);
}

void xcs_task_cancel(xcs_task *t) {
  xcs_module *m = xcs_task_module(t);
  lua_State *prev = now_running(m, t->co);
  lua_resetthread(t->co); /* its __close handlers, under the watchdog */
  now_running(m, prev);
  task_ended(t, XCS_TASK_CANCELLED);
}

/* Why a task failed, with its traceback. The error object is only looked at,
 * never called (its __tostring is module code). The main task's error fails
 * the module, as does any task's under --strict or `strict = true`; another
 * task fails alone: logged, its handle told, what it owned closed. */
static void task_failed(xcs_task *t, int status) {
  xcs_module *m = xcs_task_module(t);
  lua_State *co = t->co;
  int base = lua_gettop(co); /* the error value */
  size_t budget = m->limits.budget;
  m->limits.budget = 0; /* describing a memory error must not need memory */
  const char *msg;
  if (lua_type(co, -1) == LUA_TSTRING || lua_type(co, -1) == LUA_TNUMBER)
    msg = lua_tostring(co, -1);
  else
    msg = lua_pushfstring(co, "(error object is a %s value)",
                          luaL_typename(co, -1));
  if (status == LUA_ERRMEM && budget)
    msg = lua_pushfstring(co, "%s (memory limit: %d MiB, --memory-limit)", msg,
                          (int)(budget >> 20));
  luaL_traceback(co, co, msg, 0);
  if (t->is_main || !m->owns_state || m->limits.killed || m->host->mgr->strict(m)) {
    m->host->mgr->fail(m, lua_tostring(co, -1));
    m->limits.budget = budget;
    return;
  }
  xcs_log_at(m->host, XCS_LOG_ERROR, m->name, "task failed: %s", lua_tostring(co, -1));
  m->limits.budget = budget;
  lua_settop(co, base);
  xcs_taskbox_end(t, XCS_TASK_FAILED, 1); /* takes the error value */
  task_ended(t, XCS_TASK_FAILED);
}

lua_State *xcs_task_thread(xcs_task *t) { return t->co; }

/* The preempted task finished its step: its module's other tasks may run. */
static void release_held(xcs_module *m) {
  m->preempted = NULL;
  xcs_list *n;
  while ((n = xcs_list_shift(&m->held)) != NULL) queue(xcs_container_of(n, xcs_task, ready));
}

void xcs_task_run(xcs_task *t) {
  xcs_module *m = xcs_task_module(t);
  lua_State *co = t->co;
  int nres, nargs = t->nargs;
  assert(m->current == NULL);
  if (t->queued) m->nqueued--; /* off host->ready: the tick took it */
  t->queued = 0;
  if (m->phase != XCS_RUNNING) return;
  if (m->preempted && m->preempted != t) {
    /* Tasks of one module never interleave mid-step: this one waits until
     * the preempted one has reached a wait of its own. */
    xcs_list_push(&m->held, &t->ready);
    return;
  }
  t->nargs = 0;
  xcs_wait_end(&t->w); /* woken: its deadline goes */
  m->current = t;
  uint64_t now = uv_hrtime();
  m->limits.slice_start = now;
  m->limits.burst_start = m->preempted == t ? t->burst_start : now;
  now_running(m, co);
  m->wait_thread = co;
  int status = lua_resume(co, NULL, nargs, &nres);
  now_running(m, NULL);
  m->current = NULL;
  if (m->limits.killed && m->phase == XCS_RUNNING && status != LUA_OK && status != LUA_YIELD) {
    task_failed(t, status); /* the CPU limit's error, with its traceback */
    return;
  }
  if (m->limits.killed && m->phase == XCS_RUNNING) {
    /* Stopped by the CPU limit, but something caught it (a pcall around a
     * coroutine that was stopped): the module fails all the same. */
    lua_settop(co, 0);
    m->host->mgr->fail(m, "CPU limit: a task ran too long without waiting (--cpu-limit)");
    return;
  }
  t->burst_start = m->limits.burst_start;
  xcs_limits_leave(&m->limits);
  int first_step = t->is_main && !m->started;

  if (status == LUA_YIELD && nres == 0) {
    /* Preempted by the CPU watchdog (host/limits.h): run again after the
     * others, still counting towards its burst limit. */
    m->preempted = t;
    queue(t);
    return;
  }
  if (m->preempted == t) release_held(m);
  if (first_step) m->started = 1;

  if (status == LUA_YIELD) {
    int host = nres >= 1 && lua_touserdata(co, -nres) == XCS_HOST;
    if (!host) {
      lua_pop(co, nres);
      lua_pushliteral(co, "coroutine.yield: a task cannot yield to the host; "
                          "wait with sleep() or a socket call instead");
      task_failed(t, LUA_ERRRUN);
    } else if (nres >= 2) { /* exit(): true, or why it failed */
      /* Unloading resets this task's stack, so the message is kept in C. */
      const char *why = lua_tostring(co, -nres + 1);
      if (why)
        m->host->mgr->fail(m, why);
      else
        m->host->mgr->conclude(m);
    } else {
      lua_pop(co, nres);
    }
  } else if (status == LUA_OK) {
    xcs_taskbox_end(t, XCS_TASK_DONE, nres);
    lua_settop(co, 0);
    task_free(t);
    if (finished(m)) m->host->mgr->conclude(m);
  } else {
    task_failed(t, status);
  }
  if (first_step) {
    xcs_task_wake(&m->watcher, 0);
    if (m->replaces) m->host->mgr->started(m);
  }
}

void xcs_task_cancel_all(xcs_module *m) {
  m->preempted = NULL;
  xcs_list *n;
  while ((n = m->tasks.next) != &m->tasks) {
    xcs_task *t = xcs_container_of(n, xcs_task, link);
    /* Runs the task's pending __close handlers, then frees its stack. */
    /* A module stopped by the CPU limit runs none of its __close handlers:
     * its threads raise on every line, and a handler that loops after the
     * hook's error would run unhooked. lua_close frees them all the same. */
    if (m->phase != XCS_GONE && !m->limits.killed) {
      lua_State *prev = now_running(m, t->co);
      lua_resetthread(t->co);
      now_running(m, prev);
    }
    task_free(t);
  }
}

/* spawn(fn, ...) -> the task's handle: runs fn(...) as a new task from the
 * next turn of the loop. The sockets among its arguments become its own:
 * closed if it fails (a connection with a reset), or is cancelled. */
static int l_spawn(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  xcs_module *m = xcs_module_of(L);
  if (m == NULL || m->phase != XCS_RUNNING)
    return luaL_error(L, "spawn: the module is not running");
  int n = lua_gettop(L);
  for (int i = 1; i <= n; i++) lua_pushvalue(L, i); /* a copy for the task to take */
  xcs_task *t = xcs_task_spawn(m, L, n - 1);
  for (int i = 2; i <= n; i++) {
    xcs_handle *h = xcs_handle_is(L, i) ? xcs_handle_get(L, i, NULL) : NULL;
    if (h) h->owner = t->id;
  }
  xcs_taskbox_push(L, t);
  return 1;
}

/* exit([code [, message]]): ends the module now. No code, true or 0 means
 * it concluded; false or another number means it failed. */
static int l_exit(lua_State *L) {
  xcs_module *m = xcs_module_of(L);
  xcs_task_check(L, "exit");
  int failed = lua_isboolean(L, 1)   ? !lua_toboolean(L, 1)
               : lua_isnoneornil(L, 1) ? 0
                                       : luaL_checkinteger(L, 1) != 0;
  const char *why = NULL;
  if (failed) {
    why = luaL_optstring(L, 2, NULL);
    if (why == NULL)
      why = lua_pushfstring(L, "exit(%s)", luaL_tolstring(L, 1, NULL));
  }
  (void)m;
  /* The unload happens in xcs_task_run once this task is off the C stack. */
  lua_pushlightuserdata(L, XCS_HOST);
  if (why) lua_pushstring(L, why); else lua_pushboolean(L, 1);
  return lua_yield(L, 2);
}

/* The prelude's view of tasks: is_task(co), task() -> the running task. */
static int is_task(lua_State *L, int idx) {
  lua_State *co = lua_tothread(L, idx);
  return co != NULL && (*(uintptr_t *)lua_getextraspace(co) & XCS_TASK_BIT) != 0;
}

static int l_is_task(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTHREAD);
  lua_pushboolean(L, is_task(L, 1));
  return 1;
}

static int l_task(lua_State *L) {
  xcs_module *m = xcs_module_of(L);
  if (m == NULL || m->current == NULL) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, m->current->ref);
  return 1;
}

/* resume(co, ...): coroutine.resume, noting which thread runs so the CPU
 * watchdog stops the innermost of a module's coroutines. */
static int l_resume(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co, 1, "coroutine");
  int narg = lua_gettop(L) - 1, nres;
  if (is_task(L, 1)) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "cannot resume a task: tasks are run by the host");
    return 2;
  }
  if (!lua_checkstack(co, narg)) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "too many arguments to resume");
    return 2;
  }
  limit_check(L);
  xcs_module *m = xcs_module_of(L);
  lua_State *could_wait = m->wait_thread;
  /* co can wait on the host only if every thread between it and its task
   * can pass the yield up: this one must be yieldable here, and able itself.
   * A coroutine resumed any other way (a raw coroutine.resume in a spec)
   * cannot: its yield would stop at its resumer while the task runs on. */
  m->wait_thread = could_wait == L && lua_isyieldable(L) ? co : NULL;
  lua_xmove(L, co, narg);
  lua_State *prev = now_running(m, co);
  int status = lua_resume(co, L, narg, &nres);
  now_running(m, prev);
  m->wait_thread = could_wait;
  limit_check(L); /* the limit stopped co: it stops its resumer too */
  if (status != LUA_OK && status != LUA_YIELD) {
    lua_pushboolean(L, 0);
    lua_xmove(co, L, 1); /* the error */
    return 2;
  }
  if (!lua_checkstack(L, nres + 1)) {
    lua_pop(co, nres);
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "too many results to resume");
    return 2;
  }
  lua_pushboolean(L, 1);
  lua_xmove(co, L, nres);
  return nres + 1;
}

/* close(co): coroutine.close, noting which thread runs its __close
 * handlers so the CPU watchdog can stop them. */
static int l_close(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co, 1, "coroutine");
  limit_check(L);
  lua_Debug ar;
  if (co == L || (lua_status(co) == LUA_OK && lua_getstack(co, 0, &ar)))
    return luaL_error(L, "cannot close a %s coroutine", co == L ? "running" : "normal");
  lua_State *prev = now_running(xcs_module_of(L), co);
  int status = lua_resetthread(co);
  now_running(xcs_module_of(L), prev);
  limit_check(L);
  if (status == LUA_OK) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_xmove(co, L, 1); /* the error */
  return 2;
}

/* killed(): whether the CPU limit stopped this module. */
static int l_killed(lua_State *L) {
  xcs_module *m = xcs_module_of(L);
  lua_pushboolean(L, m && m->limits.killed);
  return 1;
}

void xcs_task_open(lua_State *L) {
  /* stack: core table */
  static const luaL_Reg fns[] = {{"spawn", l_spawn},
                                 {"exit", l_exit},
                                 {"is_task", l_is_task},
                                 {"task", l_task},
                                 {"resume", l_resume},
                                 {"close", l_close},
                                 {"killed", l_killed},
                                 {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  lua_pushlightuserdata(L, XCS_HOST);
  lua_setfield(L, -2, "HOST");
}
