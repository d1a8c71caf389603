/*
 * supervisor.c — starts the workers, restarts the ones that die, stops
 * them all, and ends with one exit status (see supervisor.h).
 *
 * Each worker is this same executable run again with the same words, told
 * its number in XCSHOST_WORKER and given two channels (host/channel.h) as
 * descriptors 3 and 4. It runs in a session of its own, so a terminal's
 * Ctrl-C reaches only the supervisor, which passes the stop on: one stop,
 * not two.
 */
#include "host/supervisor.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/channel.h"
#include "host/control.h"
#include "host/fleet.h"
#include "bindings/core/log.h"
#include "host/systemd.h"

extern char **environ;

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 10000
#define LIVED_LONG_MS 10000 /* a worker that lived this long starts the back-off afresh */

static xcs_fleet fleet; /* static: the host inside holds a 64 KiB buffer */
static char msgbuf[XCS_CHANNEL_MAX + 1];

static void spawn(xcs_slot *s);

void xcs_fleet_log(xcs_fleet *f, int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  xcs_logv(&f->host, level, "xcshost", NULL, fmt, ap);
  va_end(ap);
}

static void handle_closed_cb(uv_handle_t *h) { ((xcs_slot *)h->data)->handles--; }

static void close_channels(xcs_slot *s) {
  if (s->req < 0) return;
  uv_close((uv_handle_t *)&s->req_poll, handle_closed_cb);
  uv_close((uv_handle_t *)&s->cmd_poll, handle_closed_cb);
  close(s->req);
  close(s->cmd);
  s->req = s->cmd = -1;
}

static void restart_cb(uv_timer_t *t) {
  xcs_slot *s = t->data;
  s->restarts++;
  spawn(s);
}

/* Slot s's process ended (or never started) without being asked to. */
static void restart_later(xcs_slot *s) {
  xcs_fleet *f = s->fleet;
  uint64_t now = uv_now(&f->host.loop);
  if (s->started && now - s->started >= LIVED_LONG_MS) s->quick_deaths = 0;
  uint64_t delay = (uint64_t)BACKOFF_FIRST_MS << (s->quick_deaths < 7 ? s->quick_deaths : 7);
  if (delay > BACKOFF_MAX_MS) delay = BACKOFF_MAX_MS;
  s->quick_deaths++;
  xcs_fleet_log(f, XCS_LOG_WARN, "worker %d: restarting it in %.1f s (restart %d)", s->number,
                (double)delay / 1000, s->restarts + 1);
  uv_timer_start(&s->restart, restart_cb, delay, 0);
}

static void exit_cb(uv_process_t *proc, int64_t status, int signum) {
  xcs_slot *s = proc->data;
  xcs_fleet *f = s->fleet;
  int code = signum ? ((signum == SIGTERM || signum == SIGINT) && f->stopping ? 0 : 1)
                    : status == 0 ? 0 : status == 2 ? 2 : 1;
  double lived = (double)(uv_now(&f->host.loop) - s->started) / 1000;
  if (signum)
    xcs_fleet_log(f, code ? XCS_LOG_ERROR : XCS_LOG_INFO,
                  "worker %d (pid %d) was killed by signal %d (%s) after %.1f s", s->number,
                  s->pid, signum, strsignal(signum), lived);
  else
    xcs_fleet_log(f, code ? XCS_LOG_WARN : XCS_LOG_INFO,
                  "worker %d (pid %d) exited with status %d after %.1f s", s->number, s->pid,
                  (int)status, lived);
  s->alive = 0;
  s->pid = 0;
  s->ready = 0;
  uv_close((uv_handle_t *)proc, handle_closed_cb);
  close_channels(s);
  xcs_shares_forget(f, s);
  xcs_fleet_lost(f, s);
  if (f->stopping || code == 0) {
    s->done = 1;
  } else if (!s->ever_ready && code == 2) {
    /* Its modules cannot be loaded: neither can the others'. */
    s->done = 1;
    xcs_fleet_log(f, XCS_LOG_ERROR, "worker %d could not start its modules: stopping", s->number);
    xcs_fleet_stop(f, 0);
  } else {
    restart_later(s);
    return;
  }
  if (code > f->status) f->status = code;
  xcs_shares_sweep(f);
}

static int serving(xcs_fleet *f) {
  int ready = 0;
  for (int i = 0; i < f->count; i++) ready += f->slots[i].ready;
  return ready;
}

static void say_ready(xcs_fleet *f) {
  char state[96];
  int ready = serving(f);
  snprintf(state, sizeof state, "READY=1\nSTATUS=%d worker%s serving", ready,
           ready == 1 ? "" : "s");
  xcs_systemd_notify(&f->host, state);
}

/* systemd (Type=notify): READY=1 once every worker serves. */
static void notify_ready(xcs_fleet *f) {
  if (serving(f) < f->count || f->stopping || f->notified_ready) return;
  f->notified_ready = 1;
  say_ready(f);
  xcs_systemd_unused(&f->host);
}

void xcs_fleet_notify_reload(xcs_fleet *f, int done) {
  if (!f->notified_ready || f->stopping) return;
  if (done)
    say_ready(f);
  else
    xcs_systemd_reloading(&f->host);
}

/* A message from a worker: on its command channel (fd: none is sent) ... */
static void on_command(xcs_slot *s, const char *msg, int fd) {
  if (fd >= 0) close(fd);
  if (strcmp(msg, "ready") == 0) {
    s->ready = s->ever_ready = 1;
    xcs_fleet_log(s->fleet, XCS_LOG_INFO, "worker %d (pid %d) is serving", s->number, s->pid);
    notify_ready(s->fleet);
    xcs_shares_sweep(s->fleet);
  } else {
    xcs_fleet_answer(s->fleet, s, msg);
  }
}

/* ... or on its request channel (fd: the socket it bound, which shares.c keeps). */
static void on_request(xcs_slot *s, const char *msg, int fd) {
  xcs_shares_request(s->fleet, s, msg, fd);
}

/* Reads what arrived on sock, a few messages at a time so that one worker
 * cannot hold the loop; at the end (the worker is gone) stops polling, and
 * its exit callback follows. */
static void drain(uv_poll_t *p, int status, int sock, void (*on)(xcs_slot *, const char *, int)) {
  for (int i = 0; i < 64; i++) {
    int fd = -1;
    ssize_t n = status < 0 ? status : xcs_channel_recv(sock, msgbuf, sizeof msgbuf, &fd);
    if (n == -EAGAIN) return;
    if (n <= 0) {
      if (fd >= 0) close(fd);
      uv_poll_stop(p);
      return;
    }
    on(p->data, msgbuf, fd);
  }
}

static void cmd_cb(uv_poll_t *p, int status, int events) {
  (void)events;
  drain(p, status, ((xcs_slot *)p->data)->cmd, on_command);
}

static void req_cb(uv_poll_t *p, int status, int events) {
  (void)events;
  drain(p, status, ((xcs_slot *)p->data)->req, on_request);
}

/* The supervisor's environment, XCSHOST_WORKER for slot s, and
 * UV_TCP_SINGLE_ACCEPT: a worker takes one client per wake-up, so the
 * workers share a burst of clients instead of the first taking it all
 * (README "Workers" has the measurement). */
static char **worker_env(xcs_slot *s, char *mine, size_t size) {
  int n = 0;
  while (environ[n]) n++;
  char **env = calloc((size_t)n + 3, sizeof *env);
  if (env == NULL) return NULL;
  int k = 0;
  for (int i = 0; i < n; i++)
    if (strncmp(environ[i], "XCSHOST_WORKER=", 15) != 0 &&
        strncmp(environ[i], "UV_TCP_SINGLE_ACCEPT=", 21) != 0)
      env[k++] = environ[i];
  snprintf(mine, size, "XCSHOST_WORKER=%d/%d/%d", s->number, s->fleet->count, (int)getpid());
  env[k++] = mine;
  env[k++] = "UV_TCP_SINGLE_ACCEPT=1";
  return env;
}

static void spawn(xcs_slot *s) {
  xcs_fleet *f = s->fleet;
  int req[2] = {-1, -1}, cmd[2] = {-1, -1}, r;
  char mine[64];
  char **env = worker_env(s, mine, sizeof mine);
  if (env == NULL) {
    r = UV_ENOMEM;
  } else if ((r = xcs_channel_pair(req)) == 0 && (r = xcs_channel_pair(cmd)) == 0) {
    uv_stdio_container_t stdio[5] = {
        {.flags = UV_INHERIT_FD, .data.fd = 0}, {.flags = UV_INHERIT_FD, .data.fd = 1},
        {.flags = UV_INHERIT_FD, .data.fd = 2}, {.flags = UV_INHERIT_FD, .data.fd = req[1]},
        {.flags = UV_INHERIT_FD, .data.fd = cmd[1]}};
    uv_process_options_t opt = {.exit_cb = exit_cb, .file = f->exe, .args = f->argv,
                                .env = env, .stdio_count = 5, .stdio = stdio,
                                .flags = UV_PROCESS_DETACHED};
    s->proc.data = s;
    r = uv_spawn(&f->host.loop, &s->proc, &opt);
    s->handles++;
    if (r != 0) uv_close((uv_handle_t *)&s->proc, handle_closed_cb);
  } else {
    r = uv_translate_sys_error(-r);
  }
  free(env);
  for (int i = 0; i < 2; i++) {
    if (req[i] >= 0 && (i == 1 || r != 0)) close(req[i]);
    if (cmd[i] >= 0 && (i == 1 || r != 0)) close(cmd[i]);
  }
  if (r != 0) {
    xcs_fleet_log(f, XCS_LOG_ERROR, "worker %d: cannot start %s: %s", s->number, f->exe,
                  uv_strerror(r));
    s->started = uv_now(&f->host.loop);
    restart_later(s);
    return;
  }
  s->alive = 1;
  s->pid = s->proc.pid;
  s->started = uv_now(&f->host.loop);
  s->req = req[0];
  s->cmd = cmd[0];
  uv_poll_init(&f->host.loop, &s->req_poll, s->req);
  uv_poll_init(&f->host.loop, &s->cmd_poll, s->cmd);
  s->req_poll.data = s->cmd_poll.data = s;
  s->handles += 2;
  uv_poll_start(&s->req_poll, UV_READABLE, req_cb);
  uv_poll_start(&s->cmd_poll, UV_READABLE, cmd_cb);
  xcs_fleet_log(f, XCS_LOG_INFO, "worker %d started (pid %d)", s->number, s->pid);
}

void xcs_fleet_stop(xcs_fleet *f, int signum) {
  const char *name = signum == SIGINT ? "SIGINT" : signum == SIGTERM ? "SIGTERM" : "request";
  if (f->stopping++ == 0) {
    xcs_fleet_log(f, XCS_LOG_INFO, "stopping on %s: stopping every worker", name);
    xcs_systemd_notify(&f->host, "STOPPING=1");
    xcs_shares_close(f); /* once the workers close theirs, the ports are free */
  } else {
    xcs_fleet_log(f, XCS_LOG_INFO, "second %s: the workers close everything now", name);
  }
  for (int i = 0; i < f->count; i++) {
    xcs_slot *s = &f->slots[i];
    uv_timer_stop(&s->restart);
    if (s->alive)
      kill(s->pid, signum ? signum : SIGTERM);
    else
      s->done = 1;
  }
}

/* --workers auto: the CPUs this process may run on, and no more than its
 * cgroup's CPU quota allows (a container limited to 2 CPUs on a 64-CPU
 * machine gets 2 workers, not 64). */
static int auto_workers(void) {
  int n = (int)uv_available_parallelism();
  /* cgroup v2: this process's group is the "0::/PATH" line of
   * /proc/self/cgroup; its cpu.max says "QUOTA PERIOD" or "max PERIOD". */
  char group[1024] = "", path[1100];
  FILE *f = fopen("/proc/self/cgroup", "r");
  while (f && fgets(group, sizeof group, f) && strncmp(group, "0::", 3) != 0) group[0] = '\0';
  if (f) fclose(f);
  group[strcspn(group, "\n")] = '\0';
  snprintf(path, sizeof path, "/sys/fs/cgroup%s/cpu.max", strncmp(group, "0::", 3) == 0 ? group + 3 : "");
  f = fopen(path, "r");
  if (f == NULL) f = fopen("/sys/fs/cgroup/cpu.max", "r"); /* a container's own mount */
  long long quota, period;
  if (f && fscanf(f, "%lld %lld", &quota, &period) == 2 && quota > 0 && period > 0) {
    long long cpus = (quota + period - 1) / period;
    if (cpus < n) n = (int)cpus;
  }
  if (f) fclose(f);
  return n > 0 ? n : 1;
}

static void stop_cb(uv_signal_t *sig, int signum) { xcs_fleet_stop(sig->data, signum); }

static void hup_cb(uv_signal_t *sig, int signum) {
  (void)signum;
  xcs_fleet *f = sig->data;
  if (f->stopping) return;
  if (f->host.opt.sighup_certs)
    xcs_fleet_certs(f, NULL);
  else
    xcs_fleet_reload(f, "", NULL);
}

static void watch(xcs_fleet *f, uv_signal_t *s, int signum, uv_signal_cb cb) {
  uv_signal_init(&f->host.loop, s);
  s->data = f;
  uv_signal_start(s, cb, signum);
  uv_unref((uv_handle_t *)s); /* the workers keep the supervisor running */
}

int xcs_supervisor_run(const xcs_cli *cli, char **argv) {
  xcs_fleet *f = &fleet;
  f->count = cli->workers > 0 ? cli->workers : auto_workers();
  f->argv = argv;
  f->rolling = -1;
  size_t size = sizeof f->exe;
  int r = uv_exepath(f->exe, &size);
  if (r == 0) r = xcs_host_init(&f->host, &cli->opt);
  if (r != 0) {
    fprintf(stderr, "xcshost: cannot start the supervisor: %s\n", uv_strerror(r));
    return 2;
  }
  f->host.command = xcs_fleet_command;
  xcs_systemd_open(&f->host); /* its sockets wait for the workers' socket.open */
  f->started = uv_now(&f->host.loop);
  f->slots = calloc((size_t)f->count, sizeof *f->slots);
  if (f->slots == NULL) {
    fprintf(stderr, "xcshost: not enough memory for %d workers\n", f->count);
    xcs_host_close(&f->host);
    return 2;
  }
  int status = 0;
  if (cli->control && (r = xcs_control_start(&f->host, cli->control)) != 0) {
    xcs_fleet_log(f, XCS_LOG_ERROR, "cannot listen on control socket %s: %s", cli->control,
                  uv_strerror(r));
    status = 2;
  }
  if (status == 0) {
    signal(SIGPIPE, SIG_IGN);
    watch(f, &f->sigint, SIGINT, stop_cb);
    watch(f, &f->sigterm, SIGTERM, stop_cb);
    watch(f, &f->sighup, SIGHUP, hup_cb);
    uv_timer_init(&f->host.loop, &f->gather_timer);
    f->gather_timer.data = f;
    xcs_fleet_log(f, XCS_LOG_INFO, "supervisor (pid %d): starting %d worker%s", (int)getpid(),
                  f->count, f->count == 1 ? "" : "s");
    for (int i = 0; i < f->count; i++) {
      xcs_slot *s = &f->slots[i];
      s->fleet = f;
      s->number = i + 1;
      s->req = s->cmd = -1;
      uv_timer_init(&f->host.loop, &s->restart);
      s->restart.data = s;
      spawn(s);
    }
    /* Runs until no worker runs and none is waiting to restart. */
    uv_run(&f->host.loop, UV_RUN_DEFAULT);
    status = f->status;
    xcs_fleet_log(f, XCS_LOG_INFO, "every worker has ended: exit status %d", status);
  }
  xcs_shares_close(f);
  xcs_systemd_stop(&f->host);
  xcs_control_stop(&f->host);
  xcs_host_close(&f->host);
  free(f->slots);
  return status;
}
