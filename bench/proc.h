/*
 * proc.h — what the bench tools read about the server from /proc: its CPU
 * time (utime + stime in /proc/PID/stat) and its resident memory (VmRSS in
 * /proc/PID/status). Header-only: each tool is one C file.
 */
#ifndef XCS_BENCH_PROC_H
#define XCS_BENCH_PROC_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The process's user + system CPU seconds so far, or -1 if it cannot be read. */
static inline double proc_cpu_seconds(long pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    /* The command name may hold spaces and parentheses: count from the last ')'. */
    char *p = strrchr(line, ')');
    if (p == NULL)
        return -1;
    unsigned long utime, stime;
    /* Fields 3..13 come before utime (14) and stime (15). */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* The process's resident set in KiB (key "VmRSS" or "VmHWM"), or -1. */
static inline long proc_status_kib(long pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kib = -1;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            sscanf(line + klen + 1, "%ld", &kib);
            break;
        }
    }
    fclose(f);
    return kib;
}

#endif
