/*
 * xcs-bench-echo-server: the reference peer for the xcshost benchmark.
 *
 * A plain C libuv TCP and UDP echo server with no Lua in the path. bench/run
 * measures it and xcshost with the same load, so the ratio between the two
 * shows what the host and its Lua layer cost. TCP and UDP listen on ports
 * of their own (both PORT, or both chosen by the system for 0), each
 * announced in a line "reference: listening on ADDR:PORT (TCP|UDP)".
 *
 * UDP is echoed the way libuv serves it best: datagrams are received in
 * batches (UV_UDP_RECVMMSG) into one buffer and sent back with
 * uv_udp_try_send, falling back to a queued send only when the socket is
 * not writable.
 *
 * Usage: xcs-bench-echo-server [--bind 127.0.0.1] [--port N]
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include <uv.h>

/*
 * Stop reading from a client whose echo backlog grows past HIGH_WATER and
 * resume below LOW_WATER, so a client that sends without reading cannot make
 * the server buffer without limit.
 */
#define HIGH_WATER (4u * 1024u * 1024u)
#define LOW_WATER (1u * 1024u * 1024u)

struct conn {
    uv_tcp_t tcp; /* tcp.data points back here, for the callbacks */
    uv_shutdown_t shutdown;
    int paused;
};

struct write_req {
    uv_write_t req;
    uv_buf_t buf;
    char data[]; /* the bytes to echo, owned by this request */
};

static uv_loop_t loop;
static uv_tcp_t server;
static uv_udp_t udp_server;
static uv_signal_t sigint_watcher;
static uv_signal_t sigterm_watcher;

/*
 * One read buffer is enough: the loop is single-threaded and libuv hands the
 * buffer from alloc_cb straight to read_cb, where the bytes are copied into
 * the write request before the next read can happen.
 */
static char read_buf[64 * 1024];

/* Room for a batch of 16 datagrams of up to 64 KiB each (libuv reads as many
 * as fit, at most its own batch size). */
static char udp_buf[16 * 64 * 1024];

struct udp_send {
    uv_udp_send_t req;
    char data[];
};

static void log_uv_error(const char *what, int err)
{
    fprintf(stderr, "reference: %s: %s\n", what, uv_strerror(err));
}

/* Every handle keeps its heap allocation (or NULL) in ->data. */
static void on_close(uv_handle_t *handle)
{
    free(handle->data);
}

static void close_handle(uv_handle_t *handle)
{
    if (!uv_is_closing(handle))
        uv_close(handle, on_close);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    (void)suggested;
    *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status; /* the connection is finished either way */
    close_handle((uv_handle_t *)req->handle);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void resume_reading(struct conn *c)
{
    int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r < 0) {
        log_uv_error("read_start", r);
        close_handle((uv_handle_t *)&c->tcp);
        return;
    }
    c->paused = 0;
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *wr = (struct write_req *)req;
    uv_stream_t *stream = req->handle;
    struct conn *c = stream->data;

    free(wr);
    if (status < 0) {
        if (status != UV_ECANCELED)
            close_handle((uv_handle_t *)stream);
        return;
    }
    if (c->paused && !uv_is_closing((uv_handle_t *)stream) &&
        uv_stream_get_write_queue_size(stream) < LOW_WATER)
        resume_reading(c);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    (void)buf;

    if (nread == 0)
        return; /* EAGAIN: nothing to do */
    if (nread == UV_EOF) {
        /* Half-close after the pending echoes are flushed, then close. */
        int r = uv_shutdown(&c->shutdown, stream, on_shutdown);
        if (r < 0)
            close_handle((uv_handle_t *)stream);
        return;
    }
    if (nread < 0) {
        if (nread != UV_ECONNRESET)
            log_uv_error("read", (int)nread);
        close_handle((uv_handle_t *)stream);
        return;
    }

    struct write_req *wr = malloc(sizeof *wr + (size_t)nread);
    if (wr == NULL) {
        fprintf(stderr, "reference: out of memory\n");
        close_handle((uv_handle_t *)stream);
        return;
    }
    memcpy(wr->data, read_buf, (size_t)nread);
    wr->buf = uv_buf_init(wr->data, (unsigned int)nread);
    int r = uv_write(&wr->req, stream, &wr->buf, 1, on_write);
    if (r < 0) {
        free(wr);
        log_uv_error("write", r);
        close_handle((uv_handle_t *)stream);
        return;
    }

    if (uv_stream_get_write_queue_size(stream) > HIGH_WATER) {
        r = uv_read_stop(stream);
        if (r < 0) {
            log_uv_error("read_stop", r);
            close_handle((uv_handle_t *)stream);
            return;
        }
        c->paused = 1;
    }
}

static void on_connection(uv_stream_t *listener, int status)
{
    if (status < 0) {
        log_uv_error("accept", status);
        return; /* keep serving the other clients */
    }

    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        fprintf(stderr, "reference: out of memory\n");
        return; /* the pending connection stays in the backlog */
    }
    int r = uv_tcp_init(&loop, &c->tcp);
    if (r < 0) {
        log_uv_error("tcp_init", r);
        free(c);
        return;
    }
    c->tcp.data = c; /* from here on, on_close frees c */

    r = uv_accept(listener, (uv_stream_t *)&c->tcp);
    if (r == 0)
        r = uv_tcp_nodelay(&c->tcp, 1);
    if (r == 0)
        r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r < 0) {
        log_uv_error("accept", r);
        close_handle((uv_handle_t *)&c->tcp);
    }
}

static void on_udp_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    (void)suggested;
    *buf = uv_buf_init(udp_buf, sizeof udp_buf);
}

static void on_udp_sent(uv_udp_send_t *req, int status)
{
    (void)status; /* a datagram not sent is a datagram lost */
    free(req);
}

static void on_udp_recv(uv_udp_t *udp, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *from, unsigned flags)
{
    (void)flags; /* the buffer is static: nothing to free for a batch */
    if (nread < 0 || from == NULL)
        return; /* an error for an earlier send, or the end of a batch */
    uv_buf_t out = uv_buf_init(buf->base, (unsigned int)nread);
    int r = uv_udp_try_send(udp, &out, 1, from);
    if (r != UV_EAGAIN)
        return; /* sent, or failed as UDP may */
    struct udp_send *s = malloc(sizeof *s + (size_t)nread);
    if (s == NULL)
        return;
    memcpy(s->data, buf->base, (size_t)nread);
    out = uv_buf_init(s->data, (unsigned int)nread);
    if (uv_udp_send(&s->req, udp, &out, 1, from, on_udp_sent) < 0)
        free(s);
}

/* Binds the UDP echo to addr; 0 or a libuv error. */
static int start_udp(const struct sockaddr_in *addr)
{
    int r = uv_udp_init_ex(&loop, &udp_server, AF_INET | UV_UDP_RECVMMSG);
    if (r < 0)
        return r;
    udp_server.data = NULL;
    r = uv_udp_bind(&udp_server, (const struct sockaddr *)addr, 0);
    if (r == 0)
        r = uv_udp_recv_start(&udp_server, on_udp_alloc, on_udp_recv);
    return r;
}

/* Logs "reference: listening on ADDR:PORT (proto)" for a bound socket. */
static int announce(const struct sockaddr_storage *bound, const char *proto)
{
    const struct sockaddr_in *in = (const struct sockaddr_in *)bound;
    char name[INET_ADDRSTRLEN];
    int r = uv_ip4_name(in, name, sizeof name);
    if (r == 0) {
        /* bench/run waits for exactly this line to learn the port. */
        fprintf(stderr, "reference: listening on %s:%d (%s)\n", name, ntohs(in->sin_port), proto);
        fflush(stderr);
    }
    return r;
}

static void close_walk_cb(uv_handle_t *handle, void *arg)
{
    (void)arg;
    close_handle(handle);
}

static void on_signal(uv_signal_t *watcher, int signum)
{
    (void)watcher;
    (void)signum;
    /* Closing every handle lets uv_run return so main can free everything. */
    uv_walk(&loop, close_walk_cb, NULL);
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [--bind 127.0.0.1] [--port N]\n", argv0);
}

static int parse_port(const char *s, int *port)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

static int start_signal(uv_signal_t *watcher, int signum)
{
    int r = uv_signal_init(&loop, watcher);
    if (r < 0)
        return r;
    return uv_signal_start(watcher, on_signal, signum);
}

int main(int argc, char **argv)
{
    const char *bind_host = "127.0.0.1";
    int port = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bind") == 0 && i + 1 < argc) {
            bind_host = argv[++i];
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            if (parse_port(argv[++i], &port) < 0) {
                fprintf(stderr, "reference: bad port '%s'\n", argv[i]);
                return 2;
            }
        } else {
            usage(argv[0]);
            return 2;
        }
    }

    /* A peer that vanishes mid-write must cost one connection, not the process. */
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_in addr;
    int r = uv_ip4_addr(bind_host, port, &addr);
    if (r < 0) {
        fprintf(stderr, "reference: bad IPv4 address '%s'\n", bind_host);
        return 2;
    }

    r = uv_loop_init(&loop);
    if (r < 0) {
        log_uv_error("loop_init", r);
        return 1;
    }

    int status = 0;
    r = uv_tcp_init(&loop, &server);
    if (r == 0) {
        server.data = NULL; /* static: nothing for on_close to free */
        r = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
        if (r == 0)
            r = uv_listen((uv_stream_t *)&server, 511, on_connection);
    }
    if (r == 0)
        r = start_udp(&addr);
    if (r == 0)
        r = start_signal(&sigint_watcher, SIGINT);
    if (r == 0)
        r = start_signal(&sigterm_watcher, SIGTERM);

    struct sockaddr_storage bound;
    int len = sizeof bound;
    if (r == 0)
        r = uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
    if (r == 0)
        r = announce(&bound, "TCP");
    len = sizeof bound;
    if (r == 0)
        r = uv_udp_getsockname(&udp_server, (struct sockaddr *)&bound, &len);
    if (r == 0)
        r = announce(&bound, "UDP");

    if (r < 0) {
        log_uv_error("listen", r);
        status = 1;
        uv_walk(&loop, close_walk_cb, NULL);
    }

    r = uv_run(&loop, UV_RUN_DEFAULT);
    if (r != 0) {
        fprintf(stderr, "reference: loop ended with active handles\n");
        status = 1;
    }
    r = uv_loop_close(&loop);
    if (r < 0) {
        log_uv_error("loop_close", r);
        status = 1;
    }
    return status;
}
