/*
 * worker.c — the worker's side of --workers (see worker.h for the protocol).
 *
 * Asking for a socket blocks the loop for one round trip to the supervisor:
 * it happens only when a module opens a port, and the supervisor answers
 * from its loop at once (or as soon as the worker binding that port says
 * how it went).
 */
#include "host/worker.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bindings/addr.h"
#include "host/channel.h"
#include "host/control.h"
#include "host/module.h"
#include "bindings/tls_rotate.h"
#include "host/reload.h"

#define REQUESTS_FD 3
#define COMMANDS_FD 4
#define ANSWER_TIMEOUT_MS 10000
#define HELD_CHECK_MS 1000

/* A shared socket this worker holds: when its handles have all closed it
 * tells the supervisor, which frees the port once no worker holds it. */
typedef struct held {
  char key[300];
  int fd;     /* the descriptor last seen holding it */
  ino_t ino;  /* the socket's identity: descriptors are reused */
} held;

static struct {
  xcs_host *h;
  uv_poll_t commands;
  uv_prepare_t after; /* says `later` once the queued module steps ran */
  uv_prepare_t unbound; /* sends "drop" if a bind never said how it went */
  char later[600];
  char pending[300]; /* the key this worker was told to bind, until put */
  char buf[XCS_CHANNEL_MAX + 1];
  held *held;
  int nheld;
  uv_timer_t check; /* looks at the held sockets while there are any */
} self;

int xcs_worker_is(void) { return getenv("XCSHOST_WORKER") != NULL; }

/* "[w2] echo: listening on ..."; in JSON, a "worker" member. */
static void tagged_sink(void *ud, const xcs_log_record *r) {
  xcs_host *h = ud;
  xcs_log_record tagged = *r;
  if (h->opt.log_json) {
    xcs_log_field fields[XCS_LOG_MAX_FIELDS + 2]; /* the record's, "worker", the end */
    char number[16];
    int n = 0;
    for (const xcs_log_field *f = r->fields; f && f->key && n < XCS_LOG_MAX_FIELDS; f++)
      fields[n++] = *f;
    snprintf(number, sizeof number, "%d", h->worker);
    fields[n++] = (xcs_log_field){"worker", number};
    fields[n] = (xcs_log_field){NULL, NULL};
    tagged.fields = fields;
    xcs_log_json(NULL, &tagged);
    return;
  }
  char t[256];
  snprintf(t, sizeof t, "[w%d] %s", h->worker, r->tag);
  tagged.tag = t;
  xcs_log_stderr(NULL, &tagged);
}

static ino_t inode_of(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) ? st.st_ino : 0;
}

/* The descriptor of this process open on socket ino, or -1 (a reload's
 * takeover moves a socket to a duplicate descriptor). */
static int find_inode(ino_t ino) {
  DIR *d = opendir("/proc/self/fd");
  int found = -1;
  for (struct dirent *e; d && found < 0 && (e = readdir(d)) != NULL;) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] != '.' && fd != dirfd(d) && inode_of(fd) == ino) found = fd;
  }
  if (d) closedir(d);
  return found;
}

static void check_cb(uv_timer_t *t) {
  for (int i = self.nheld - 1; i >= 0; i--) {
    held *h = &self.held[i];
    if (inode_of(h->fd) == h->ino || (h->fd = find_inode(h->ino)) >= 0) continue;
    char msg[sizeof h->key + 16];
    int n = snprintf(msg, sizeof msg, "release %s", h->key);
    xcs_channel_send(REQUESTS_FD, msg, (size_t)n, -1);
    self.held[i] = self.held[--self.nheld];
  }
  if (self.nheld == 0) uv_timer_stop(t);
}

/* Whether this worker still has a socket open that it got for key. */
static int holding(const char *key) {
  for (int i = 0; i < self.nheld; i++) {
    held *h = &self.held[i];
    if (strcmp(h->key, key) == 0 &&
        (inode_of(h->fd) == h->ino || (h->fd = find_inode(h->ino)) >= 0))
      return 1;
  }
  return 0;
}

static void hold(int fd) {
  held *grown = realloc(self.held, sizeof *grown * (size_t)(self.nheld + 1));
  if (grown == NULL) return; /* untracked: the port stays reserved until the stop */
  self.held = grown;
  held *h = &self.held[self.nheld++];
  snprintf(h->key, sizeof h->key, "%s", self.pending);
  h->fd = fd;
  h->ino = inode_of(fd);
  if (!uv_is_active((uv_handle_t *)&self.check))
    uv_timer_start(&self.check, check_cb, HELD_CHECK_MS, HELD_CHECK_MS);
}

static void put(xcs_module *m, uv_os_sock_t fd) {
  (void)m;
  if (self.pending[0] == '\0') return;
  char msg[sizeof self.pending + 8];
  int n = snprintf(msg, sizeof msg, "%s %s", fd >= 0 ? "put" : "drop", self.pending);
  if (xcs_channel_send(REQUESTS_FD, msg, (size_t)n, fd) == 0 && fd >= 0) hold(fd);
  self.pending[0] = '\0';
}

/* The binding code that was told to bind never said how it went (it failed
 * on a path that does not call put): the supervisor hears it failed, and
 * the next worker waiting for that socket tries. */
static void unbound_cb(uv_prepare_t *p) {
  uv_prepare_stop(p);
  put(NULL, -1);
}

/* UDP: this worker's own socket in the port's SO_REUSEPORT group, on port
 * (0: the one sa names, maybe 0 itself: the first of the group picks it);
 * handed to the supervisor, which keeps it for this worker's successors.
 * 1 with it in *fd, or 0: the binding code binds (and reports) on its own. */
static int udp_member(const struct sockaddr *sa, int port, uv_os_sock_t *fd) {
  struct sockaddr_storage at;
  socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  memcpy(&at, sa, len);
  if (port && at.ss_family == AF_INET6) ((struct sockaddr_in6 *)&at)->sin6_port = htons((uint16_t)port);
  if (port && at.ss_family == AF_INET) ((struct sockaddr_in *)&at)->sin_port = htons((uint16_t)port);
  int s = socket(at.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0), on = 1;
  char msg[sizeof self.pending + 8];
  if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0 ||
      bind(s, (struct sockaddr *)&at, len) != 0) {
    if (s >= 0) close(s);
    int n = snprintf(msg, sizeof msg, "drop %s", self.pending);
    xcs_channel_send(REQUESTS_FD, msg, (size_t)n, -1);
    self.pending[0] = '\0';
    return 0;
  }
  int n = snprintf(msg, sizeof msg, "put %s", self.pending);
  xcs_channel_send(REQUESTS_FD, msg, (size_t)n, s);
  hold(s);
  self.pending[0] = '\0';
  *fd = s;
  return 1;
}

static int get(xcs_module *m, const char *kind, const struct sockaddr *sa, uv_os_sock_t *fd) {
  char addr[128], msg[sizeof self.pending + 8];
  if (sa->sa_family == AF_UNIX)
    snprintf(addr, sizeof addr, "%s", ((const struct sockaddr_un *)sa)->sun_path);
  else
    xcs_addr_format(sa, addr, sizeof addr);
  if (sa->sa_family == AF_UNIX || xcs_addr_port(sa) != 0)
    snprintf(self.pending, sizeof self.pending, "%s %s", kind, addr);
  else
    snprintf(self.pending, sizeof self.pending, "%s %s %s#%d", kind, addr, m->name,
             ++m->port0_opens);
  if (m->replaces == NULL && holding(self.pending)) {
    /* This worker has it open already (not for a reload): binding it
     * again fails as it would in one process, EADDRINUSE. */
    self.pending[0] = '\0';
    return 0;
  }
  int n = snprintf(msg, sizeof msg, "get %s", self.pending);
  int r = xcs_channel_send(REQUESTS_FD, msg, (size_t)n, -1);
  struct pollfd p = {.fd = REQUESTS_FD, .events = POLLIN};
  ssize_t got = -EAGAIN;
  while (r == 0 && got == -EAGAIN) {
    int ready = poll(&p, 1, ANSWER_TIMEOUT_MS);
    if (ready < 0 && errno == EINTR) continue; /* the CPU watchdog's SIGPROF */
    if (ready <= 0) break;
    got = xcs_channel_recv(REQUESTS_FD, self.buf, sizeof self.buf, fd);
  }
  if (got > 0 && strcmp(self.buf, "fd") == 0 && *fd >= 0) {
    hold(*fd);
    self.pending[0] = '\0';
    return 1;
  }
  if (*fd >= 0) close(*fd);
  int port = 0;
  if (got > 0 && strcmp(kind, "udp") == 0 &&
      (strcmp(self.buf, "bind") == 0 || sscanf(self.buf, "port %d", &port) == 1))
    return udp_member(sa, port, fd);
  if (got <= 0 || strcmp(self.buf, "bind") != 0) {
    /* Bound here alone, the other workers cannot share it: say so. */
    xcs_log(m->host, m->name, "warning: no answer from the supervisor about %s; binding it "
            "in this worker only", self.pending);
    self.pending[0] = '\0';
  }
  if (self.pending[0]) uv_prepare_start(&self.unbound, unbound_cb);
  return 0;
}

static const xcs_share share = {get, put};

static void say(const char *msg) { xcs_channel_send(COMMANDS_FD, msg, strlen(msg), -1); }

static void after_cb(uv_prepare_t *p) {
  uv_prepare_stop(p);
  say(self.later);
}

/* Says msg once the module steps queued now have run (a new version, or a
 * first one, is then listening): prepare handles run right after the idle
 * one that runs them (host.c's tick), in the same turn of the loop. */
static void say_later(const char *msg) {
  snprintf(self.later, sizeof self.later, "%s", msg);
  uv_prepare_start(&self.after, after_cb);
}

/* The status in pieces the channel carries, its first line the totals. */
static void send_status(xcs_host *h) {
  int conns = 0;
  for (xcs_list *l = h->modules.next; l != &h->modules; l = l->next)
    conns += xcs_container_of(l, xcs_module, link)->nconnections;
  size_t rss = 0;
  if (uv_resident_set_memory(&rss) != 0) rss = 0;
  char *text = xcs_control_status(h);
  size_t len = text ? strlen(text) : 0, piece = XCS_CHANNEL_MAX - 16;
  int n = snprintf(self.buf, sizeof self.buf, "part connections %d memory %zu\n", conns,
                   rss >> 10);
  xcs_channel_send(COMMANDS_FD, self.buf, (size_t)n, -1);
  for (size_t off = 0; off < len; off += piece) {
    size_t k = len - off < piece ? len - off : piece;
    memcpy(self.buf, "part ", 5);
    memcpy(self.buf + 5, text + off, k);
    xcs_channel_send(COMMANDS_FD, self.buf, k + 5, -1);
  }
  free(text);
  say("end");
}

typedef struct reload_outcome {
  char why[512];
} reload_outcome;

static void reported(void *ud, xcs_module *m, xcs_module *next, const char *err) {
  reload_outcome *o = ud;
  if (next == NULL && o->why[0] == '\0')
    snprintf(o->why, sizeof o->why, "%s: %s", m->name, err ? err : "cannot reload");
}

static void reload(xcs_host *h, const char *name) {
  reload_outcome o = {{0}};
  xcs_log(h, "xcshost", "reloading %s from disk", *name ? name : "every module");
  if (xcs_reload_named(h, name, reported, &o) == 0 && *name)
    snprintf(o.why, sizeof o.why, "no running module named '%s'", name);
  char msg[600];
  snprintf(msg, sizeof msg, o.why[0] ? "failed %s" : "reloaded", o.why);
  say_later(msg);
}

static void commands_cb(uv_poll_t *p, int status, int events) {
  (void)events;
  xcs_host *h = p->data;
  for (int i = 0; i < 64; i++) {
    int fd = -1;
    ssize_t n = status < 0 ? status : xcs_channel_recv(COMMANDS_FD, self.buf, sizeof self.buf, &fd);
    if (n == -EAGAIN) return;
    if (fd >= 0) close(fd);
    if (n <= 0) {
      /* The supervisor is gone: its death signal (PR_SET_PDEATHSIG) stops us. */
      uv_poll_stop(p);
      return;
    }
    int is_reload = strncmp(self.buf, "reload", 6) == 0 && (!self.buf[6] || self.buf[6] == ' ');
    if (strcmp(self.buf, "status") == 0)
      send_status(h);
    else if (strcmp(self.buf, "certs") == 0)
      xcs_tls_rotate(h, NULL, NULL, NULL); /* each listener logs what it read */
    else if (is_reload && h->stopping)
      say("failed the worker is stopping");
    else if (is_reload)
      reload(h, self.buf[6] ? self.buf + 7 : "");
  }
}

int xcs_worker_attach(xcs_host *h) {
  const char *env = getenv("XCSHOST_WORKER");
  int number, count;
  long ppid;
  if (env == NULL || sscanf(env, "%d/%d/%ld", &number, &count, &ppid) != 3 || number < 1 ||
      count < number) {
    fprintf(stderr, "xcshost: XCSHOST_WORKER is for the supervisor to set, not '%s'\n",
            env ? env : "");
    return -1;
  }
  /* The supervisor's death stops this worker (as SIGTERM does); if it
   * died before this line, the parent is already someone else. */
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != (pid_t)ppid) {
    fprintf(stderr, "xcshost: worker %d: the supervisor (pid %ld) is gone\n", number, ppid);
    return -1;
  }
  self.h = h;
  h->worker = number;
  h->workers = count;
  h->share = &share;
  h->log = tagged_sink;
  h->log_ud = h;
  if (uv_poll_init(&h->loop, &self.commands, COMMANDS_FD) != 0) {
    fprintf(stderr, "xcshost: worker %d: no command channel from the supervisor\n", number);
    return -1;
  }
  self.commands.data = h;
  uv_poll_start(&self.commands, UV_READABLE, commands_cb);
  uv_unref((uv_handle_t *)&self.commands); /* the modules keep a worker running */
  uv_prepare_init(&h->loop, &self.after);
  uv_prepare_init(&h->loop, &self.unbound);
  uv_unref((uv_handle_t *)&self.unbound);
  uv_timer_init(&h->loop, &self.check);
  uv_unref((uv_handle_t *)&self.check);
  uv_unref((uv_handle_t *)&self.after);
  return 0;
}

void xcs_worker_ready(xcs_host *h) {
  (void)h;
  say_later("ready");
}
