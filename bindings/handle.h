/*
 * handle.h — what every socket and timer has in common: its owner module,
 * its Lua box, its waiters, and the one way it is closed.
 *
 * The C struct and the Lua userdata ("box") are separate: the box holds a
 * pointer to the struct, the struct is malloc'd and lives as long as its
 * `life` is held (bindings/core/life.h): by the handle itself until it is
 * closed, and by each of its libuv handles until that one's close callback.
 * While open, the box is anchored by a registry ref and the struct sits in
 * its module's handle list, so unloading finds everything. Closing detaches
 * the box first (it then reads as closed), wakes the waiters with "closed",
 * hands the libuv handles to uv_close (xcs_handle_uv_close) and releases the
 * handle's own hold; the last release frees the struct on the next tick.
 * __gc only ever starts a close.
 */
#ifndef XCS_HANDLE_H
#define XCS_HANDLE_H

#include <lauxlib.h>
#include <lua.h>
#include <uv.h>

#include "bindings/list.h"
#include "bindings/core/module.h"

typedef struct xcs_handle xcs_handle;

/* What a socket bound, in the structs of the types that bind (listeners,
 * UDP and UNIX datagram sockets) at their type's binding_at; a connection
 * carries none. */
typedef struct xcs_binding {
  uv_handle_t *bound; /* a socket bound to a port the module asked for by
                         number: what a reload can hand to the new version */
  int port;           /* that port */
  const char *path;   /* or the UNIX path it bound, while it owns the socket
                         file there (bindings/unix.h) */
} xcs_binding;

enum { XCS_T_CONN, XCS_T_LISTENER, XCS_T_UDP, XCS_T_TIMER, XCS_T_PROCESS, XCS_T_UNIXDGRAM,
       XCS_NTYPES };

typedef struct xcs_handle_type {
  int id;            /* XCS_T_*: a number of its own, below XCS_NTYPES */
  const char *name;  /* metatable name, "xcs.tcp" */
  /* Starts closing; graceful lets connections flush what was written. */
  void (*close)(xcs_handle *h, int graceful);
  /* Writes what __tostring shows after the type name. */
  void (*describe)(xcs_handle *h, char *buf, size_t size);
  const luaL_Reg *methods;
  /* Sets what socket.list() shows of it in the table on top of L (protocol,
   * kind, local, remote, bytes_in, bytes_out); NULL: not a socket. */
  void (*info)(xcs_handle *h, lua_State *L);
  /* Closes at once, telling the peer it was cut (a connection: RST);
   * NULL: close is all there is. */
  void (*abort)(xcs_handle *h);
  /* offsetof its xcs_binding in the struct, or 0: it binds nothing. */
  size_t binding_at;
  /* Adds to the methods table on top of L what a static luaL_Reg cannot
   * hold (closures with upvalues, another file's methods), nextend new
   * names at most; NULL: nothing. */
  void (*extend)(lua_State *L);
  int nextend;
} xcs_handle_type;

/* A handle's place on host->deferred, to close once the current step ends
 * (xcs_handle_defer_close): kept by the one type that defers a close (a
 * port-keyed listener's client, stream.h), not by every handle. */
typedef struct xcs_deferred {
  xcs_list link;
  xcs_handle *h;
} xcs_deferred;

enum { XCS_COUNTED_NONE, XCS_COUNTED_SOCKET, XCS_COUNTED_CONNECTION };

struct xcs_handle {
  const xcs_handle_type *type;
  xcs_module *m;
  xcs_list link;      /* m->handles */
  xcs_handle **box;   /* the box's pointer to us, NULL once detached */
  int ref;            /* anchors the box while open */
  unsigned char closing;
  unsigned char counted; /* XCS_COUNTED_*: the module's count it is held
                            against until it closes */
  xcs_life life;      /* the one count of what still needs the struct */
  xcs_task *reader;   /* the task waiting to read (or accept) */
  xcs_task *writer;   /* the task waiting to write (or connect) */
  uint64_t opened;    /* uv_now() when it was made, for its age */
  uint64_t owner;     /* the id of the task that made it, or was given it by
                         spawn(fn, handle); closed if that task fails (0: none) */
};

/* The box, a full userdata of exactly this size: the handle (NULL once
 * detached) and its type, which tells a box from any other userdata with no
 * table look-up. */
typedef struct xcs_box {
  xcs_handle *h;
  const xcs_handle_type *type;
} xcs_box;

/* Allocates a zeroed struct of size bytes whose first member is the
 * xcs_handle, and pushes its box onto L. Raises on out of memory. */
void *xcs_handle_new(lua_State *L, xcs_module *m, size_t size,
                     const xcs_handle_type *type);
/* The handle at idx; raises "<type> expected" or "attempt to use a closed
 * socket". type NULL accepts any handle type. */
xcs_handle *xcs_handle_check_slow(lua_State *L, int idx, const xcs_handle_type *type);
/* ...its common case, an open box of the type asked for, inline: every
 * method call starts here. The size is looked at before the type, as only
 * a box is sure to hold one. */
static inline xcs_handle *xcs_handle_check(lua_State *L, int idx, const xcs_handle_type *type) {
  const xcs_box *b = lua_touserdata(L, idx);
  if (b != NULL && type != NULL && lua_rawlen(L, idx) == sizeof *b && b->type == type && b->h)
    return b->h;
  return xcs_handle_check_slow(L, idx, type);
}
/* The open handle of type at idx, or NULL for anything else; never raises. */
static inline xcs_handle *xcs_handle_test(lua_State *L, int idx, const xcs_handle_type *type) {
  const xcs_box *b = lua_touserdata(L, idx);
  return b != NULL && lua_rawlen(L, idx) == sizeof *b && b->type == type ? b->h : NULL;
}
/* As check, but a closed handle gives NULL (for continuations). */
xcs_handle *xcs_handle_get(lua_State *L, int idx, const xcs_handle_type *type);
/* In a continuation (or its first call, from the method): the handle at
 * idx, which the method checked before it, or NULL if it was closed since.
 * The value in a suspended C function's stack slot stays what it was, so
 * its type needs no second check. */
xcs_handle *xcs_handle_again(lua_State *L, int idx);
/* The open handle at idx, or NULL for a closed one or anything else; never
 * raises. */
xcs_handle *xcs_handle_opt(lua_State *L, int idx);
/* Whether the value at idx is a handle's box (open or closed). */
int xcs_handle_is(lua_State *L, int idx);
/* Pushes the handle's box (it must not be closed). */
void xcs_handle_push(lua_State *L, xcs_handle *h);

/* The module's count h is held against (it is counted). */
static inline int *xcs_handle_count(xcs_handle *h) {
  return h->counted == XCS_COUNTED_CONNECTION ? &h->m->nconnections : &h->m->nsockets;
}

/* h's binding, or NULL for a type that binds nothing. */
static inline xcs_binding *xcs_handle_binding(xcs_handle *h) {
  return h->type->binding_at ? (xcs_binding *)((char *)h + h->type->binding_at) : NULL;
}

void xcs_handle_close(xcs_handle *h, int graceful);
/* Closes h (gracefully) when the running step of its module is over, on
 * the list through d (initialised, and unlinked by h's close). */
void xcs_handle_defer_close(xcs_handle *h, xcs_deferred *d);
/* Hands one of h's libuv handles to uv_close, holding h until its close
 * callback (uvh->data is h: callbacks still due, a connect's ECANCELED,
 * find it as ever). */
void xcs_handle_uv_close(xcs_handle *h, uv_handle_t *uvh);
/* The close callback that releases such a hold, for closes that take their
 * own (uv_tcp_close_reset): xcs_hold(&h->life) and set uvh->data = h first. */
void xcs_handle_closed_cb(uv_handle_t *uvh);

/* Lua: list() -> a table per socket the calling module holds. */
int xcs_handle_list(lua_State *L);
/* For info hooks: t[key] = value on the table on top of L. */
void xcs_info_str(lua_State *L, const char *key, const char *value);
void xcs_info_int(lua_State *L, const char *key, uint64_t value);

/* Each class's metatable (the handle types' and the plain userdata
 * classes' of sync.h) is made in a state when its first object is, not at
 * setup. These keep what setup did for them all the same: */
/* The table at idx is where Lua's messages name the classes' methods
 * ("tcp.write"): each class made from now on puts its methods there under
 * its name without "xcs." (the sandbox's loaded table). */
void xcs_class_names(lua_State *L, int idx);
/* Registers the metatable on top of L, finished, as the class `name`
 * (registry[name], as luaL_newmetatable would) and under key (a light
 * userdata key; NULL: none), and names its methods; leaves it on the stack. */
void xcs_class_register(lua_State *L, const char *name, const void *key);
/* Pushes the metatable of type, making it if this state has none yet. */
void xcs_handle_class(lua_State *L, const xcs_handle_type *type);

#endif
