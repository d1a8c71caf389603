/*
 * metrics.c — the host and its modules in the Prometheus text exposition
 * format (version 0.0.4), for GET /metrics (host/scrape.c) and the control
 * socket's `metrics`.
 *
 * One series per module name: while a reload runs, two versions of a module
 * share its name, and their numbers are added up. Counters of versions that
 * are gone are kept per name (retired), so a counter never goes back when a
 * module is reloaded, and a failed module's failure stays counted.
 */
#include "host/metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bindings/handle.h"
#include "bindings/stream.h"
#include "bindings/tcp.h"
#include "host/module.h"
#include "bindings/core/text.h"

#define LAG_EVERY_MS 500

typedef struct retired {
  struct retired *next;
  char *name;
  xcs_stats stats;
  uint64_t failures;
} retired;

typedef struct xcs_metrics xcs_metrics;
struct xcs_metrics {
  uint64_t started;   /* uv_hrtime() at start */
  uv_timer_t lag;     /* measures how late the loop runs a timer */
  uint64_t lag_due;   /* when it should have run (uv_hrtime) */
  double lag_seconds; /* how late it ran, last time */
  retired *retired;
};

/* A module name's numbers, summed over its versions. */
typedef struct entry {
  const char *name;
  xcs_stats stats;
  uint64_t failures;
  int states[3];      /* versions loaded, running, unloading */
  uint64_t memory, peak, tasks;
  uint64_t sockets[XCS_NPROTO], connections[XCS_NPROTO];
} entry;

static const char *const protocols[XCS_NPROTO] = {"TCP", "UDP", "UNIX", "UNIX-DGRAM", "TLS"};

static void add_stats(xcs_stats *to, const xcs_stats *from) {
  for (int p = 0; p < XCS_NPROTO; p++) {
    to->bytes_in[p] += from->bytes_in[p];
    to->bytes_out[p] += from->bytes_out[p];
    to->accepts[p] += from->accepts[p];
  }
  for (int g = 0; g < XCS_NGUARD; g++) to->guard[g] += from->guard[g];
  for (int a = 0; a < XCS_NADMIT; a++) to->admit[a] += from->admit[a];
  for (int i = 0; i < XCS_STATS_CODES && from->codes[i]; i++)
    xcs_stats_errors(to, from->codes[i], from->errors[i]);
  to->errors[XCS_STATS_CODES] += from->errors[XCS_STATS_CODES];
  to->cpu_ns += from->cpu_ns;
  to->reloads += from->reloads;
}

/* The open sockets of m by protocol: accepted connections apart. */
static void count_sockets(xcs_module *m, entry *e) {
  for (xcs_list *k = m->handles.next; k != &m->handles; k = k->next) {
    xcs_handle *h = xcs_container_of(k, xcs_handle, link);
    if (h->closing) continue;
    switch (h->type->id) {
      case XCS_T_CONN: {
        int p = xcs_conn_proto((xcs_conn *)h);
        if (h->counted == XCS_COUNTED_CONNECTION)
          e->connections[p]++;
        else
          e->sockets[p]++;
        break;
      }
      case XCS_T_LISTENER: e->sockets[xcs_listener_proto((xcs_listener *)h)]++; break;
      case XCS_T_UDP: e->sockets[XCS_P_UDP]++; break;
      case XCS_T_UNIXDGRAM: e->sockets[XCS_P_UNIXDGRAM]++; break;
      default: break;
    }
  }
}

static entry *entry_for(entry *v, int *n, const char *name) {
  for (int i = 0; i < *n; i++)
    if (strcmp(v[i].name, name) == 0) return &v[i];
  memset(&v[*n], 0, sizeof v[*n]);
  v[*n].name = name;
  return &v[(*n)++];
}

/* A label value: backslash, quote and newline escaped, as the format says. */
static const char *label(const char *s, char *buf, size_t size) {
  size_t o = 0;
  for (; *s && o + 3 < size; s++) {
    if (*s == '\\' || *s == '"') buf[o++] = '\\', buf[o++] = *s;
    else if (*s == '\n') buf[o++] = '\\', buf[o++] = 'n';
    else buf[o++] = *s;
  }
  buf[o] = '\0';
  return buf;
}

static void family(xcs_text *t, const char *name, const char *type, const char *help) {
  xcs_text_add(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1; /* the one opendir holds */
}

/* Per-module families: name, type, help, and how to print one entry. */
typedef void (*sample_fn)(xcs_text *t, const char *name, const char *mod, const entry *e);

static void s_state(xcs_text *t, const char *n, const char *mod, const entry *e) {
  static const char *const names[3] = {"loaded", "running", "unloading"};
  for (int i = 0; i < 3; i++)
    xcs_text_add(t, "%s{module=\"%s\",state=\"%s\"} %d\n", n, mod, names[i], e->states[i]);
}
#define ONE(fn, expr)                                                       \
  static void fn(xcs_text *t, const char *n, const char *mod, const entry *e) { \
    xcs_text_add(t, "%s{module=\"%s\"} %llu\n", n, mod, (unsigned long long)(expr)); \
  }
ONE(s_memory, e->memory)
ONE(s_peak, e->peak)
ONE(s_tasks, e->tasks)
ONE(s_reloads, e->stats.reloads)
ONE(s_failures, e->failures)
#define BY_PROTO(fn, arr)                                                              \
  static void fn(xcs_text *t, const char *n, const char *mod, const entry *e) {            \
    for (int p = 0; p < XCS_NPROTO; p++)                                               \
      xcs_text_add(t, "%s{module=\"%s\",protocol=\"%s\"} %llu\n", n, mod, protocols[p],         \
          (unsigned long long)(arr)[p]);                                               \
  }
BY_PROTO(s_sockets, e->sockets)
BY_PROTO(s_connections, e->connections)
BY_PROTO(s_bytes_in, e->stats.bytes_in)
BY_PROTO(s_bytes_out, e->stats.bytes_out)
BY_PROTO(s_accepts, e->stats.accepts)

static void s_cpu(xcs_text *t, const char *n, const char *mod, const entry *e) {
  xcs_text_add(t, "%s{module=\"%s\"} %.6f\n", n, mod, (double)e->stats.cpu_ns / 1e9);
}
static void s_refusals(xcs_text *t, const char *n, const char *mod, const entry *e) {
  static const struct { int kind; const char *reason; } r[] = {
      {XCS_G_FULL, "max_clients"},       {XCS_G_ADDRESS, "max_per_address"},
      {XCS_G_RATE, "accept_rate"},       {XCS_G_SCARCE, "fd_scarcity"},
      {XCS_G_SHED, "shed"},              {XCS_G_PROXY, "proxy_header"},
      {XCS_G_DROPPED, "max_queued"},     {XCS_G_FAILED, "accept_failed"},
      {XCS_G_TLS_BUSY, "max_handshakes"}, {XCS_G_TLS_FAILED, "tls_handshake"}};
  for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
    xcs_text_add(t, "%s{module=\"%s\",reason=\"%s\"} %llu\n", n, mod, r[i].reason,
        (unsigned long long)e->stats.guard[r[i].kind]);
  static const char *const admit[XCS_NADMIT] = {"max_connections", "max_sockets", "ports"};
  for (int a = 0; a < XCS_NADMIT; a++)
    xcs_text_add(t, "%s{module=\"%s\",reason=\"%s\"} %llu\n", n, mod, admit[a],
                 (unsigned long long)e->stats.admit[a]);
}
static void s_timeouts(xcs_text *t, const char *n, const char *mod, const entry *e) {
  xcs_text_add(t, "%s{module=\"%s\",reason=\"first_data\"} %llu\n", n, mod,
      (unsigned long long)e->stats.guard[XCS_G_FIRST]);
  xcs_text_add(t, "%s{module=\"%s\",reason=\"idle\"} %llu\n", n, mod,
      (unsigned long long)e->stats.guard[XCS_G_IDLE]);
}
static void s_errors(xcs_text *t, const char *n, const char *mod, const entry *e) {
  for (int i = 0; i < XCS_STATS_CODES && e->stats.codes[i]; i++) {
    char code[64];
    xcs_text_add(t, "%s{module=\"%s\",code=\"%s\"} %llu\n", n, mod, label(e->stats.codes[i], code, sizeof code),
        (unsigned long long)e->stats.errors[i]);
  }
  if (e->stats.errors[XCS_STATS_CODES])
    xcs_text_add(t, "%s{module=\"%s\",code=\"other\"} %llu\n", n, mod,
        (unsigned long long)e->stats.errors[XCS_STATS_CODES]);
}

static const struct {
  const char *name, *type, *help;
  sample_fn fn;
  int live; /* a gauge: only for names with a version running now */
} families[] = {
    {"xcshost_module_state", "gauge", "Versions of the module in each state.", s_state, 1},
    {"xcshost_module_memory_bytes", "gauge", "Memory the module's Lua state holds.", s_memory, 1},
    {"xcshost_module_memory_peak_bytes", "gauge", "The most memory the module's Lua state held.", s_peak, 1},
    {"xcshost_module_tasks", "gauge", "Tasks (coroutines) the module runs.", s_tasks, 1},
    {"xcshost_module_sockets", "gauge", "Sockets the module opened itself: listeners, UDP and UNIX sockets, connections it made.", s_sockets, 1},
    {"xcshost_module_connections", "gauge", "Connections its listeners accepted, open now.", s_connections, 1},
    {"xcshost_module_cpu_seconds_total", "counter", "CPU time the module's tasks ran.", s_cpu, 0},
    {"xcshost_module_received_bytes_total", "counter", "Bytes the module's sockets received.", s_bytes_in, 0},
    {"xcshost_module_sent_bytes_total", "counter", "Bytes the module's sockets sent.", s_bytes_out, 0},
    {"xcshost_module_accepted_connections_total", "counter", "Connections its listeners accepted.", s_accepts, 0},
    {"xcshost_module_refusals_total", "counter", "Clients refused or dropped, by the defence limit that did it.", s_refusals, 0},
    {"xcshost_module_timeouts_total", "counter", "Clients closed by a defence timeout.", s_timeouts, 0},
    {"xcshost_module_errors_total", "counter", "Network outcomes returned to the module, by code.", s_errors, 0},
    {"xcshost_module_reloads_total", "counter", "Versions of the module started by a reload.", s_reloads, 0},
    {"xcshost_module_failures_total", "counter", "Times the module failed.", s_failures, 0},
};

char *xcs_metrics_render(xcs_host *h) {
  int n = 0, cap = 0;
  for (xcs_list *l = h->modules.next; l != &h->modules; l = l->next) cap++;
  for (retired *r = h->metrics ? h->metrics->retired : NULL; r; r = r->next) cap++;
  entry *v = calloc((size_t)cap + 1, sizeof *v);
  if (v == NULL) return NULL;
  for (xcs_list *l = h->modules.next; l != &h->modules; l = l->next) {
    xcs_module *m = xcs_container_of(l, xcs_module, link);
    if (m->owns_state == 0 && m->L == NULL) continue;
    entry *e = entry_for(v, &n, m->name);
    add_stats(&e->stats, &m->stats);
    e->failures += (uint64_t)m->failed;
    if (m->phase <= XCS_UNLOADING) e->states[m->phase]++;
    e->memory += m->limits.used;
    if (m->limits.peak > e->peak) e->peak = m->limits.peak;
    e->tasks += (uint64_t)m->ntasks;
    count_sockets(m, e);
  }
  int live = n;
  for (retired *r = h->metrics ? h->metrics->retired : NULL; r; r = r->next) {
    entry *e = entry_for(v, &n, r->name);
    add_stats(&e->stats, &r->stats);
    e->failures += r->failures;
  }

  xcs_text t = {0};
  char mod[256];
  for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
    family(&t, families[f].name, families[f].type, families[f].help);
    for (int i = 0; i < (families[f].live ? live : n); i++)
      families[f].fn(&t, families[f].name, label(v[i].name, mod, sizeof mod), &v[i]);
  }
  free(v);

  family(&t, "xcshost_build_info", "gauge", "The version of xcshost, as a label.");
  xcs_text_add(&t, "xcshost_build_info{version=\"%s\"} 1\n", XCS_VERSION);
  family(&t, "xcshost_uptime_seconds", "gauge", "Seconds since the host started.");
  uint64_t started = h->metrics ? h->metrics->started : 0;
  xcs_text_add(&t, "xcshost_uptime_seconds %.3f\n", started ? (double)(uv_hrtime() - started) / 1e9 : 0.0);
  int fds = open_fds();
  struct rlimit rl;
  if (fds >= 0) {
    family(&t, "xcshost_open_fds", "gauge", "File descriptors the host has open.");
    xcs_text_add(&t, "xcshost_open_fds %d\n", fds);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    family(&t, "xcshost_max_fds", "gauge", "The most file descriptors the host may open.");
    xcs_text_add(&t, "xcshost_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
  }
  family(&t, "xcshost_loop_lag_seconds", "gauge",
         "How late the event loop last ran a timer: time spent not waiting for I/O.");
  xcs_text_add(&t, "xcshost_loop_lag_seconds %.6f\n", h->metrics ? h->metrics->lag_seconds : 0.0);
  if (t.oom) {
    free(t.s);
    return NULL;
  }
  return t.s;
}

static void lag_cb(uv_timer_t *timer) {
  xcs_metrics *x = timer->data;
  uint64_t now = uv_hrtime();
  x->lag_seconds = now > x->lag_due ? (double)(now - x->lag_due) / 1e9 : 0;
  x->lag_due = now + (uint64_t)LAG_EVERY_MS * 1000000;
}

int xcs_metrics_init(xcs_host *h) {
  if (h->metrics) return 0;
  xcs_metrics *x = calloc(1, sizeof *x);
  if (x == NULL) return UV_ENOMEM;
  x->started = uv_hrtime();
  uv_timer_init(&h->loop, &x->lag);
  x->lag.data = x;
  x->lag_due = x->started + (uint64_t)LAG_EVERY_MS * 1000000;
  uv_timer_start(&x->lag, lag_cb, LAG_EVERY_MS, LAG_EVERY_MS);
  uv_unref((uv_handle_t *)&x->lag); /* it must not keep the host running */
  h->metrics = x;
  return 0;
}

void xcs_metrics_retire(xcs_module *m) {
  xcs_metrics *x = m->host->metrics;
  if (x == NULL) return;
  retired *r = x->retired;
  while (r && strcmp(r->name, m->name) != 0) r = r->next;
  if (r == NULL) {
    if ((r = calloc(1, sizeof *r)) == NULL || (r->name = strdup(m->name)) == NULL) {
      free(r);
      return; /* out of memory: its counts are lost, nothing else */
    }
    r->next = x->retired;
    x->retired = r;
  }
  add_stats(&r->stats, &m->stats);
  r->failures += (uint64_t)m->failed;
}

static void freed_cb(uv_handle_t *t) { free(t->data); }

void xcs_metrics_free(xcs_host *h) {
  xcs_metrics *x = h->metrics;
  if (x == NULL) return;
  h->metrics = NULL;
  for (retired *r = x->retired, *next; r; r = next) {
    next = r->next;
    free(r->name);
    free(r);
  }
  uv_close((uv_handle_t *)&x->lag, freed_cb);
}
