/*
 * admit.h — what a module may open: its --max-sockets, --max-connections
 * and --ports, checked before a socket is made and counted while it is open.
 */
#ifndef XCS_ADMIT_H
#define XCS_ADMIT_H

#include <lua.h>

#include "bindings/core/module.h"

/* What a module may hold: sockets it opens itself (listeners, UDP sockets,
 * connections it makes: --max-sockets) and connections its listeners accept
 * (--max-connections), and which ports it may open (--ports). Returns 0, or
 * UV_EMFILE / UV_EACCES; port < 0: no port is involved. */
int xcs_admit(struct xcs_module *m, int accepted, int port);
/* Counts the handle just made against the limit it was admitted under,
 * until it is freed. */
void xcs_admit_count(struct xcs_handle *h, int accepted);
/* Pushes nil, message, code for a refusal of xcs_admit_admit; returns 3. */
int xcs_admit_refused(lua_State *L, struct xcs_module *m, int err, int port);

#endif
