/*
 * signals.h — SIGINT and SIGTERM stop the host gracefully; a second one
 * forces the stop. SIGHUP reloads every module from disk. The handlers run
 * as ordinary loop callbacks (uv_signal_t).
 */
#ifndef XCS_SIGNALS_H
#define XCS_SIGNALS_H

#include "host/host.h"

void xcs_signals_start(xcs_host *h);

#endif
