/*
 * admit.c — the per-module socket limits and port policy (admit.h).
 */
#include "bindings/admit.h"

#include <lauxlib.h>

#include "bindings/handle.h"

int xcs_admit(xcs_module *m, int accepted, int port) {
  const xcs_options *o = &m->host->opt;
  if (accepted)
    return o->max_connections > 0 && m->nconnections >= o->max_connections ? UV_EMFILE : 0;
  if (o->max_sockets > 0 && m->nsockets >= o->max_sockets) return UV_EMFILE;
  if (port < 0) return 0;
  for (int i = 0; i < o->nports; i++)
    if (port >= o->ports[i].lo && port <= o->ports[i].hi) return 0;
  return UV_EACCES;
}

void xcs_admit_count(xcs_handle *h, int accepted) {
  h->counted = accepted ? XCS_COUNTED_CONNECTION : XCS_COUNTED_SOCKET;
  (*xcs_handle_count(h))++;
}

int xcs_admit_refused(lua_State *L, xcs_module *m, int err, int port) {
  const xcs_options *o = &m->host->opt;
  m->stats.admit[err == UV_EACCES ? XCS_A_PORTS : XCS_A_SOCKETS]++;
  lua_pushnil(L);
  if (err == UV_EACCES) {
    char ports[128];
    xcs_ports_format(o, ports, sizeof ports);
    lua_pushfstring(L, "EACCES: this host lets modules open ports %s, not %d (--ports)", ports,
                    port);
  } else {
    lua_pushfstring(L, "EMFILE: the module holds its limit of %d sockets (--max-sockets)",
                    o->max_sockets);
  }
  lua_pushstring(L, uv_err_name(err));
  return 3;
}

