/*
 * fs_job.h — one file operation of a module, as libuv's thread pool does
 * it (Lua-free): bindings/fs.c makes the job from a module's call, a worker
 * runs xcs_fs_work, and fs.c hands the outcome back on the loop. How paths
 * are confined (openat2 RESOLVE_BENEATH) is told in fs.c's header.
 */
#ifndef XCS_FS_JOB_H
#define XCS_FS_JOB_H

#include <errno.h>
#include <stddef.h>
#include <uv.h>

#include "bindings/core/module.h"

#define XCS_FS_READ_MAX ((size_t)64 << 20) /* what one fs.read or fs.lines returns */
#define XCS_FS_LIST_MAX 65536              /* names one fs.list returns */

enum { XCS_FS_READ, XCS_FS_LINES, XCS_FS_LIST, XCS_FS_WRITE, XCS_FS_REMOVE };
enum { XCS_FS_OUTSIDE = 1, XCS_FS_NOT_FILE }; /* why, for a message */
#define XCS_FS_EDQUOT (-EDQUOT) /* no libuv name: the message carries "EDQUOT" */

typedef struct xcs_fs_job {
  uv_work_t req;
  xcs_module *m;
  int op;
  char *roots[XCS_MAX_DIRS + 1]; /* the module's data directory first, if any */
  int nroots;
  int only;          /* an absolute path picked this root; -1: each in turn */
  int data_root;     /* roots[0] is the data directory (skipped while it is missing) */
  char *path;        /* as the worker opens it: relative to a root */
  char *given;       /* as the module wrote it, for messages */
  char *data;        /* write: what to write; read: what was read; list: names */
  size_t len, cap;
  size_t max;        /* the most a read may return */
  size_t quota, used;
  int status;        /* 0, a libuv error, or XCS_FS_EDQUOT */
  int why;           /* for a message: XCS_FS_OUTSIDE, XCS_FS_NOT_FILE */
  int box_ref;
} xcs_fs_job;

/* The work callback (uv_queue_work): runs the job in a worker thread,
 * setting status, why and data. Writes and removes are serialised. */
void xcs_fs_work(uv_work_t *req);
/* Frees the job and what it holds. */
void xcs_fs_job_free(xcs_fs_job *j);

#endif
