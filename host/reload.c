/*
 * reload.c — new versions of modules, and the hand-over of their sockets.
 */
#include "host/reload.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bindings/handle.h"
#include "bindings/tcp.h"
#include "bindings/core/log.h"

xcs_module *xcs_reload(xcs_module *m, char **err) {
  xcs_host *h = m->host;
  char *why = NULL;
  if (m->phase != XCS_RUNNING || !m->owns_state) {
    if (err) *err = strdup("the module is not running");
    return NULL;
  }
  xcs_module *next = xcs_module_new(h, m->path, &why);
  if (next == NULL) {
    xcs_log_at(h, XCS_LOG_ERROR, m->name, "reload failed, the running version stays: %s", why);
    if (err)
      *err = why;
    else
      free(why);
    return NULL;
  }
  xcs_module_copyargs(next, m);
  xcs_log(h, m->name, "reloading %s", m->path);
  next->replaces = m;
  next->stats.reloads = 1; /* the metrics add the versions' counts up */
  xcs_module_start(next);
  return next;
}

int xcs_reload_named(xcs_host *h, const char *name, xcs_reload_report report, void *ud) {
  /* Only the modules running now: the new versions join the list as it is
   * walked, so count first. */
  int n = 0, found = 0;
  for (xcs_list *l = h->modules.next; l != &h->modules; l = l->next) n++;
  xcs_list *l = h->modules.next;
  for (int i = 0; i < n; i++) {
    xcs_module *m = xcs_container_of(l, xcs_module, link);
    l = l->next;
    if (m->phase != XCS_RUNNING || !m->owns_state || m->replaces) continue;
    if (name && *name && strcmp(name, m->name) != 0) continue;
    found++;
    char *err = NULL;
    xcs_module *next = xcs_reload(m, &err);
    if (report) report(ud, m, next, err);
    free(err);
  }
  return found;
}

/* The old version's open socket of `type` bound to port (path NULL) or to
 * path; closes that handle and returns 1 with a duplicate of its descriptor
 * in *fd, or returns 0. */
static int takeover(xcs_module *m, const struct xcs_handle_type *type, int port,
                    const char *path, uv_os_sock_t *fd) {
  xcs_module *old = m->replaces;
  if (old == NULL || (path == NULL && port == 0)) return 0;
  for (xcs_list *n = old->handles.next; n != &old->handles; n = n->next) {
    xcs_handle *oh = xcs_container_of(n, xcs_handle, link);
    uv_os_fd_t ofd;
    xcs_binding *b = oh->type == type ? xcs_handle_binding(oh) : NULL;
    if (b == NULL || oh->closing || b->bound == NULL ||
        (path ? b->path == NULL || strcmp(b->path, path) != 0 : b->port != port) ||
        uv_fileno(b->bound, &ofd) != 0)
      continue;
    int dupfd = dup(ofd);
    if (dupfd < 0) return 0;
    *fd = dupfd;
    /* The socket file now belongs to the new version's handle. */
    b->path = NULL;
    /* The socket lives on in dupfd; the old handle goes now, so only the new
     * version accepts from the backlog. A listener's clients stay with the
     * old version until it is unloaded. */
    if (type == &xcs_listener_type)
      xcs_listener_stop(oh);
    else
      xcs_handle_close(oh, 1);
    if (path)
      xcs_log(m->host, m->name, "took over %s from the running version", path);
    else
      xcs_log(m->host, m->name, "took over port %d from the running version", port);
    return 1;
  }
  return 0;
}

int xcs_reload_takeover(xcs_module *m, const struct xcs_handle_type *type, int port,
                        uv_os_sock_t *fd) {
  return takeover(m, type, port, NULL, fd);
}

int xcs_reload_takeover_path(xcs_module *m, const struct xcs_handle_type *type,
                             const char *path, uv_os_sock_t *fd) {
  return takeover(m, type, 0, path, fd);
}

void xcs_reload_started(xcs_module *m) {
  xcs_module *old = m->replaces;
  m->replaces = NULL;
  if (old == NULL) return;
  if (m->failed) {
    xcs_log_at(m->host, XCS_LOG_ERROR, old->name, "reload failed in its first step, the running version stays");
    return;
  }
  xcs_module_retire(old); /* its unload hook, or its clients, may finish */
}

void xcs_reload_forget(xcs_module *m) {
  for (xcs_list *n = m->host->modules.next; n != &m->host->modules; n = n->next) {
    xcs_module *o = xcs_container_of(n, xcs_module, link);
    if (o->replaces == m) o->replaces = NULL;
  }
}
