/*
 * metrics.h — the host and its modules as Prometheus metrics (text format
 * 0.0.4): `--metrics ADDR:PORT` serves them at GET /metrics (host/scrape.c),
 * and the control socket answers `metrics` with the same text.
 */
#ifndef XCS_METRICS_H
#define XCS_METRICS_H

#include "host/host.h"

typedef struct xcs_module xcs_module;

/* Starts keeping what the metrics need beyond the modules themselves: the
 * start time, the loop's lag, counters of module versions that are gone.
 * Returns 0 or a libuv error. */
int xcs_metrics_init(xcs_host *h);
/* The text of every metric, malloc'd; NULL when out of memory. Works
 * without init too (no uptime, lag or retired counters then). */
char *xcs_metrics_render(xcs_host *h);
/* m is being destroyed: its counters are kept under its name. */
void xcs_metrics_retire(xcs_module *m);
void xcs_metrics_free(xcs_host *h);

/* --metrics ADDR:PORT: the HTTP endpoint (host/scrape.c), on PORT plus
 * offset (under --workers, worker N serves on PORT + N - 1; port 0 picks
 * one either way). 0 or a libuv error; the address it got is logged. */
int xcs_scrape_start(xcs_host *h, const char *addr, int offset);
void xcs_scrape_stop(xcs_host *h);

/* The request line of an HTTP request (pure, for the fuzzer): 200 for
 * GET /metrics (or HEAD; a query string is ignored), 404 for another path,
 * 405 for another method, 400 for anything that is not a request line. */
int xcs_scrape_route(const char *line, size_t len, int *head);

#endif
