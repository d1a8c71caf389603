/*
 * driver.h — what the harnesses with a Lua driver share (fuzz_stream,
 * fuzz_methods): the input read a byte at a time, and how a finding is
 * reported (a message naming the harness, then abort: a libFuzzer crash).
 */
#ifndef XCS_FUZZ_DRIVER_H
#define XCS_FUZZ_DRIVER_H

#include <lua.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int luaopen_xcs(lua_State *L);

/* FAIL("what went wrong: %s", why): HARNESS must name the harness. */
#define FAIL(...)                                \
  do {                                           \
    fprintf(stderr, HARNESS ": " __VA_ARGS__);   \
    fputc('\n', stderr);                         \
    abort();                                     \
  } while (0)

typedef struct input {
  const uint8_t *p;
  size_t n;
  size_t sent; /* bytes the script sends so far (fuzz_stream) */
} input;

/* The next byte of the input; 0 once it is used up. */
static inline unsigned u8(input *in) {
  if (in->n == 0) return 0;
  in->n--;
  return *in->p++;
}

#endif
