/*
 * shares.c — the sockets the workers share: for each key (host/worker.h),
 * the socket the first worker bound, which the supervisor keeps and hands
 * to every other worker that opens the same port.
 *
 * Only one worker binds a key: while it does, the others asking for that
 * key wait for its answer. If it cannot bind (or dies first), the next one
 * waiting is told to try. The supervisor's copy keeps the socket, and the
 * clients in its accept queue, while workers come and go: it is closed (the
 * port freed) once no worker holds it — each says "release" when its
 * handles on it have closed — and none is starting or restarting, or when
 * the supervisor stops.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/channel.h"
#include "host/fleet.h"

typedef struct xcs_shared {
  char *key;
  int fd;        /* the socket, or -1 while `binder` binds it */
  int binder;    /* the slot index binding it, or -1 */
  char *waiting; /* per slot index: waits for the socket */
  char *held;    /* per slot index: holds it */
} xcs_shared;

static xcs_shared *find(xcs_fleet *f, const char *key) {
  for (int i = 0; i < f->nshares; i++)
    if (strcmp(f->shares[i].key, key) == 0) return &f->shares[i];
  return NULL;
}

static void answer(xcs_slot *s, const char *msg, int fd) {
  if (s->req >= 0) xcs_channel_send(s->req, msg, strlen(msg), fd);
}

static void remove_share(xcs_fleet *f, xcs_shared *sh) {
  if (sh->fd >= 0) close(sh->fd);
  free(sh->key);
  free(sh->waiting);
  free(sh->held);
  *sh = f->shares[--f->nshares];
}

/* The binder of sh could not bind it: the next waiting worker tries. */
static void next_binder(xcs_fleet *f, xcs_shared *sh) {
  for (int i = 0; i < f->count; i++) {
    if (!sh->waiting[i]) continue;
    sh->waiting[i] = 0;
    sh->binder = i;
    answer(&f->slots[i], "bind", -1);
    return;
  }
  remove_share(f, sh);
}

static void get(xcs_fleet *f, xcs_slot *s, const char *key) {
  int me = s->number - 1;
  xcs_shared *sh = find(f, key);
  if (sh && sh->fd >= 0) {
    sh->held[me] = 1;
    answer(s, "fd", sh->fd);
  } else if (sh) {
    sh->waiting[me] = 1;
  } else if (f->stopping) {
    answer(s, "bind", -1); /* nothing is kept once stopping */
  } else {
    xcs_shared *grown = realloc(f->shares, sizeof *grown * (size_t)(f->nshares + 1));
    char *k = strdup(key), *w = calloc((size_t)f->count, 1), *held = calloc((size_t)f->count, 1);
    if (grown) f->shares = grown;
    if (!grown || !k || !w || !held) {
      free(k);
      free(w);
      free(held);
      answer(s, "bind", -1); /* out of memory: unshared, still served */
      return;
    }
    f->shares[f->nshares++] = (xcs_shared){k, -1, me, w, held};
    answer(s, "bind", -1);
  }
}

void xcs_shares_request(xcs_fleet *f, xcs_slot *s, const char *msg, int fd) {
  const char *key = strchr(msg, ' ');
  xcs_shared *sh = key ? find(f, key + 1) : NULL;
  if (key && strncmp(msg, "get ", 4) == 0) {
    get(f, s, key + 1);
  } else if (sh && sh->binder == s->number - 1 && strncmp(msg, "put ", 4) == 0 && fd >= 0) {
    sh->fd = fd;
    sh->binder = -1;
    sh->held[s->number - 1] = 1;
    fd = -1;
    for (int i = 0; i < f->count; i++)
      if (sh->waiting[i]) {
        sh->waiting[i] = 0;
        sh->held[i] = 1;
        answer(&f->slots[i], "fd", sh->fd);
      }
  } else if (sh && strncmp(msg, "release ", 8) == 0) {
    sh->held[s->number - 1] = 0;
    xcs_shares_sweep(f);
  } else if (sh && sh->binder == s->number - 1) { /* "drop": it could not bind */
    next_binder(f, sh);
  }
  if (fd >= 0) close(fd);
}

void xcs_shares_forget(xcs_fleet *f, xcs_slot *s) {
  int me = s->number - 1;
  for (int i = f->nshares - 1; i >= 0; i--) {
    xcs_shared *sh = &f->shares[i];
    sh->waiting[me] = sh->held[me] = 0;
    if (sh->binder == me) next_binder(f, sh);
  }
}

void xcs_shares_sweep(xcs_fleet *f) {
  /* A worker on its way up will open the same ports: keep them for it. */
  for (int i = 0; i < f->count; i++)
    if (!f->slots[i].done && !f->slots[i].ready) return;
  for (int i = f->nshares - 1; i >= 0; i--) {
    xcs_shared *sh = &f->shares[i];
    int holders = sh->binder >= 0;
    for (int k = 0; k < f->count; k++) holders += sh->held[k] + sh->waiting[k];
    if (holders == 0) remove_share(f, sh);
  }
}

void xcs_shares_close(xcs_fleet *f) {
  /* Workers still waiting bind on their own: the stop is under way. */
  while (f->nshares > 0) {
    xcs_shared *sh = &f->shares[f->nshares - 1];
    for (int i = 0; i < f->count; i++)
      if (sh->waiting[i]) answer(&f->slots[i], "bind", -1);
    remove_share(f, sh);
  }
  free(f->shares);
  f->shares = NULL;
}
