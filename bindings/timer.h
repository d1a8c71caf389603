/*
 * timer.h — sleep(seconds) and now().
 */
#ifndef XCS_TIMER_H
#define XCS_TIMER_H

#include <lua.h>

#include "bindings/handle.h"

/* core.sleep, core.now, core.after, core.every. */
void xcs_timer_open(lua_State *L);
/* The timer's class, xcs.timer. */
extern const xcs_handle_type xcs_timer_type;
/* A timer handle (pushed) that runs the function at fn as a task, first
 * `seconds` from now (< 0: not yet, see xcs_timer_start), then every
 * `every` seconds (0: once, then it closes; < 0: each time it is started,
 * and it stays). Raises on out of memory. */
void *xcs_timer_new(lua_State *L, int fn, double seconds, double every);
/* (Re)starts it: fires `seconds` from now. Safe from anywhere on the loop
 * thread, an allocator included (no Lua runs). */
void xcs_timer_start(void *timer, double seconds);

#endif
