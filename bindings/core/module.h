/*
 * core/module.h — a module as the layers below host/ see it: its state and
 * service thread, its tasks and handles, what it holds against its limits.
 *
 * Contract:
 *   - host/module.c makes, runs, unloads and destroys modules; this header
 *     only describes the struct, so bindings/ can read it without
 *     including host/. What they need done to a module (fail, conclude,
 *     settle...) goes through m->host->mgr (bindings/core/host.h).
 *   - The struct's lifetime is counted in one place, bindings/core/life.h:
 *     `life` holds it while anything the module owns still has a libuv
 *     callback or close to come; `pins` keeps the struct (not the state)
 *     for objects that still point at it (the test API's module object).
 *   - Only lua_State pointers and lua_getextraspace come from Lua here.
 */
#ifndef XCS_CORE_MODULE_H
#define XCS_CORE_MODULE_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

#include "bindings/core/host.h"
#include "bindings/core/life.h"
#include "bindings/list.h"
#include "bindings/stats.h"

typedef struct xcs_limits {
  size_t used;          /* bytes the module's state holds now */
  size_t peak;          /* the most it ever held */
  size_t budget;        /* 0: no limit */
  uint64_t slice_start; /* uv_hrtime() when its running code was entered */
  uint64_t burst_start; /* ...and when it last waited of its own accord (a
                           preempted task has not) */
  uint64_t burst_ns;    /* how long it may run without waiting; 0: forever */
  volatile int killed;  /* the burst limit tripped: every line now raises */
  /* Memory pressure (on_memory): when used passes pressure_next while
   * armed, on_pressure is called (from the allocator: it may only schedule
   * work) and it is disarmed until the module's function has run. Then
   * pressure_next is a step above what is used then, so the garbage a shed
   * left for the collector does not call it again; a fall under
   * pressure_at puts it back there. pressure_at 0: none. */
  size_t pressure_at, pressure_next;
  int pressure_armed;
  void (*on_pressure)(struct xcs_limits *lim);
  void *pressure_ud;
} xcs_limits;

/* Module code is entered (a task resumed, a finalizer run...). `resumed`
 * says it continues after a preemption, so the burst goes on counting. */
static inline void xcs_limits_enter(xcs_limits *lim, uint64_t now, int resumed) {
  lim->slice_start = now;
  if (!resumed) lim->burst_start = now;
}
static inline void xcs_limits_leave(xcs_limits *lim) { lim->slice_start = lim->burst_start = 0; }

typedef struct xcs_task xcs_task;
struct xcs_faults;

typedef enum {
  XCS_LOADED,    /* compiled, main task not started */
  XCS_RUNNING,
  XCS_UNLOADING, /* closing what it owned */
  XCS_GONE       /* state closed */
} xcs_phase;

typedef struct xcs_module {
  xcs_host *host;
  xcs_list link;        /* host->modules */
  xcs_list dead;        /* host->dead, once nothing it owns is left */
  char *name;           /* log tag: the file name without .lua */
  char *path;
  char *dir;            /* where require looks */

  lua_State *L;         /* the module's state (borrowed for the test client) */
  lua_State *svc;       /* a thread that never runs module code: for building
                           values from callbacks while tasks are suspended */
  int svc_ref;
  int owns_state;
  xcs_limits limits;

  xcs_phase phase;
  int failed;
  int concluded;        /* its tasks all returned, or it called exit() */
  char *error;          /* why it failed */

  xcs_list handles;     /* xcs_handle.link */
  xcs_life life;        /* held by itself until it unloads, and by every
                           handle, deadline and look-up it still has: the
                           last release finishes the unload (core/life.h) */
  xcs_list tasks;       /* xcs_task.link */
  int ntasks;
  int nqueued;          /* of them, on host->ready (a task woken now waits behind them) */
  int ntimers;          /* after/every timers still to fire: like its tasks,
                           they keep it running (bindings/timer.c) */
  xcs_task *current;    /* the task running now, if any */
  lua_State *wait_thread; /* the one thread whose yield reaches the running
                           task's resumer: the task's own, or a coroutine
                           resumed through core.resume (which passes host
                           yields up) while no C call such as table.sort
                           stood between; NULL: none can wait */
  xcs_task *preempted;  /* a task stopped mid-step: its module's other tasks
                           wait (in held) until it finishes that step */
  xcs_list held;
  int nrefs;            /* registry refs held for it (see xcs_ref) */
  int started;          /* the main task ran its first step */
  xcs_task *watcher;    /* a task of another module waiting on this one */
  xcs_life pins;        /* the struct (not the state): held by its state
                           until destroyed, and by objects pointing at it */
  int nsockets;         /* sockets it opened itself, open now (--max-sockets) */
  int nconnections;     /* connections its listeners hold (--max-connections) */
  int first_port;       /* of the first socket it opened, for m:port() */
  int port0_opens;      /* port-0 sockets it opened: under --workers the nth
                           is the same socket in every worker */
  struct xcs_module *replaces;    /* the version this one is reloading */
  int stopping;         /* asked to stop: its unload hook is running */
  uv_timer_t stop_timer; /* the deadline of that hook ... */
  int stop_timing;      /* ... while it runs (or, retiring, its clients') */
  uint64_t retire_until; /* retiring: uv_now when its clients' time is up */
  struct xcs_faults *faults; /* injected into what it receives, or NULL */
  xcs_stats stats;      /* what its sockets did, for the metrics */
} xcs_module;

/* Whether L is the thread of the task m is running now (safe in a signal
 * handler: two plain reads). */
#define xcs_module_preemptible(m, L) ((m)->current != NULL && xcs_task_thread((m)->current) == (L))
lua_State *xcs_task_thread(xcs_task *t);

/* A thread's extra space holds its module's pointer; a task's thread has
 * this bit set in it too (bindings/task.c), the pointer being aligned. */
#define XCS_TASK_BIT ((uintptr_t)1)

/* The module whose state L (or a thread of it) belongs to. O(1). */
static inline xcs_module *xcs_module_of(lua_State *L) {
  return (xcs_module *)(*(uintptr_t *)lua_getextraspace(L) & ~XCS_TASK_BIT);
}

/* Counted registry refs in the module's state; unload asserts none leak.
 * (bindings/handle.c) */
int xcs_ref(xcs_module *m, lua_State *L);
void xcs_unref(xcs_module *m, int ref);

#endif
