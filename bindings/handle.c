/*
 * handle.c — the life of a handle: box, anchor, close, free.
 */
#include "bindings/handle.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/task.h"

int xcs_ref(xcs_module *m, lua_State *L) {
  m->nrefs++;
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

void xcs_unref(xcs_module *m, int ref) {
  if (ref == LUA_NOREF || ref == LUA_REFNIL) return;
  m->nrefs--;
  luaL_unref(m->svc, LUA_REGISTRYINDEX, ref);
}

/* The last hold on h went: the one place a handle's struct is freed. */
static void handle_free(xcs_life *l) {
  xcs_handle *h = xcs_container_of(l, xcs_handle, life);
  xcs_module *m = h->m;
  xcs_list_remove(&h->link);
  free(h);
  xcs_release(&m->life);
}

/* Every type registered, in its id's slot: the only values a box's type
 * can hold. The descriptors are static, the same for every module. */
static const xcs_handle_type *registered[XCS_NTYPES];

/* This runs on every socket call: a box is told by its size and by its type
 * being one of the registered ones, with no metatable or table look-up. Only
 * the host makes userdata, and none other holds a type descriptor there. */
static const xcs_box *box_at(lua_State *L, int idx) {
  /* NULL for all but userdata; a light one's length is 0. */
  const xcs_box *b = lua_touserdata(L, idx);
  if (b == NULL || lua_rawlen(L, idx) != sizeof(xcs_box)) return NULL;
  for (int i = 0; i < XCS_NTYPES; i++)
    if (b->type == registered[i] && b->type != NULL) return b;
  return NULL;
}

int xcs_handle_is(lua_State *L, int idx) { return box_at(L, idx) != NULL; }

xcs_handle *xcs_handle_again(lua_State *L, int idx) {
  assert(box_at(L, idx) != NULL);
  return ((const xcs_box *)lua_touserdata(L, idx))->h;
}

xcs_handle *xcs_handle_opt(lua_State *L, int idx) {
  const xcs_box *b = box_at(L, idx);
  return b ? b->h : NULL;
}

static xcs_handle *to_handle(lua_State *L, int idx, const xcs_handle_type *type) {
  /* The common case, a box of the type asked for, in one compare: only a
   * box holds a registered type's descriptor where its type goes. */
  if (type != NULL) {
    const xcs_box *b = lua_touserdata(L, idx);
    if (b != NULL && lua_rawlen(L, idx) == sizeof(xcs_box) && b->type == type) return b->h;
  }
  const xcs_box *b = box_at(L, idx);
  if (b == NULL || (type != NULL && b->type != type))
    luaL_typeerror(L, idx, type ? type->name : "socket handle");
  return b->h;
}

xcs_handle *xcs_handle_get(lua_State *L, int idx, const xcs_handle_type *type) {
  return to_handle(L, idx, type);
}

xcs_handle *xcs_handle_check_slow(lua_State *L, int idx, const xcs_handle_type *type) {
  xcs_handle *h = to_handle(L, idx, type);
  if (h == NULL) {
    lua_Debug ar;
    if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name)
      luaL_error(L, "%s: attempt to use a closed socket", ar.name);
    luaL_error(L, "attempt to use a closed socket");
  }
  return h;
}

void xcs_handle_push(lua_State *L, xcs_handle *h) {
  assert(h->box != NULL);
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref);
}

void xcs_handle_close(xcs_handle *h, int graceful) {
  if (h->closing) return;
  h->closing = 1;
  if (h->counted) { /* closed for the module: its place is free again */
    (*xcs_handle_count(h))--;
    h->counted = XCS_COUNTED_NONE;
  }
  if (h->box) {
    *h->box = NULL;
    h->box = NULL;
    xcs_unref(h->m, h->ref);
    h->ref = LUA_NOREF;
  }
  xcs_task_wake(&h->reader, UV_ECANCELED);
  xcs_task_wake(&h->writer, UV_ECANCELED);
  h->type->close(h, graceful);
  xcs_release(&h->life); /* closed for the module: its own hold goes */
}

void xcs_handle_defer_close(xcs_handle *h, xcs_deferred *d) {
  if (h->closing || xcs_list_linked(&d->link)) return;
  d->h = h;
  xcs_list_push(&h->m->host->deferred, &d->link);
  xcs_host_poke(h->m->host);
}

void xcs_handle_closed_cb(uv_handle_t *uvh) { xcs_release(&((xcs_handle *)uvh->data)->life); }

void xcs_handle_uv_close(xcs_handle *h, uv_handle_t *uvh) {
  xcs_hold(&h->life);
  uvh->data = h; /* as every callback of a handle's libuv handles has it */
  uv_close(uvh, xcs_handle_closed_cb);
}

void xcs_info_str(lua_State *L, const char *key, const char *value) {
  lua_pushstring(L, value);
  lua_setfield(L, -2, key);
}

void xcs_info_int(lua_State *L, const char *key, uint64_t value) {
  lua_pushinteger(L, (lua_Integer)value);
  lua_setfield(L, -2, key);
}

int xcs_handle_list(lua_State *L) {
  xcs_module *m = xcs_module_of(L);
  lua_newtable(L);
  int n = 0;
  uint64_t now = uv_now(&m->host->loop);
  for (xcs_list *k = m->handles.next; k != &m->handles; k = k->next) {
    xcs_handle *h = xcs_container_of(k, xcs_handle, link);
    if (h->type->info == NULL || h->closing) continue;
    lua_createtable(L, 0, 9);
    h->type->info(h, L);
    lua_pushnumber(L, (lua_Number)(now - h->opened) / 1000);
    lua_setfield(L, -2, "age");
    xcs_handle_push(L, h);
    lua_setfield(L, -2, "handle");
    lua_rawseti(L, -2, ++n);
  }
  return 1;
}

static int handle_gc(lua_State *L) {
  xcs_box *box = lua_touserdata(L, 1);
  if (box->h) xcs_handle_close(box->h, 0);
  return 0;
}

/* h:close(): the close method of every type, its type an upvalue, so a
 * wrong self ("u.close(42)") raises "xcs.udp expected" like any method. As
 * __close its self is always one of ours (a metamethod of our metatable). */
static int handle_close(lua_State *L) {
  const xcs_handle_type *type = lua_touserdata(L, lua_upvalueindex(1));
  xcs_handle *h = xcs_handle_get(L, 1, type);
  if (h) xcs_handle_close(h, 1);
  lua_pushboolean(L, 1);
  return 1;
}

static int handle_tostring(lua_State *L) {
  xcs_box *box = lua_touserdata(L, 1);
  luaL_getmetafield(L, 1, "__name");
  const char *name = lua_tostring(L, -1);
  if (box->h == NULL) {
    lua_pushfstring(L, "%s (closed)", name);
  } else {
    char desc[256];
    box->h->type->describe(box->h, desc, sizeof desc);
    lua_pushfstring(L, "%s %s", name, desc);
  }
  return 1;
}

/* The registry key of the table Lua names the classes' methods by in error
 * messages and tracebacks ("tcp.write"), when the state has one. */
static const char names_key = 0;

void xcs_class_names(lua_State *L, int idx) {
  lua_pushvalue(L, idx);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &names_key);
}

static void publish(lua_State *L, const char *name) {
  /* stack: metatable */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &names_key) == LUA_TTABLE) {
    lua_getfield(L, -2, "__index");
    lua_setfield(L, -2, name + 4); /* "xcs.udp": "udp" */
  }
  lua_pop(L, 1);
}

void xcs_class_register(lua_State *L, const char *name, const void *key) {
  /* stack: metatable; registered last, once all of it is made */
  publish(L, name);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, name);
  if (key == NULL) return;
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

/* Pushes the metatable of type, made with the first handle of its type in
 * this state rather than at every module's setup, where the six classes
 * were a sixth of a module's start and most modules open one or two. It is
 * made in the state's allocator, so counted against the module's limits;
 * if that raises, nothing was registered and the next handle starts over
 * (so luaL_newmetatable, which registers an empty table first, is not used). */
void xcs_handle_class(lua_State *L, const xcs_handle_type *type) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, type) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_createtable(L, 0, 6); /* __name, __gc, __tostring, __close, __index, __metatable */
  lua_pushstring(L, type->name);
  lua_setfield(L, -2, "__name");
  static const luaL_Reg meta[] = {{"__gc", handle_gc},
                                  {"__tostring", handle_tostring},
                                  {NULL, NULL}};
  luaL_setfuncs(L, meta, 0);
  lua_pushlightuserdata(L, (void *)type);
  lua_pushcclosure(L, handle_close, 1);
  lua_setfield(L, -2, "__close");
  int n = 1; /* close, unless the type has its own */
  for (const luaL_Reg *r = type->methods; r->name; r++) n += strcmp(r->name, "close") != 0;
  lua_createtable(L, 0, n + type->nextend); /* __index, sized once */
  lua_pushlightuserdata(L, (void *)type);
  lua_pushcclosure(L, handle_close, 1);
  lua_setfield(L, -2, "close");
  luaL_setfuncs(L, type->methods, 0);
  if (type->extend) type->extend(L);
  lua_setfield(L, -2, "__index");
  /* Modules see "xcs.tcp", not the metatable itself. */
  lua_pushliteral(L, "xcs handle");
  lua_setfield(L, -2, "__metatable");
  xcs_class_register(L, type->name, type);
  registered[type->id] = type;
}

void *xcs_handle_new(lua_State *L, xcs_module *m, size_t size,
                     const xcs_handle_type *type) {
  /* A finalizer or __close handler run by the unload must not open what
   * nothing would close. */
  if (m->phase != XCS_RUNNING) luaL_error(L, "%s: the module is unloading", type->name);
  /* The class and the box first: if Lua is out of memory they raise before
   * we malloc. */
  xcs_handle_class(L, type);
  xcs_box *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->h = NULL;
  box->type = type;
  lua_insert(L, -2);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  int ref = xcs_ref(m, L);
  xcs_handle *h = calloc(1, size);
  if (h == NULL) {
    xcs_unref(m, ref);
    luaL_error(L, "not enough memory");
  }
  h->ref = ref;
  h->owner = m->current ? m->current->id : 0;
  h->opened = uv_now(&m->host->loop);
  h->type = type;
  h->m = m;
  h->box = &box->h;
  box->h = h;
  xcs_list_push(&m->handles, &h->link);
  xcs_life_init(&h->life, m->host, handle_free);
  xcs_hold(&m->life);
  return h;
}
