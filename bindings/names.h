/*
 * names.h — the host names a UDP socket writes to: looked up without
 * blocking, kept for a minute (failures for five seconds).
 */
#ifndef XCS_NAMES_H
#define XCS_NAMES_H

#include <stdint.h>
#include <sys/socket.h>

#include "bindings/task.h"

typedef struct xcs_names xcs_names;

/* Whether s reads as "name:port" (a host name, not an IP literal). */
int xcs_names_is_name(const char *s);
/* The address kept for key ("name:port"): 0 and *out, the failure kept
 * (a libuv code < 0), or 1 when nothing is kept (look it up). */
int xcs_names_find(xcs_names *c, const char *key, uint64_t now, struct sockaddr_storage *out);
/* Starts looking key up (in the family given), making the cache if need
 * be; the task waiting in *slot is woken when the answer is kept. 0, or
 * UV_EBUSY (a look-up is already in flight) or another libuv code. */
int xcs_names_lookup(xcs_names **cache, xcs_module *m, xcs_task **slot, const char *key,
                     int family);
/* The socket closed: frees the cache now, or when its look-up ends. */
void xcs_names_free(xcs_names *c);

#endif
