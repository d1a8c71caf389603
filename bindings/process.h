/*
 * process.h — child processes for end-to-end specs ("xcs.process"): start
 * the real xcshost, wait for a line it prints, signal it, wait for its exit,
 * each wait bounded by a timeout. Only the `xcs` test module offers this;
 * modules never see it.
 */
#ifndef XCS_PROCESS_H
#define XCS_PROCESS_H

#include <lua.h>

/* Adds process(argv) to the table on top of the stack. */
void xcs_process_open(lua_State *L);

#endif
