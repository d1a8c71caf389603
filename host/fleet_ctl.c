/*
 * fleet_ctl.c — the operator's commands to a supervisor: the status of
 * every worker, a rolling reload, certificates re-read, a stop (see host/control.h for the
 * socket, host/worker.h for what goes to the workers).
 *
 * A reload goes to one worker at a time, in order. Each compiles the new
 * versions before it replaces anything (host/reload.h), so a version that
 * does not compile fails in the first worker and leaves every worker on the
 * running one. The next worker is asked only when the previous one said it
 * reloaded; meanwhile the others serve from the same accept queues.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/channel.h"
#include "host/control.h"
#include "host/fleet.h"

#define GATHER_TIMEOUT_MS 2000 /* below ctl's 5 s: a worker that does not answer is shown so */

/* Appends to a malloc'd text; on out of memory the text is cut, never wrong. */
static void add(char **s, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char **s, size_t *len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  char *grown = realloc(*s, *len + (size_t)n + 1);
  if (grown == NULL) return;
  va_start(ap, fmt);
  vsnprintf(grown + *len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  *s = grown;
  *len += (size_t)n;
}

static void say(xcs_slot *s, const char *msg) {
  if (s->cmd >= 0) xcs_channel_send(s->cmd, msg, strlen(msg), -1);
}

/* Status ------------------------------------------------------------------------ */

static void describe(xcs_fleet *f, xcs_slot *s, char **out, size_t *len) {
  uint64_t now = uv_now(&f->host.loop);
  if (!s->alive) {
    if (s->done)
      add(out, len, "worker %d: ended (status %d), restarts %d\n", s->number, s->status,
          s->restarts);
    else
      add(out, len, "worker %d: not running, restarting (restarts %d)\n", s->number,
          s->restarts);
    return;
  }
  /* The worker's answer: "connections N memory KIB\n" and its host status. */
  int conns = -1;
  size_t kib = 0;
  const char *text = s->text ? s->text : "";
  if (sscanf(text, "connections %d memory %zu", &conns, &kib) == 2) text = strchr(text, '\n');
  add(out, len, "worker %d: pid %d, up %.0f s, restarts %d, ", s->number, s->pid,
      (double)(now - s->started) / 1000, s->restarts);
  if (conns >= 0)
    add(out, len, "connections %d, memory %zu KiB%s\n", conns, kib, s->ready ? "" : " (starting)");
  else
    add(out, len, "no answer\n");
  /* Its modules, indented under it. */
  for (const char *line = text ? text + (*text == '\n') : NULL; line && *line;) {
    const char *nl = strchr(line, '\n');
    int n = nl ? (int)(nl - line) : (int)strlen(line);
    add(out, len, "  %.*s\n", n, line);
    line = nl ? nl + 1 : NULL;
  }
}

static void gather_done(xcs_fleet *f) {
  uv_timer_stop(&f->gather_timer);
  char *out = NULL;
  size_t len = 0;
  int serving = 0;
  for (int i = 0; i < f->count; i++) serving += f->slots[i].ready;
  add(&out, &len, "xcshost %s: supervisor pid %d, %d worker%s (%d serving), up %.0f s%s\n",
      XCS_VERSION, (int)getpid(), f->count, f->count == 1 ? "" : "s", serving,
      (double)(uv_now(&f->host.loop) - f->started) / 1000, f->stopping ? " (stopping)" : "");
  for (int i = 0; i < f->count; i++) {
    describe(f, &f->slots[i], &out, &len);
    free(f->slots[i].text);
    f->slots[i].text = NULL;
    f->slots[i].len = 0;
  }
  for (int i = 0; i < f->nasking; i++)
    xcs_control_reply(f->asking[i], i + 1 < f->nasking && out ? strdup(out) : out);
  if (f->nasking == 0) free(out);
  free(f->asking);
  f->asking = NULL;
  f->nasking = 0;
}

static void gather_check(xcs_fleet *f) {
  if (f->nasking == 0) return;
  for (int i = 0; i < f->count; i++)
    if (!f->slots[i].answered) return;
  gather_done(f);
}

static void gather_timeout_cb(uv_timer_t *t) { gather_done(t->data); }

static void status(xcs_fleet *f, void *client) {
  void **grown = realloc(f->asking, sizeof *grown * (size_t)(f->nasking + 1));
  if (grown == NULL) {
    xcs_control_reply(client, NULL);
    return;
  }
  f->asking = grown;
  f->asking[f->nasking++] = client;
  if (f->nasking > 1) return; /* a gathering is under way: it answers them all */
  for (int i = 0; i < f->count; i++) {
    xcs_slot *s = &f->slots[i];
    s->answered = !(s->alive && s->cmd >= 0);
    if (!s->answered) say(s, "status");
  }
  uv_timer_start(&f->gather_timer, gather_timeout_cb, GATHER_TIMEOUT_MS, 0);
  gather_check(f);
}

/* Rolling reload ------------------------------------------------------------------ */

static void roll_done(xcs_fleet *f, const char *failure) {
  char *out = NULL;
  size_t len = 0;
  if (failure)
    add(&out, &len, "error: %s\n", failure);
  add(&out, &len, "%s", f->roll_text ? f->roll_text : "");
  if (!failure)
    xcs_fleet_log(f, XCS_LOG_INFO, "reload done: every serving worker runs the new version");
  if (f->roll_client)
    xcs_control_reply(f->roll_client, out ? out : strdup("no worker is serving\n"));
  else
    free(out);
  free(f->roll_text);
  free(f->roll_name);
  f->roll_text = f->roll_name = NULL;
  f->roll_len = 0;
  f->roll_client = NULL;
  f->rolling = -1;
  xcs_fleet_notify_reload(f, 1);
}

static void roll_next(xcs_fleet *f, int from) {
  for (int i = from; i < f->count; i++) {
    xcs_slot *s = &f->slots[i];
    if (!(s->alive && s->ready && s->cmd >= 0)) continue;
    char msg[300];
    snprintf(msg, sizeof msg, "reload%s%s", *f->roll_name ? " " : "", f->roll_name);
    f->rolling = i;
    say(s, msg);
    return;
  }
  roll_done(f, NULL);
}

void xcs_fleet_reload(xcs_fleet *f, const char *name, void *client) {
  if (f->rolling >= 0) {
    if (client) xcs_control_reply(client, strdup("error: a reload is under way already\n"));
    xcs_fleet_log(f, XCS_LOG_WARN, "a reload is under way already: this one is left out");
    return;
  }
  f->roll_name = strdup(name ? name : "");
  if (f->roll_name == NULL) {
    if (client) xcs_control_reply(client, NULL);
    return;
  }
  f->roll_client = client;
  xcs_fleet_notify_reload(f, 0);
  xcs_fleet_log(f, XCS_LOG_INFO, "reloading %s in every worker, one at a time",
                *f->roll_name ? f->roll_name : "every module");
  roll_next(f, 0);
}

static void rolled(xcs_fleet *f, xcs_slot *s, const char *msg) {
  if (f->rolling != s->number - 1) return;
  if (strcmp(msg, "reloaded") == 0) {
    add(&f->roll_text, &f->roll_len, "worker %d: reloaded\n", s->number);
    roll_next(f, s->number);
    return;
  }
  char why[600];
  snprintf(why, sizeof why, "reload failed in worker %d, which stays on the running version%s: %s",
           s->number, s->number == 1 ? ", as do the others" : "", msg + 7);
  xcs_fleet_log(f, XCS_LOG_ERROR, "%s", why);
  roll_done(f, why);
}

/* Certificates: every serving worker re-reads its TLS listeners' certificates
 * at once (nothing open is touched, so there is nothing to roll); each logs
 * what it read. The answer: how many were asked. */
void xcs_fleet_certs(xcs_fleet *f, void *client) {
  int n = 0;
  for (int i = 0; i < f->count; i++) {
    xcs_slot *s = &f->slots[i];
    if (!(s->alive && s->cmd >= 0)) continue;
    say(s, "certs");
    n++;
  }
  xcs_fleet_log(f, XCS_LOG_INFO, "asked %d worker%s to re-read their certificates", n, n == 1 ? "" : "s");
  if (client == NULL) return;
  char *msg = NULL;
  size_t len = 0;
  add(&msg, &len, "%d worker%s re-reading the TLS listeners' certificates (each logs them)\n", n,
      n == 1 ? "" : "s");
  xcs_control_reply(client, msg);
}

/* Answers and commands -------------------------------------------------------------- */

void xcs_fleet_answer(xcs_fleet *f, xcs_slot *s, const char *msg) {
  if (strncmp(msg, "part ", 5) == 0) {
    add(&s->text, &s->len, "%s", msg + 5);
  } else if (strcmp(msg, "end") == 0) {
    s->answered = 1;
    gather_check(f);
  } else if (strcmp(msg, "reloaded") == 0 || strncmp(msg, "failed ", 7) == 0) {
    rolled(f, s, msg);
  }
}

void xcs_fleet_lost(xcs_fleet *f, xcs_slot *s) {
  if (!s->answered) {
    s->answered = 1;
    gather_check(f);
  }
  if (f->rolling == s->number - 1) {
    add(&f->roll_text, &f->roll_len, "worker %d: ended during its reload\n", s->number);
    roll_next(f, s->number); /* its replacement loads the new version */
  }
}

int xcs_fleet_command(xcs_host *h, const char *cmd, const char *arg, void *client) {
  xcs_fleet *f = (xcs_fleet *)((char *)h - offsetof(xcs_fleet, host));
  if (strcmp(cmd, "status") == 0) {
    status(f, client);
  } else if (strcmp(cmd, "reload") == 0) {
    if (f->stopping)
      xcs_control_reply(client, strdup("error: the workers are stopping\n"));
    else
      xcs_fleet_reload(f, arg, client);
  } else if (strcmp(cmd, "certs") == 0) {
    xcs_fleet_certs(f, client);
  } else if (strcmp(cmd, "stop") == 0) {
    char *msg = NULL;
    size_t len = 0;
    add(&msg, &len, "stopping %d worker%s\n", f->count, f->count == 1 ? "" : "s");
    xcs_control_reply(client, msg);
    xcs_fleet_stop(f, 0);
  } else {
    return 0;
  }
  return 1;
}
