/*
 * inherit.c — the table of inherited sockets, matched by type and port.
 */
#include "bindings/inherit.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct inherited {
  int fd, socktype, port;
  char *name;
} inherited;

static inherited table[XCS_INHERIT_MAX];
static int count;

int xcs_inherit_add(int fd, const char *name) {
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  int type;
  socklen_t tlen = sizeof type;
  if (count == XCS_INHERIT_MAX || getsockname(fd, (struct sockaddr *)&sa, &len) != 0 ||
      getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0)
    return -1;
  int port;
  if (sa.ss_family == AF_INET)
    port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
  else if (sa.ss_family == AF_INET6)
    port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
  else
    return -1;
  table[count] = (inherited){fd, type, port, name ? strdup(name) : NULL};
  count++;
  return 0;
}

int xcs_inherit_take(int socktype, int port, int *fd, const char **name) {
  for (int i = 0; i < count && port != 0; i++) {
    if (table[i].fd < 0 || table[i].socktype != socktype || table[i].port != port) continue;
    *fd = table[i].fd;
    *name = table[i].name ? table[i].name : "";
    table[i].fd = -1; /* its name stays, for the log line the caller writes */
    return 1;
  }
  return 0;
}

int xcs_inherit_waiting(void (*fn)(void *ud, int port, int socktype, const char *name), void *ud) {
  int n = 0;
  for (int i = 0; i < count; i++)
    if (table[i].fd >= 0) {
      n++;
      if (fn) fn(ud, table[i].port, table[i].socktype, table[i].name ? table[i].name : "");
    }
  return n;
}
