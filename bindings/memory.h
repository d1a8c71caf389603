/*
 * memory.h — limits() and on_memory(fraction, fn): a module's limits and
 * usage, and a call before its memory runs out.
 */
#ifndef XCS_MEMORY_H
#define XCS_MEMORY_H

#include <lua.h>

/* Sets core.limits and core.on_memory. */
void xcs_memory_open(lua_State *L);

#endif
