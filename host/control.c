/*
 * control.c — the control socket's server side.
 */
#include "host/control.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bindings/handle.h"
#include "bindings/core/log.h"
#include "bindings/core/text.h"
#include "bindings/tls_mem.h"
#include "bindings/tls_rotate.h"
#include "host/metrics.h"
#include "host/module.h"
#include "host/reload.h"

#define COMMAND_MAX 256

typedef struct client {
  uv_pipe_t pipe;
  uv_write_t write;
  xcs_host *host;
  char line[COMMAND_MAX];
  size_t len;
  char *answer;
} client;

static const char *phase_name(xcs_module *m) {
  switch (m->phase) {
    case XCS_LOADED: return "loaded";
    case XCS_RUNNING: return "running";
    case XCS_UNLOADING: return "unloading";
    default: return "gone";
  }
}

char *xcs_control_status(xcs_host *h) {
  xcs_text t = {0};
  int n = 0;
  for (xcs_list *l = h->modules.next; l != &h->modules; l = l->next) n++;
  xcs_text_add(&t, "xcshost %s: %d module%s%s\n", XCS_VERSION, n, n == 1 ? "" : "s",
      h->stopping ? " (stopping)" : "");
  size_t tls = xcs_tls_mem_total();
  if (tls) xcs_text_add(&t, "TLS: %zu KiB held by OpenSSL (contexts and connections)\n", (tls + 1023) >> 10);
  for (xcs_list *l = h->modules.next; l != &h->modules; l = l->next) {
    xcs_module *m = xcs_container_of(l, xcs_module, link);
    int nh = 0;
    for (xcs_list *k = m->handles.next; k != &m->handles; k = k->next) nh++;
    xcs_text_add(&t, "%s %s  %s  tasks %d  memory %zu KiB (peak %zu KiB)  handles %d\n", m->name,
        phase_name(m), m->path ? m->path : "", m->ntasks, m->limits.used >> 10,
        m->limits.peak >> 10, nh);
    for (xcs_list *k = m->handles.next; k != &m->handles; k = k->next) {
      xcs_handle *hd = xcs_container_of(k, xcs_handle, link);
      char desc[256];
      hd->type->describe(hd, desc, sizeof desc);
      xcs_text_add(&t, "  %s %s%s\n", hd->type->name, desc, hd->closing ? " (closing)" : "");
    }
  }
  return t.s;
}

static void reported(void *ud, xcs_module *m, xcs_module *next, const char *err) {
  if (next)
    xcs_text_add(ud, "reloading %s\n", m->name);
  else
    xcs_text_add(ud, "error: %s: %s\n", m->name, err ? err : "cannot reload");
}

static char *reload(xcs_host *h, const char *name) {
  xcs_text t = {0};
  if (xcs_reload_named(h, name, reported, &t) == 0)
    xcs_text_add(&t, "error: no running module named '%s'\n", name);
  return t.s;
}

static void rotated(void *ud, xcs_module *m, const char *where, const char *err) {
  if (err)
    xcs_text_add(ud, "error: %s: %s: %s (the certificates loaded stay)\n", m->name, where, err);
  else
    xcs_text_add(ud, "%s: %s: certificates re-read\n", m->name, where);
}

char *xcs_control_certs(xcs_host *h) {
  xcs_text t = {0};
  int n = 0;
  int failed = xcs_tls_rotate(h, rotated, &t, &n);
  if (n == 0) xcs_text_add(&t, "no TLS listener is open\n");
  if (failed == 0 || t.s == NULL) return t.s;
  /* ctl exits 1 when the first line is an error: say so first */
  xcs_text all = {0};
  xcs_text_add(&all, "error: %d of %d TLS listeners kept their certificates\n%s", failed, n, t.s);
  free(t.s);
  return all.s;
}

static void closed_cb(uv_handle_t *handle) {
  client *c = handle->data;
  free(c->answer);
  free(c);
}

static void answered_cb(uv_write_t *req, int status) {
  (void)status;
  uv_close((uv_handle_t *)req->handle, closed_cb);
}

static void answer(client *c, char *msg) {
  if (msg == NULL) msg = strdup("error: out of memory\n");
  c->answer = msg;
  uv_read_stop((uv_stream_t *)&c->pipe);
  uv_buf_t b = uv_buf_init(msg, msg ? (unsigned)strlen(msg) : 0);
  if (msg == NULL || uv_write(&c->write, (uv_stream_t *)&c->pipe, &b, 1, answered_cb) != 0)
    uv_close((uv_handle_t *)&c->pipe, closed_cb);
}

void xcs_control_reply(void *c, char *msg) { answer(c, msg); }

static void run(client *c) {
  xcs_host *h = c->host;
  char *cmd = c->line;
  cmd[strcspn(cmd, "\r\n")] = '\0';
  while (*cmd == ' ') cmd++;
  char *arg = cmd + strcspn(cmd, " ");
  if (*arg) *arg++ = '\0';
  while (*arg == ' ') arg++;
  xcs_log(h, "xcshost", "control: %s%s%s", cmd, *arg ? " " : "", arg);
  if (h->command && h->command(h, cmd, arg, c)) {
    /* answered later, through xcs_control_reply */
  } else if (strcmp(cmd, "status") == 0) {
    answer(c, xcs_control_status(h));
  } else if (strcmp(cmd, "metrics") == 0) {
    answer(c, xcs_metrics_render(h));
  } else if (strcmp(cmd, "reload") == 0) {
    answer(c, reload(h, arg));
  } else if (strcmp(cmd, "certs") == 0) {
    answer(c, xcs_control_certs(h));
  } else if (strcmp(cmd, "stop") == 0) {
    answer(c, strdup("stopping\n"));
    xcs_host_stop(h, h->stopping);
  } else {
    xcs_text t = {0};
    xcs_text_add(&t, "error: unknown command '%s' (status, metrics, reload [NAME], certs, stop)\n", cmd);
    answer(c, t.s);
  }
}

static void alloc_cb(uv_handle_t *handle, size_t hint, uv_buf_t *buf) {
  (void)hint;
  client *c = handle->data;
  buf->base = c->line + c->len;
  buf->len = sizeof c->line - 1 - c->len;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  client *c = s->data;
  if (n > 0) c->len += (size_t)n;
  c->line[c->len] = '\0';
  if (n < 0 || memchr(c->line, '\n', c->len) || c->len == sizeof c->line - 1) {
    if (c->len == 0) {
      uv_close((uv_handle_t *)s, closed_cb);
      return;
    }
    run(c);
  }
}

static void connection_cb(uv_stream_t *server, int status) {
  xcs_host *h = server->data;
  if (status < 0) return;
  client *c = calloc(1, sizeof *c);
  if (c == NULL) return;
  c->host = h;
  uv_pipe_init(&h->loop, &c->pipe, 0);
  c->pipe.data = c;
  if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0 ||
      uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb) != 0)
    uv_close((uv_handle_t *)&c->pipe, closed_cb);
}

int xcs_control_start(xcs_host *h, const char *path) {
  struct stat st;
  /* A socket file left by a host that died would make bind fail. */
  if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
  uv_pipe_init(&h->loop, &h->control, 0);
  h->control.data = h;
  int r = uv_pipe_bind(&h->control, path);
  if (r == 0) r = uv_listen((uv_stream_t *)&h->control, 16, connection_cb);
  if (r != 0) {
    uv_close((uv_handle_t *)&h->control, NULL);
    return r;
  }
  chmod(path, 0600); /* the operator's, not everyone's */
  uv_unref((uv_handle_t *)&h->control); /* it must not keep the host running */
  h->control_path = path;
  xcs_log(h, "xcshost", "control socket %s (xcshost ctl %s status)", path, path);
  return 0;
}

void xcs_control_stop(xcs_host *h) {
  if (h->control_path == NULL) return;
  uv_close((uv_handle_t *)&h->control, NULL);
  unlink(h->control_path);
  h->control_path = NULL;
}
