/*
 * test_churn.c — unloading leaks nothing.
 *
 *   test_churn [COUNT]      (default 1000)
 *
 * One host loads COUNT modules, one after another. Each opens a TCP listener
 * and a UDP socket, connects a TCP client and a UDP client to itself and
 * exchanges data over both; then, in turn, it concludes, is unloaded while
 * its tasks wait (one on a read, one asleep), or fails. The loop runs until
 * the module is gone, and the process must then hold exactly the file
 * descriptors it held before the module was loaded; after the host closes,
 * those it held before the host. ctest also runs it under valgrind, which
 * must find no leak (and under ASan, LeakSanitizer checks the same).
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/host.h"
#include "host/module.h"
#include "bindings/handle.h"
#include "tests/check.h"

static const char module_src[] =
    "-- churn.lua: one of test_churn.c's modules; arg.mode says how it ends\n"
    "local l = assert(socket.open(0, 'TCP'))\n"
    "local u = assert(socket.open(0, 'UDP'))\n"
    "local c = assert(socket.connect('127.0.0.1', l:port()))\n"
    "c:write('ping')\n"
    "local data, conn = socket.read(l)\n"
    "assert(data == 'ping', data)\n"
    "socket.write(l, 'pong', conn)\n"
    "assert(c:read() == 'pong')\n"
    "local v = assert(socket.connect('127.0.0.1', u:port(), 'UDP'))\n"
    "v:write('datagram')\n"
    "local d, from = socket.read(u)\n"
    "socket.write(u, d, from)\n"
    "assert(v:read() == 'datagram')\n"
    "print('exchanged')\n"
    "if arg.mode == 'fail' then error('failing on purpose') end\n"
    "if arg.mode == 'unload' then\n"
    "  spawn(function() sleep(60) end)\n"
    "  socket.read(l) -- waits until unloaded\n"
    "end\n";

static const char *const modes[] = {"conclude", "unload", "fail"};

/* The log sink: counts what the test waits for, keeps the rest quiet. */
static int exchanged, failures;
static char last_line[512];

static void sink(void *ud, const xcs_log_record *r) {
  const char *tag = r->tag, *line = r->line;
  size_t len = r->len;
  (void)ud;
  snprintf(last_line, sizeof last_line, "%s: %.*s", tag, (int)len, line);
  if (len == 9 && memcmp(line, "exchanged", 9) == 0) exchanged++;
  if (len >= 8 && memcmp(line, "failed: ", 8) == 0) failures++;
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) return -1;
  int n = 0;
  while (readdir(d) != NULL) n++;
  closedir(d);
  return n - 3; /* ".", ".." and the directory's own descriptor */
}

/* Keeps UV_RUN_ONCE from blocking for ever, so every wait is bounded. */
static uv_timer_t pulse;
static void pulse_cb(uv_timer_t *t) { (void)t; }

/* Runs the loop until *done, or 10 s; returns whether it got there. */
static int run_until(xcs_host *h, int (*done)(xcs_module *), xcs_module *m) {
  uint64_t until = uv_hrtime() + 10 * (uint64_t)1000000000;
  while (!done(m)) {
    if (uv_hrtime() > until) return 0;
    uv_run(&h->loop, UV_RUN_ONCE);
  }
  return 1;
}

static int target;
static int has_exchanged(xcs_module *m) { return exchanged >= target || m->phase >= XCS_UNLOADING; }
static int is_gone(xcs_module *m) { return m->phase == XCS_GONE; }

/* Loads one module, lets it end as mode says, waits until it is gone;
 * returns how many descriptors the process then holds. */
static int churn_one(xcs_host *h, const char *path, int i) {
  const char *mode = modes[i % 3];
  char *err = NULL;
  xcs_module *m = xcs_module_new(h, path, &err);
  CHECK(m != NULL);
  if (m == NULL) {
    fprintf(stderr, "module %d: %s\n", i, err ? err : "?");
    free(err);
    return -1;
  }
  xcs_module_pin(m); /* keep the struct after the state is closed, to look at it */
  xcs_module_setarg(m, "mode", mode);
  int before = failures;
  target = exchanged + 1;
  xcs_module_start(m);

  int ok = run_until(h, has_exchanged, m);
  CHECK(ok && exchanged == target);
  if (strcmp(mode, "unload") == 0) {
    CHECK(m->phase == XCS_RUNNING);
    xcs_module_unload(m, 1);
  }
  ok = run_until(h, is_gone, m);
  CHECK(ok);
  if (!ok) { int nh = 0; for (xcs_list *k = m->handles.next; k != &m->handles; k = k->next) { nh++; xcs_handle *hh = xcs_container_of(k, xcs_handle, link); fprintf(stderr, "  left: %s closing %d holds %d\n", hh->type->name, hh->closing, hh->life.holds); } fprintf(stderr, "%d handles, freeing empty %d\n", nh, xcs_list_empty(&h->freeing)); }
  if (!ok) fprintf(stderr, "module %d (%s) not gone (%d holds, phase %d); last log line: %s\n", i, mode, m->life.holds, (int)m->phase, last_line);

  if (strcmp(mode, "conclude") == 0) {
    CHECK(m->concluded && !m->failed);
  } else if (strcmp(mode, "unload") == 0) {
    CHECK(!m->concluded && !m->failed);
  } else {
    CHECK(m->failed && failures == before + 1 && m->error &&
          strstr(m->error, "failing on purpose") != NULL);
  }
  CHECK(m->life.holds == 0 && m->ntasks == 0 && m->nrefs == 0);
  xcs_module_release(m);
  return count_fds();
}

int main(int argc, char **argv) {
  int count = argc > 1 ? atoi(argv[1]) : 1000;
  if (count <= 0) {
    fprintf(stderr, "usage: test_churn [COUNT]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);

  char dir[] = "/tmp/xcs_churn_XXXXXX";
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 2;
  }
  char path[sizeof dir + 16];
  snprintf(path, sizeof path, "%s/churn.lua", dir);
  FILE *f = fopen(path, "w");
  if (f == NULL || fputs(module_src, f) == EOF || fclose(f) != 0) {
    perror(path);
    return 2;
  }

  /* libuv makes a few process-wide descriptors with its first loop (the
   * signal lock pipe); a first host made and closed takes them out of the
   * count. */
  static xcs_host host; /* 64 KiB read buffer: not on the stack */
  xcs_options o;
  xcs_options_default(&o);
  o.linger_ms = 200;
  CHECK(xcs_host_init(&host, &o) == 0);
  xcs_host_close(&host);
  int fds_before_host = count_fds();
  CHECK(xcs_host_init(&host, &o) == 0);
  host.log = sink;
  uv_timer_init(&host.loop, &pulse);
  uv_timer_start(&pulse, pulse_cb, 100, 100);

  /* The loop keeps one descriptor in reserve for EMFILE from its first
   * stream on, so the count is taken after the first module. */
  int fds = -1, bad = 0;
  for (int i = 0; i < count; i++) {
    int now = churn_one(&host, path, i);
    if (i == 0) fds = now;
    if (now != fds && bad++ < 10)
      fprintf(stderr, "module %d: %d descriptors open, %d after the first\n", i, now, fds);
  }
  CHECK(bad == 0);

  CHECK(exchanged == count);
  CHECK(host.failed == count / 3); /* every third module fails */
  CHECK(xcs_list_empty(&host.modules));
  uv_close((uv_handle_t *)&pulse, NULL);
  xcs_host_close(&host);
  CHECK(count_fds() == fds_before_host);

  unlink(path);
  rmdir(dir);
  char name[64];
  snprintf(name, sizeof name, "churn (%d modules)", count);
  return check_report(name);
}
