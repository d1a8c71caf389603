/*
 * main.c — xcshost: parse the command line, load every module (all or
 * nothing), run the loop until no module is left, report how it ended.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "bindings/addr.h"
#include "bindings/faults.h"
#include "host/check.h"
#include "host/cli.h"
#include "host/control.h"
#include "host/ctl.h"
#include "host/host.h"
#include "host/metrics.h"
#include "host/module.h"
#include "host/signals.h"
#include "host/systemd.h"
#include "host/supervisor.h"
#include "host/worker.h"

/* Every client holds a descriptor, and the soft limit is often a tenth of
 * what the system allows (1024 against a hard limit of 524288 under
 * systemd): a server that keeps it refuses honest load the machine could
 * serve. So, as Go's runtime and nginx's worker_rlimit_nofile do, take the
 * hard limit. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl); /* best effort: the old limit still works */
}

int main(int argc, char **argv) {
  xcs_cli cli;
  char err[512];
  if (xcs_cli_parse(&cli, argc, argv, err, sizeof err) != 0) {
    fprintf(stderr, "xcshost: %s\n", err);
    xcs_cli_free(&cli);
    return 2;
  }
  if (cli.ctl) {
    int status = xcs_ctl(cli.ctl, cli.nctl);
    xcs_cli_free(&cli);
    return status;
  }
  if (cli.check && !cli.help) {
    int status = xcs_check(&cli.opt, cli.modules, cli.nmodules);
    xcs_cli_free(&cli);
    return status;
  }
  if (cli.help || cli.version) {
    if (cli.help) fputs(xcs_cli_usage, stdout);
    if (cli.version) printf("xcshost %s (Lua 5.4, libuv %s)\n", XCS_VERSION, uv_version_string());
    xcs_cli_free(&cli);
    return 0;
  }

  for (int i = 0; i < cli.opt.nlua_paths; i++) {
    struct stat st;
    const char *dir = cli.opt.lua_paths[i];
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
      fprintf(stderr, "xcshost: --lua-path %s: %s\n", dir,
              stat(dir, &st) != 0 ? strerror(errno) : "not a directory");
      xcs_cli_free(&cli);
      return 2;
    }
  }

  int worker = xcs_worker_is(); /* one of --workers, started by its supervisor */
  if (cli.workers && !worker) {
    int status = xcs_supervisor_run(&cli, argv);
    xcs_cli_free(&cli);
    return status;
  }

  struct sockaddr_storage bind;
  for (int i = 0; i < cli.opt.nbinds; i++) {
    if (xcs_addr_from(cli.opt.binds[i], 0, &bind) != 0) {
      fprintf(stderr, "xcshost: --bind needs IP addresses such as 127.0.0.1, 0.0.0.0 or ::, "
                      "not '%s'\n", cli.opt.binds[i]);
      xcs_cli_free(&cli);
      return 2;
    }
  }

  raise_fd_limit();
  static xcs_host host; /* 64 KiB read buffer: not on the stack */
  int r = xcs_host_init(&host, &cli.opt);
  if (r != 0) {
    fprintf(stderr, "xcshost: cannot start the event loop: %s\n", uv_strerror(r));
    xcs_cli_free(&cli);
    return 2;
  }
  if (worker && xcs_worker_attach(&host) != 0) {
    xcs_host_close(&host);
    xcs_cli_free(&cli);
    return 2;
  }
  xcs_faults_announce(&host);
  if (!worker) xcs_systemd_start(&host); /* its sockets wait for the modules' socket.open */
  /* Load all first: a typo in the third module should not leave the first
   * two serving. */
  xcs_module **mods = calloc((size_t)cli.nmodules, sizeof *mods);
  int status = mods ? 0 : 2;
  for (int i = 0; mods && i < cli.nmodules; i++) {
    char *why = NULL;
    mods[i] = xcs_module_new(&host, cli.modules[i].path, &why);
    if (mods[i] == NULL) { /* from here on, errors are log lines: JSON with --log-format json */
      xcs_log_at(&host, XCS_LOG_ERROR, "xcshost", "%s", why);
      free(why);
      status = 2;
      break;
    }
    for (int j = 0; j < cli.modules[i].nargs; j++) {
      const char *a = cli.modules[i].args[j];
      const char *eq = strchr(a, '=');
      char *key = strndup(a, (size_t)(eq - a));
      if (key == NULL) {
        xcs_log_at(&host, XCS_LOG_ERROR, "xcshost", "not enough memory");
        status = 2;
        break;
      }
      xcs_module_setarg(mods[i], key, eq + 1);
      free(key);
    }
  }
  /* `ctl metrics` answers the same text as --metrics: keep its counts too. */
  if (status == 0 && cli.control && !worker && (r = xcs_metrics_init(&host)) != 0) {
    xcs_log_at(&host, XCS_LOG_ERROR, "xcshost", "cannot keep metrics: %s", uv_strerror(r));
    status = 2;
  }
  if (status == 0 && cli.metrics &&
      (r = xcs_scrape_start(&host, cli.metrics, worker ? host.worker - 1 : 0)) != 0) {
    xcs_log_at(&host, XCS_LOG_ERROR, "xcshost", "cannot serve metrics on %s: %s", cli.metrics,
               uv_strerror(r));
    status = 2;
  }
  if (status == 0 && cli.control && !worker && (r = xcs_control_start(&host, cli.control)) != 0) {
    xcs_log_at(&host, XCS_LOG_ERROR, "xcshost", "cannot listen on control socket %s: %s",
               cli.control, uv_strerror(r));
    status = 2;
  }
  if (status == 0) {
    xcs_signals_start(&host);
    for (int i = 0; i < cli.nmodules; i++) xcs_module_start(mods[i]);
    if (worker) xcs_worker_ready(&host);
    uv_run(&host.loop, UV_RUN_DEFAULT);
    status = host.failed ? 1 : 0;
  }
  xcs_systemd_stop(&host);
  xcs_scrape_stop(&host);
  xcs_control_stop(&host);
  xcs_host_close(&host);
  free(mods);
  xcs_cli_free(&cli);
  return status;
}
