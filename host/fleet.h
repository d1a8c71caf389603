/*
 * fleet.h — the supervisor's state under --workers, shared by its files:
 *
 *   supervisor.c  starts the workers, restarts the ones that die, stops them
 *   shares.c      the sockets the workers share (host/worker.h's requests)
 *   fleet_ctl.c   what the operator asks: status, a rolling reload, stop
 *
 * The supervisor is a host with no module (its loop, log and control
 * socket); its work is its workers. Nothing here runs module code.
 */
#ifndef XCS_FLEET_H
#define XCS_FLEET_H

#include <stdint.h>
#include <uv.h>

#include "host/host.h"

/* One worker's place: its number stays, its process is replaced. */
typedef struct xcs_slot {
  struct xcs_fleet *fleet;
  int number;           /* 1..count */
  uv_process_t proc;
  int pid;              /* 0 while no process runs in it */
  int alive;            /* proc is a live process (its exit not yet seen) */
  int handles;          /* open uv handles of this slot (proc, polls) */
  int req, cmd;         /* the supervisor's ends of the two channels */
  uv_poll_t req_poll, cmd_poll;
  uv_timer_t restart;   /* the back-off before the next start */
  uint64_t started;     /* uv_now when its process started */
  int ready;            /* it said every module started */
  int ever_ready;       /* some process in this slot did */
  int restarts;
  int quick_deaths;     /* deaths in a row soon after starting: the back-off */
  int done;             /* ended for good: stopped, or its modules concluded */
  int status;           /* how its last process ended: 0, 1 or 2 */
  char *text;           /* its status answer, being gathered */
  size_t len;
  int answered;
} xcs_slot;

typedef struct xcs_fleet {
  xcs_host host;        /* the supervisor's loop, log and control socket */
  char exe[4096];
  char **argv;          /* the supervisor's own: each worker gets the same */
  int count;
  xcs_slot *slots;
  uint64_t started;
  int stopping;         /* stop signals received */
  int notified_ready;   /* systemd was told READY=1 */
  int status;           /* the exit status so far: the worst of the workers' */
  uv_signal_t sigint, sigterm, sighup;
  uv_timer_t gather_timer;
  void **asking;        /* control clients waiting for the status */
  int nasking;
  int rolling;          /* the slot index being reloaded, or -1 */
  char *roll_name;      /* the module to reload ("": all) */
  void *roll_client;    /* the control client that asked, if any */
  char *roll_text;
  size_t roll_len;
  struct xcs_shared *shares;
  int nshares;
} xcs_fleet;

/* supervisor.c */
void xcs_fleet_stop(xcs_fleet *f, int signum);
/* A line of the supervisor's log at level (XCS_LOG_*). */
void xcs_fleet_log(xcs_fleet *f, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* shares.c: a request from slot s's request channel; s has died; close
 * what no worker holds (call when a worker is ready or ended); close all. */
void xcs_shares_request(xcs_fleet *f, xcs_slot *s, const char *msg, int fd);
void xcs_shares_forget(xcs_fleet *f, xcs_slot *s);
void xcs_shares_sweep(xcs_fleet *f);
void xcs_shares_close(xcs_fleet *f);

/* fleet_ctl.c */
/* The control socket's commands (the host's `command` hook). */
int xcs_fleet_command(xcs_host *h, const char *cmd, const char *arg, void *client);
/* SIGHUP: reload every worker, one at a time. */
void xcs_fleet_reload(xcs_fleet *f, const char *name, void *client);
/* ctl certs, SIGHUP with --sighup certs: every worker re-reads its TLS
 * listeners' certificates in place. */
void xcs_fleet_certs(xcs_fleet *f, void *client);
/* systemd: RELOADING=1 as a rolling reload starts, READY=1 when it is done
 * (only once READY=1 was said, and not while stopping). */
void xcs_fleet_notify_reload(xcs_fleet *f, int done);
/* An answer on slot s's command channel ("ready" is supervisor.c's). */
void xcs_fleet_answer(xcs_fleet *f, xcs_slot *s, const char *msg);
/* Slot s has no process now: whatever waited on it goes on without it. */
void xcs_fleet_lost(xcs_fleet *f, xcs_slot *s);

#endif
