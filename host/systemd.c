/*
 * systemd.c — the two systemd protocols a daemon speaks (sd_notify(3) and
 * sd_listen_fds(3)), without linking libsystemd: both are a few lines.
 *
 * Notify: with $NOTIFY_SOCKET set, the host sends datagrams of newline-
 * separated assignments there: READY=1 once every module ran its first
 * step; RELOADING=1 while a reload's new versions have not yet run theirs,
 * then READY=1 again; STOPPING=1 once stopping; STATUS=<one line> whenever
 * the summary changes. The state is compared before the loop waits and
 * right after it wakes (a reload asked for by a signal or the control
 * socket is pending only until the next turn runs the new versions), so
 * nothing else in the host has to call in. With $WATCHDOG_USEC (systemd's
 * WatchdogSec=), WATCHDOG=1 goes out every half of it from a loop timer,
 * so a loop that stopped turning gets the service restarted.
 *
 * Activation: with $LISTEN_PID our pid, descriptors 3 .. 3+$LISTEN_FDS-1
 * are sockets, named by $LISTEN_FDNAMES; they go to bindings/inherit.c,
 * where socket.open of their port takes them.
 */
#include "host/systemd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bindings/inherit.h"
#include "bindings/core/log.h"
#include "host/module.h"

#define LISTEN_FDS_START 3

static struct {
  int fd;                     /* the notify socket, or -1 */
  struct sockaddr_un addr;
  socklen_t addrlen;
  uv_prepare_t before; /* before the loop waits: a turn's work is done (READY) */
  uv_check_t after;     /* after it woke: a reload asked for there is still pending */
  uv_timer_t watchdog;  /* WATCHDOG=1, when systemd asked for it */
  int watching;
  int ready, reloading, stopping;
  char status[256];
} sd = {.fd = -1};

static void send_state(xcs_host *h, const char *state) {
  if (sd.fd < 0) return;
  ssize_t n = sendto(sd.fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sd.addr,
                     sd.addrlen);
  if (n < 0 && errno != EAGAIN)
    xcs_log_at(h, XCS_LOG_WARN, "xcshost", "cannot notify systemd: %s", strerror(errno));
}

static void summary(xcs_host *h, char *buf, size_t size) {
  int modules = 0, sockets = 0, connections = 0, failed = h->failed;
  for (xcs_list *l = h->modules.next; l != &h->modules; l = l->next) {
    xcs_module *m = xcs_container_of(l, xcs_module, link);
    if (m->phase != XCS_RUNNING) continue;
    modules++;
    sockets += m->nsockets;
    connections += m->nconnections;
  }
  if (h->stopping)
    snprintf(buf, size, "stopping");
  else
    snprintf(buf, size, "%d module%s running, %d socket%s, %d connection%s%s", modules,
             modules == 1 ? "" : "s", sockets, sockets == 1 ? "" : "s", connections,
             connections == 1 ? "" : "s", failed ? ", a module failed" : "");
}

static void unused_cb(void *ud, int port, int socktype, const char *name) {
  xcs_log_at(ud, XCS_LOG_WARN, "xcshost",
             "systemd passed a socket for port %d (%s, %s) that no module opened", port,
             socktype == SOCK_STREAM ? "TCP" : "UDP", *name ? name : "unnamed");
}

/* What changed since the last look. */
static void look(xcs_host *h) {
  int started = 1, pending = 0;
  for (xcs_list *l = h->modules.next; l != &h->modules; l = l->next) {
    xcs_module *m = xcs_container_of(l, xcs_module, link);
    if (m->phase == XCS_LOADED || (m->phase == XCS_RUNNING && !m->started)) started = 0;
    if (m->replaces) pending = 1;
  }
  char status[sizeof sd.status];
  summary(h, status, sizeof status);
  char msg[sizeof status + 64];
  if (h->stopping && !sd.stopping) {
    sd.stopping = 1;
    snprintf(msg, sizeof msg, "STOPPING=1\nSTATUS=%s", status);
  } else if (!sd.ready && started && !h->stopping) {
    sd.ready = 1;
    snprintf(msg, sizeof msg, "READY=1\nSTATUS=%s", status);
    xcs_systemd_unused(h);
  } else if (sd.ready && pending && !sd.reloading && !h->stopping) {
    sd.reloading = 1;
    xcs_systemd_reloading(h);
    memcpy(sd.status, "reloading", sizeof "reloading");
    return;
  } else if (sd.reloading && !pending) {
    sd.reloading = 0;
    snprintf(msg, sizeof msg, "READY=1\nSTATUS=%s", status);
  } else if (sd.ready && strcmp(status, sd.status) != 0 && !sd.reloading) {
    snprintf(msg, sizeof msg, "STATUS=%s", status);
  } else {
    return;
  }
  if (!sd.reloading) memcpy(sd.status, status, sizeof status);
  send_state(h, msg);
}

static void watchdog_cb(uv_timer_t *t) { send_state(t->data, "WATCHDOG=1"); }

/* $WATCHDOG_USEC (and $WATCHDOG_PID, if set, ours): how often systemd wants
 * to hear from us, in ms; 0 for never. */
static uint64_t watchdog_ms(void) {
  const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
  if (usec == NULL) return 0;
  char *end;
  if (pid && (strtol(pid, &end, 10) != (long)getpid() || *end)) return 0;
  unsigned long long us = strtoull(usec, &end, 10);
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  return *end || us < 2000 ? 0 : us / 1000;
}

static void before_cb(uv_prepare_t *p) { look(p->data); }
static void after_cb(uv_check_t *c) { look(c->data); }

/* $NOTIFY_SOCKET: a path, or "@name" for the abstract namespace. */
static int open_notify(xcs_host *h) {
  const char *path = getenv("NOTIFY_SOCKET");
  if (path == NULL || *path == '\0') return 0;
  size_t len = strlen(path);
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof sd.addr.sun_path) {
    xcs_log_at(h, XCS_LOG_WARN, "xcshost",
               "NOTIFY_SOCKET is neither a path nor @name (or too long): not notifying");
    return 0;
  }
  memset(&sd.addr, 0, sizeof sd.addr);
  sd.addr.sun_family = AF_UNIX;
  memcpy(sd.addr.sun_path, path, len);
  if (path[0] == '@') sd.addr.sun_path[0] = '\0';
  sd.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
  sd.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (sd.fd < 0) {
    xcs_log_at(h, XCS_LOG_WARN, "xcshost", "cannot notify systemd: %s", strerror(errno));
    return 0;
  }
  unsetenv("NOTIFY_SOCKET"); /* for us alone, not for whatever we start */
  return 1;
}

/* $LISTEN_FDS: the sockets systemd opened for us. */
static void take_sockets(xcs_host *h) {
  const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
  if (pid == NULL || fds == NULL) return;
  char *end;
  long p = strtol(pid, &end, 10), n;
  if (*end || p != (long)getpid()) return; /* meant for another process */
  n = strtol(fds, &end, 10);
  if (*end || n < 0 || n > XCS_INHERIT_MAX) {
    xcs_log_at(h, XCS_LOG_WARN, "xcshost", "LISTEN_FDS=%s is not a count up to %d: ignored", fds,
               XCS_INHERIT_MAX);
    n = 0;
  }
  const char *names = getenv("LISTEN_FDNAMES");
  for (long i = 0; i < n; i++) {
    int fd = LISTEN_FDS_START + (int)i;
    char name[256] = "";
    if (names) { /* colon-separated, one per descriptor */
      size_t k = strcspn(names, ":");
      snprintf(name, sizeof name, "%.*s", (int)(k < sizeof name ? k : sizeof name - 1), names);
      names = names[k] ? names + k + 1 : NULL;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (xcs_inherit_add(fd, name) != 0) {
      xcs_log_at(h, XCS_LOG_WARN, "xcshost",
                 "descriptor %d from systemd (%s) is not a TCP or UDP socket: ignored", fd,
                 *name ? name : "unnamed");
      continue;
    }
    xcs_log(h, "xcshost", "systemd passed descriptor %d (%s)", fd, *name ? name : "unnamed");
  }
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
}

int xcs_systemd_open(xcs_host *h) {
  take_sockets(h);
  return sd.fd >= 0 || open_notify(h);
}

void xcs_systemd_notify(xcs_host *h, const char *state) {
  if (strncmp(state, "STOPPING=1", 10) == 0) sd.stopping = 1; /* said once */
  send_state(h, state);
}

void xcs_systemd_reloading(xcs_host *h) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  char msg[96];
  snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
           (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
  send_state(h, msg);
}

void xcs_systemd_unused(xcs_host *h) { xcs_inherit_waiting(unused_cb, h); }

void xcs_systemd_start(xcs_host *h) {
  take_sockets(h);
  if (!open_notify(h)) return;
  uv_prepare_init(&h->loop, &sd.before);
  uv_check_init(&h->loop, &sd.after);
  sd.before.data = sd.after.data = h;
  uv_prepare_start(&sd.before, before_cb);
  uv_check_start(&sd.after, after_cb);
  uv_unref((uv_handle_t *)&sd.before); /* they must not keep the host running */
  uv_unref((uv_handle_t *)&sd.after);
  uint64_t every = watchdog_ms();
  if (every) {
    uv_timer_init(&h->loop, &sd.watchdog);
    sd.watchdog.data = h;
    uv_timer_start(&sd.watchdog, watchdog_cb, every / 2, every / 2);
    uv_unref((uv_handle_t *)&sd.watchdog);
    sd.watching = 1;
  }
}

void xcs_systemd_stop(xcs_host *h) {
  if (sd.fd < 0) return;
  if (!sd.stopping) send_state(h, "STOPPING=1"); /* every module ended on its own */
  sd.stopping = 1;
  if (sd.before.loop) uv_close((uv_handle_t *)&sd.before, NULL);
  if (sd.after.loop) uv_close((uv_handle_t *)&sd.after, NULL);
  if (sd.watching) uv_close((uv_handle_t *)&sd.watchdog, NULL);
  sd.watching = 0;
  close(sd.fd);
  sd.fd = -1;
}
