/*
 * spread.c — how two ways of sharing a TCP port among worker processes
 * spread connections, and what each does to connections waiting in the
 * accept queue when a worker dies. The measurement behind xcshost's
 * --workers design (README "Workers").
 *
 *   xcs-bench-spread MODE [WORKERS] [CONNECTIONS]
 *
 * MODE:
 *   shared        one listening socket, inherited by every worker (what the
 *                 xcshost supervisor hands out)
 *   reuseport     one SO_REUSEPORT socket per worker, on the same port; the
 *                 parent keeps no copy
 *   reuseport-held  the same, but the parent keeps a copy of each (as a
 *                 supervisor that hands them out would)
 *
 * Each worker is a libuv loop that accepts, writes its number (one byte),
 * and closes when the client does. Printed:
 *   burst:   CONNECTIONS clients opened at once and held (wrk's pattern)
 *   serial:  CONNECTIONS clients one after another
 *   queue:   20 clients connected while every worker is stopped (SIGSTOP),
 *            then worker 0 is killed and the rest continued: how many of
 *            the 20 were still served
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#define MAX_WORKERS 16
#define QUEUED 20

static unsigned char worker_id;

static void closed_cb(uv_handle_t *h) { free(h); }

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h;
  (void)hint;
  static char slab[256];
  *buf = uv_buf_init(slab, sizeof slab);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  if (n < 0) uv_close((uv_handle_t *)s, closed_cb);
}

static void connection_cb(uv_stream_t *server, int status) {
  if (status < 0) return;
  uv_tcp_t *c = malloc(sizeof *c);
  uv_tcp_init(server->loop, c);
  if (uv_accept(server, (uv_stream_t *)c) != 0) {
    uv_close((uv_handle_t *)c, closed_cb);
    return;
  }
  uv_buf_t b = uv_buf_init((char *)&worker_id, 1);
  uv_try_write((uv_stream_t *)c, &b, 1);
  uv_read_start((uv_stream_t *)c, alloc_cb, read_cb);
}

static void serve(int fd) {
  uv_loop_t *loop = uv_default_loop();
  uv_tcp_t server;
  uv_tcp_init(loop, &server);
  if (uv_tcp_open(&server, fd) != 0 || uv_listen((uv_stream_t *)&server, 1024, connection_cb) != 0)
    _exit(3);
  uv_run(loop, UV_RUN_DEFAULT);
  _exit(0);
}

static int listener(int port, int reuseport) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) ||
      bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 1024) != 0) {
    perror("spread: listen");
    exit(2);
  }
  return fd;
}

static int port_of(int fd) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  getsockname(fd, (struct sockaddr *)&sa, &len);
  return ntohs(sa.sin_port);
}

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

/* The number of the worker that served fd, or -1 (reset, or nothing in 2 s). */
static int served_by(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  unsigned char id;
  if (fd < 0 || poll(&p, 1, 2000) != 1 || read(fd, &id, 1) != 1) return -1;
  return id;
}

static void print_counts(const char *what, const int *count, int n, int lost) {
  printf("%-7s", what);
  for (int i = 0; i < n; i++) printf(" worker%d=%d", i, count[i]);
  printf(" lost=%d\n", lost);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "shared";
  int n = argc > 2 ? atoi(argv[2]) : 2, conns = argc > 3 ? atoi(argv[3]) : 50;
  int reuseport = strncmp(mode, "reuseport", 9) == 0, held = strcmp(mode, "reuseport-held") == 0;
  if ((!reuseport && strcmp(mode, "shared") != 0) || n < 1 || n > MAX_WORKERS || conns < 1) {
    fprintf(stderr, "usage: xcs-bench-spread shared|reuseport|reuseport-held [WORKERS] [CONNECTIONS]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int fds[MAX_WORKERS], port = 0;
  for (int i = 0; i < n; i++) {
    fds[i] = i == 0 || reuseport ? listener(port, reuseport) : fds[0];
    port = port_of(fds[0]);
  }
  pid_t pids[MAX_WORKERS];
  for (int i = 0; i < n; i++) {
    if ((pids[i] = fork()) == 0) {
      worker_id = (unsigned char)i;
      for (int j = 0; j < n; j++)
        if (fds[j] != fds[i]) close(fds[j]);
      serve(fds[i]);
    }
  }
  if (!held && reuseport)
    for (int i = 0; i < n; i++) close(fds[i]);
  if (!reuseport) close(fds[0]); /* the workers hold it */
  usleep(200000); /* let every worker reach uv_run: this is a tool, not a test */

  int count[MAX_WORKERS] = {0}, lost = 0;
  int *open_fds = calloc((size_t)conns, sizeof *open_fds);
  for (int i = 0; i < conns; i++) open_fds[i] = dial(port);
  for (int i = 0; i < conns; i++) {
    int w = served_by(open_fds[i]);
    if (w < 0) lost++; else count[w]++;
    if (open_fds[i] >= 0) close(open_fds[i]);
  }
  print_counts("burst", count, n, lost);

  memset(count, 0, sizeof count);
  lost = 0;
  for (int i = 0; i < conns; i++) {
    int fd = dial(port), w = served_by(fd);
    if (w < 0) lost++; else count[w]++;
    if (fd >= 0) close(fd);
  }
  print_counts("serial", count, n, lost);

  for (int i = 0; i < n; i++) kill(pids[i], SIGSTOP);
  int queued[QUEUED];
  for (int i = 0; i < QUEUED; i++) queued[i] = dial(port);
  kill(pids[0], SIGKILL);
  waitpid(pids[0], NULL, 0);
  for (int i = 1; i < n; i++) kill(pids[i], SIGCONT);
  memset(count, 0, sizeof count);
  lost = 0;
  for (int i = 0; i < QUEUED; i++) {
    int w = served_by(queued[i]);
    if (w < 0) lost++; else count[w]++;
    if (queued[i] >= 0) close(queued[i]);
  }
  print_counts("queue", count, n, lost);

  for (int i = 1; i < n; i++) {
    kill(pids[i], SIGKILL);
    waitpid(pids[i], NULL, 0);
  }
  free(open_fds);
  return 0;
}
