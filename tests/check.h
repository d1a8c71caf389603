/* check.h — the few assertions the C tests need; failures are counted and
 * reported, the test goes on. */
#ifndef XCS_TEST_CHECK_H
#define XCS_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failed, check_run;

#define CHECK(cond)                                                        \
  do {                                                                     \
    check_run++;                                                           \
    if (!(cond)) {                                                         \
      check_failed++;                                                      \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                      \
  } while (0)

#define CHECK_STR(got, want)                                               \
  do {                                                                     \
    check_run++;                                                           \
    if (strcmp((got), (want)) != 0) {                                      \
      check_failed++;                                                      \
      fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, \
              (got), (want));                                              \
    }                                                                      \
  } while (0)

static inline int check_report(const char *name) {
  printf("%s: %d checks, %d failed\n", name, check_run, check_failed);
  return check_failed ? 1 : 0;
}

#endif
