/*
 * names.c — host names a UDP socket writes to, looked up without blocking
 * the loop and kept for a while, so `u:write(data, "localhost:8125")`
 * costs one look-up per minute, not one per datagram.
 *
 * Each socket has its own small cache (made on its first name). A miss
 * starts uv_getaddrinfo and the writing task waits; the answer — an
 * address of the socket's family, or the failure — is kept (NAMES_TTL_MS,
 * failures NAMES_FAIL_TTL_MS), and the write tries again. The look-up may
 * outlive the socket: the cache's life (core/life.h) is held by the socket
 * and by a look-up in flight, which also holds the module's.
 */
#include "bindings/names.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAMES_MAX 16
#define NAMES_TTL_MS 60000
#define NAMES_FAIL_TTL_MS 5000
#define NAME_LEN 262 /* a DNS name (253), ':' and a port */

typedef struct name_entry {
  char key[NAME_LEN];  /* "host:port" as written */
  struct sockaddr_storage sa;
  int status;          /* 0, or why the look-up failed (UV_EAI_NONAME...) */
  uint64_t until;      /* uv_now after which it is looked up again */
} name_entry;

struct xcs_names {
  xcs_life life;       /* held by the socket, and by a look-up in flight */
  name_entry e[NAMES_MAX];
  int n;
  int pending;         /* a look-up in flight */
  int orphaned;        /* the socket closed while it was */
  xcs_task **slot;     /* where the writing task waits */
  xcs_module *m;
  uv_getaddrinfo_t req;
  char key[NAME_LEN];
};

static name_entry *find(xcs_names *c, const char *key, uint64_t now) {
  for (int i = 0; c && i < c->n; i++)
    if (strcmp(c->e[i].key, key) == 0) return c->e[i].until > now ? &c->e[i] : NULL;
  return NULL;
}

int xcs_names_find(xcs_names *c, const char *key, uint64_t now, struct sockaddr_storage *out) {
  name_entry *e = find(c, key, now);
  if (e == NULL) return 1;
  if (e->status == 0) *out = e->sa;
  return e->status;
}

/* Where the answer for key goes: its old entry, a free one, or the one
 * that expires first. */
static name_entry *slot_for(xcs_names *c, const char *key) {
  name_entry *oldest = &c->e[0];
  for (int i = 0; i < c->n; i++) {
    if (strcmp(c->e[i].key, key) == 0) return &c->e[i];
    if (c->e[i].until < oldest->until) oldest = &c->e[i];
  }
  return c->n < NAMES_MAX ? &c->e[c->n++] : oldest;
}

static void looked_up_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  xcs_names *c = req->data;
  xcs_module *m = c->m;
  c->pending = 0;
  if (!c->orphaned) {
    name_entry *e = slot_for(c, c->key);
    snprintf(e->key, sizeof e->key, "%s", c->key);
    e->status = status == 0 && res == NULL ? UV_EAI_NONAME : status;
    if (e->status == 0) memcpy(&e->sa, res->ai_addr, res->ai_addrlen);
    e->until = uv_now(&m->host->loop) + (e->status ? NAMES_FAIL_TTL_MS : NAMES_TTL_MS);
    xcs_task_wake_now(c->slot, 0);
  }
  uv_freeaddrinfo(res);
  xcs_release(&c->life);
  xcs_release(&m->life); /* the look-up's holds */
}

static void names_free(xcs_life *l) { free(xcs_container_of(l, xcs_names, life)); }

int xcs_names_lookup(xcs_names **cache, xcs_module *m, xcs_task **slot, const char *key,
                     int family) {
  xcs_names *c = *cache;
  if (c == NULL) {
    if ((c = *cache = calloc(1, sizeof *c)) == NULL) return UV_ENOMEM;
    xcs_life_init(&c->life, m->host, names_free); /* the socket's hold */
  }
  if (c->pending) return UV_EBUSY;
  if (strlen(key) >= sizeof c->key) return UV_EAI_NONAME;
  const char *colon = strrchr(key, ':');
  char host[NAME_LEN];
  snprintf(host, sizeof host, "%.*s", (int)(colon - key), key);
  struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_DGRAM};
  c->m = m;
  c->slot = slot;
  c->req.data = c;
  snprintf(c->key, sizeof c->key, "%s", key);
  int r = uv_getaddrinfo(&m->host->loop, &c->req, looked_up_cb, host, colon + 1, &hints);
  if (r != 0) return r;
  c->pending = 1;
  xcs_hold(&c->life);
  xcs_hold(&m->life); /* until looked_up_cb, cancelled or not */
  return 0;
}

void xcs_names_free(xcs_names *c) {
  if (c == NULL) return;
  c->orphaned = 1;
  if (c->pending) uv_cancel((uv_req_t *)&c->req);
  xcs_release(&c->life); /* the socket's */
}

int xcs_names_is_name(const char *s) {
  const char *colon = strrchr(s, ':');
  if (colon == NULL || colon == s || colon[1] == '\0' || strlen(colon + 1) > 5) return 0;
  for (const char *p = colon + 1; *p; p++)
    if (*p < '0' || *p > '9') return 0;
  for (const char *p = s; p < colon; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '-' || *p == '.' || *p == '_'))
      return 0;
  return atoi(colon + 1) <= 65535;
}
