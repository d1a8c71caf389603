/*
 * tls_mem.c — OpenSSL's allocations through counting functions (see
 * tls_mem.h).
 */
#include "bindings/tls_mem.h"

#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>

#include "bindings/openssl.h"

/* The size of each block is the allocator's own (malloc_usable_size), so
 * counting adds no byte to any block. */
static size_t total;
static int counting, tried;

static void *count_malloc(size_t n, const char *file, int line) {
  (void)file, (void)line;
  void *p = malloc(n);
  if (p) __atomic_add_fetch(&total, malloc_usable_size(p), __ATOMIC_RELAXED); /* any thread */
  return p;
}

static void count_free(void *p, const char *file, int line) {
  (void)file, (void)line;
  if (p == NULL) return;
  __atomic_sub_fetch(&total, malloc_usable_size(p), __ATOMIC_RELAXED);
  free(p);
}

static void *count_realloc(void *p, size_t n, const char *file, int line) {
  if (p == NULL) return count_malloc(n, file, line);
  if (n == 0) {
    count_free(p, file, line);
    return NULL;
  }
  size_t old = malloc_usable_size(p);
  void *q = realloc(p, n);
  if (q == NULL) return NULL; /* p stays as it was */
  __atomic_add_fetch(&total, malloc_usable_size(q), __ATOMIC_RELAXED);
  __atomic_sub_fetch(&total, old, __ATOMIC_RELAXED);
  return q;
}

void xcs_tls_mem_init(void) {
  if (tried) return;
  tried = 1;
  counting = CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free) == 1;
}

int xcs_tls_mem_counting(void) { return counting; }

size_t xcs_tls_mem_total(void) { return __atomic_load_n(&total, __ATOMIC_RELAXED); }
