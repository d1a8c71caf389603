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

struct xcs_module;
struct xcs_handle;

#define XCS_WATCH_MS 10
/* A task that has computed this long when the watchdog looks is preempted:
 * it yields at its next instruction and runs again after the tasks and
 * modules that were waiting. */
#define XCS_SLICE_MS 5

typedef struct xcs_limits {
  size_t used;          /* bytes the module's state holds now */
  size_t peak;          /* the most it ever held */
  size_t budget;        /* 0: no limit */
  uint64_t slice_start; /* uv_hrtime() when its running code was entered */
  uint64_t burst_start; /* ...and when it last waited of its own accord (a
                           preempted task has not) */
  uint64_t burst_ns;    /* how long it may run without waiting; 0: forever */
  volatile int killed;  /* the burst limit tripped: every line now raises */
  /* Memory pressure (on_memory): when used passes pressure_at while armed,
   * on_pressure is called (from the allocator: it may only schedule work)
   * and it is disarmed until the module's function has run. 0: none. */
  size_t pressure_at;
  int pressure_armed;
  void (*on_pressure)(struct xcs_limits *lim);
  void *pressure_ud;
} xcs_limits;

/* The lua_Alloc of every module state; ud is its xcs_limits. */
void *xcs_limits_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

/* Starts the watchdog on the calling (loop) thread, or counts one more
 * user of it; xcs_limits_unwatch undoes one start, and the last one removes
 * the timer and the handler (the `xcs` module may be unloaded after it). */
int xcs_limits_watchdog(void);
void xcs_limits_unwatch(void);
/* Module code is entered (a task resumed, a finalizer run...). `resumed`
 * says it continues after a preemption, so the burst goes on counting. */
static inline void xcs_limits_enter(xcs_limits *lim, uint64_t now, int resumed) {
  lim->slice_start = now;
  if (!resumed) lim->burst_start = now;
}
static inline void xcs_limits_leave(xcs_limits *lim) { lim->slice_start = lim->burst_start = 0; }

/* What a module may hold: sockets it opens itself (listeners, UDP sockets,
 * connections it makes: --max-sockets) and connections its listeners accept
 * (--max-connections), and which ports it may open (--ports). Returns 0, or
 * UV_EMFILE / UV_EACCES; port < 0: no port is involved. */
int xcs_limits_admit(struct xcs_module *m, int accepted, int port);
/* Counts the handle just made against the limit it was admitted under,
 * until it is freed. */
void xcs_limits_count(struct xcs_handle *h, int accepted);
/* Pushes nil, message, code for a refusal of xcs_limits_admit; returns 3. */
int xcs_limits_refused(lua_State *L, struct xcs_module *m, int err, int port);

/* Raises the CPU limit error in L if its module was stopped for it (a
 * coroutine of the module was; the thread that resumed it must stop too). */
void xcs_limits_check(lua_State *L);
/* Marks L as the thread running module code now (NULL: none); returns the
 * previous one, to restore when L stops running. */
lua_State *xcs_limits_running(lua_State *L);

#endif
