/*
 * cli.h — the command line: options, then modules, each followed by its
 * own key=value arguments.
 *
 *     xcshost [options] MODULE.lua [key=value ...] [MODULE.lua [key=value ...] ...]
 */
#ifndef XCS_CLI_H
#define XCS_CLI_H

#include <stddef.h>

#include "host/host.h"

#define XCS_MAX_WORKERS 1024

typedef struct xcs_cli_module {
  const char *path;
  const char **args; /* key=value words, in argv's memory */
  int nargs, cap;
} xcs_cli_module;

typedef struct xcs_cli {
  xcs_options opt;
  xcs_cli_module *modules;
  int nmodules;
  int help, version;
  const char *control;  /* --control PATH */
  const char *metrics;  /* --metrics ADDR:PORT */
  int workers;          /* --workers N: 0 none (one process), -1 auto */
  char **ctl;           /* `xcshost ctl PATH COMMAND...`: argv from PATH on */
  char *bind_lists[XCS_MAX_BINDS]; /* copies of the --bind lists, split */
  int nbind_lists;
  int nctl;
  int check;            /* `xcshost check MODULE.lua ...`: modules are checked */
} xcs_cli;

/* Parses argv into cli (defaults first). Returns 0, or -1 with a message
 * naming what was wrong in err. Free with xcs_cli_free. */
int xcs_cli_parse(xcs_cli *cli, int argc, char **argv, char *err, size_t errlen);
void xcs_cli_free(xcs_cli *cli);
/* The --help text. */
extern const char xcs_cli_usage[];

#endif
