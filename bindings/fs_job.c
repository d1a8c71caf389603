/*
 * fs_job.c — the file operations of fs.c, in a worker thread (fs_job.h):
 * opening under a root with no way out, reading, listing, and writing a
 * data file by an atomic replace within the quota.
 */
#include "bindings/fs_job.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TMP_PREFIX ".tmp-"          /* a write in progress (never a module's name) */

static uv_mutex_t write_lock;
static uv_once_t write_lock_once = UV_ONCE_INIT;
static void write_lock_init(void) { uv_mutex_init(&write_lock); }

/* In the worker --------------------------------------------------------------- */

static int open_beneath(int dirfd, const char *path, int flags) {
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                         .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
  long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  if (fd >= 0 || errno != ENOSYS) return (int)fd;
  /* No openat2: walk one name at a time, following no symlink and no "..". */
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", path);
  int at = dup(dirfd);
  char *save = NULL;
  for (char *name = strtok_r(buf, "/", &save); at >= 0 && name;) {
    char *next = strtok_r(NULL, "/", &save);
    if (strcmp(name, "..") == 0) {
      close(at);
      errno = EXDEV;
      return -1;
    }
    int fd2 = openat(at, name, (next ? O_PATH | O_DIRECTORY : flags) | O_NOFOLLOW | O_CLOEXEC);
    if (fd2 < 0 && errno == ELOOP) errno = EXDEV;
    close(at);
    at = fd2;
    name = next;
  }
  return at;
}

/* Opens path under the roots in turn (the first that has it wins). */
static int open_in_roots(xcs_fs_job *j, int flags) {
  for (int i = 0; i < j->nroots; i++) {
    if (j->only >= 0 && i != j->only) continue;
    int root = open(j->roots[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
      if (errno == ENOENT && j->data_root && i == 0) continue; /* nothing written yet */
      return -1;
    }
    int fd = open_beneath(root, *j->path ? j->path : ".", flags);
    int e = errno;
    close(root);
    if (fd >= 0) return fd;
    errno = e;
    if (e == EXDEV || e == ELOOP) {
      j->why = XCS_FS_OUTSIDE;
      errno = EACCES;
      return -1;
    }
    if (e != ENOENT || j->only >= 0) return -1;
  }
  errno = ENOENT;
  return -1;
}

static void do_read(xcs_fs_job *j) {
  /* O_NONBLOCK: a FIFO must not hold a worker thread; regular files ignore it. */
  int fd = open_in_roots(j, O_RDONLY | O_NONBLOCK);
  if (fd < 0) {
    j->status = -errno;
    return;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    j->status = S_ISDIR(st.st_mode) ? UV_EISDIR : UV_EINVAL;
    j->why = S_ISDIR(st.st_mode) ? 0 : XCS_FS_NOT_FILE;
    close(fd);
    return;
  }
  /* One byte more than may be returned, so a bigger file is noticed. */
  j->cap = ((size_t)st.st_size < j->max ? (size_t)st.st_size : j->max) + 1;
  j->data = malloc(j->cap);
  ssize_t n = 0;
  while (j->data && (n = read(fd, j->data + j->len, j->cap - j->len)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    j->len += (size_t)n;
    if (j->len == j->cap && j->cap <= j->max) { /* it grew as we read */
      size_t cap = 2 * j->cap > j->max + 1 ? j->max + 1 : 2 * j->cap;
      char *more = cap > j->cap ? realloc(j->data, cap) : NULL;
      if (more == NULL) break;
      j->data = more;
      j->cap = cap;
    }
    if (j->len > j->max) break;
  }
  if (j->data == NULL) j->status = UV_ENOMEM;
  else if (n < 0) j->status = -errno;
  else if (j->len > j->max) j->status = UV_EFBIG;
  close(fd);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of a directory, sorted, as "name\0name\0..." in j->data. */
static void do_list(xcs_fs_job *j) {
  int fd = open_in_roots(j, O_RDONLY | O_DIRECTORY);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  if (d == NULL) {
    j->status = -errno;
    if (fd >= 0) close(fd);
    return;
  }
  char **names = NULL;
  size_t n = 0, total = 0;
  struct dirent *e;
  while (j->status == 0 && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
        strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0)
      continue;
    char **more = n % 256 ? names : realloc(names, sizeof *names * (n + 256));
    char *copy = strdup(e->d_name);
    if (n >= XCS_FS_LIST_MAX) j->status = UV_EFBIG;
    else if (more == NULL || copy == NULL) j->status = UV_ENOMEM;
    if (more) names = more;
    if (j->status) {
      free(copy);
      break;
    }
    names[n++] = copy;
    total += strlen(copy) + 1;
  }
  closedir(d);
  if (j->status == 0 && (j->data = malloc(total + 1)) == NULL) j->status = UV_ENOMEM;
  if (j->status == 0) {
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
      size_t len = strlen(names[i]) + 1;
      memcpy(j->data + j->len, names[i], len);
      j->len += len;
    }
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
}

/* The module's data directory, made on first use; -1 with errno. */
static int open_data(xcs_fs_job *j) {
  if (mkdir(j->roots[0], 0700) != 0 && errno != EEXIST) return -1;
  return open(j->roots[0], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Bytes of the module's files but `skip` (and removes what a crash left of
 * a write). */
static size_t usage(int dfd, const char *skip) {
  int fd = dup(dfd);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  if (d == NULL) {
    if (fd >= 0) close(fd);
    return 0;
  }
  size_t used = 0;
  struct dirent *e;
  struct stat st;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0) {
      unlinkat(dfd, e->d_name, 0);
      continue;
    }
    if (strcmp(e->d_name, skip) != 0 && fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(st.st_mode))
      used += (size_t)st.st_size;
  }
  closedir(d);
  return used;
}

static int write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* The new content goes to a temporary file first, reaches the disk, and
 * only then takes the name: a crash leaves the old file or the new one. */
static void do_write(xcs_fs_job *j, int dfd) {
  j->used = usage(dfd, j->path);
  if (j->used + j->len > j->quota) {
    j->status = XCS_FS_EDQUOT;
    return;
  }
  struct stat st;
  /* A symlink there is replaced, never written through. */
  if (fstatat(dfd, j->path, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode) &&
      !S_ISLNK(st.st_mode)) {
    j->status = S_ISDIR(st.st_mode) ? UV_EISDIR : UV_EEXIST;
    return;
  }
  static unsigned long seq; /* under write_lock */
  char tmp[64];
  snprintf(tmp, sizeof tmp, TMP_PREFIX "%lx.%lu.%ld", (unsigned long)uv_hrtime(), ++seq,
           (long)getpid());
  int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || write_all(fd, j->data, j->len) != 0 || fsync(fd) != 0 ||
      renameat(dfd, tmp, dfd, j->path) != 0) {
    j->status = -errno;
    if (fd >= 0) unlinkat(dfd, tmp, 0);
  } else {
    fsync(dfd); /* the rename itself */
    j->used += j->len;
  }
  if (fd >= 0) close(fd);
}

static void do_remove(xcs_fs_job *j, int dfd) {
  struct stat st;
  if (fstatat(dfd, j->path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
    j->status = UV_EISDIR;
  else if (unlinkat(dfd, j->path, 0) != 0)
    j->status = -errno;
  else
    fsync(dfd);
}

void xcs_fs_work(uv_work_t *req) {
  uv_once(&write_lock_once, write_lock_init);
  xcs_fs_job *j = req->data;
  if (j->op == XCS_FS_READ || j->op == XCS_FS_LINES) return do_read(j);
  if (j->op == XCS_FS_LIST) return do_list(j);
  uv_mutex_lock(&write_lock);
  int dfd = open_data(j);
  if (dfd < 0) {
    j->status = -errno;
  } else {
    if (j->op == XCS_FS_WRITE) do_write(j, dfd);
    else do_remove(j, dfd);
    close(dfd);
  }
  uv_mutex_unlock(&write_lock);
}

void xcs_fs_job_free(xcs_fs_job *j) {
  for (int i = 0; i < j->nroots; i++) free(j->roots[i]);
  free(j->path);
  free(j->given);
  free(j->data);
  free(j);
}

