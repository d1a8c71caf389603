/*
 * openssl.c — OpenSSL 3 loaded on first use (see openssl.h).
 */
#include "bindings/openssl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "bindings/tls_mem.h"

struct xcs_openssl xcs_openssl;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded;
static char why[512]; /* the failure, once there is one */

/* Whether p was found; if not, why. dlerror() names the file:
 * "libssl.so.3: cannot open shared object file: ...". */
static int found(const void *p, const char *what) {
  if (p) return 1;
  const char *e = dlerror();
  snprintf(why, sizeof why, "needs OpenSSL 3: %s", e ? e : what);
  return 0;
}

/* Both libraries stay loaded for the life of the process (never
 * dlclose'd): OpenSSL keeps state and exit handlers of its own, and
 * allocates through tls_mem's functions until its exit-time cleanup. */
static void load(void) {
  void *crypto = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
  if (!found(crypto, "libcrypto.so.3 does not load")) return;
  /* The memory functions go in before any other OpenSSL code runs, even
   * libssl's: they can only be set before OpenSSL's first allocation. */
  CRYPTO_set_mem_functions =
      (__typeof__(CRYPTO_set_mem_functions))dlsym(crypto, "CRYPTO_set_mem_functions");
  if (!found(CRYPTO_set_mem_functions, "libcrypto.so.3 lacks CRYPTO_set_mem_functions")) return;
  xcs_tls_mem_init();
  /* dlsym on libssl's handle also finds what its dependency libcrypto has. */
  void *ssl = dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL);
  if (!found(ssl, "libssl.so.3 does not load")) return;
#define RESOLVE(name) \
  if (!found(name = (__typeof__(name))dlsym(ssl, #name), "libssl.so.3 lacks " #name)) return;
  XCS_OPENSSL_FUNCTIONS(RESOLVE)
#undef RESOLVE
  loaded = 1;
}

const char *xcs_openssl_load(void) {
  pthread_once(&once, load);
  return loaded ? NULL : why;
}
