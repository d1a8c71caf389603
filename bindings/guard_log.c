/*
 * guard_log.c — what the defence logs: the first event of a kind on a
 * listener at once, the ones after it counted and summed up in one line
 * every --report-interval, per kind, so a flood costs a line, not a line
 * per packet.
 */
#include <stdio.h>
#include <string.h>

#include "bindings/guard_impl.h"
#include "bindings/core/log.h"

/* The IP of "ip:port" or "[ip]:port", for the log. */
static void ip_of(const char *peer, char *out, size_t size) {
  const char *end = peer[0] == '[' ? strchr(peer, ']') : strrchr(peer, ':');
  if (peer[0] == '[') peer++;
  size_t n = end ? (size_t)(end - peer) : strlen(peer);
  if (n >= size) n = size - 1;
  memcpy(out, peer, n);
  out[n] = '\0';
}

static void line(xcs_gate *g, int kind, uint64_t n, const char *addr, int others,
                 double elapsed) {
  const xcs_guard_options *o = opts(g);
  char why[160], from[96] = "", last[48] = "";
  int refusal = kind <= EV_SCARCE || kind == EV_FAILED || kind == EV_TLS_BUSY;
  const char *verb = kind <= EV_SCARCE || kind == EV_TLS_BUSY ? "refused"
                     : kind == EV_FAILED ? "failed to accept"
                     : kind == EV_DROPPED ? "dropped"
                     : kind == EV_SHED    ? "shed"
                                          : "closed";
  const char *noun = refusal ? "connection" : "client";
  const char *to = refusal ? "to" : "of";
  switch (kind) {
    case EV_FULL:
      snprintf(why, sizeof why, "over the per-listener limit (%d)", o->max_clients);
      break;
    case EV_ADDRESS:
      snprintf(why, sizeof why, "over the per-address limit (%d)", o->max_per_address);
      break;
    case EV_RATE:
      snprintf(why, sizeof why, "over the accept rate (%g/s, burst %d)", o->accept_rate,
               o->accept_burst);
      break;
    case EV_SCARCE:
    case EV_SHED:
      snprintf(why, sizeof why,
               "%swhile file descriptors are short (limit %d): its address holds the most "
               "connections", kind == EV_SHED ? "to make room " : "", g->m->host->guard->fd_limit);
      break;
    case EV_PROXY:
      snprintf(why, sizeof why, "that sent no valid PROXY protocol header (%s)",
               g->reports[EV_PROXY].why);
      break;
    case EV_FIRST:
      snprintf(why, sizeof why, "that sent nothing within %g s of connecting",
               o->first_data_timeout);
      break;
    case EV_IDLE:
      snprintf(why, sizeof why, "idle for %g s", o->idle_timeout);
      break;
    case EV_DROPPED:
      snprintf(why, sizeof why, "that stopped reading (over the queue limit, %zu bytes)",
               o->max_queued);
      break;
    case EV_TLS_BUSY:
      snprintf(why, sizeof why, "over the limit of TLS handshakes in progress (max_handshakes)");
      break;
    case EV_TLS_FAILED:
      snprintf(why, sizeof why, "whose TLS handshake failed or timed out");
      break;
    default: /* addr is the error's name: the same kind, whatever the error */
      snprintf(why, sizeof why, "(%s%s)", addr, others ? " and others" : "");
      addr = NULL;
      break;
  }
  if (addr && addr[0])
    snprintf(from, sizeof from, " from %s%s", addr, others ? " and other addresses" : "");
  if (elapsed >= 0) /* a window closed early (the listener went) is at least 1 ms */
    snprintf(last, sizeof last, " in the last %.3g s", elapsed < 0.001 ? 0.001 : elapsed);
  if (n == 1)
    xcs_log(g->m->host, g->m->name, "%s a %s%s %s %s %s%s", verb, noun, from, to, g->addr, why,
            last);
  else
    xcs_log(g->m->host, g->m->name, "%s %llu %ss%s %s %s %s%s", verb, (unsigned long long)n,
            noun, from, to, g->addr, why, last);
}

static void tick_cb(uv_timer_t *t);

/* (Re)arms the tick for the earliest report due. */
static void schedule(xcs_gate *g) {
  uint64_t due = 0;
  for (int k = 0; k < EV_N; k++)
    if (g->reports[k].open && (due == 0 || g->reports[k].due < due)) due = g->reports[k].due;
  if (due == 0) {
    uv_timer_stop(&g->tick);
    return;
  }
  uint64_t now = now_of(g);
  uv_timer_start(&g->tick, tick_cb, due > now ? due - now : 0, 0);
}

/* Logs what a report counted (if anything) and starts its next window, or
 * closes it when nothing came. */
static void report_flush(xcs_gate *g, int kind, uint64_t now, int reopen) {
  report *r = &g->reports[kind];
  if (!r->open) return;
  if (r->count == 0 || !reopen) {
    if (r->count) line(g, kind, r->count, r->addr, r->others, (double)(now - r->since) / 1000);
    r->open = 0;
    return;
  }
  line(g, kind, r->count, r->addr, r->others, (double)(now - r->since) / 1000);
  r->count = 0;
  r->others = 0;
  r->since = now;
  r->due = now + (uint64_t)(opts(g)->report_interval * 1000);
}

static void tick_cb(uv_timer_t *t) {
  xcs_gate *g = t->data;
  uint64_t now = now_of(g);
  for (int k = 0; k < EV_N; k++)
    if (g->reports[k].open && g->reports[k].due <= now) report_flush(g, k, now, 1);
  schedule(g);
}

/* One event of a kind, from addr (NULL: none to tell). */
void xcs_gate_event(xcs_gate *g, int kind, const char *addr) {
  _Static_assert((int)EV_N == (int)XCS_NGUARD && (int)EV_SCARCE == (int)XCS_G_SCARCE &&
                     (int)EV_FIRST == (int)XCS_G_FIRST && (int)EV_SHED == (int)XCS_G_SHED &&
                     (int)EV_PROXY == (int)XCS_G_PROXY && (int)EV_FAILED == (int)XCS_G_FAILED &&
                     (int)EV_TLS_BUSY == (int)XCS_G_TLS_BUSY &&
                     (int)EV_TLS_FAILED == (int)XCS_G_TLS_FAILED,
                 "bindings/stats.h follows EV_*");
  g->m->stats.guard[kind]++;
  report *r = &g->reports[kind];
  double every = opts(g)->report_interval;
  if (!r->open || every <= 0) {
    line(g, kind, 1, addr, 0, -1);
    if (every <= 0) return;
    uint64_t now = now_of(g);
    r->open = 1;
    r->count = 0;
    r->others = 0;
    r->since = now;
    r->due = now + (uint64_t)(every * 1000);
    schedule(g);
    return;
  }
  if (r->count++ == 0)
    snprintf(r->addr, sizeof r->addr, "%s", addr ? addr : "");
  else if (addr && strcmp(addr, r->addr) != 0)
    r->others = 1;
}

void xcs_gate_event_from(xcs_gate *g, int kind, const char *peer) {
  char ip[64];
  ip_of(peer, ip, sizeof ip);
  xcs_gate_event(g, kind, ip);
}

void xcs_gate_reports_close(xcs_gate *g) {
  uint64_t now = now_of(g);
  for (int k = 0; k < EV_N; k++) report_flush(g, k, now, 0);
}

void xcs_gate_bad_header(xcs_gate *g, const char *from, const char *why) {
  report *r = &g->reports[EV_PROXY];
  if (!r->open || r->count == 0 || opts(g)->report_interval <= 0)
    snprintf(r->why, sizeof r->why, "%s", why);
  xcs_gate_event_from(g, EV_PROXY, from);
}

void xcs_gate_dropped(xcs_gate *g, const char *peer) {
  xcs_gate_event_from(g, EV_DROPPED, peer);
}

void xcs_gate_tls_busy(xcs_gate *g, const char *peer) {
  xcs_gate_event_from(g, EV_TLS_BUSY, peer);
}

void xcs_gate_tls_failed(xcs_gate *g, const char *peer) {
  xcs_gate_event_from(g, EV_TLS_FAILED, peer);
}
