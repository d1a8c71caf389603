/*
 * tls_rotate.c — every TLS listener of a host re-reads its certificates
 * in place (see tls_rotate.h).
 */
#include "bindings/tls_rotate.h"

#include "bindings/core/log.h"
#include "bindings/tcp.h"
#include "bindings/tls.h"

int xcs_tls_rotate(xcs_host *h, xcs_tls_rotated report, void *ud, int *n) {
  int failed = 0, count = 0;
  for (xcs_list *ml = h->modules.next; ml != &h->modules; ml = ml->next) {
    xcs_module *m = xcs_container_of(ml, xcs_module, link);
    for (xcs_list *k = m->handles.next; k != &m->handles; k = k->next) {
      xcs_handle *hd = xcs_container_of(k, xcs_handle, link);
      if (hd->type != &xcs_listener_type || hd->closing) continue;
      xcs_listener *l = (xcs_listener *)hd;
      if (l->tls == NULL || l->stopped) continue;
      const char *where = l->addr;
      char err[512];
      int r = xcs_tls_ctx_reread(l->tls, err, sizeof err);
      count++;
      if (r != 0) failed++;
      if (r == 0)
        xcs_log(h, m->name, "%s: certificates re-read", where);
      else
        xcs_log_at(h, XCS_LOG_WARN, m->name, "%s: certificates not re-read, the ones loaded stay: %s",
                   where, err);
      if (report) report(ud, m, where, r == 0 ? NULL : err);
    }
  }
  if (n) *n = count;
  return failed;
}
