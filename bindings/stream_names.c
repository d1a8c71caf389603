/*
 * stream_names.c — a stream connection's two addresses: noted as numbers
 * when it connects (IPv4) or as one small block of text (IPv6, UNIX
 * paths), formatted only when asked, and the address(), peer() and port()
 * methods.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/stream.h"

/* Addresses ------------------------------------------------------------------------- */

int xcs_conn_address(lua_State *L) {
  lua_pushstring(L, xcs_conn_local((xcs_conn *)xcs_handle_check(L, 1, &xcs_conn_type)));
  return 1;
}

int xcs_conn_peer_method(lua_State *L) {
  lua_pushstring(L, xcs_conn_peer((xcs_conn *)xcs_handle_check(L, 1, &xcs_conn_type)));
  return 1;
}

/* The local port, from the address noted when it connected (so it still
 * answers after the socket was released). */
int xcs_conn_port(lua_State *L) {
  xcs_conn *c = (xcs_conn *)xcs_handle_check(L, 1, &xcs_conn_type);
  const char *colon = strrchr(xcs_conn_local(c), ':');
  if (colon == NULL || c->is_unix) return 0;
  lua_pushinteger(L, atoi(colon + 1));
  return 1;
}

/* An IPv4 name kept as numbers, as text in buf. */
static const char *ipv4_name(uint32_t ip, uint16_t port, char *buf, size_t size) {
  struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(port)};
  in.sin_addr.s_addr = ip;
  xcs_addr_format((struct sockaddr *)&in, buf, size);
  return buf;
}

const char *xcs_conn_local(const xcs_conn *c) {
  static char buf[XCS_ADDRSTRLEN];
  if (c->v4_names) return ipv4_name(c->local_ip, c->local_port, buf, sizeof buf);
  return c->names ? c->names : "?";
}

const char *xcs_conn_peer(const xcs_conn *c) {
  static char buf[XCS_ADDRSTRLEN];
  if (c->v4_names) return ipv4_name(c->peer_ip, c->peer_port, buf, sizeof buf);
  return c->names ? c->names + strlen(c->names) + 1 : "?";
}

/* The text names go (the numbers are no block of their own). */
void xcs_conn_free_names(xcs_conn *c) {
  if (c->v4_names) return;
  free(c->names);
  c->names = NULL;
}

/* The two names share one small block: a connection carries no room for
 * the longest path it might have. */
void xcs_conn_name(xcs_conn *c, const char *local, const char *peer) {
  if (local == NULL) local = xcs_conn_local(c);
  if (peer == NULL) peer = xcs_conn_peer(c);
  size_t nl = strlen(local) + 1, np = strlen(peer) + 1;
  char *names = malloc(nl + np);
  if (names == NULL) return;
  memcpy(names, local, nl);
  memcpy(names + nl, peer, np);
  xcs_conn_free_names(c);
  c->v4_names = 0;
  c->names = names;
}

/* A UNIX socket's name: its path, or XCS_UNNAMED for a socket that never
 * bound one (a client, usually). */
static void pipe_name(xcs_conn *c, int peer, char *buf, size_t size) {
  size_t len = size - 1;
  int r = peer ? uv_pipe_getpeername(&c->io.pipe, buf, &len)
               : uv_pipe_getsockname(&c->io.pipe, buf, &len);
  if (r != 0 || len == 0 || buf[0] == '\0') len = (size_t)snprintf(buf, size, XCS_UNNAMED);
  buf[len < size ? len : size - 1] = '\0';
}

/* The names of a connection that just connected: for IPv4 (most) two
 * numbers and no block, made text only when asked. */
void xcs_conn_note_names(xcs_conn *c, const struct sockaddr *known) {
  struct sockaddr_storage sa;
  int len = sizeof sa;
  char local[XCS_NAMESTRLEN] = "?", peer[XCS_NAMESTRLEN] = "?";
  if (c->is_unix) {
    pipe_name(c, 0, local, sizeof local);
    pipe_name(c, 1, peer, sizeof peer);
  } else {
    struct sockaddr_storage pa;
    int plen = sizeof pa;
    int lok = uv_tcp_getsockname(&c->io.tcp, (struct sockaddr *)&sa, &len) == 0;
    int pok = 1;
    if (known && known->sa_family != AF_UNSPEC) /* the gate's look, one system call fewer */
      memcpy(&pa, known, known->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                      : sizeof(struct sockaddr_in));
    else
      pok = uv_tcp_getpeername(&c->io.tcp, (struct sockaddr *)&pa, &plen) == 0;
    if (lok && pok && sa.ss_family == AF_INET && pa.ss_family == AF_INET) {
      /* Most connections: two numbers, no block, no text until asked. */
      xcs_conn_free_names(c); /* a connect's "host:port": the address it reached now */
      const struct sockaddr_in *l4 = (struct sockaddr_in *)&sa, *p4 = (struct sockaddr_in *)&pa;
      c->local_ip = l4->sin_addr.s_addr;
      c->local_port = ntohs(l4->sin_port);
      c->peer_ip = p4->sin_addr.s_addr;
      c->peer_port = ntohs(p4->sin_port);
      c->v4_names = 1;
    } else {
      if (lok) xcs_addr_format((struct sockaddr *)&sa, local, sizeof local);
      if (pok) xcs_addr_format((struct sockaddr *)&pa, peer, sizeof peer);
    }
  }
  if (!c->v4_names) xcs_conn_name(c, local, peer);
}
