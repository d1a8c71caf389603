/*
 * xcs-bench-startup: time from starting a TCP echo server to its first echo.
 *
 *   xcs-bench-startup [--size 64] -- COMMAND [ARG...]
 *
 * Starts COMMAND with its stdout and stderr on a pipe, waits for a line
 * "listening on 127.0.0.1:PORT (TCP)", connects, sends SIZE bytes and reads
 * them back (every byte checked), then stops the server with SIGTERM and
 * prints:
 *
 *   listening_ms=A first_echo_ms=B errors=E
 *
 * Both times are counted from just before the fork.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Reads the pipe until the listening line; its port, or -1 at EOF. */
static int wait_for_port(int fd)
{
    static char text[1 << 16];
    size_t len = 0;
    while (len < sizeof text - 1) {
        ssize_t n = read(fd, text + len, sizeof text - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        text[len] = '\0';
        const char *p = strstr(text, "listening on 127.0.0.1:");
        int port;
        if (p != NULL && sscanf(p, "listening on 127.0.0.1:%d (TCP)", &port) == 1 &&
            strstr(p, "(TCP)") != NULL)
            return port;
    }
    fprintf(stderr, "startup: no 'listening on 127.0.0.1:PORT (TCP)' line; output:\n%s\n", text);
    return -1;
}

/* One echo of size bytes on 127.0.0.1:port; 0 when every byte came back. */
static int echo_once(int port, size_t size)
{
    char out[4096], in[4096];
    for (size_t i = 0; i < size; i++)
        out[i] = (char)('a' + i % 26);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
             write(fd, out, size) == (ssize_t)size;
    size_t got = 0;
    while (ok && got < size) {
        ssize_t n = read(fd, in + got, size - got);
        if (n <= 0)
            ok = 0;
        else
            got += (size_t)n;
    }
    if (fd >= 0)
        close(fd);
    return ok && memcmp(in, out, size) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    size_t size = 64;
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "--size") == 0) {
        long v = strtol(argv[i + 1], NULL, 10);
        size = v >= 1 && v <= 4096 ? (size_t)v : 0;
        i += 2;
    }
    if (size == 0 || i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc) {
        fprintf(stderr, "usage: %s [--size 64] -- COMMAND [ARG...]\n", argv[0]);
        return 2;
    }
    char **cmd = argv + i + 1;
    int fds[2];
    if (pipe(fds) < 0) {
        perror("startup: pipe");
        return 1;
    }
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid < 0) {
        perror("startup: fork");
        return 1;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        execvp(cmd[0], cmd);
        perror("startup: exec");
        _exit(127);
    }
    close(fds[1]);
    int errors = 0;
    double listening = -1, echoed = -1;
    int port = wait_for_port(fds[0]);
    if (port > 0) {
        listening = now_ms() - t0;
        if (echo_once(port, size) == 0)
            echoed = now_ms() - t0;
        else
            errors++;
    } else {
        errors++;
    }
    kill(pid, SIGTERM);
    close(fds[0]); /* what it logs while stopping is not read */
    waitpid(pid, NULL, 0);
    printf("listening_ms=%.2f first_echo_ms=%.2f errors=%d\n", listening, echoed, errors);
    return errors == 0 ? 0 : 1;
}
