/*
 * xcs-bench-load: TCP echo load generator for the xcshost benchmark.
 *
 * Ping-pong (the default): each of C connections sends one SIZE-byte
 * message, waits until all SIZE bytes have come back, records the
 * round-trip time and sends the next one. Stream (--stream): each connection
 * keeps up to WINDOW bytes in flight, written SIZE bytes at a time, and
 * checks the echoed stream. Every echoed byte is compared with what was
 * sent. After a warm-up it measures for a fixed time and prints one line:
 *
 *   connections=C size=N seconds=S roundtrips=N rtt_per_sec=X
 *   p50_us=A p99_us=B max_us=M bytes=B mb_per_sec=R server_cpu_s=T errors=E
 *
 * (on one line). seconds is the measured wall time actually elapsed;
 * server_cpu_s is the CPU time the process --server-pid used meanwhile
 * (user + system, from /proc/PID/stat; -1 without --server-pid).
 * With --reconnect 1 every round trip is a connection of its own: connect,
 * send, read the echo, close, and again; its time counts from the connect.
 * Exit status: 0 if at least one connection got through, 1 if none
 * could connect, 2 for bad usage.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "proc.h"

/*
 * Latency histogram with log-linear buckets: values below 2^SUB_BITS ns get a
 * bucket each, larger ones are split into 2^(SUB_BITS-1) buckets per power of
 * two. That keeps the relative error under 1% over the whole uint64 range in
 * a fixed 60 KB, however long the run.
 */
#define SUB_BITS 8
#define SUB_COUNT (1u << SUB_BITS)
#define HALF_COUNT (SUB_COUNT / 2)
#define BUCKETS ((64 - SUB_BITS + 1) * HALF_COUNT + HALF_COUNT)

struct histogram {
    uint64_t counts[BUCKETS];
    uint64_t total;
    uint64_t max;
};

struct conn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    int id;
    int initialized; /* the handle exists and must be closed */
    int write_busy;  /* the write request is still owned by libuv */
    size_t received; /* echoed bytes of the current message */
    uint64_t sent_at;
    uint64_t sent_off, recv_off; /* --stream: bytes written, bytes echoed */
};

/* One write of --stream; its bytes live in the pattern, not here. */
struct stream_write {
    uv_write_t req;
    struct conn *c;
};

struct options {
    const char *host;
    const char *source; /* local address to connect from, or NULL */
    int port;
    int connections;
    size_t size;
    double seconds;
    int stream;
    size_t window;
    long server_pid;
    double warmup;
    uint64_t max_roundtrips;
    int reconnect; /* a fresh connection per round trip */
};

static struct options opt = {
    .host = "127.0.0.1",
    .source = NULL,
    .port = -1,
    .connections = 1,
    .size = 64,
    .seconds = 5.0,
    .warmup = 1.0,
    .max_roundtrips = 50000000,
    .window = 256 * 1024,
    .server_pid = -1,
};

/*
 * --stream sends the pattern byte i % PERIOD at stream offset i. PERIOD is
 * prime, so it lines up with no buffer size; the pattern holds PERIOD plus
 * one read buffer's worth, so any offset starts a long enough run.
 */
#define PERIOD 4093
static char pattern[PERIOD + 64 * 1024];
static uint64_t measured_bytes;
static uint64_t bytes_at_start;
static uint64_t total_bytes;
static double cpu_start = -1, cpu_end = -1;

static uv_loop_t loop;
static uv_timer_t phase_timer;
static struct conn *conns;
static char *payload;
static struct histogram hist;

static int stopping;
static int measuring;
static uint64_t measure_start;
static uint64_t measure_end;
static uint64_t total_roundtrips; /* warm-up included, for the hard cap */
static uint64_t measured_roundtrips;
static uint64_t errors;
static int connected;
static int open_handles;
static struct sockaddr_in target, from;

static void start_conn(struct conn *c);

/*
 * Single-threaded loop: the bytes read into this buffer are checked in
 * on_read before libuv can ask for a buffer again.
 */
static char read_buf[64 * 1024];

static unsigned bucket_of(uint64_t v)
{
    if (v < SUB_COUNT)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - (SUB_BITS - 1);
    return shift * HALF_COUNT + (unsigned)(v >> shift);
}

/* The middle of a bucket, to report a value within half a bucket of the truth. */
static uint64_t bucket_value(unsigned idx)
{
    if (idx < SUB_COUNT)
        return idx;
    unsigned shift = idx / HALF_COUNT - 1;
    uint64_t mantissa = idx - shift * HALF_COUNT;
    uint64_t low = mantissa << shift;
    return low + ((UINT64_C(1) << shift) >> 1);
}

static void hist_record(struct histogram *h, uint64_t ns)
{
    h->counts[bucket_of(ns)]++;
    h->total++;
    if (ns > h->max)
        h->max = ns;
}

/* Value at the given per-mille rank, in ns; the nearest-rank definition. */
static uint64_t hist_percentile(const struct histogram *h, unsigned permille)
{
    if (h->total == 0)
        return 0;
    uint64_t rank = (h->total * permille + 999) / 1000;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = bucket_value(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

static void fail(struct conn *c, const char *what, int err)
{
    errors++;
    if (err != 0)
        fprintf(stderr, "load: connection %d: %s: %s\n", c->id, what, uv_strerror(err));
    else
        fprintf(stderr, "load: connection %d: %s\n", c->id, what);
}

static void stop(void);

static void on_conn_closed(uv_handle_t *handle)
{
    struct conn *c = handle->data;
    if (c->initialized == 2 && !stopping) { /* its round trip done: the next */
        start_conn(c);
        return;
    }
    open_handles--;
    /* With every connection gone there is nothing left to measure. */
    if (open_handles == 0 && !stopping)
        stop();
}

static void close_conn(struct conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void stop(void)
{
    if (stopping)
        return;
    stopping = 1;
    if (measuring) {
        measure_end = uv_hrtime();
        measured_bytes = total_bytes - bytes_at_start;
        if (opt.server_pid > 0)
            cpu_end = proc_cpu_seconds(opt.server_pid);
    }
    if (!uv_is_closing((uv_handle_t *)&phase_timer))
        uv_close((uv_handle_t *)&phase_timer, NULL);
    for (int i = 0; i < opt.connections; i++) {
        if (conns[i].initialized)
            close_conn(&conns[i]);
    }
}

static void on_write(uv_write_t *req, int status);

static void send_message(struct conn *c)
{
    uv_buf_t buf = uv_buf_init(payload, (unsigned int)opt.size);
    c->received = 0;
    c->write_busy = 1;
    c->sent_at = uv_hrtime();
    int r = uv_write(&c->write, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
    if (r < 0) {
        c->write_busy = 0;
        fail(c, "write", r);
        close_conn(c);
    }
}

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    c->write_busy = 0;
    if (status < 0) {
        if (!stopping) {
            fail(c, "write", status);
            close_conn(c);
        }
        return;
    }
    /*
     * The uv_write_t is reused for the next message, so if the echo already
     * came back before this callback, the next send had to wait until now.
     */
    if (c->received == opt.size && !stopping)
        send_message(c);
}

static void finish_roundtrip(struct conn *c)
{
    uint64_t now = uv_hrtime();
    total_roundtrips++;
    if (measuring) {
        hist_record(&hist, now - c->sent_at);
        measured_roundtrips++;
    }
    if (total_roundtrips >= opt.max_roundtrips) {
        fprintf(stderr, "load: reached the cap of %" PRIu64 " round trips\n",
                opt.max_roundtrips);
        stop();
        return;
    }
    if (opt.reconnect) {
        c->initialized = 2;
        close_conn(c);
        return;
    }
    if (!c->write_busy)
        send_message(c);
}

static void on_stream_write(uv_write_t *req, int status);

/* --stream: writes SIZE-byte chunks while fewer than WINDOW bytes are owed. */
static void stream_fill(struct conn *c)
{
    while (!stopping && c->sent_off - c->recv_off + opt.size <= opt.window) {
        struct stream_write *w = malloc(sizeof *w);
        if (w == NULL) {
            fail(c, "out of memory", 0);
            close_conn(c);
            return;
        }
        w->c = c;
        uv_buf_t buf = uv_buf_init(pattern + c->sent_off % PERIOD, (unsigned int)opt.size);
        int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_stream_write);
        if (r < 0) {
            free(w);
            fail(c, "write", r);
            close_conn(c);
            return;
        }
        c->sent_off += opt.size;
    }
}

static void on_stream_write(uv_write_t *req, int status)
{
    struct stream_write *w = (struct stream_write *)req;
    struct conn *c = w->c;
    free(w);
    if (status < 0 && !stopping) {
        fail(c, "write", status);
        close_conn(c);
    }
}

static void stream_read(struct conn *c, size_t n)
{
    if (n > c->sent_off - c->recv_off) {
        fail(c, "more bytes echoed than were sent", 0);
        close_conn(c);
        return;
    }
    if (memcmp(read_buf, pattern + c->recv_off % PERIOD, n) != 0) {
        fail(c, "echoed bytes differ from the bytes sent", 0);
        close_conn(c);
        return;
    }
    c->recv_off += n;
    total_bytes += n;
    stream_fill(c);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    (void)suggested;
    *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    (void)buf;

    if (nread == 0 || stopping)
        return;
    if (nread < 0) {
        fail(c, nread == UV_EOF ? "server closed the connection" : "read",
             nread == UV_EOF ? 0 : (int)nread);
        close_conn(c);
        return;
    }
    size_t n = (size_t)nread;
    if (opt.stream) {
        stream_read(c, n);
        return;
    }
    /* Closed loop: the server can only owe us the rest of one message. */
    if (n > opt.size - c->received) {
        fail(c, "more bytes echoed than were sent", 0);
        close_conn(c);
        return;
    }
    if (memcmp(read_buf, payload + c->received, n) != 0) {
        fail(c, "echoed bytes differ from the bytes sent", 0);
        close_conn(c);
        return;
    }
    c->received += n;
    if (c->received == opt.size)
        finish_roundtrip(c);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (status < 0) {
        if (!stopping) {
            fail(c, "connect", status);
            close_conn(c);
        }
        return;
    }
    int r = uv_tcp_nodelay(&c->tcp, 1);
    if (r == 0)
        r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r < 0) {
        fail(c, "setup", r);
        close_conn(c);
        return;
    }
    connected++;
    if (opt.stream) {
        stream_fill(c);
        return;
    }
    uint64_t began = c->sent_at;
    send_message(c);
    if (opt.reconnect)
        c->sent_at = began; /* the round trip counts from the connect */
}

static void on_phase(uv_timer_t *timer)
{
    if (!measuring) {
        measuring = 1;
        measure_start = uv_hrtime();
        bytes_at_start = total_bytes;
        if (opt.server_pid > 0)
            cpu_start = proc_cpu_seconds(opt.server_pid);
        int r = uv_timer_start(timer, on_phase, (uint64_t)(opt.seconds * 1000.0), 0);
        if (r < 0) {
            fprintf(stderr, "load: timer: %s\n", uv_strerror(r));
            errors++;
            stop();
        }
        return;
    }
    stop();
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s --port N [--host 127.0.0.1] [--source ADDR] [--connections 1]\n"
            "       [--size 64] [--seconds 5] [--warmup 1] [--max-roundtrips 50000000]\n"
            "       [--stream] [--window 262144] [--server-pid PID] [--reconnect 0|1]\n",
            argv0);
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_seconds(const char *s, double min, double *out)
{
    char *end;
    double v = strtod(s, &end);
    /* The upper bound keeps the millisecond count far inside uint64_t. */
    if (*s == '\0' || *end != '\0' || !(v >= min && v <= 86400.0))
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i];
        if (strcmp(name, "--stream") == 0) {
            opt.stream = 1;
            continue;
        }
        if (i + 1 >= argc)
            return -1;
        const char *value = argv[++i];
        long v;
        if (strcmp(name, "--host") == 0) {
            opt.host = value;
        } else if (strcmp(name, "--source") == 0) {
            opt.source = value;
        } else if (strcmp(name, "--port") == 0) {
            if (parse_long(value, 1, 65535, &v) < 0)
                return -1;
            opt.port = (int)v;
        } else if (strcmp(name, "--connections") == 0) {
            if (parse_long(value, 1, 10000, &v) < 0)
                return -1;
            opt.connections = (int)v;
        } else if (strcmp(name, "--size") == 0) {
            if (parse_long(value, 1, 1L << 20, &v) < 0)
                return -1;
            opt.size = (size_t)v;
        } else if (strcmp(name, "--seconds") == 0) {
            if (parse_seconds(value, 0.001, &opt.seconds) < 0)
                return -1;
        } else if (strcmp(name, "--warmup") == 0) {
            if (parse_seconds(value, 0.0, &opt.warmup) < 0)
                return -1;
        } else if (strcmp(name, "--window") == 0) {
            if (parse_long(value, 1, 64L << 20, &v) < 0)
                return -1;
            opt.window = (size_t)v;
        } else if (strcmp(name, "--server-pid") == 0) {
            if (parse_long(value, 1, 1L << 30, &v) < 0)
                return -1;
            opt.server_pid = v;
        } else if (strcmp(name, "--max-roundtrips") == 0) {
            if (parse_long(value, 1, 1000000000L, &v) < 0)
                return -1;
            opt.max_roundtrips = (uint64_t)v;
        } else if (strcmp(name, "--reconnect") == 0) {
            if (parse_long(value, 0, 1, &v) < 0)
                return -1;
            opt.reconnect = (int)v;
        } else {
            return -1;
        }
    }
    if (opt.stream && (opt.size > 64 * 1024 || opt.size > opt.window || opt.reconnect))
        return -1; /* a chunk is a run of the pattern, fits the window, one stream */
    return opt.port > 0 ? 0 : -1;
}

/* Opens c's connection (again, with --reconnect); a failure is counted. */
static void start_conn(struct conn *c)
{
    int r = uv_tcp_init(&loop, &c->tcp);
    if (r < 0) {
        fail(c, "tcp_init", r);
        if (c->initialized) /* a reconnect: it was counted open */
            open_handles--;
        c->initialized = 0;
        return;
    }
    if (!c->initialized)
        open_handles++;
    c->initialized = 1;
    c->tcp.data = c;
    c->connect.data = c;
    c->write.data = c;
    c->received = 0;
    c->sent_at = uv_hrtime();
    /* Another loopback address (127.0.0.2) looks like another client
     * to a server that counts connections per address. */
    if (opt.source != NULL && (r = uv_tcp_bind(&c->tcp, (const struct sockaddr *)&from, 0)) < 0) {
        fail(c, "bind", r);
        close_conn(c);
        return;
    }
    r = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&target, on_connect);
    if (r < 0) {
        fail(c, "connect", r);
        close_conn(c);
    }
}

static int start_connections(void)
{
    for (int i = 0; i < opt.connections; i++) {
        conns[i].id = i;
        start_conn(&conns[i]);
    }
    return open_handles > 0 ? 0 : -1;
}

static void print_result(void)
{
    double elapsed = (double)(measure_end - measure_start) / 1e9;
    double rate = elapsed > 0 ? (double)measured_roundtrips / elapsed : 0.0;
    printf("connections=%d size=%zu seconds=%.3f roundtrips=%" PRIu64
           " rtt_per_sec=%.1f p50_us=%.1f p99_us=%.1f max_us=%.1f bytes=%" PRIu64
           " mb_per_sec=%.2f server_cpu_s=%.3f errors=%" PRIu64 "\n",
           opt.connections, opt.size, elapsed, measured_roundtrips, rate,
           (double)hist_percentile(&hist, 500) / 1e3,
           (double)hist_percentile(&hist, 990) / 1e3, (double)hist.max / 1e3, measured_bytes,
           elapsed > 0 ? (double)measured_bytes / 1e6 / elapsed : 0.0,
           cpu_start >= 0 && cpu_end >= 0 ? cpu_end - cpu_start : -1.0, errors);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) < 0) {
        usage(argv[0]);
        return 2;
    }
    if (uv_ip4_addr(opt.host, opt.port, &target) < 0) {
        fprintf(stderr, "load: bad IPv4 address '%s'\n", opt.host);
        return 2;
    }
    if (opt.source != NULL && uv_ip4_addr(opt.source, 0, &from) < 0) {
        fprintf(stderr, "load: bad IPv4 source address '%s'\n", opt.source);
        return 2;
    }

    /* A server that dies mid-write must show up as an error, not kill us. */
    signal(SIGPIPE, SIG_IGN);

    conns = calloc((size_t)opt.connections, sizeof *conns);
    payload = malloc(opt.size);
    if (conns == NULL || payload == NULL) {
        fprintf(stderr, "load: out of memory\n");
        free(conns);
        free(payload);
        return 1;
    }
    /* A varying pattern, so a server that mixes up bytes is caught. */
    for (size_t i = 0; i < opt.size; i++)
        payload[i] = (char)('a' + i % 26);
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (char)(i % PERIOD * 131 % 251);

    int r = uv_loop_init(&loop);
    if (r < 0) {
        fprintf(stderr, "load: loop_init: %s\n", uv_strerror(r));
        free(conns);
        free(payload);
        return 1;
    }

    r = uv_timer_init(&loop, &phase_timer);
    if (r < 0) {
        fprintf(stderr, "load: timer: %s\n", uv_strerror(r));
        uv_loop_close(&loop); /* nothing was opened on it yet */
        free(conns);
        free(payload);
        return 1;
    }
    /* The warm-up ends when this fires; on_phase then times the measurement. */
    r = uv_timer_start(&phase_timer, on_phase, (uint64_t)(opt.warmup * 1000.0), 0);
    if (r < 0) {
        fprintf(stderr, "load: timer: %s\n", uv_strerror(r));
        errors++;
        stop();
    } else if (start_connections() < 0) {
        stop();
    }

    r = uv_run(&loop, UV_RUN_DEFAULT);
    if (r != 0)
        fprintf(stderr, "load: loop ended with active handles\n");
    r = uv_loop_close(&loop);
    if (r < 0)
        fprintf(stderr, "load: loop_close: %s\n", uv_strerror(r));

    print_result();
    free(conns);
    free(payload);
    if (connected == 0) {
        fprintf(stderr, "load: no connection to %s:%d succeeded\n", opt.host, opt.port);
        return 1;
    }
    return 0;
}
