/* test_cli.c — the command line, including every way it can be wrong. */
#include "host/cli.h"

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
  CHECK_STR(cli.opt.bind, "127.0.0.1");
  xcs_cli_free(&cli);

  CHECK(parse(&cli, err, ARGS("--bind", "::", "a.lua", "port=1", "--memory-limit=8",
                              "x=y", "b.lua", "name=z=w")) == 0);
  CHECK_STR(cli.opt.bind, "::");
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
  CHECK(parse(&cli, err, ARGS("port=1", "a.lua")) == -1);
  CHECK(strstr(err, "before any module") != NULL);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--bind", "::")) == -1);
  CHECK(strstr(err, "no module given") != NULL);
  xcs_cli_free(&cli);
  CHECK(parse(&cli, err, ARGS("--", "--odd.lua")) == 0 && cli.nmodules == 1);
  xcs_cli_free(&cli);
  return check_report("cli");
}
