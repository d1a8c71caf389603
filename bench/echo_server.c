/*
 * xcs-bench-echo-server: the reference peer for the xcshost benchmark.
 *
 * A plain C libuv TCP echo server with no Lua in the path. bench/run measures
 * it and xcshost (running examples/echo.lua) with the same load, so the ratio
 * between the two shows what the host and its Lua layer cost.
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
static uv_signal_t sigint_watcher;
static uv_signal_t sigterm_watcher;

/*
 * One read buffer is enough: the loop is single-threaded and libuv hands the
 * buffer from alloc_cb straight to read_cb, where the bytes are copied into
 * the write request before the next read can happen.
 */
static char read_buf[64 * 1024];

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
        r = start_signal(&sigint_watcher, SIGINT);
    if (r == 0)
        r = start_signal(&sigterm_watcher, SIGTERM);

    struct sockaddr_storage bound;
    int len = sizeof bound;
    if (r == 0)
        r = uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
    if (r == 0) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&bound;
        char name[INET_ADDRSTRLEN];
        r = uv_ip4_name(in, name, sizeof name);
        if (r == 0) {
            /* bench/run waits for exactly this line to learn the port. */
            fprintf(stderr, "reference: listening on %s:%d (TCP)\n", name,
                    ntohs(in->sin_port));
            fflush(stderr);
        }
    }

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
