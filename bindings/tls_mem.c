/*
 * tls_mem.c — OpenSSL's allocations through counting functions (see
 * tls_mem.h).
 */
#include "bindings/tls_mem.h"

#include <stddef.h>
#include <stdlib.h>

#include <openssl/crypto.h>

/* Before each block: its size, aligned as malloc aligns. */
typedef union header {
  size_t size;
  max_align_t align;
} header;

static size_t total;
static int counting, tried;

static void *count_malloc(size_t n, const char *file, int line) {
  (void)file, (void)line;
  header *h = malloc(sizeof *h + n);
  if (h == NULL) return NULL;
  h->size = n;
  __atomic_add_fetch(&total, n, __ATOMIC_RELAXED); /* OpenSSL may allocate from any thread */
  return h + 1;
}

static void count_free(void *p, const char *file, int line) {
  (void)file, (void)line;
  if (p == NULL) return;
  header *h = (header *)p - 1;
  __atomic_sub_fetch(&total, h->size, __ATOMIC_RELAXED);
  free(h);
}

static void *count_realloc(void *p, size_t n, const char *file, int line) {
  if (p == NULL) return count_malloc(n, file, line);
  if (n == 0) {
    count_free(p, file, line);
    return NULL;
  }
  header *h = (header *)p - 1;
  size_t old = h->size;
  header *g = realloc(h, sizeof *g + n);
  if (g == NULL) return NULL; /* p stays as it was */
  g->size = n;
  __atomic_add_fetch(&total, n, __ATOMIC_RELAXED);
  __atomic_sub_fetch(&total, old, __ATOMIC_RELAXED);
  return g + 1;
}

void xcs_tls_mem_init(void) {
  if (tried) return;
  tried = 1;
  counting = CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free) == 1;
}

int xcs_tls_mem_counting(void) { return counting; }

size_t xcs_tls_mem_total(void) { return __atomic_load_n(&total, __ATOMIC_RELAXED); }
