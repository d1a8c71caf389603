/*
 * list.h — intrusive doubly linked lists.
 *
 * Every owned thing (handle, task, module) carries its own links, so adding
 * it to a list never allocates and removing it is O(1), which is what lets
 * unloading walk and drop everything a module owns without failing.
 */
#ifndef XCS_LIST_H
#define XCS_LIST_H

#include <stddef.h>

typedef struct xcs_list {
  struct xcs_list *prev, *next;
} xcs_list;

#define xcs_container_of(p, type, field) \
  ((type *)(void *)((char *)(p) - offsetof(type, field)))

static inline void xcs_list_init(xcs_list *l) { l->prev = l->next = l; }

static inline int xcs_list_empty(const xcs_list *l) { return l->next == l; }

/* A node that was initialised and then removed reads as not linked. */
static inline int xcs_list_linked(const xcs_list *n) { return n->next != n; }

static inline void xcs_list_push(xcs_list *head, xcs_list *n) {
  n->prev = head->prev;
  n->next = head;
  head->prev->next = n;
  head->prev = n;
}

static inline void xcs_list_remove(xcs_list *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  xcs_list_init(n);
}

static inline xcs_list *xcs_list_shift(xcs_list *head) {
  xcs_list *n = head->next;
  if (n == head) return NULL;
  xcs_list_remove(n);
  return n;
}

#endif
