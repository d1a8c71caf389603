/* test_cli.c — the command line, including every way it can be wrong. */
#include "host/cli.h"

#include <stdint.h>

#include "tests/check.h"

static int parse(xcs_cli *cli, char *err, const char **words) {
  char *argv[32];
  int argc = 0;
  argv[argc++] = "xcshost";
  for (; *words; words++) argv[argc++] = (char *)*words;
  argv[argc] = NULL;
  return xcs_cli_parse(cli, argc, argv, err, 256);
}

#define ARGS(...) ((const char *[]){__VA_ARGS__, NULL})

int main(void) {
  xcs_cli cli;
  char err[256];

  CHECK(parse(&cli, err, ARGS("echo.lua")) == 0);
  CHECK(cli.nmodules == 1 && strcmp(cli.modules[0].path, "echo.lua") == 0);
  CHECK_STR(cli.opt.binds[0], "127.0.0.1");
  CHECK(cli.opt.nbinds == 1);
  xcs_cli_free(&cli);

  CHECK(parse(&cli, err, ARGS("--bind", "::", "a.lua", "port=1", "--memory-limit=8",
                              "x=y", "b.lua", "name=z=w")) == 0);
  CHECK_STR(cli.opt.binds[0], "::");
  CHECK(cli.opt.nbinds == 1);
  CHECK(cli.opt.memory_limit == 8u << 20);
  CHECK(cli.nmodules == 2);
  CHECK(cli.modules[0].nargs == 2);
  CHECK_STR(cli.modules[0].args[0], "port=1");
  CHECK_STR(cli.modules[0].args[1], "x=y");
  CHECK(cli.modules[1].nargs == 1);
  CHECK_STR(cli.modules[1].args[0], "name=z=w");
  xcs_cli_free(&cli);

  CHECK(parse(&cli, err, ARGS("--help")) == 0 && cli.help);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("-V")) == 0 && cli.version);
  xcs_cli_free(&cli);

  CHECK(parse(&cli, err, ARGS("--frobnicate", "a.lua")) == -1);
  CHECK(strstr(err, "unknown option '--frobnicate'") != NULL);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("a.lua", "--bind")) == -1);
  CHECK(strstr(err, "needs a value") != NULL);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--cpu-limit", "soon", "a.lua")) == -1);
  CHECK(strstr(err, "bad value 'soon'") != NULL);
  xcs_cli_free(&cli);
  for (int i = 0; i < 3; i++) {
    const char *opt[] = {"--cpu-limit", "--memory-limit", "--linger-ms"};
    CHECK(parse(&cli, err, ARGS(opt[i], "nan", "a.lua")) == -1);
    xcs_cli_free(&cli);
    CHECK(parse(&cli, err, ARGS(opt[i], "inf", "a.lua")) == -1);
    xcs_cli_free(&cli);
  }
  CHECK(parse(&cli, err, ARGS("--ports", "80,443,8000-9000", "--max-sockets", "8",
                              "--max-connections=100", "a.lua")) == 0);
  CHECK(cli.opt.nports == 3 && cli.opt.ports[0].lo == 80 && cli.opt.ports[0].hi == 80);
  CHECK(cli.opt.ports[2].lo == 8000 && cli.opt.ports[2].hi == 9000);
  CHECK(cli.opt.max_sockets == 8 && cli.opt.max_connections == 100);
  xcs_cli_free(&cli);
  const char *bad_ports[] = {"", "80,", "9000-8000", "70000", "x", "1-2-3", "-5"};
  for (size_t i = 0; i < sizeof bad_ports / sizeof *bad_ports; i++) {
    CHECK(parse(&cli, err, ARGS("--ports", bad_ports[i], "a.lua")) == -1);
    xcs_cli_free(&cli);
  }
  CHECK(parse(&cli, err, ARGS("a.lua")) == 0 && cli.workers == 0); /* one process */
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--workers", "4", "a.lua")) == 0 && cli.workers == 4);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--workers=auto", "a.lua")) == 0 && cli.workers == -1);
  xcs_cli_free(&cli);
  const char *bad_workers[] = {"0", "-2", "1.5", "two", "", "1025", "auto2"};
  for (size_t i = 0; i < sizeof bad_workers / sizeof *bad_workers; i++) {
    CHECK(parse(&cli, err, ARGS("--workers", bad_workers[i], "a.lua")) == -1);
    CHECK(strstr(err, "--workers") != NULL);
    xcs_cli_free(&cli);
  }
  CHECK(parse(&cli, err, ARGS("--max-sockets", "1.5", "a.lua")) == -1);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("port=1", "a.lua")) == -1);
  CHECK(strstr(err, "before any module") != NULL);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--bind", "::")) == -1);
  CHECK(strstr(err, "no module given") != NULL);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--", "--odd.lua")) == 0 && cli.nmodules == 1);
  xcs_cli_free(&cli);

  /* Files and the environment: none unless asked; --read-dir and --env
   * repeat, in order; an --env value must be a variable's name. */
  CHECK(parse(&cli, err, ARGS("a.lua")) == 0);
  CHECK(cli.opt.nread_dirs == 0 && cli.opt.data_dir == NULL && cli.opt.nenv == 0);
  CHECK(cli.opt.data_quota == (size_t)64 << 20);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--read-dir", "/srv/a", "--read-dir=/srv/b", "--data-dir", "/var/x",
                              "--data-quota", "1M", "--env", "HOME", "--env=API_TOKEN",
                              "a.lua")) == 0);
  CHECK(cli.opt.nread_dirs == 2);
  CHECK_STR(cli.opt.read_dirs[0], "/srv/a");
  CHECK_STR(cli.opt.read_dirs[1], "/srv/b");
  CHECK_STR(cli.opt.data_dir, "/var/x");
  CHECK(cli.opt.data_quota == (size_t)1 << 20);
  CHECK(cli.opt.nenv == 2);
  CHECK_STR(cli.opt.env_names[1], "API_TOKEN");
  xcs_cli_free(&cli);
  const char *bad_env[] = {"A=B", "1X", "A-B", ""};
  for (int i = 0; i < 4; i++) {
    CHECK(parse(&cli, err, ARGS("--env", bad_env[i], "a.lua")) == -1);
    xcs_cli_free(&cli);
  }
  CHECK(parse(&cli, err, ARGS("--data-quota", "lots", "a.lua")) == -1);
  xcs_cli_free(&cli);

  /* Fault injection: none unless asked; probabilities 0..1, a delay in whole
   * milliseconds, a seed that is a plain unsigned 64-bit integer. */
  CHECK(parse(&cli, err, ARGS("a.lua")) == 0);
  CHECK(cli.opt.faults.udp_loss == 0 && cli.opt.faults.udp_dup == 0 &&
        cli.opt.faults.udp_reorder == 0 && cli.opt.faults.delay_ms == 0 &&
        !cli.opt.faults.seed_set);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--udp-loss", "0.3", "--udp-dup=0.1", "--udp-reorder", "1",
                              "--delay", "20", "--seed", "18446744073709551615", "a.lua")) == 0);
  CHECK(cli.opt.faults.udp_loss == 0.3 && cli.opt.faults.udp_dup == 0.1 &&
        cli.opt.faults.udp_reorder == 1 && cli.opt.faults.delay_ms == 20);
  CHECK(cli.opt.faults.seed_set && cli.opt.faults.seed == UINT64_MAX);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--seed=0", "a.lua")) == 0 && cli.opt.faults.seed_set &&
        cli.opt.faults.seed == 0);
  xcs_cli_free(&cli);
  static const char *bad[][2] = {
      {"--udp-loss", "1.5"},  {"--udp-loss", "-0.1"}, {"--udp-loss", "nan"},
      {"--udp-dup", "half"},  {"--udp-reorder", ""},  {"--delay", "-1"},
      {"--delay", "2.5"},     {"--delay", "60001"},   {"--seed", "-1"},
      {"--seed", " 1"},       {"--seed", "1e3"},      {"--seed", "18446744073709551616"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK(parse(&cli, err, ARGS(bad[i][0], bad[i][1], "a.lua")) == -1);
    char want[64];
    snprintf(want, sizeof want, "bad value '%s' for option %s", bad[i][1], bad[i][0]);
    CHECK(strstr(err, want) != NULL);
    xcs_cli_free(&cli);
  }
  CHECK(parse(&cli, err, ARGS("a.lua", "--delay")) == -1);
  xcs_cli_free(&cli);
  /* --help tells about each */
  CHECK(strstr(xcs_cli_usage, "--udp-loss P") && strstr(xcs_cli_usage, "--udp-dup P") &&
        strstr(xcs_cli_usage, "--udp-reorder P") && strstr(xcs_cli_usage, "--delay MS") &&
        strstr(xcs_cli_usage, "--seed N"));

  /* --unix-dir: none unless given; both spellings; a value is required. */
  CHECK(parse(&cli, err, ARGS("a.lua")) == 0 && cli.opt.unix_dir == NULL);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--unix-dir", "/run/xcs", "a.lua")) == 0);
  CHECK_STR(cli.opt.unix_dir, "/run/xcs");
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--unix-dir=run", "a.lua")) == 0);
  CHECK_STR(cli.opt.unix_dir, "run");
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--unix-dir=", "a.lua")) == -1);
  CHECK(strstr(err, "option '--unix-dir=' needs a value") != NULL);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("a.lua", "--unix-dir")) == -1);
  CHECK(strstr(err, "needs a value") != NULL);
  xcs_cli_free(&cli);
  CHECK(strstr(xcs_cli_usage, "--unix-dir DIR") != NULL);
  /* Defence: every hard limit off by default, each settable, 0 turning it off. */
  CHECK(parse(&cli, err, ARGS("a.lua")) == 0);
  CHECK(cli.opt.guard.max_clients == 0 && cli.opt.guard.max_per_address == 0);
  CHECK(cli.opt.guard.accept_rate == 0 && cli.opt.guard.accept_burst == 1000);
  CHECK(cli.opt.guard.first_data_timeout == 0 && cli.opt.guard.idle_timeout == 0);
  CHECK(cli.opt.max_sockets == 0 && cli.opt.max_connections == 0);
  CHECK(cli.opt.guard.max_queued == 16u << 20 && cli.opt.guard.report_interval == 5);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--max-clients", "10", "--max-per-address=0", "--accept-rate",
                              "50/s", "--accept-burst", "5", "--first-data-timeout", "0.5",
                              "--idle-timeout=2", "--max-queued", "64K", "--report-interval",
                              "0", "a.lua")) == 0);
  CHECK(cli.opt.guard.max_clients == 10 && cli.opt.guard.max_per_address == 0);
  CHECK(cli.opt.guard.accept_rate == 50 && cli.opt.guard.accept_burst == 5);
  CHECK(cli.opt.guard.first_data_timeout == 0.5 && cli.opt.guard.idle_timeout == 2);
  CHECK(cli.opt.guard.max_queued == 65536 && cli.opt.guard.report_interval == 0);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--max-queued", "3m", "--accept-rate", "0.5", "a.lua")) == 0);
  CHECK(cli.opt.guard.max_queued == 3u << 20 && cli.opt.guard.accept_rate == 0.5);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--max-queued", "1048576", "a.lua")) == 0);
  CHECK(cli.opt.guard.max_queued == 1048576);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("a.lua")) == 0 && cli.opt.guard.nproxy_from == 0);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--proxy-protocol-from", "127.0.0.1,10.0.0.0/8,::1", "a.lua")) == 0);
  CHECK(cli.opt.guard.nproxy_from == 3 && cli.opt.guard.proxy_from[1].bits == 8 &&
        cli.opt.guard.proxy_from[2].family == 6);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--proxy-protocol-from", "10.0.0.0/40", "a.lua")) == -1);
  CHECK(strstr(err, "bad value '10.0.0.0/40' for option --proxy-protocol-from") != NULL);
  xcs_cli_free(&cli);
  CHECK(strstr(xcs_cli_usage, "--proxy-protocol-from LIST") != NULL);
  CHECK(parse(&cli, err, ARGS("a.lua")) == 0 && cli.opt.sighup_certs == 0);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--sighup", "certs", "a.lua")) == 0 && cli.opt.sighup_certs == 1);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--sighup", "reload", "a.lua")) == 0 && cli.opt.sighup_certs == 0);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--sighup", "restart", "a.lua")) == -1);
  CHECK(strstr(err, "bad value 'restart' for option --sighup") != NULL);
  xcs_cli_free(&cli);
  CHECK(strstr(xcs_cli_usage, "--sighup WHAT") != NULL);
  CHECK(strstr(xcs_cli_usage, "ctl PATH certs") != NULL);
  static const char *bad_guard[][2] = {
      {"--max-clients", "-1"},        {"--max-clients", "2.5"},
      {"--max-clients", "99999999"},  {"--max-per-address", "many"},
      {"--accept-rate", "-3"},        {"--accept-rate", "10/m"},
      {"--accept-rate", "nan"},       {"--accept-burst", "0"},
      {"--first-data-timeout", "-1"}, {"--idle-timeout", "inf"},
      {"--max-queued", "16X"},        {"--max-queued", "-5"},
      {"--max-queued", "2000G"},      {"--max-queued", ""},
      {"--report-interval", "soon"},
  };
  for (size_t i = 0; i < sizeof bad_guard / sizeof bad_guard[0]; i++) {
    CHECK(parse(&cli, err, ARGS(bad_guard[i][0], bad_guard[i][1], "a.lua")) == -1);
    char want[80];
    snprintf(want, sizeof want, "bad value '%s' for option %s", bad_guard[i][1],
             bad_guard[i][0]);
    CHECK(strstr(err, want) != NULL);
    xcs_cli_free(&cli);
  }
  static const char *const shown[] = {"--max-clients N", "--max-per-address N",
                                      "--accept-rate N", "--accept-burst N",
                                      "--first-data-timeout S", "--idle-timeout S",
                                      "--max-queued BYTES", "--report-interval S"};
  for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++)
    CHECK(strstr(xcs_cli_usage, shown[i]) != NULL);

  /* The daemon options, and `xcshost check`. */
  CHECK(parse(&cli, err, ARGS("--metrics", "127.0.0.1:0", "--log-format=json", "--log-level",
                              "debug", "a.lua")) == 0);
  CHECK_STR(cli.metrics, "127.0.0.1:0");
  CHECK(cli.opt.log_json == 1 && cli.opt.log_level == XCS_LOG_DEBUG);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("a.lua")) == 0);
  CHECK(cli.metrics == NULL && cli.opt.log_json == 0 && cli.opt.log_level == XCS_LOG_INFO);
  xcs_cli_free(&cli);
  static const char *bad_daemon[][2] = {
      {"--metrics", "localhost:9100"}, {"--metrics", "127.0.0.1"}, {"--metrics", "[::1]:99999"},
      {"--log-format", "xml"},         {"--log-level", "loud"},    {"--log-level", "INFO"},
  };
  for (size_t i = 0; i < sizeof bad_daemon / sizeof bad_daemon[0]; i++) {
    CHECK(parse(&cli, err, ARGS(bad_daemon[i][0], bad_daemon[i][1], "a.lua")) == -1);
    char want[80];
    snprintf(want, sizeof want, "bad value '%s' for option %s", bad_daemon[i][1],
             bad_daemon[i][0]);
    CHECK(strstr(err, want) != NULL);
    xcs_cli_free(&cli);
  }
  CHECK(parse(&cli, err, ARGS("--metrics")) == -1 && strstr(err, "needs a value") != NULL);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("check", "--cpu-limit", "1", "a.lua", "b.lua")) == 0);
  CHECK(cli.check && cli.nmodules == 2 && cli.opt.cpu_limit == 1);
  CHECK_STR(cli.modules[1].path, "b.lua");
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("check", "a.lua", "port=1")) == 0); /* as a run would take it */
  CHECK(cli.nmodules == 1 && cli.modules[0].nargs == 1);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("check")) == -1 && strstr(err, "no module given") != NULL);
  xcs_cli_free(&cli);
  return check_report("cli");
}
