/*
 * ctl.c — `xcshost ctl PATH COMMAND...`: sends one command to a running
 * host's control socket and prints the answer. Plain blocking sockets: it
 * is a one-shot client, not part of the loop.
 */
#include "host/ctl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

int xcs_ctl(char **argv, int argc) {
  const char *path = argv[0];
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) {
    fprintf(stderr, "xcshost: control socket path too long: %s\n", path);
    return 2;
  }
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct timeval tv = {5, 0}; /* a host that does not answer is an error */
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
      connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    fprintf(stderr, "xcshost: cannot reach a host at %s: %s\n", path, strerror(errno));
    if (fd >= 0) close(fd);
    return 2;
  }
  char line[256];
  size_t len = 0;
  for (int i = 1; i < argc; i++)
    len += (size_t)snprintf(line + len, len < sizeof line ? sizeof line - len : 0, "%s%s",
                            i > 1 ? " " : "", argv[i]);
  if (len >= sizeof line - 1) {
    fprintf(stderr, "xcshost: command too long\n");
    close(fd);
    return 2;
  }
  line[len++] = '\n';
  int status = 0;
  if (write(fd, line, len) != (ssize_t)len) status = 2;
  char buf[4096];
  ssize_t n = 0;
  int first = 1;
  while (status == 0 && (n = read(fd, buf, sizeof buf)) > 0) {
    if (first && strncmp(buf, "error:", 6) == 0) status = 1;
    first = 0;
    fwrite(buf, 1, (size_t)n, stdout);
  }
  if (n < 0) {
    fprintf(stderr, "xcshost: no answer from %s: %s\n", path, strerror(errno));
    status = 2;
  }
  close(fd);
  return status;
}
