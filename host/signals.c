/*
 * signals.c — stop signals, delivered through the loop (uv_signal_t), so
 * the unload runs as ordinary loop work, never inside a signal handler.
 */
#include "host/signals.h"

#include <signal.h>

#include "bindings/core/log.h"
#include "bindings/tls_rotate.h"
#include "host/reload.h"

static void stop_cb(uv_signal_t *s, int signum) {
  xcs_host *h = s->data;
  const char *name = signum == SIGINT ? "SIGINT" : "SIGTERM";
  if (h->signals++ == 0) {
    xcs_log(h, "xcshost", "stopping on %s: unloading every module", name);
    xcs_host_stop(h, 0);
  } else {
    xcs_log(h, "xcshost", "second %s: closing everything now", name);
    xcs_host_stop(h, 1);
  }
}

static void reload_cb(uv_signal_t *s, int signum) {
  (void)signum;
  xcs_host *h = s->data;
  if (h->stopping) return;
  if (h->opt.sighup_certs) { /* --sighup certs */
    xcs_log(h, "xcshost", "SIGHUP: re-reading the TLS listeners' certificates");
    xcs_tls_rotate(h, NULL, NULL, NULL);
    return;
  }
  xcs_log(h, "xcshost", "SIGHUP: reloading every module from disk");
  xcs_reload_named(h, NULL, NULL, NULL);
}

static void watch(xcs_host *h, uv_signal_t *s, int signum, uv_signal_cb cb) {
  uv_signal_init(&h->loop, s);
  s->data = h;
  uv_signal_start(s, cb, signum);
  /* A signal handler alone must not keep the host running. */
  uv_unref((uv_handle_t *)s);
}

void xcs_signals_start(xcs_host *h) {
  signal(SIGPIPE, SIG_IGN); /* a peer that went away is an error code, not death */
  watch(h, &h->sigint, SIGINT, stop_cb);
  watch(h, &h->sigterm, SIGTERM, stop_cb);
  watch(h, &h->sighup, SIGHUP, reload_cb);
}
