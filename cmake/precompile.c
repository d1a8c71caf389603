/*
 * precompile.c — a build tool: compiles a Lua file (the prelude) into the
 * bytecode of the liblua the host links, and writes it as a C array:
 *
 *   xcs-precompile IN.lua CHUNKNAME OUT.c NAME
 *
 * gives `const unsigned char NAME[]` and `const size_t NAME_len`. The
 * debug information stays (source name, lines, local names): the prelude's
 * own frames are told by their source, "=prelude". Loading bytecode skips
 * the parse, two thirds of a module's start. A liblua that cannot load it
 * (another version) loads the text instead (bindings/socket.c).
 */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
  unsigned char *p;
  size_t n, cap;
} buffer;

static int put(lua_State *L, const void *p, size_t n, void *ud) {
  (void)L;
  buffer *b = ud;
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n) cap *= 2;
    unsigned char *q = realloc(b->p, cap);
    if (q == NULL) return 1;
    b->p = q;
    b->cap = cap;
  }
  for (size_t i = 0; i < n; i++) b->p[b->n + i] = ((const unsigned char *)p)[i];
  b->n += n;
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s IN.lua CHUNKNAME OUT.c NAME\n", argv[0]);
    return 2;
  }
  lua_State *L = luaL_newstate();
  if (L == NULL) return 1;
  FILE *in = fopen(argv[1], "rb");
  if (in == NULL) {
    perror(argv[1]);
    return 1;
  }
  buffer src = {0};
  int c;
  while ((c = fgetc(in)) != EOF) {
    unsigned char ch = (unsigned char)c;
    if (put(L, &ch, 1, &src)) return 1;
  }
  fclose(in);
  /* Under the chunk name the text is loaded with. */
  if (luaL_loadbufferx(L, (const char *)src.p, src.n, argv[2], "t") != LUA_OK) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    return 1;
  }
  buffer bc = {0};
  if (lua_dump(L, put, &bc, 0) != 0) return 1;
  FILE *out = fopen(argv[3], "w");
  if (out == NULL) {
    perror(argv[3]);
    return 1;
  }
  fprintf(out, "/* Generated from %s by xcs-precompile; do not edit. */\n#include <stddef.h>\n"
               "const unsigned char %s[] = {",
          argv[1], argv[4]);
  for (size_t i = 0; i < bc.n; i++) fprintf(out, "%s%u,", i % 24 ? "" : "\n", bc.p[i]);
  fprintf(out, "\n};\nconst size_t %s_len = %zu;\n", argv[4], bc.n);
  int bad = ferror(out);
  if (fclose(out) != 0 || bad) return 1;
  lua_close(L);
  free(src.p);
  free(bc.p);
  return 0;
}
