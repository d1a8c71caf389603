/*
 * sync.h — queue(max) and condition(): what a module's tasks wait on
 * besides sockets and time.
 */
#ifndef XCS_SYNC_H
#define XCS_SYNC_H

#include <lua.h>

/* Sets core.queue and core.condition, and their metatables. */
void xcs_sync_open(lua_State *L);

#endif
