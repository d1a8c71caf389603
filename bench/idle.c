/*
 * xcs-bench-idle: what an idle connection costs a TCP echo server.
 *
 * Reads the server's VmRSS, opens N connections (at most 200 connecting at
 * once, from --sources addresses 127.0.0.2, 127.0.0.3, ... in turn, so a
 * server's per-address limit need not be lifted), has each send SIZE bytes and checks every echoed byte, and once
 * all N have echoed (and --hold seconds more have passed, 0 by default) reads
 * VmRSS again. Then it closes them all and prints:
 *
 *   connections=N size=S rss_before_kib=A rss_after_kib=B bytes_per_conn=X
 *   server_cpu_s=C errors=E
 *
 * bytes_per_conn is (B - A) * 1024 / N: the server's resident memory per
 * connection held, each having echoed once; server_cpu_s the CPU time it
 * spent accepting and echoing them.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "proc.h"

#define IN_FLIGHT 200

struct conn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    size_t received;
};

static struct {
    const char *host;
    int port, connections, sources;
    size_t size;
    double timeout;
    long server_pid;
    double hold;
} opt = {"127.0.0.1", -1, 10000, 1, 64, 60.0, -1, 0};

static uv_loop_t loop;
static uv_timer_t deadline;
static struct conn *conns;
static int started, done, failed, stopping;
static uint64_t errors;
static char payload[4096], read_buf[4096];

/* Ends the run: main reads the figures, then closes everything. */
static void stop(void) { stopping = 1; }

static void close_all(void)
{
    uv_close((uv_handle_t *)&deadline, NULL);
    for (int i = 0; i < started; i++)
        if (!uv_is_closing((uv_handle_t *)&conns[i].tcp))
            uv_close((uv_handle_t *)&conns[i].tcp, NULL);
}

static void start_next(void);

/* Connection c is finished, echoed or failed: start the next. */
static void finished(struct conn *c, const char *what, int err)
{
    if (what != NULL) {
        errors++;
        failed++;
        if (errors <= 10)
            fprintf(stderr, "idle: %s: %s\n", what, err ? uv_strerror(err) : "");
        if (!uv_is_closing((uv_handle_t *)&c->tcp))
            uv_close((uv_handle_t *)&c->tcp, NULL);
    } else {
        done++;
    }
    start_next();
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h, (void)hint;
    *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    (void)buf;
    if (n == 0 || stopping)
        return;
    if (n < 0) {
        finished(c, "read", (int)n);
        return;
    }
    if ((size_t)n > opt.size - c->received ||
        memcmp(read_buf, payload + c->received, (size_t)n) != 0) {
        finished(c, "echoed bytes differ from the bytes sent", 0);
        return;
    }
    c->received += (size_t)n;
    if (c->received == opt.size) {
        uv_read_stop(s); /* idle from now on: the server holds it */
        finished(c, NULL, 0);
    }
}

static void on_write(uv_write_t *req, int status)
{
    if (status < 0 && !stopping)
        finished(req->data, "write", status);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (stopping)
        return;
    if (status < 0) {
        finished(c, "connect", status);
        return;
    }
    uv_buf_t b = uv_buf_init(payload, (unsigned int)opt.size);
    int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r == 0)
        r = uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (r < 0)
        finished(c, "start", r);
}

static struct sockaddr_in addr;

static void start_next(void)
{
    if (stopping)
        return;
    if (done + failed == opt.connections) {
        stop();
        return;
    }
    while (started < opt.connections && started - done - failed < IN_FLIGHT) {
        struct conn *c = &conns[started++];
        c->tcp.data = c->connect.data = c->write.data = c;
        int r = uv_tcp_init(&loop, &c->tcp);
        if (r < 0) {
            started--; /* nothing to close */
            errors++;
            fprintf(stderr, "idle: tcp_init: %s\n", uv_strerror(r));
            stop();
            return;
        }
        struct sockaddr_in source;
        char name[32];
        snprintf(name, sizeof name, "127.0.0.%d", 2 + (started - 1) % opt.sources);
        uv_ip4_addr(name, 0, &source);
        r = uv_tcp_bind(&c->tcp, (const struct sockaddr *)&source, 0);
        if (r == 0)
            r = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&addr, on_connect);
        if (r < 0) {
            finished(c, "connect", r);
            return;
        }
    }
}

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    fprintf(stderr, "idle: %d of %d connections echoed within %.0f s\n", done, opt.connections,
            opt.timeout);
    errors++;
    stop();
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *name = argv[i], *value = argv[i + 1];
        char *end;
        double v = strtod(value, &end);
        int ok = *value != '\0' && *end == '\0';
        if (strcmp(name, "--host") == 0)
            opt.host = value;
        else if (ok && strcmp(name, "--port") == 0 && v >= 1 && v <= 65535)
            opt.port = (int)v;
        else if (ok && strcmp(name, "--connections") == 0 && v >= 1 && v <= 1000000)
            opt.connections = (int)v;
        else if (ok && strcmp(name, "--sources") == 0 && v >= 1 && v <= 250)
            opt.sources = (int)v;
        else if (ok && strcmp(name, "--size") == 0 && v >= 1 && v <= (double)sizeof payload)
            opt.size = (size_t)v;
        else if (ok && strcmp(name, "--timeout") == 0 && v > 0 && v <= 86400)
            opt.timeout = v;
        else if (ok && strcmp(name, "--hold") == 0 && v >= 0 && v <= 3600)
            opt.hold = v;
        else if (ok && strcmp(name, "--server-pid") == 0 && v >= 1)
            opt.server_pid = (long)v;
        else
            opt.port = -2;
    }
    if (argc % 2 == 0 || opt.port < 0 || uv_ip4_addr(opt.host, opt.port, &addr) < 0) {
        fprintf(stderr, "usage: %s --port N [--host 127.0.0.1] [--connections 10000] [--size 64]\n"
                        "       [--sources 1] [--timeout 60] [--hold 0] [--server-pid PID]\n",
                argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (char)('A' + i % 23);
    conns = calloc((size_t)opt.connections, sizeof *conns);
    if (conns == NULL || uv_loop_init(&loop) < 0) {
        fprintf(stderr, "idle: cannot start\n");
        return 1;
    }
    long before = opt.server_pid > 0 ? proc_status_kib(opt.server_pid, "VmRSS") : -1;
    double cpu_before = opt.server_pid > 0 ? proc_cpu_seconds(opt.server_pid) : -1;
    uv_timer_init(&loop, &deadline);
    uv_timer_start(&deadline, on_deadline, (uint64_t)(opt.timeout * 1000), 0);
    start_next();
    /* Runs until every connection echoed (or failed, or time ran out). */
    while (!stopping && uv_run(&loop, UV_RUN_ONCE))
        ;
    if (opt.hold > 0) /* the connections stay open, idle; the server settles */
        nanosleep(&(struct timespec){(time_t)opt.hold,
                                     (long)((opt.hold - (double)(time_t)opt.hold) * 1e9)},
                  NULL);
    long after = opt.server_pid > 0 ? proc_status_kib(opt.server_pid, "VmRSS") : -1;
    double cpu_after = opt.server_pid > 0 ? proc_cpu_seconds(opt.server_pid) : -1;
    close_all();
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    printf("connections=%d size=%zu rss_before_kib=%ld rss_after_kib=%ld bytes_per_conn=%.0f"
           " server_cpu_s=%.3f errors=%" PRIu64 "\n",
           done, opt.size, before, after,
           done > 0 && before >= 0 ? (double)(after - before) * 1024.0 / done : -1.0,
           cpu_before >= 0 && cpu_after >= 0 ? cpu_after - cpu_before : -1.0, errors);
    free(conns);
    return errors == 0 ? 0 : 1;
}
