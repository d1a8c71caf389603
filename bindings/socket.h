/*
 * socket.h — installs the host's face in a Lua state: the handle metatables,
 * the C core (listen, connect, UDP, tasks, timers, log) and the prelude that
 * builds the public names over it.
 */
#ifndef XCS_SOCKET_H
#define XCS_SOCKET_H

#include <lua.h>

/* stack: target table. Fills it with socket, request, spawn, sleep, now,
 * log, exit (and, when sandboxed, print and the coroutine wrappers). */
void xcs_socket_open(lua_State *L, int sandboxed);
/* Lua names a function in an error message ("bad argument #2 to
 * 'udp.write'") by finding it in the loaded table, even where the call
 * site tells nothing (a tail call): puts the tables of env (socket, fs) and
 * the methods of every class a module is given (handles, timers, queues,
 * conditions, tasks: "queue.pop") into the loaded table at `loaded`, a
 * class's as it is made (handle.h). */
void xcs_socket_names(lua_State *L, int env, int loaded);

#endif
