/*
 * worker.h — this process as one worker of `xcshost --workers N`: a whole
 * host (every module in its own sandboxes, as alone), started by the
 * supervisor (host/supervisor.c), which tells it its number in the
 * environment (XCSHOST_WORKER=NUMBER/COUNT/SUPERVISOR_PID) and hands it two
 * channels (host/channel.h) as descriptors 3 and 4:
 *
 *   3, requests: the worker asks, and waits for the answer
 *      get KEY          -> "fd" with the shared socket, or "bind": bind it
 *                          yourself, then put KEY (+ fd) or drop KEY (it
 *                          failed); for UDP also "port P": bind your own
 *                          SO_REUSEPORT socket on P, then put it
 *      release KEY      (no answer) this worker's handles on it closed
 *   4, commands: the supervisor asks, the worker answers when done
 *      status           -> "part TEXT"..., "end" (TEXT's first line:
 *                          "connections N memory KIB")
 *      reload [NAME]    -> "reloaded" | "failed WHY"
 *      certs            (no answer) re-read the TLS listeners' certificates,
 *                       logging each
 *      and the worker says "ready" once every module started.
 *
 * KEY is "tcp ADDRESS:PORT", "udp ADDRESS:PORT", "unix-stream PATH" or
 * "unix-dgram PATH"; a port-0 socket is keyed
 * by its module's name and how many port-0 sockets that module opened
 * before it, so the nth of them is the same socket in every worker.
 */
#ifndef XCS_WORKER_H
#define XCS_WORKER_H

#include "host/host.h"

/* Whether this process was started as a worker. */
int xcs_worker_is(void);
/* Makes h this worker: its number for worker(), log lines tagged "[wN]",
 * ports bound through the supervisor, the supervisor's commands; and
 * arranges that it stops when the supervisor dies. 0, or -1 with a message
 * on stderr. */
int xcs_worker_attach(xcs_host *h);
/* Tells the supervisor that every module loaded and started. */
void xcs_worker_ready(xcs_host *h);

#endif
