/*
 * supervisor.h — `xcshost --workers N`: one supervisor process and N worker
 * processes, each a whole host running every module (host/worker.h).
 *
 * The supervisor starts the workers (the same command line, run again),
 * restarts one that dies with a back-off, hands every worker the same
 * listening socket for a port (one accept queue: a worker that stops leaves
 * its queued clients to the others), reloads the workers one at a time on
 * SIGHUP, stops them all on SIGINT/SIGTERM and exits with one status: the
 * worst of theirs. It answers the control socket for all of them.
 */
#ifndef XCS_SUPERVISOR_H
#define XCS_SUPERVISOR_H

#include "host/cli.h"

/* Runs the supervisor until every worker has ended; the exit status. */
int xcs_supervisor_run(const xcs_cli *cli, char **argv);

#endif
