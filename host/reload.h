/*
 * reload.h — replacing a module with a new version from disk while the host
 * runs (SIGHUP, or `reload NAME` on the control socket).
 *
 * The new version is compiled first: if that fails, the old one keeps
 * running and the log says why. Otherwise it starts beside the old one.
 * When it opens a port the old version holds (by number, same protocol),
 * or a UNIX path it holds (same path, same kind of socket),
 * it is handed the old version's socket itself — a dup of the descriptor,
 * its backlog included — and the old handle is closed: no connection
 * attempt made during the reload is refused. Once the new version's first
 * step is over, the old version is unloaded (its connections flush and
 * close as in any unload). If the new version fails in that first step the
 * old one keeps running, without the sockets it already handed over.
 */
#ifndef XCS_RELOAD_H
#define XCS_RELOAD_H

#include <uv.h>

#include "host/module.h"

struct xcs_handle_type;

/* Starts reloading m: returns the new version, or NULL when it cannot be
 * loaded (the reason is logged, and in *err if err is not NULL: free it). */
xcs_module *xcs_reload(xcs_module *m, char **err);
/* Reloads every running module called name ("" or NULL: every one), and
 * tells report about each (next NULL: it failed, err says why). Returns how
 * many were found. SIGHUP and the control socket's reload both come here. */
typedef void (*xcs_reload_report)(void *ud, xcs_module *m, xcs_module *next, const char *err);
int xcs_reload_named(xcs_host *h, const char *name, xcs_reload_report report, void *ud);
/* For a module opening `port` with a handle of `type`: if the version it
 * replaces holds such a socket, closes that handle and returns 1 with a
 * duplicate of its descriptor in *fd; else returns 0. */
int xcs_reload_takeover(xcs_module *m, const struct xcs_handle_type *type, int port,
                        uv_os_sock_t *fd);
/* The same for a UNIX socket bound to `path`: the socket file goes with the
 * socket (the old handle no longer removes it when it closes). */
int xcs_reload_takeover_path(xcs_module *m, const struct xcs_handle_type *type,
                             const char *path, uv_os_sock_t *fd);
/* The new version's first step is over: unload the old one, or keep it if
 * the new one failed. */
void xcs_reload_started(xcs_module *m);
/* m is being destroyed: no module may still point at it. */
void xcs_reload_forget(xcs_module *m);

#endif
