/*
 * timer.h — sleep(seconds) and now().
 */
#ifndef XCS_TIMER_H
#define XCS_TIMER_H

#include <lua.h>

/* core.sleep, core.now and the timer metatable. */
void xcs_timer_open(lua_State *L);

#endif
