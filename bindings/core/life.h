/*
 * core/life.h — how long a struct lives: one count of holds and one free
 * path, for every struct that libuv callbacks or other structs point at
 * (handles, wait deadlines, name look-ups, modules).
 *
 * Contract:
 *   - xcs_life_init gives the maker one hold. Whoever starts something that
 *     will call back later (a uv_close, a uv_getaddrinfo, a timer the struct
 *     owns) takes a hold first and releases it in that callback; the maker
 *     releases its own hold when it is done with the struct (a handle: when
 *     it is closed for the module).
 *   - When the last hold goes, `free` runs exactly once — never inside the
 *     call that released it when the life belongs to a host: it is queued on
 *     host->freeing and run by the host's next tick (so a loop that walks a
 *     list while closing its members never sees one freed under it). A life
 *     with no host (init with h NULL) is freed at once.
 *   - No other code counts lifetimes: no pending counters, no stand-in libuv
 *     handles opened only to keep a struct alive. A libuv handle is closed
 *     with xcs_life_uv_close, which holds the life until its close callback.
 *   - Lua-free: this and life.c use libuv and the list only.
 */
#ifndef XCS_CORE_LIFE_H
#define XCS_CORE_LIFE_H

#include <uv.h>

#include "bindings/list.h"

struct xcs_host;

typedef struct xcs_life {
  int holds;
  struct xcs_host *host;  /* whose tick runs free; NULL: free at once */
  xcs_list link;          /* host->freeing, between the last release and free */
  void (*free)(struct xcs_life *l);
} xcs_life;

/* One hold, the maker's. */
void xcs_life_init(xcs_life *l, struct xcs_host *h, void (*free)(xcs_life *));
void xcs_hold(xcs_life *l);
/* The last release queues free (see above). */
void xcs_release(xcs_life *l);
/* uv_close(uvh) with a hold on l until its close callback, for a libuv
 * handle no other callback will look at (uvh->data becomes l). Handles
 * close theirs with xcs_handle_uv_close, which keeps uvh->data. */
void xcs_life_uv_close(xcs_life *l, uv_handle_t *uvh);
/* The host's tick: runs free for everything released since; returns
 * whether there was any. */
int xcs_life_sweep(struct xcs_host *h);

#endif
