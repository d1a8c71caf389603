/*
 * taskbox.h — the handle spawn returns: t:wait([timeout]), t:cancel(),
 * t:status().
 */
#ifndef XCS_TASKBOX_H
#define XCS_TASKBOX_H

#include <lua.h>

#include "bindings/sync.h"
#include "bindings/task.h"

/* Pushes a new handle for t. t does not anchor it: the handle lives as
 * long as Lua sees it, and is told t's end only if it is still alive. */
void xcs_taskbox_push(lua_State *L, xcs_task *t);
/* t goes without an end to tell (an unload): its handle no longer finds it. */
void xcs_taskbox_forget(lua_State *L, xcs_task *t);
/* t ended: XCS_TASK_DONE with nres results on top of its thread,
 * XCS_TASK_FAILED with the error value there, or XCS_TASK_CANCELLED. The
 * handle keeps them and its waiters wake. No-op for a task without one. */
void xcs_taskbox_end(xcs_task *t, int how, int nres);
/* Its class, xcs.task (sync.h). */
extern const xcs_class xcs_taskbox_class;

#endif
