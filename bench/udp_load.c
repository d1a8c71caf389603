/*
 * xcs-bench-udp: closed-loop UDP echo load generator for the xcshost benchmark.
 *
 * Each of F flows (a socket of its own, connected to the server) sends one
 * SIZE-byte datagram, waits for it to come back, and sends the next. A
 * datagram carries its flow and sequence number in its first 8 bytes and
 * bytes derived from them after, and every byte of each echo is checked. A
 * datagram not back within 200 ms counts as lost and the flow goes on with
 * the next one (UDP may drop; a late echo of a lost one is then ignored).
 * After a warm-up it measures for a fixed time and prints one line:
 *
 *   flows=F size=N seconds=S datagrams=D dgrams_per_sec=X lost=L late=T
 *   server_cpu_s=C errors=E
 *
 * errors counts echoes whose bytes differ from any datagram sent.
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

#define LOST_NS (200 * 1000000ull)

struct flow {
    uv_udp_t udp;
    uint32_t id;
    uint32_t seq;    /* of the datagram in flight */
    uint64_t sent_at;
    int initialized;
};

static struct {
    const char *host;
    int port, flows;
    size_t size;
    double seconds, warmup;
    long server_pid;
    double max_datagrams;
} opt = {"127.0.0.1", -1, 50, 64, 5.0, 1.0, -1, 1e15};

static uv_loop_t loop;
static uv_timer_t phase_timer, lost_timer;
static struct flow *flows;
static int stopping, measuring;
static uint64_t measure_start, measure_end;
static uint64_t echoed, echoed_at_start, measured, lost, late, errors;
static double cpu_start = -1, cpu_end = -1;
static char send_buf[64 * 1024], read_buf[64 * 1024];

/* The datagram of flow id, number seq, into buf. */
static void fill(char *buf, uint32_t id, uint32_t seq)
{
    memcpy(buf, &id, 4);
    memcpy(buf + 4, &seq, 4);
    for (size_t i = 8; i < opt.size; i++)
        buf[i] = (char)((id * 31u + seq + (uint32_t)i) * 7u);
}

static void on_send(uv_udp_send_t *req, int status)
{
    free(req);
    if (status < 0 && status != UV_ECANCELED && !stopping) {
        fprintf(stderr, "udp-load: send: %s\n", uv_strerror(status));
        errors++;
    }
}

static void send_next(struct flow *f)
{
    f->seq++;
    f->sent_at = uv_hrtime();
    fill(send_buf, f->id, f->seq);
    uv_buf_t b = uv_buf_init(send_buf, (unsigned int)opt.size);
    int r = uv_udp_try_send(&f->udp, &b, 1, NULL);
    if (r >= 0)
        return;
    if (r == UV_EAGAIN) {
        /* The request needs the bytes until it completes. */
        uv_udp_send_t *req = malloc(sizeof *req + opt.size);
        if (req != NULL) {
            char *copy = (char *)(req + 1);
            memcpy(copy, send_buf, opt.size);
            b = uv_buf_init(copy, (unsigned int)opt.size);
            r = uv_udp_send(req, &f->udp, &b, 1, NULL, on_send);
            if (r == 0)
                return;
            free(req);
        }
    }
    /* Not sent: the lost timer sends the next one. */
}

static void stop(void);

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h, (void)hint;
    *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags)
{
    struct flow *f = h->data;
    (void)buf, (void)from;
    if (stopping || (n == 0 && from == NULL))
        return;
    if (n < 0) {
        /* ECONNREFUSED: the server is not (yet, or any longer) there. */
        return;
    }
    uint32_t id, seq;
    if ((size_t)n != opt.size || (flags & UV_UDP_PARTIAL)) {
        errors++;
        return;
    }
    memcpy(&id, read_buf, 4);
    memcpy(&seq, read_buf + 4, 4);
    static char expect[64 * 1024];
    fill(expect, id, seq);
    if (id != f->id || seq > f->seq || memcmp(expect, read_buf, opt.size) != 0) {
        errors++;
        return;
    }
    if (seq != f->seq) {
        late++;
        return;
    }
    echoed++;
    if ((double)echoed >= opt.max_datagrams) {
        stop();
        return;
    }
    send_next(f);
}

static void on_lost(uv_timer_t *t)
{
    (void)t;
    uint64_t now = uv_hrtime();
    for (int i = 0; i < opt.flows; i++) {
        if (flows[i].initialized && now - flows[i].sent_at > LOST_NS) {
            lost++;
            send_next(&flows[i]);
        }
    }
}

static void stop(void)
{
    if (stopping)
        return;
    stopping = 1;
    measure_end = uv_hrtime();
    measured = echoed - echoed_at_start;
    if (opt.server_pid > 0)
        cpu_end = proc_cpu_seconds(opt.server_pid);
    uv_close((uv_handle_t *)&phase_timer, NULL);
    uv_close((uv_handle_t *)&lost_timer, NULL);
    for (int i = 0; i < opt.flows; i++)
        if (flows[i].initialized)
            uv_close((uv_handle_t *)&flows[i].udp, NULL);
}

static void on_phase(uv_timer_t *t)
{
    if (measuring) {
        stop();
        return;
    }
    measuring = 1;
    measure_start = uv_hrtime();
    echoed_at_start = echoed;
    lost = late = 0;
    if (opt.server_pid > 0)
        cpu_start = proc_cpu_seconds(opt.server_pid);
    uv_timer_start(t, on_phase, (uint64_t)(opt.seconds * 1000.0), 0);
}

static int parse_args(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *name = argv[i], *value = argv[i + 1];
        char *end;
        double v = strtod(value, &end);
        if (*value == '\0' || *end != '\0' || v < 0)
            return -1;
        if (strcmp(name, "--host") == 0)
            opt.host = value;
        else if (strcmp(name, "--port") == 0 && v >= 1 && v <= 65535)
            opt.port = (int)v;
        else if (strcmp(name, "--flows") == 0 && v >= 1 && v <= 10000)
            opt.flows = (int)v;
        else if (strcmp(name, "--size") == 0 && v >= 8 && v <= 65507)
            opt.size = (size_t)v;
        else if (strcmp(name, "--seconds") == 0 && v >= 0.001 && v <= 86400)
            opt.seconds = v;
        else if (strcmp(name, "--warmup") == 0 && v <= 86400)
            opt.warmup = v;
        else if (strcmp(name, "--max-datagrams") == 0 && v >= 1)
            opt.max_datagrams = v;
        else if (strcmp(name, "--server-pid") == 0 && v >= 1)
            opt.server_pid = (long)v;
        else
            return -1;
    }
    return argc % 2 == 1 && opt.port > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr;
    if (parse_args(argc, argv) < 0 || uv_ip4_addr(opt.host, opt.port, &addr) < 0) {
        fprintf(stderr, "usage: %s --port N [--host 127.0.0.1] [--flows 50] [--size 64]\n"
                        "       [--seconds 5] [--warmup 1] [--server-pid PID] [--max-datagrams N]\n",
                argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    flows = calloc((size_t)opt.flows, sizeof *flows);
    if (flows == NULL || uv_loop_init(&loop) < 0) {
        fprintf(stderr, "udp-load: cannot start\n");
        return 1;
    }
    uv_timer_init(&loop, &phase_timer);
    uv_timer_init(&loop, &lost_timer);
    uv_timer_start(&phase_timer, on_phase, (uint64_t)(opt.warmup * 1000.0), 0);
    uv_timer_start(&lost_timer, on_lost, 50, 50);
    int started = 0;
    for (int i = 0; i < opt.flows; i++) {
        struct flow *f = &flows[i];
        f->id = (uint32_t)i;
        if (uv_udp_init(&loop, &f->udp) < 0)
            continue;
        f->initialized = 1;
        f->udp.data = f;
        int r = uv_udp_connect(&f->udp, (const struct sockaddr *)&addr);
        if (r == 0)
            r = uv_udp_recv_start(&f->udp, on_alloc, on_recv);
        if (r < 0) {
            fprintf(stderr, "udp-load: flow %d: %s\n", i, uv_strerror(r));
            errors++;
            continue;
        }
        started++;
        send_next(f);
    }
    if (started == 0)
        stop();
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    double elapsed = (double)(measure_end - measure_start) / 1e9;
    printf("flows=%d size=%zu seconds=%.3f datagrams=%" PRIu64 " dgrams_per_sec=%.1f lost=%" PRIu64
           " late=%" PRIu64 " server_cpu_s=%.3f errors=%" PRIu64 "\n",
           opt.flows, opt.size, elapsed, measured, elapsed > 0 ? (double)measured / elapsed : 0.0,
           lost, late, cpu_start >= 0 && cpu_end >= 0 ? cpu_end - cpu_start : -1.0, errors);
    free(flows);
    return started > 0 && measured > 0 ? 0 : 1;
}
