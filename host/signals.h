/*
 * signals.h — SIGINT and SIGTERM stop the host gracefully; a second one
 * forces the stop. The handlers only start the unload, from the loop.
 */
#ifndef XCS_SIGNALS_H
#define XCS_SIGNALS_H

#include "host/host.h"

void xcs_signals_start(xcs_host *h);

#endif
