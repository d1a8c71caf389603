/*
 * core/wait.h — waiting: where a task waits, why it was woken, and the
 * deadline of its wait. The Lua half (checking that the running code can
 * yield, the yield itself, the resume) is bindings/task.c, which calls in
 * here; this half is Lua-free.
 *
 * Contract:
 *   - A thing that can be waited on has a slot per direction, an
 *     `xcs_task *` that is NULL or the one task waiting there (a handle's
 *     reader and writer, a module's watcher). A task waits in at most one
 *     slot, and its xcs_wait says which: the two always agree.
 *   - xcs_wait_arm is the one way into a slot. It refuses a slot another
 *     task holds (UV_EBUSY: "busy"), ends any earlier wait of the task (so
 *     no slot ever names a task that waits elsewhere or is gone), and arms
 *     the deadline: a timer that holds the owner's life until it is closed,
 *     and calls its expire function when it passes first.
 *   - xcs_wait_take is the one way out for the waker: it empties the slot
 *     and returns the task that was in it (the waker tells it why).
 *     xcs_wait_end is the way out for the task itself (it runs again, or
 *     is freed): slot emptied, deadline closed.
 *   - xcs_task must begin with its xcs_wait (task.c asserts it), which is
 *     how a task found in a slot is reached here without knowing Lua.
 */
#ifndef XCS_CORE_WAIT_H
#define XCS_CORE_WAIT_H

#include "bindings/core/life.h"

struct xcs_host;
typedef struct xcs_task xcs_task;
struct xcs_deadline;

/* Two pointers: every task carries one, and why it was woken is the
 * task's to keep (the waker tells it). */
typedef struct xcs_wait {
  xcs_task **slot;                 /* the slot it waits in, or NULL */
  struct xcs_deadline *deadline;   /* the timeout of the current wait */
} xcs_wait;

/* Puts w's task in *slot, ending any earlier wait of it; with a deadline
 * after `seconds` (< 0, NaN or 1e15 and more: none) on h's loop, holding
 * owner until the timer is closed, that calls expire if it passes while w
 * still waits. Returns 0, UV_EBUSY (another task is in *slot) or
 * UV_ENOMEM; on an error nothing changed. */
int xcs_wait_arm(xcs_wait *w, xcs_task **slot, double seconds, struct xcs_host *h,
                 xcs_life *owner, void (*expire)(xcs_wait *w));
/* Empties *slot: the task that was there, or NULL. */
xcs_task *xcs_wait_take(xcs_task **slot);
/* The task runs again or goes away: out of its slot, deadline closed. */
void xcs_wait_end(xcs_wait *w);

#endif
