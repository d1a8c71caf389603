/*
 * host.h — the host: one libuv loop, the modules running on it, and the
 * work deferred to the next turn of the loop.
 *
 * The executable makes one host from its command line; the `xcs` Lua module
 * makes one inside the interpreter running a busted spec. Everything else
 * (modules, tasks, handles) hangs off a host.
 */
#ifndef XCS_HOST_H
#define XCS_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "bindings/core/host.h"

void xcs_options_default(xcs_options *o);
int xcs_host_init(xcs_host *h, const xcs_options *o);
/* Unloads every module; with force, connections are not given time to flush. */
void xcs_host_stop(xcs_host *h, int force);
/* Runs the loop until every handle is closed, then frees the loop. */
void xcs_host_close(xcs_host *h);

#endif
