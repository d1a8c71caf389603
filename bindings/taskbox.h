/*
 * taskbox.h — the handle spawn returns: t:wait([timeout]), t:cancel(),
 * t:status().
 */
#ifndef XCS_TASKBOX_H
#define XCS_TASKBOX_H

#include <lua.h>

#include "bindings/task.h"

/* Pushes a new handle for t, which anchors it until it ends. */
void xcs_taskbox_push(lua_State *L, xcs_task *t);
/* t ended: XCS_TASK_DONE with nres results on top of its thread,
 * XCS_TASK_FAILED with the error value there, or XCS_TASK_CANCELLED. The
 * handle keeps them and its waiters wake. No-op for a task without one. */
void xcs_taskbox_end(xcs_task *t, int how, int nres);
/* The xcs.task metatable. */
void xcs_taskbox_open(lua_State *L);

#endif
