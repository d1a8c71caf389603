/*
 * bytecode.h — the globals a compiled Lua 5.4 chunk reads and writes, found
 * by walking the output of lua_dump (for `xcshost check`).
 *
 * A global is an _ENV upvalue indexed by a constant string: GETTABUP (read)
 * or SETTABUP (write). A read followed at once by GETFIELD of a constant on
 * the same register is also reported with that field (`socket.open`), so a
 * typo in a library's function name is caught too; and a read followed by
 * LOADK of a constant string into the next register with the string as its
 * argument (`require "util"`), so the files a module requires can be
 * looked at as well.
 *
 * The walker trusts nothing in its input: every length is checked against
 * the end, so a truncated or hostile dump gives -1, never a bad read.
 */
#ifndef XCS_BYTECODE_H
#define XCS_BYTECODE_H

#include <stddef.h>

typedef struct xcs_global_use {
  int write;         /* 1: assigned, 0: read */
  int line;          /* -1 when the chunk has no line information */
  const char *name;  /* points into the dump; not NUL-terminated */
  size_t len;
  const char *field; /* the constant field read right after, or NULL */
  size_t flen;
  const char *arg;   /* the constant string loaded right after as its argument, or NULL */
  size_t alen;
} xcs_global_use;

typedef void (*xcs_global_fn)(void *ud, const xcs_global_use *use);

/* Calls fn for every global use in the dump (nested functions first).
 * Returns 0, or -1 if dump is not a well-formed Lua 5.4 chunk. */
int xcs_bytecode_globals(const void *dump, size_t len, xcs_global_fn fn, void *ud);

#endif
