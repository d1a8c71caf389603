/*
 * sync.h — queue(max) and condition(): what a module's tasks wait on
 * besides sockets and time.
 */
#ifndef XCS_SYNC_H
#define XCS_SYNC_H

#include <lua.h>

#include <lauxlib.h>

#include "bindings/list.h"

/* Sets core.queue and core.condition, and their metatables. */
void xcs_sync_open(lua_State *L);

/* A plain userdata class (no libuv handle): its metatable `name` has the
 * methods in __index, __gc, __tostring, and a __metatable that hides it. */
typedef struct xcs_class {
  const char *name;
  const luaL_Reg *methods;
  lua_CFunction gc, tostring;
} xcs_class;
/* Pushes cls's metatable, made with the class's first object in the state
 * (handle.h tells why). */
void xcs_sync_class(lua_State *L, const xcs_class *cls);
extern const xcs_class xcs_queue_class, xcs_cond_class;

/* A list of waiting tasks, any number of them (sync.c tells how its nodes
 * live): what queues, conditions and task handles wait in. */
/* Parks the running task in a new node of l; k runs, with context 1, when
 * it is woken. Stack slot `at` holds the timeout in seconds (-1: none)
 * before the first wait (again 0), which makes it the deadline, and the
 * deadline after (again 1): xcs_timed_out(L, lua_tonumber(L, at)) tells. */
int xcs_waitlist_wait(lua_State *L, xcs_list *l, lua_KFunction k, int at, int again);
/* Wakes the first task still waiting in l on the next turn (never inside
 * the call that signals). Returns whether there was one. */
int xcs_waitlist_wake_one(xcs_list *l);
/* Frees the nodes (the owner is collected). */
void xcs_waitlist_free(xcs_list *l);
#endif
