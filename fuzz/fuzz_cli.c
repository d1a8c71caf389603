/*
 * fuzz_cli.c — the command line (host/cli.c).
 *
 * The input is argv after the program name: words separated by zero bytes
 * (the one byte an argv word cannot hold), each word in its own exactly
 * sized heap block. xcs_cli_parse must not crash, read past a word or leak,
 * and what it returns must hold together:
 *
 *   - on failure: a terminated message starting as main.c prints it;
 *   - on success: at least one module unless -h/-V; every module path and
 *     argument is one of the argv words, in order; arguments are key=value
 *     words; the numbers (the defence's too) are in the ranges --help promises;
 *   - then, as main.c does next, --bind goes through xcs_addr_from.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/addr.h"
#include "fuzz/pieces.h"
#include "host/cli.h"

#define MAX_WORDS 64

#define FAIL(...)                              \
  do {                                         \
    fprintf(stderr, "fuzz_cli: " __VA_ARGS__); \
    fputc('\n', stderr);                       \
    abort();                                   \
  } while (0)

/* The index of word w in argv, or -1: results must point into argv. */
static int word_index(char **argv, int argc, const char *w) {
  for (int i = 1; i < argc; i++)
    if (argv[i] == w) return i;
  return -1;
}

static void check_parsed(const xcs_cli *cli, int argc, char **argv) {
  if (cli->ctl) { /* `xcshost ctl PATH COMMAND...`: the words after ctl, as given */
    if (argc < 4 || strcmp(argv[1], "ctl") != 0 || cli->ctl != argv + 2 || cli->nctl != argc - 2)
      FAIL("ctl with %d words", argc);
    return;
  }
  if (cli->nmodules == 0 && !cli->help && !cli->version) FAIL("success without a module");
  if (cli->nmodules < 0 || cli->nmodules > argc - 1) FAIL("%d modules", cli->nmodules);
  int last = 0, words = 0;
  for (int i = 0; i < cli->nmodules; i++) {
    const xcs_cli_module *m = &cli->modules[i];
    int at = word_index(argv, argc, m->path);
    if (at <= last) FAIL("module %d is not a later argv word", i);
    last = at;
    words++;
    for (int j = 0; j < m->nargs; j++) {
      const char *a = m->args[j];
      at = word_index(argv, argc, a);
      if (at <= last) FAIL("argument %d of module %d is not a later argv word", j, i);
      last = at;
      words++;
      const char *eq = strchr(a, '=');
      if (eq == NULL || eq == a) FAIL("argument '%s' is not key=value", a);
    }
  }
  if (words > argc - 1) FAIL("more results than words");

  const xcs_options *o = &cli->opt;
  if (o->nbinds < 1 || o->nbinds > XCS_MAX_BINDS) FAIL("%d bind addresses", o->nbinds);
  for (int i = 0; i < o->nbinds; i++)
    if (o->binds[i] == NULL || *o->binds[i] == '\0') FAIL("empty bind address %d", i);
  if (o->nread_dirs > XCS_MAX_DIRS || o->nenv > XCS_MAX_ENV) FAIL("too many dirs or names");
  for (int i = 0; i < o->nenv; i++)
    if (o->env_names[i][0] == '\0' || strchr(o->env_names[i], '=')) FAIL("bad env name");
  if (o->memory_limit > ((size_t)1 << 40)) FAIL("memory limit %zu", o->memory_limit);
  if (!(o->cpu_limit >= 0 && o->cpu_limit <= 86400)) FAIL("cpu limit %g", o->cpu_limit);
  if (o->linger_ms > 600000) FAIL("linger %u", o->linger_ms);
  const xcs_guard_options *g = &o->guard;
  if (g->max_clients < 0 || g->max_clients > 1 << 24) FAIL("max clients %d", g->max_clients);
  if (g->max_per_address < 0 || g->max_per_address > 1 << 24)
    FAIL("max per address %d", g->max_per_address);
  if (!(g->accept_rate >= 0 && g->accept_rate <= 1e6)) FAIL("accept rate %g", g->accept_rate);
  if (g->accept_burst < 1 || g->accept_burst > 1 << 24) FAIL("accept burst %d", g->accept_burst);
  if (!(g->first_data_timeout >= 0 && g->first_data_timeout <= 86400) ||
      !(g->idle_timeout >= 0 && g->idle_timeout <= 86400) ||
      !(g->report_interval >= 0 && g->report_interval <= 86400))
    FAIL("a defence timeout out of range");
  if (g->max_queued > (size_t)1 << 40) FAIL("max queued %zu", g->max_queued);
  if (g->nproxy_from < 0 || g->nproxy_from > XCS_MAX_CIDRS) FAIL("%d ranges", g->nproxy_from);
  for (int i = 0; i < g->nproxy_from; i++)
    if ((g->proxy_from[i].family != 4 && g->proxy_from[i].family != 6) ||
        g->proxy_from[i].bits > (g->proxy_from[i].family == 4 ? 32 : 128))
      FAIL("range %d: family %d, /%d", i, g->proxy_from[i].family, g->proxy_from[i].bits);

  struct sockaddr_storage sa;
  for (int i = 0; i < o->nbinds; i++) (void)xcs_addr_from(o->binds[i], 0, &sa);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pieces p = pieces_split(data, size, MAX_WORDS);
  /* argv as main() gets it: the program name first, NULL after the last. */
  int argc = p.n + 1;
  char **argv = calloc((size_t)argc + 1, sizeof *argv);
  if (argv == NULL) abort();
  argv[0] = "xcshost";
  for (int i = 0; i < p.n; i++) argv[i + 1] = p.s[i];

  xcs_cli cli;
  char err[512];
  memset(err, 0x5a, sizeof err); /* a message must be terminated by parse */
  if (xcs_cli_parse(&cli, argc, argv, err, sizeof err) == 0) {
    check_parsed(&cli, argc, argv);
  } else if (memchr(err, '\0', sizeof err) == NULL || err[0] == '\0') {
    FAIL("failure without a message");
  }
  xcs_cli_free(&cli);
  free(argv);
  pieces_free(&p);
  return 0;
}
