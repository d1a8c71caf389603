/*
 * module.h — one tether module: its own lua_State, the tasks running in it
 * and every handle it owns.
 *
 * Life of a module:
 *   xcs_module_new     compile the file into a fresh sandboxed state
 *   xcs_module_start   queue its top-level chunk as the main task
 *   ... tasks run, wait, spawn ...
 *   xcs_module_unload  when its tasks have all returned, it called exit(),
 *                      a task failed, or the host stops: close everything
 *   (destroy)          once the last handle's close callback ran: lua_close
 *
 * The struct outlives its state while something still holds it (the `xcs`
 * test API's module object), so status and error stay readable.
 */
#ifndef XCS_MODULE_H
#define XCS_MODULE_H

#include <lua.h>

#include "bindings/list.h"
#include "host/host.h"
#include "host/limits.h"

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
  int nlive;            /* handles and requests whose callbacks are pending */
  xcs_list tasks;       /* xcs_task.link */
  int ntasks;
  xcs_task *current;    /* the task running now, if any */
  int can_wait;         /* the running thread can yield all the way up to
                           its task (no C call such as table.sort between) */
  xcs_task *preempted;  /* a task stopped mid-step: its module's other tasks
                           wait (in held) until it finishes that step */
  xcs_list held;
  int nrefs;            /* registry refs held for it (see xcs_ref) */
  int started;          /* the main task ran its first step */
  xcs_task *watcher;    /* a task of another module waiting on this one */
  int holders;          /* objects still pointing at this struct */
  int nsockets;         /* sockets it opened itself, open now (--max-sockets) */
  int nconnections;     /* connections its listeners hold (--max-connections) */
  int first_port;       /* of the first socket it opened, for m:port() */
  int port0_opens;      /* port-0 sockets it opened: under --workers the nth
                           is the same socket in every worker */
  struct xcs_module *replaces;    /* the version this one is reloading */
  int stopping;         /* asked to stop: its unload hook is running */
  uv_timer_t *stop_timer;         /* the deadline of that hook */
  struct xcs_faults *faults; /* injected into what it receives, or NULL */
  const void *metas[8]; /* its handle metatables by type id (XCS_T_*), so
                           checking a handle's type needs no table lookup */
} xcs_module;

/* Whether L is the thread of the task m is running now (safe in a signal
 * handler: two plain reads). */
#define xcs_module_preemptible(m, L) ((m)->current != NULL && xcs_task_thread((m)->current) == (L))
lua_State *xcs_task_thread(xcs_task *t);

/* The module whose state L (or a thread of it) belongs to. O(1). */
static inline xcs_module *xcs_module_of(lua_State *L) {
  return *(xcs_module **)lua_getextraspace(L);
}

/* Compiles path into a new sandboxed state. On failure returns NULL and
 * *err is a malloc'd message naming the file and what was wrong. */
xcs_module *xcs_module_new(xcs_host *h, const char *path, char **err);
/* The module's `arg` table: sets arg[key] = value (a string). */
void xcs_module_setarg(xcs_module *m, const char *key, const char *value);
/* Gives dst the strings, numbers and booleans of src's `arg` (a reload). */
void xcs_module_copyargs(xcs_module *dst, xcs_module *src);
/* Pushes the `arg` table onto the svc thread (for typed values). */
void xcs_module_pusharg(xcs_module *m);
void xcs_module_start(xcs_module *m);
/* A module of the test API, running on a state it does not own. */
xcs_module *xcs_module_borrow(xcs_host *h, lua_State *L, const char *name);

/* Runs f(ud) protected on m's svc thread, guarded by the CPU limit. Returns
 * NULL, or the error message (valid until the next call). */
const char *xcs_module_pcall(xcs_module *m, lua_CFunction f, void *ud);
void xcs_module_fail(xcs_module *m, const char *msg);
/* Whether any task's error fails m (not only its main task's): --strict,
 * or the module's global `strict` is true. */
int xcs_module_strict(xcs_module *m);
/* Asks m to stop gracefully: if it registered an unload hook (on_unload),
 * its listeners stop accepting and the hook runs as a task, with
 * --stop-timeout to finish (the module ends when its tasks have); without
 * one, or when the deadline passes, it is unloaded. */
void xcs_module_stop(xcs_module *m);
/* Lua: on_unload(fn | nil). */
int xcs_module_l_on_unload(lua_State *L);
/* Its tasks all returned (or it called exit()): log it and unload. */
void xcs_module_conclude(xcs_module *m);
void xcs_module_unload(xcs_module *m, int graceful);
/* Called whenever nlive drops: the last one finishes the unload. */
void xcs_module_settle(xcs_module *m);
/* Called by the host tick for each module on host->dead. */
void xcs_module_destroy(xcs_module *m);
void xcs_module_release(xcs_module *m);

/* Counted registry refs in the module's state; unload asserts none leak. */
int xcs_ref(xcs_module *m, lua_State *L);
void xcs_unref(xcs_module *m, int ref);

#endif
