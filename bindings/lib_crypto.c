/*
 * lib_crypto.c — digests, HMAC, constant-time comparison and random bytes,
 * from OpenSSL 3's libcrypto.
 *
 * Digests are one call over a whole string, so their time is linear in a
 * string the module already holds. Results are raw bytes (hex.encode or
 * base64.encode them to print). OpenSSL's own small working memory is not
 * the module's; everything returned is. OpenSSL is loaded by the first
 * call (bindings/openssl.h), not when a module starts.
 */
#include <lauxlib.h>
#include <string.h>

#include "bindings/lib.h"
#include "bindings/openssl.h"

/* Bytes crypto.random gives in one call: enough for any key or nonce, and
 * small enough that the call is short. */
#define RANDOM_MAX (1 << 20)

/* Raises, naming fname, when OpenSSL cannot be loaded. */
static void need_openssl(lua_State *L, const char *fname) {
  const char *missing = xcs_openssl_load();
  if (missing) luaL_error(L, "%s: %s", fname, missing);
}

/* 0 sha1, 1 sha256, 2 sha512; OpenSSL loaded. */
static const EVP_MD *md_of(int which) {
  return which == 0 ? EVP_sha1() : which == 1 ? EVP_sha256() : EVP_sha512();
}

static int digest(lua_State *L, int which, const char *fname) {
  size_t len;
  const char *s = xcs_lib_string(L, 1, fname, "data", &len);
  need_openssl(L, fname);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  if (EVP_Digest(s, len, out, &n, md_of(which), NULL) != 1)
    return luaL_error(L, "%s: the digest failed", fname);
  lua_pushlstring(L, (const char *)out, n);
  return 1;
}

static int l_sha1(lua_State *L) { return digest(L, 0, "crypto.sha1"); }
static int l_sha256(lua_State *L) { return digest(L, 1, "crypto.sha256"); }
static int l_sha512(lua_State *L) { return digest(L, 2, "crypto.sha512"); }

/* crypto.hmac(algorithm, key, data): "sha1", "sha256" or "sha512". */
static int l_hmac(lua_State *L) {
  static const char *const names[] = {"sha1", "sha256", "sha512", NULL};
  const char *alg = xcs_lib_string(L, 1, "crypto.hmac", "algorithm", NULL);
  int which = -1;
  for (int i = 0; names[i]; i++)
    if (strcmp(names[i], alg) == 0) which = i;
  if (which < 0)
    return xcs_lib_argerror(L, 1, "crypto.hmac", "algorithm",
                            "expected \"sha1\", \"sha256\" or \"sha512\", got \"%s\"", alg);
  size_t klen, len;
  const char *key = xcs_lib_string(L, 2, "crypto.hmac", "key", &klen);
  const char *s = xcs_lib_string(L, 3, "crypto.hmac", "data", &len);
  if (klen > 0x7fffffff) return xcs_lib_argerror(L, 2, "crypto.hmac", "key", "over 2 GiB");
  need_openssl(L, "crypto.hmac");
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  /* HMAC() takes a NULL key only with length 0; give it a real pointer. */
  if (HMAC(md_of(which), klen ? key : "", (int)klen, (const unsigned char *)s, len, out, &n) == NULL)
    return luaL_error(L, "crypto.hmac: HMAC failed");
  lua_pushlstring(L, (const char *)out, n);
  return 1;
}

/* crypto.equal(a, b): whether two strings are equal, taking the same time
 * whatever bytes differ (for MACs and tokens; the length is not hidden). */
static int l_equal(lua_State *L) {
  size_t la, lb;
  const char *a = xcs_lib_string(L, 1, "crypto.equal", "a", &la);
  const char *b = xcs_lib_string(L, 2, "crypto.equal", "b", &lb);
  need_openssl(L, "crypto.equal");
  lua_pushboolean(L, la == lb && CRYPTO_memcmp(a, b, la) == 0);
  return 1;
}

/* crypto.random(n): n bytes from OpenSSL's generator, which the kernel seeds. */
static int l_random(lua_State *L) {
  lua_Integer n = xcs_lib_integer(L, 1, "crypto.random", "n");
  if (n < 0 || n > RANDOM_MAX)
    return xcs_lib_argerror(L, 1, "crypto.random", "n",
                            "expected a count of bytes from 0 to %d, got %I", RANDOM_MAX, n);
  need_openssl(L, "crypto.random");
  luaL_Buffer b;
  unsigned char *p = (unsigned char *)luaL_buffinitsize(L, &b, (size_t)n);
  if (n > 0 && RAND_bytes(p, (int)n) != 1)
    return luaL_error(L, "crypto.random: the random generator failed");
  luaL_pushresultsize(&b, (size_t)n);
  return 1;
}

void xcs_lib_crypto_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"sha1", l_sha1},     {"sha256", l_sha256}, {"sha512", l_sha512},
                                 {"hmac", l_hmac},     {"equal", l_equal},   {"random", l_random},
                                 {NULL, NULL}};
  luaL_newlib(L, fns);
}
