/*
 * core/host.h — the host as the layers below host/ see it: one libuv loop,
 * its options, the lists of work deferred to the loop's next turn, and the
 * module manager behind a table of callbacks (xcs_manager).
 *
 * Contract:
 *   - This header and everything under bindings/ include nothing from
 *     host/. What the bindings need of the manager (a module failed or
 *     concluded, its last hold went, a reload's hand-over, the CPU limit's
 *     bookkeeping) they ask through h->mgr, which host/ fills in when it
 *     makes the host (xcs_host_init). The calls go down, the callbacks up.
 *   - The structs here are data: host/ owns their lifetimes (init, stop,
 *     close) and the bindings read and queue onto them.
 *   - Nothing here calls back inside the call that started it: work for
 *     later goes on a list and xcs_host_poke() has the tick look at it.
 */
#ifndef XCS_CORE_HOST_H
#define XCS_CORE_HOST_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "bindings/addr.h"
#include "bindings/core/log.h"
#include "bindings/list.h"

struct xcs_module;
struct xcs_handle;
struct xcs_handle_type;

/* A connection given until `until` (uv_now, ms) to finish closing. */
typedef struct xcs_linger {
  xcs_list link;   /* host->lingering */
  uint64_t until;
  void (*expire)(struct xcs_linger *l);
} xcs_linger;

/* Faults injected into what modules receive (bindings/faults.c). */
typedef struct xcs_fault_options {
  double udp_loss, udp_dup, udp_reorder; /* probabilities, per datagram */
  unsigned delay_ms;     /* UDP datagrams and TCP data arrive this much later */
  uint64_t seed;         /* repeats a run's faults exactly */
  int seed_set;          /* 0: a seed is picked at start, and logged */
} xcs_fault_options;

/* Ports modules may open: ranges, inclusive. */
#define XCS_MAX_PORT_RANGES 16
typedef struct xcs_port_range {
  int lo, hi;
} xcs_port_range;
/* Defence against clients that flood or dawdle (bindings/guard.c). What is
 * on by default bites only when descriptors are short (fair shedding); the
 * hard limits below are for operators who want them: 0 is off, the default. */
typedef struct xcs_guard_options {
  int max_clients;       /* connections open at once, per listener */
  int max_per_address;   /* ... from one remote address (IPv6: its /64), host-wide */
  double accept_rate;    /* connections admitted per second, per listener */
  int accept_burst;      /* ... of which this many at once (the token bucket) */
  double first_data_timeout; /* s: a socket.open client with no byte either way */
  double idle_timeout;   /* s: ... with no byte either way since the last one */
  size_t max_queued;     /* bytes queued toward one connection */
  double report_interval; /* s: repeated events are summed up in one log line */
  xcs_cidr proxy_from[XCS_MAX_CIDRS]; /* sources that send a PROXY header first */
  int nproxy_from;
} xcs_guard_options;

#define XCS_MAX_DIRS 16 /* --read-dir */
#define XCS_MAX_BINDS 16 /* --bind */
#define XCS_MAX_ENV 64  /* --env */
#define XCS_MAX_LUA_PATHS 16 /* --lua-path: pure-Lua libraries are required from them */
typedef struct xcs_options {
  const char *binds[XCS_MAX_BINDS]; /* addresses modules may bind: --bind; the
                           first unless a module chooses with address = */
  int nbinds;
  size_t memory_limit;   /* bytes per module state; 0: none */
  double cpu_limit;      /* seconds a task may run without waiting; 0: none */
  unsigned linger_ms;    /* how long closing connections may flush */
  double stop_timeout;   /* how long unload hooks may run on a graceful stop */
  int max_sockets;       /* sockets a module opens: listeners, UDP, connects; 0: any */
  int max_connections;   /* connections its listeners hold at once; 0: any */
  xcs_port_range ports[XCS_MAX_PORT_RANGES]; /* which ports it may open */
  int nports;
  const char *unix_dir;  /* UNIX sockets may be made under it; NULL: none */
  const char *read_dirs[XCS_MAX_DIRS]; /* modules may read files under these */
  int nread_dirs;
  const char *data_dir;  /* each module may write files in data_dir/NAME */
  size_t data_quota;     /* ... up to this many bytes */
  const char *env_names[XCS_MAX_ENV]; /* environment variables env() shows */
  int nenv;
  int strict;            /* a task's error fails its module (not only the task) */
  const char *tls_dir;   /* TLS certificates and keys are read from under it */
  int sighup_certs;      /* SIGHUP only re-reads certificates (--sighup certs) */
  const char *lua_paths[XCS_MAX_LUA_PATHS]; /* require looks here after the module's dir */
  int nlua_paths;
  xcs_fault_options faults; /* all zero: none */
  xcs_guard_options guard;
  int log_level;         /* XCS_LOG_*: lines below it are dropped */
  int log_json;          /* --log-format json (the executable's stderr) */
} xcs_options;

#define XCS_DEFAULT_BIND "127.0.0.1"
#define XCS_DEFAULT_MEMORY_MB 256
#define XCS_DEFAULT_CPU_LIMIT 10.0
#define XCS_DEFAULT_LINGER_MS 2000
#define XCS_DEFAULT_STOP_TIMEOUT 5.0
#define XCS_DEFAULT_MAX_SOCKETS 0 /* none: the descriptor limit bounds them */
#define XCS_DEFAULT_MAX_CONNECTIONS 0
#define XCS_DEFAULT_PORTS "0,1024-65535" /* ephemeral and unprivileged */
#define XCS_DEFAULT_MAX_CLIENTS 0 /* the defence is on under pressure; */
#define XCS_DEFAULT_MAX_PER_ADDRESS 0 /* these hard limits are off */
#define XCS_DEFAULT_ACCEPT_RATE 0.0
#define XCS_DEFAULT_ACCEPT_BURST 1000
#define XCS_DEFAULT_FIRST_DATA_TIMEOUT 0.0
#define XCS_DEFAULT_IDLE_TIMEOUT 0.0
#define XCS_DEFAULT_MAX_QUEUED ((size_t)16 << 20)
#define XCS_DEFAULT_REPORT_INTERVAL 5.0
#define XCS_DEFAULT_DATA_QUOTA ((size_t)64 << 20)

/* How a worker of --workers binds a socket to a port: the first worker to
 * open it binds it and hands it to the supervisor (put); the others are
 * given that same socket (get), so they share one accept queue. Set by
 * host/worker.c; NULL in a single host. */
typedef struct xcs_share {
  /* kind: "tcp", "udp", "unix-stream" or "unix-dgram" (sa: a sockaddr_un).
   * 1 with the shared socket in *fd (the caller's to own); 0: bind it
   * yourself, then call put. */
  int (*get)(struct xcs_module *m, const char *kind, const struct sockaddr *sa,
             uv_os_sock_t *fd);
  /* The socket bound after get said 0 (the caller keeps it), or -1 if
   * binding failed; not calling put at all says the same. */
  void (*put)(struct xcs_module *m, uv_os_sock_t bound);
} xcs_share;

struct xcs_host {
  uv_loop_t loop;
  xcs_options opt;
  xcs_log_sink log;
  void *log_ud;

  xcs_list modules;   /* every module not yet destroyed */
  uv_idle_t tick;     /* runs deferred work: the three lists below */
  uv_idle_cb tick_cb; /* ... with this, which host/ supplies */
  const struct xcs_manager *mgr; /* the module manager (below) */
  xcs_list ready;     /* tasks to resume (xcs_task.ready) */
  xcs_list deferred;  /* handles to close once the current step is over */
  xcs_list dead;      /* unloaded modules whose state can now be closed */
  xcs_list freeing;   /* lives whose last hold went (bindings/core/life.h) */

  uv_timer_t linger;  /* sweeps connections still flushing after close */
  xcs_list lingering;

  uv_signal_t sigint, sigterm, sighup;
  uv_pipe_t control;  /* the operator's socket (--control), if any */
  struct xcs_guard *guard; /* connections per remote address, while any */
  struct xcs_metrics *metrics; /* what the metrics keep beyond the modules (host/), or NULL */
  const char *control_path;
  int signals;        /* how many stop signals arrived */
  int failed;         /* how many modules failed */
  int stopping;
  int watchdog;       /* holds a start of the CPU watchdog */
  int worker, workers; /* this worker's number and the count: 1, 1 alone */
  const xcs_share *share; /* a worker's way to bind ports; NULL alone */
  /* Takes a control command before control.c does (a supervisor's): 1 if
   * it took it and will answer through xcs_control_reply(client, text). */
  int (*command)(xcs_host *h, const char *cmd, const char *arg, void *client);

  /* Every read lands here first; one loop, one buffer. Last: xcs_host_init
   * leaves it as it is. */
  char readbuf[64 * 1024];
};

/* The module manager, as the layers below it call it. Every callback is
 * set (host/manager.c fills the table in); m is the module concerned. */
typedef struct xcs_manager {
  /* A task failed (msg: why, with its traceback), or all returned. */
  void (*fail)(struct xcs_module *m, const char *msg);
  /* Whether any task's error fails m, not only its main task's (--strict,
   * or the module's `strict = true`). */
  int (*strict)(struct xcs_module *m);
  void (*conclude)(struct xcs_module *m);
  /* Runs f(ud) protected on m's service thread, under the CPU limit: NULL,
   * or the error message (valid until the next call). */
  const char *(*pcall)(struct xcs_module *m, lua_CFunction f, void *ud);
  /* A reload's hand-over: whether the version m replaces holds a socket of
   * type on port (or at path); if so it is closed and *fd is a duplicate
   * of its descriptor. started: m's first step is over. */
  int (*takeover)(struct xcs_module *m, const struct xcs_handle_type *type, int port,
                  uv_os_sock_t *fd);
  int (*takeover_path)(struct xcs_module *m, const struct xcs_handle_type *type,
                       const char *path, uv_os_sock_t *fd);
  void (*started)(struct xcs_module *m);
  /* The CPU limit: marks L as the thread running module code (NULL: none)
   * and returns the one before; raises in L if its module was stopped. */
  lua_State *(*running)(lua_State *L);
  void (*check)(lua_State *L);
  /* Lua: on_unload(fn | nil), the module's unload hook. */
  lua_CFunction on_unload;
} xcs_manager;

/* "0,1024-65535" -> o->ports; 0, or -1 if spec is not such a list. */
int xcs_ports_parse(const char *spec, xcs_options *o);
void xcs_ports_format(const xcs_options *o, char *buf, size_t size);

/* Makes sure the deferred lists are looked at on the next turn. */
static inline void xcs_host_poke(xcs_host *h) { uv_idle_start(&h->tick, h->tick_cb); }
/* Calls expire at the linger deadline (--linger-ms) unless stopped first. */
void xcs_linger_start(xcs_host *h, xcs_linger *l, void (*expire)(xcs_linger *));
void xcs_linger_stop(xcs_linger *l);
/* The timer that sweeps h->lingering (xcs_host_init starts it stopped). */
void xcs_linger_init(xcs_host *h);

#endif
