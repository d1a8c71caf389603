/*
 * task.h — tasks: the coroutines a module's code runs in, and the one way
 * they wait for the loop.
 *
 * A call that has to wait (a read with nothing buffered, a write over the
 * high-water mark, sleep) first tries its operation, and only when it would
 * block parks the running task with xcs_task_park, the one way to wait: it
 * checks once that the running code can yield up to its task, takes the
 * slot of the thing waited on (raising "busy" if another task has it), ends
 * any earlier wait, arms the deadline (bindings/core/wait.h) and yields (the
 * cosocket model). Whoever completes the operation wakes the slot; the task
 * is resumed and the call's continuation tries again. So a continuation
 * never trusts a pointer kept across the yield: it looks the handle up again
 * from its Lua arguments, which may have been closed.
 *
 * Which thread can wait is handed down in C: a task's own thread while it
 * runs, and a coroutine only while core.resume (the prelude's
 * coroutine.resume, which passes host yields up) runs it from a thread that
 * could itself wait. core.resume sets m->wait_thread and puts it back when
 * the coroutine stops, so a coroutine resumed any other way, or inside a C
 * function such as table.sort, cannot park its task.
 *
 * Yields to the host carry XCS_HOST as their first value, which is how the
 * prelude's coroutine.resume tells them from a module's own yields and
 * passes them up to the task: alone for a wait, and with exit()'s true (it
 * concluded) or message (it failed) for an exit.
 */
#ifndef XCS_TASK_H
#define XCS_TASK_H

#include <lua.h>
#include <stdint.h>

#include "bindings/core/wait.h"
#include "bindings/list.h"
#include "bindings/core/module.h"

extern const char xcs_host_yield;
#define XCS_HOST ((void *)&xcs_host_yield)

struct xcs_task {
  xcs_wait w;       /* first: its slot and deadline (core/wait.h) */
  lua_State *co;    /* its thread, which names its module (xcs_task_module) */
  int ref;          /* anchors co in the module's registry */
  int peers;        /* a ref to its table of last peers (bindings/portkeyed.c), or 0 */
  xcs_list link;    /* m->tasks */
  xcs_list ready;   /* host->ready while queued to run */
  int status;       /* why it was woken: 0, or a libuv code */
  /* Packed with its two flags, so a task is 88 bytes (a 96-byte chunk):
   * Lua's stack never holds 2^30 values (LUAI_MAXSTACK). */
  unsigned nargs : 30; /* values staged on co for its next resume */
  unsigned is_main : 1;
  unsigned queued : 1; /* on host->ready: counted in m->nqueued */
  uint64_t burst_start; /* when it last waited of its own accord */
  uint64_t id;      /* unique in the process: what handles name as their owner */
};

/* The module t runs in: its thread's, as every thread of a state carries
 * its module (core/module.h), so a task keeps no pointer of its own. */
static inline xcs_module *xcs_task_module(const xcs_task *t) { return xcs_module_of(t->co); }

/* Starts a task running the function below nargs values on L's top (which
 * it pops), on the next turn of the loop. Returns the task. */
xcs_task *xcs_task_spawn(xcs_module *m, lua_State *L, int nargs);

/* The task running in m now; raises (naming fname) when L cannot wait:
 * outside a task, or inside a C function such as table.sort. */
xcs_task *xcs_task_check(lua_State *L, const char *fname);

/* Whether L can wait now: what xcs_task_check raises about, as a yes or
 * no, for calls that fail instead of waiting (a write that finds no room). */
int xcs_task_can_wait(lua_State *L);

/* The one way a task waits: checks that L can wait (raising as
 * xcs_task_check, named after the running C function), that no other task
 * waits in *slot (raises "<fn>: busy"), ends any earlier wait of the task,
 * arms the deadline (seconds < 0, NaN or past 1e15: none; when it passes
 * the task is woken with status UV_ETIMEDOUT), parks the running task in
 * *slot and yields; k runs when it is woken. */
int xcs_task_park(lua_State *L, xcs_task **slot, double seconds, lua_KFunction k,
                  lua_KContext ctx);

/* Lets every task already queued run first: the running task goes to the
 * back of the queue and yields; k runs when its turn comes. */
int xcs_task_pass(lua_State *L, lua_KFunction k, lua_KContext ctx);

/* Takes the task out of *slot and resumes it now (from libuv callbacks) or
 * on the next turn (from code running inside a module). No-op if empty. */
void xcs_task_wake_now(xcs_task **slot, int status);
void xcs_task_wake(xcs_task **slot, int status);
/* The status the running task was woken with (0 after a plain wake). */
int xcs_task_status(lua_State *L);

/* Resumes a task; called by the host tick and by wake_now. */
void xcs_task_run(xcs_task *t);
/* Forgets every task of m (unload): none will run again. */
void xcs_task_cancel_all(xcs_module *m);

/* How a task ended, for its handle (bindings/taskbox.h). */
enum { XCS_TASK_DONE, XCS_TASK_FAILED, XCS_TASK_CANCELLED };
/* Stops t now (not the running task): its __close handlers run, the
 * handles it made (or was given by spawn) close, its handle answers
 * "cancelled". */
void xcs_task_cancel(xcs_task *t);

/* Lua: spawn(fn, ...), exit([code [, message]]), the prelude's helpers. */
void xcs_task_open(lua_State *L);

#endif
