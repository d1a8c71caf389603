/*
 * limits.h — what one module may use: memory, counted by its own allocator,
 * and CPU time between waits, watched by a count hook.
 *
 * A module that goes over either fails with an error naming the limit; the
 * host and the other modules never notice.
 */
#ifndef XCS_LIMITS_H
#define XCS_LIMITS_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

typedef struct xcs_limits {
  size_t used;          /* bytes the module's state holds now */
  size_t peak;          /* the most it ever held */
  size_t budget;        /* 0: no limit */
  uint64_t slice_start; /* uv_hrtime() when the running task was resumed */
  uint64_t burst_ns;    /* how long a task may run without waiting; 0: forever */
  int killed;           /* the burst limit tripped: every line now raises */
} xcs_limits;

/* The lua_Alloc of every module state; ud is its xcs_limits. */
void *xcs_limits_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

/* Installs the runaway guard on L; threads created from L inherit it. */
void xcs_limits_watch(lua_State *L);

#endif
