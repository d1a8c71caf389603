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

#include "bindings/core/module.h"
#include "host/host.h"
#include "host/limits.h"

/* The manager's callbacks (bindings/core/host.h), what xcs_host_init hands
 * down to the layers below. */
extern const xcs_manager xcs_module_manager;

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
/* A reload replaced m: as xcs_module_stop, but a module without an unload
 * hook that holds connections stops accepting and serves them until they
 * have closed (or --stop-timeout), rather than being unloaded at once. */
void xcs_module_retire(xcs_module *m);
/* Lua: on_unload(fn | nil). */
int xcs_module_l_on_unload(lua_State *L);
/* Its tasks all returned (or it called exit()): log it and unload. */
void xcs_module_conclude(xcs_module *m);
void xcs_module_unload(xcs_module *m, int graceful);
/* Called by the host tick for each module on host->dead. */
void xcs_module_destroy(xcs_module *m);
/* An object pointing at the struct (the test API's module) keeps it, not
 * its state, until it lets go. */
void xcs_module_pin(xcs_module *m);
void xcs_module_release(xcs_module *m);

#endif
