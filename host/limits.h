/*
 * limits.h — what one module may use: memory, counted by its own allocator,
 * and CPU time between waits, watched without slowing the VM down.
 *
 * A count hook on every thread would make Lua 5.4 trap on every instruction
 * (about twice the cost of module code). Instead a timer on the loop
 * thread's CPU clock raises a signal every XCS_WATCH_MS of CPU it uses; the
 * handler looks at the thread running module code now, and only when it has
 * run past the module's burst limit without waiting does it install a hook
 * (lua_sethook is safe in a signal handler, as in lua.c). The hook then fails
 * the module, and keeps raising on every line so pcall cannot swallow it.
 * Before that, a task (not one of its own coroutines) that has computed for
 * XCS_SLICE_MS is preempted, so other modules keep answering meanwhile.
 * An idle host uses no CPU, so it gets no signals.
 */
#ifndef XCS_LIMITS_H
#define XCS_LIMITS_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

#include "bindings/core/module.h"

struct xcs_module;
struct xcs_handle;

#define XCS_WATCH_MS 10
/* A task that has computed this long when the watchdog looks is preempted:
 * it yields at its next instruction and runs again after the tasks and
 * modules that were waiting. */
#define XCS_SLICE_MS 5

/* The lua_Alloc of every module state; ud is its xcs_limits. */
void *xcs_limits_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

/* Starts the watchdog on the calling (loop) thread, or counts one more
 * user of it; xcs_limits_unwatch undoes one start, and the last one removes
 * the timer and the handler (the `xcs` module may be unloaded after it). */
int xcs_limits_watchdog(void);
void xcs_limits_unwatch(void);
/* Raises the CPU limit error in L if its module was stopped for it (a
 * coroutine of the module was; the thread that resumed it must stop too). */
void xcs_limits_check(lua_State *L);
/* Marks L as the thread running module code now (NULL: none); returns the
 * previous one, to restore when L stops running. */
lua_State *xcs_limits_running(lua_State *L);

#endif
