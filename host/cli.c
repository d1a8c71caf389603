/*
 * cli.c — argv to options. Pure: no I/O, so it is tested on its own.
 */
#include "host/cli.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/addr.h"
#include "bindings/faults.h"

const char xcs_cli_usage[] =
    "usage: xcshost [options] MODULE.lua [key=value ...] [MODULE.lua [key=value ...] ...]\n"
    "\n"
    "Runs each MODULE.lua as a tether module in its own sandbox. The key=value\n"
    "words after a module are its arguments: the module reads them as arg.key\n"
    "(strings), e.g.  xcshost examples/echo.lua port=7000\n"
    "\n"
    "options:\n"
    "  --bind ADDR,...      addresses modules may listen on and bind (default\n"
    "                       127.0.0.1; 0.0.0.0 or :: for every interface): the\n"
    "                       first, unless a module picks one with address =;\n"
    "                       repeatable\n"
    "  --memory-limit MB    memory per module (default 256; 0: no limit)\n"
    "  --cpu-limit SECONDS  how long a module may compute without waiting\n"
    "                       before it fails (default 10; 0: no limit)\n"
    "  --linger-ms MS       how long closing connections may flush (default 2000)\n"
    "  --stop-timeout S     how long unload hooks may run when stopping (default 5)\n"
    "  --max-sockets N      sockets a module may open at once: listeners, UDP\n"
    "                       sockets, connections it makes (default 0: no cap)\n"
    "  --max-connections N  connections a module's listeners may hold (default 0:\n"
    "                       no cap)\n"
    "  --ports LIST         ports modules may open, e.g. 80,443,8000-9000\n"
    "                       (default 0,1024-65535: no privileged port)\n"
    "  --control PATH       listen for operator commands on a UNIX socket at PATH\n"
    "  --metrics ADDR:PORT  serve Prometheus metrics at http://ADDR:PORT/metrics\n"
    "                       (e.g. 127.0.0.1:9100; port 0 picks one, logged)\n"
    "  --workers N|auto     run N worker processes, each with every module, under a\n"
    "                       supervisor that shares their ports, restarts them and\n"
    "                       reloads them one at a time (auto: one per usable CPU;\n"
    "                       default: one process, no supervisor)\n"
    "  --unix-dir DIR       let modules open UNIX sockets, at paths under DIR only\n"
    "                       (default: none; a relative path is relative to DIR)\n"
    "  --read-dir DIR       let modules read the files under DIR (fs.read, fs.lines,\n"
    "                       fs.list); repeatable, searched in order (default: none)\n"
    "  --data-dir DIR       let each module write files of its own, in DIR/NAME\n"
    "                       (fs.write, fs.remove; default: none)\n"
    "  --data-quota BYTES   bytes of files each module may keep there (default 64M)\n"
    "  --strict             an error in any task fails its module (by default only\n"
    "                       the main task's does; another task fails alone)\n"
    "  --env NAME           let modules read the environment variable NAME with\n"
    "                       env(\"NAME\"); repeatable (default: none)\n"
    "  --tls-dir DIR        let modules use TLS certificates and keys from files\n"
    "                       under DIR only, read by the host (default: none)\n"
    "  --sighup WHAT        what SIGHUP does: reload (every module; the default) or\n"
    "                       certs (re-read the TLS listeners' certificates in place,\n"
    "                       touching no open connection, as ctl PATH certs)\n"
    "  --lua-path DIR       let require load pure-Lua libraries from DIR, e.g.\n"
    "                       /usr/share/lua/5.4 (repeatable, searched in order after\n"
    "                       the module's own directory; never a C module)\n"
    "  --log-format FORMAT  text (default: \"module: message\") or json (one object\n"
    "                       a line: time, level, module, message, socket fields)\n"
    "  --log-level LEVEL    error, warn, info (default) or debug: lines below it\n"
    "                       are dropped\n"
  "\n"
  "defence against clients that flood or dawdle. On by default, and biting only\n"
  "when file descriptors run short (RLIMIT_NOFILE; xcshost raises its soft limit\n"
  "to the hard one): a new client then gets in by shedding a connection of the\n"
  "address that holds the most (one that sent nothing first), and is refused\n"
  "only if its own address holds the most. Hard limits, off by default (0):\n"
  "  --max-clients N      clients open at once per listener\n"
  "  --max-per-address N  connections open at once from one remote address, across\n"
  "                       the host; IPv6 counts by /64\n"
  "  --accept-rate N      clients admitted per second per listener\n"
  "  --accept-burst N     ... of which N may come at once (default 1000; at least 1)\n"
  "                       clients over a limit are accepted and closed at once\n"
  "  --first-data-timeout S  close a socket.open client when no byte passed either\n"
  "                       way within S seconds of connecting\n"
  "  --idle-timeout S     ... or within S seconds of the last byte\n"
  "  --proxy-protocol-from LIST  connections from these addresses and CIDRs (e.g.\n"
  "                       127.0.0.1,10.0.0.0/8,::1) begin with a PROXY protocol\n"
  "                       header, v1 or v2, whose client address the host uses\n"
  "                       (default: none; see README, Behind a load balancer)\n"
  "  --max-queued BYTES   bytes queued toward one connection; a write that cannot\n"
  "                       wait fails with ENOBUFS past it, a \"*\" broadcast drops\n"
  "                       the client (default 16M; K, M, G suffixes)\n"
  "  --report-interval S  repeated defence events are logged once, then summed up\n"
  "                       every S seconds (default 5; 0: every event)\n"
  "\n"
  "fault injection, into what modules receive (default: none):\n"
  "  --udp-loss P         drop each UDP datagram with probability P (0 to 1)\n"
  "  --udp-dup P          deliver each UDP datagram twice with probability P\n"
  "  --udp-reorder P      hold a UDP datagram back with probability P and deliver\n"
  "                       it after the next one (or 100 ms later if none comes)\n"
  "  --delay MS           deliver UDP datagrams and TCP data MS milliseconds late\n"
  "  --seed N             seed of the faults' random draws: the same seed and the\n"
  "                       same traffic give the same faults (default: picked at\n"
  "                       start and logged)\n"
  "\n"
    "  -h, --help           this text\n"
    "  -V, --version        the version\n"
    "\n"
    "A running host with --control PATH answers\n"
    "  xcshost ctl PATH status          every module and what it holds\n"
    "  xcshost ctl PATH metrics         the metrics, as --metrics serves them\n"
    "  xcshost ctl PATH reload [NAME]   reload one module (or all) from disk\n"
    "  xcshost ctl PATH certs           re-read the TLS listeners' certificates\n"
    "  xcshost ctl PATH stop            stop gracefully\n"
    "SIGHUP reloads every module (--sighup certs: re-reads certificates);\n"
    "SIGINT/SIGTERM stop gracefully, a second one at once.\n"
    "\n"
    "  xcshost check [options] MODULE.lua ...\n"
    "compiles each module in its sandbox without running it and reports syntax errors\n"
    "and reads of globals the sandbox does not give; exit status 0 (fine), 1 (a\n"
    "problem) or 2 (a file it cannot read).\n"
    "\n"
    "Under systemd, NOTIFY_SOCKET (Type=notify: READY, RELOADING, STOPPING, STATUS;\n"
    "WATCHDOG=1 every half of WATCHDOG_USEC)\n"
    "and LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES (socket activation: socket.open(PORT)\n"
    "takes the passed socket bound to PORT) are used when set.\n"
    "\n"
    "Exit status: 0 when every module concluded (or the host was stopped by\n"
    "SIGINT/SIGTERM and none failed), 1 when a module failed, 2 on bad usage\n"
    "or a module that cannot be loaded.\n";

static int number(const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1; /* NaN too */
  *out = v;
  return 0;
}

/* A whole number from 0 to hi, nothing else. */
static int count(const char *s, long hi, int *out) {
  double d;
  if (number(s, 0, (double)hi, &d) || d != (long)d) return -1;
  *out = (int)d;
  return 0;
}

/* Bytes: a whole number, with an optional K, M or G (KiB, MiB, GiB). */
static int bytes(const char *s, size_t *out) {
  char *end;
  if (*s < '0' || *s > '9') return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  int shift = 0;
  if (*end == 'K' || *end == 'k') shift = 10;
  if (*end == 'M' || *end == 'm') shift = 20;
  if (*end == 'G' || *end == 'g') shift = 30;
  if (shift) end++;
  if (errno || *end || v > (1ull << 40) >> shift) return -1;
  *out = (size_t)(v << shift);
  return 0;
}

/* A seed: a decimal integer from 0 to 2^64 - 1, nothing else. */
static int seed(const char *s, uint64_t *out) {
  char *end;
  if (*s < '0' || *s > '9') return -1; /* strtoull would take "-1" and " 1" */
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return -1;
  *out = v;
  return 0;
}

/* Whether the n bytes at s are an identifier: letters, digits and _, not a
 * digit first (an argument's key, an environment variable's name). */
static int is_name(const char *s, size_t n) {
  if (n == 0 || (s[0] >= '0' && s[0] <= '9')) return 0;
  for (size_t i = 0; i < n; i++)
    if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9')))
      return 0;
  return 1;
}

/* key=value, key an identifier: an argument for the module before it. */
static int is_argument(const char *a) {
  const char *eq = strchr(a, '=');
  return eq != NULL && is_name(a, (size_t)(eq - a));
}

/* --name VALUE or --name=VALUE; returns the value or NULL. */
static const char *value_of(const char *name, int argc, char **argv, int *i) {
  size_t n = strlen(name);
  const char *a = argv[*i];
  if (strncmp(a, name, n) != 0) return NULL;
  if (a[n] == '=') return a + n + 1;
  if (a[n] != '\0') return NULL;
  if (*i + 1 >= argc) return "";
  return argv[++*i];
}

/* --bind A[,B...]: the first --bind replaces the default, the next ones
 * add to it. 0, -1 (an empty address or no memory) or -2 (too many). */
static int bind_list(xcs_cli *cli, const char *v) {
  if (cli->nbind_lists == 0) cli->opt.nbinds = 0;
  if (cli->nbind_lists == XCS_MAX_BINDS) return -2;
  char *copy = strdup(v);
  if (copy == NULL) return -1;
  cli->bind_lists[cli->nbind_lists++] = copy;
  for (char *p = copy, *next; p; p = next) {
    next = strchr(p, ',');
    if (next) *next++ = '\0';
    if (*p == '\0') return -1;
    if (cli->opt.nbinds == XCS_MAX_BINDS) return -2;
    cli->opt.binds[cli->opt.nbinds++] = p;
  }
  return 0;
}

int xcs_cli_parse(xcs_cli *cli, int argc, char **argv, char *err, size_t errlen) {
  memset(cli, 0, sizeof *cli);
  xcs_options_default(&cli->opt);
  cli->modules = calloc((size_t)argc + 1, sizeof *cli->modules);
  if (cli->modules == NULL) {
    snprintf(err, errlen, "not enough memory");
    return -1;
  }
  if (argc >= 2 && strcmp(argv[1], "ctl") == 0) {
    if (argc < 4) {
      snprintf(err, errlen, "usage: xcshost ctl PATH status|metrics|reload [NAME]|certs|stop");
      return -1;
    }
    cli->ctl = argv + 2;
    cli->nctl = argc - 2;
    return 0;
  }
  int options_done = 0, first = 1;
  if (argc >= 2 && strcmp(argv[1], "check") == 0) {
    /* `xcshost check [options] MODULE.lua ...`: the options shape the
     * sandbox the modules are compiled in, as when they run; key=value
     * words are taken, so a command line that runs modules checks them. */
    cli->check = 1;
    first = 2;
  }
  for (int i = first; i < argc; i++) {
    const char *a = argv[i], *v;
    double d;
    if (!options_done && a[0] == '-') {
      if (strcmp(a, "--") == 0) {
        options_done = 1;
      } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
        cli->help = 1;
      } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
        cli->version = 1;
      } else if ((v = value_of("--bind", argc, argv, &i))) {
        if (*v == '\0') goto missing;
        int r = bind_list(cli, v);
        if (r == -1) goto bad;
        if (r == -2) goto too_many;
      } else if ((v = value_of("--memory-limit", argc, argv, &i))) {
        if (number(v, 0, 1 << 20, &d)) goto bad;
        cli->opt.memory_limit = (size_t)(d * 1048576); /* 0.5 is half a MiB, not 0 */
      } else if ((v = value_of("--cpu-limit", argc, argv, &i))) {
        if (number(v, 0, 86400, &d)) goto bad;
        cli->opt.cpu_limit = d;
      } else if ((v = value_of("--max-sockets", argc, argv, &i))) {
        if (number(v, 0, 1 << 20, &d) || d != (int)d) goto bad;
        cli->opt.max_sockets = (int)d;
      } else if ((v = value_of("--max-connections", argc, argv, &i))) {
        if (number(v, 0, 1 << 20, &d) || d != (int)d) goto bad;
        cli->opt.max_connections = (int)d;
      } else if ((v = value_of("--ports", argc, argv, &i))) {
        if (xcs_ports_parse(v, &cli->opt) != 0) goto bad;
      } else if ((v = value_of("--stop-timeout", argc, argv, &i))) {
        if (number(v, 0, 3600, &d)) goto bad;
        cli->opt.stop_timeout = d;
      } else if ((v = value_of("--unix-dir", argc, argv, &i))) {
        if (*v == '\0') goto missing;
        cli->opt.unix_dir = v;
      } else if (strcmp(a, "--strict") == 0) {
        cli->opt.strict = 1;
      } else if ((v = value_of("--read-dir", argc, argv, &i))) {
        if (*v == '\0') goto missing;
        if (cli->opt.nread_dirs == XCS_MAX_DIRS) goto too_many;
        cli->opt.read_dirs[cli->opt.nread_dirs++] = v;
      } else if ((v = value_of("--data-dir", argc, argv, &i))) {
        if (*v == '\0') goto missing;
        cli->opt.data_dir = v;
      } else if ((v = value_of("--data-quota", argc, argv, &i))) {
        if (bytes(v, &cli->opt.data_quota)) goto bad;
      } else if ((v = value_of("--env", argc, argv, &i))) {
        if (*v == '\0') goto missing;
        if (!is_name(v, strlen(v))) goto bad;
        if (cli->opt.nenv == XCS_MAX_ENV) goto too_many;
        cli->opt.env_names[cli->opt.nenv++] = v;
      } else if ((v = value_of("--tls-dir", argc, argv, &i))) {
        if (*v == '\0') goto missing;
        cli->opt.tls_dir = v;
      } else if ((v = value_of("--sighup", argc, argv, &i))) {
        if (strcmp(v, "certs") != 0 && strcmp(v, "reload") != 0) goto bad;
        cli->opt.sighup_certs = v[0] == 'c';
      } else if ((v = value_of("--lua-path", argc, argv, &i))) {
        if (*v == '\0') goto missing;
        if (cli->opt.nlua_paths == XCS_MAX_LUA_PATHS) goto too_many;
        cli->opt.lua_paths[cli->opt.nlua_paths++] = v;
      } else if ((v = value_of("--metrics", argc, argv, &i))) {
        struct sockaddr_storage sa;
        if (*v == '\0') goto missing;
        if (xcs_addr_parse(v, &sa) != 0) goto bad;
        cli->metrics = v;
      } else if ((v = value_of("--control", argc, argv, &i))) {
        if (*v == '\0') goto missing;
        cli->control = v;
      } else if ((v = value_of("--log-format", argc, argv, &i))) {
        if (strcmp(v, "text") != 0 && strcmp(v, "json") != 0) goto bad;
        cli->opt.log_json = strcmp(v, "json") == 0;
      } else if ((v = value_of("--log-level", argc, argv, &i))) {
        if ((cli->opt.log_level = xcs_log_level_parse(v)) < 0) goto bad;
      } else if ((v = value_of("--workers", argc, argv, &i))) {
        if (strcmp(v, "auto") == 0)
          cli->workers = -1;
        else if (count(v, XCS_MAX_WORKERS, &cli->workers) || cli->workers < 1)
          goto bad;
      } else if ((v = value_of("--linger-ms", argc, argv, &i))) {
        if (number(v, 0, 600000, &d)) goto bad;
        cli->opt.linger_ms = (unsigned)d;
      } else if ((v = value_of("--proxy-protocol-from", argc, argv, &i))) {
        int n = xcs_cidr_parse_list(v, cli->opt.guard.proxy_from, XCS_MAX_CIDRS);
        if (n < 0) goto bad;
        cli->opt.guard.nproxy_from = n;
      } else if ((v = value_of("--max-clients", argc, argv, &i))) {
        if (count(v, 1 << 24, &cli->opt.guard.max_clients)) goto bad;
      } else if ((v = value_of("--max-per-address", argc, argv, &i))) {
        if (count(v, 1 << 24, &cli->opt.guard.max_per_address)) goto bad;
      } else if ((v = value_of("--accept-rate", argc, argv, &i))) {
        size_t n = strlen(v); /* "100/s" reads as it is meant */
        char rate[32];
        if (n >= sizeof rate) goto bad;
        memcpy(rate, v, n + 1);
        if (n > 2 && strcmp(rate + n - 2, "/s") == 0) rate[n - 2] = '\0';
        if (number(rate, 0, 1e6, &cli->opt.guard.accept_rate)) goto bad;
      } else if ((v = value_of("--accept-burst", argc, argv, &i))) {
        if (count(v, 1 << 24, &cli->opt.guard.accept_burst) || cli->opt.guard.accept_burst < 1)
          goto bad;
      } else if ((v = value_of("--first-data-timeout", argc, argv, &i))) {
        if (number(v, 0, 86400, &cli->opt.guard.first_data_timeout)) goto bad;
      } else if ((v = value_of("--idle-timeout", argc, argv, &i))) {
        if (number(v, 0, 86400, &cli->opt.guard.idle_timeout)) goto bad;
      } else if ((v = value_of("--max-queued", argc, argv, &i))) {
        if (bytes(v, &cli->opt.guard.max_queued)) goto bad;
      } else if ((v = value_of("--report-interval", argc, argv, &i))) {
        if (number(v, 0, 86400, &cli->opt.guard.report_interval)) goto bad;
      } else if ((v = value_of("--udp-loss", argc, argv, &i))) {
        if (number(v, 0, 1, &cli->opt.faults.udp_loss)) goto bad;
      } else if ((v = value_of("--udp-dup", argc, argv, &i))) {
        if (number(v, 0, 1, &cli->opt.faults.udp_dup)) goto bad;
      } else if ((v = value_of("--udp-reorder", argc, argv, &i))) {
        if (number(v, 0, 1, &cli->opt.faults.udp_reorder)) goto bad;
      } else if ((v = value_of("--delay", argc, argv, &i))) {
        if (number(v, 0, XCS_FAULT_MAX_DELAY_MS, &d) || d != (unsigned)d) goto bad;
        cli->opt.faults.delay_ms = (unsigned)d;
      } else if ((v = value_of("--seed", argc, argv, &i))) {
        if (seed(v, &cli->opt.faults.seed)) goto bad;
        cli->opt.faults.seed_set = 1;
      } else {
        snprintf(err, errlen, "unknown option '%s' (see xcshost --help)", a);
        return -1;
      }
      continue;
    missing:
      snprintf(err, errlen, "option '%s' needs a value (see xcshost --help)", a);
      return -1;
    bad:
      snprintf(err, errlen, "bad value '%s' for option %s (see xcshost --help)", v, a);
      return -1;
    too_many:
      snprintf(err, errlen, "too many %s options (at most %d)", a,
               strncmp(a, "--env", 5) == 0        ? XCS_MAX_ENV
               : strncmp(a, "--bind", 6) == 0     ? XCS_MAX_BINDS
               : strncmp(a, "--lua-path", 10) == 0 ? XCS_MAX_LUA_PATHS
                                                  : XCS_MAX_DIRS);
      return -1;
    }
    if (is_argument(a)) {
      if (cli->nmodules == 0) {
        snprintf(err, errlen, "argument '%s' comes before any module", a);
        return -1;
      }
      xcs_cli_module *m = &cli->modules[cli->nmodules - 1];
      /* Grown as needed: sized by argc, 1,000 modules took 16 KB each. */
      if (m->nargs == m->cap) {
        int cap = m->cap ? 2 * m->cap : 4;
        const char **p = realloc(m->args, (size_t)cap * sizeof *p);
        if (p == NULL) {
          snprintf(err, errlen, "not enough memory");
          return -1;
        }
        m->args = p;
        m->cap = cap;
      }
      m->args[m->nargs++] = a;
      continue;
    }
    cli->modules[cli->nmodules++].path = a;
  }
  if (cli->nmodules == 0 && cli->check && !cli->help) {
    snprintf(err, errlen, "no module given (usage: xcshost check [options] MODULE.lua ...)");
    return -1;
  }
  if (cli->nmodules == 0 && !cli->help && !cli->version) {
    snprintf(err, errlen, "no module given (usage: xcshost [options] MODULE.lua ...)");
    return -1;
  }
  return 0;
}

void xcs_cli_free(xcs_cli *cli) {
  for (int i = 0; cli->modules && i < cli->nmodules; i++) free(cli->modules[i].args);
  free(cli->modules);
  cli->modules = NULL;
  for (int i = 0; i < cli->nbind_lists; i++) free(cli->bind_lists[i]);
  cli->nbind_lists = 0;
}
