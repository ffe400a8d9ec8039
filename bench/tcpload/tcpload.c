/* tcpload: raw TCP load for the TCP bench (bench/tcp-bench.ts), epoll, one thread.
 *
 *   tcpload server  -p PORT                  reads every connection to its EOF, discarding, then closes it
 *   tcpload bulk    -p PORT -d S -c CONNS    each connection writes 64 KiB blocks for S seconds, then
 *                                            half-closes and waits for the server's close: every byte
 *                                            has arrived. Prints {"bytes", "seconds", "mb_per_s"}
 *   tcpload connect -p PORT -d S -c CONC     CONC loops of connect, write 1 byte, half-close, wait for the
 *                                            close, for S seconds. Prints {"connections", "errors",
 *                                            "seconds", "per_s"}
 *
 * build: cc -O2 -o tcpload tcpload.c   (Linux)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 65536
#define MAX_EVENTS 256

static char block[BLOCK];
static struct sockaddr_in addr;
static int ep;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what) {
  printf("{\"error\": \"%s: %s\"}\n", what, strerror(errno));
  exit(1);
}

static void add(int fd, uint32_t events, uint64_t data) {
  struct epoll_event e = {.events = events, .data.u64 = data};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0) die("epoll_ctl");
}

static void mod(int fd, uint32_t events, uint64_t data) {
  struct epoll_event e = {.events = events, .data.u64 = data};
  epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
}

static int connect_nb(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

static void serve(void) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0) die("bind");
  if (listen(lfd, 4096) != 0) die("listen");
  add(lfd, EPOLLIN, (uint64_t)-1);
  printf("{\"listening\": %d}\n", ntohs(addr.sin_port));
  fflush(stdout);
  struct epoll_event ev[MAX_EVENTS];
  for (;;) {
    int n = epoll_wait(ep, ev, MAX_EVENTS, -1);
    for (int i = 0; i < n; i++) {
      if (ev[i].data.u64 == (uint64_t)-1) {
        for (;;) {
          int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          add(fd, EPOLLIN, (uint64_t)fd);
        }
        continue;
      }
      int fd = (int)ev[i].data.u64;
      for (;;) {
        ssize_t r = read(fd, block, BLOCK);
        if (r > 0) continue;
        if (r < 0 && errno == EAGAIN) break;
        close(fd); /* EOF or error */
        break;
      }
    }
  }
}

/* bulk: state per connection */
struct bconn { int fd; int closing; };

static int bulk(double seconds, int conns) {
  struct bconn *c = calloc(conns, sizeof *c);
  for (int i = 0; i < conns; i++) {
    c[i].fd = connect_nb();
    if (c[i].fd < 0) die("connect");
    add(c[i].fd, EPOLLOUT | EPOLLIN, (uint64_t)i);
  }
  double t0 = now(), stop_at = t0 + seconds;
  long long bytes = 0;
  int open = conns;
  struct epoll_event ev[MAX_EVENTS];
  while (open > 0) {
    int n = epoll_wait(ep, ev, MAX_EVENTS, 100);
    int writing = now() < stop_at;
    for (int i = 0; i < n; i++) {
      struct bconn *k = &c[ev[i].data.u64];
      if (k->fd < 0) continue;
      if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        char tmp[256];
        ssize_t r = read(k->fd, tmp, sizeof tmp);
        if (r == 0 || (r < 0 && errno != EAGAIN)) {
          if (!k->closing) { printf("{\"error\": \"a connection closed while writing\"}\n"); exit(1); }
          close(k->fd);
          k->fd = -1;
          open--;
          continue;
        }
      }
      if (!(ev[i].events & EPOLLOUT) || k->closing) continue;
      if (!writing) {
        shutdown(k->fd, SHUT_WR);
        k->closing = 1;
        mod(k->fd, EPOLLIN, ev[i].data.u64);
        continue;
      }
      for (;;) {
        ssize_t w = write(k->fd, block, BLOCK);
        if (w > 0) { bytes += w; continue; }
        break;
      }
    }
    if (!writing) {
      for (int i = 0; i < conns; i++) {
        if (c[i].fd >= 0 && !c[i].closing) {
          shutdown(c[i].fd, SHUT_WR);
          c[i].closing = 1;
          mod(c[i].fd, EPOLLIN, (uint64_t)i);
        }
      }
    }
  }
  double took = now() - t0;
  printf("{\"bytes\": %lld, \"seconds\": %.3f, \"mb_per_s\": %.1f}\n", bytes, took, bytes / took / 1048576.0);
  return 0;
}

/* connect: one state per loop */
struct cconn { int fd; int sent; };

static void start_one(struct cconn *k, int i, long long *errors) {
  for (;;) {
    k->fd = connect_nb();
    k->sent = 0;
    if (k->fd >= 0) break;
    (*errors)++;
  }
  add(k->fd, EPOLLOUT | EPOLLIN | EPOLLRDHUP, (uint64_t)i);
}

static int connect_rate(double seconds, int conc) {
  struct cconn *c = calloc(conc, sizeof *c);
  long long done = 0, errors = 0;
  for (int i = 0; i < conc; i++) start_one(&c[i], i, &errors);
  double t0 = now(), stop_at = t0 + seconds;
  int live = conc;
  struct epoll_event ev[MAX_EVENTS];
  while (live > 0) {
    int n = epoll_wait(ep, ev, MAX_EVENTS, 100);
    int going = now() < stop_at;
    for (int i = 0; i < n; i++) {
      int idx = (int)ev[i].data.u64;
      struct cconn *k = &c[idx];
      if (k->fd < 0) continue;
      uint32_t e = ev[i].events;
      int finished = 0, failed = 0;
      if (e & EPOLLERR) failed = 1;
      else if (!k->sent && (e & EPOLLOUT)) {
        if (write(k->fd, "x", 1) == 1) {
          shutdown(k->fd, SHUT_WR);
          k->sent = 1;
          mod(k->fd, EPOLLIN | EPOLLRDHUP, (uint64_t)idx);
        } else failed = 1;
      } else if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
        char tmp[64];
        ssize_t r = read(k->fd, tmp, sizeof tmp);
        if (r == 0) finished = k->sent;
        else if (r < 0 && errno != EAGAIN) failed = 1;
        if (r == 0 && !k->sent) failed = 1;
      }
      if (!finished && !failed) continue;
      close(k->fd);
      k->fd = -1;
      if (finished) done++; else errors++;
      if (going) start_one(k, idx, &errors); else live--;
    }
  }
  double took = now() - t0;
  printf("{\"connections\": %lld, \"errors\": %lld, \"seconds\": %.3f, \"per_s\": %.1f}\n", done, errors, took, done / took);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: tcpload server|bulk|connect -p PORT [-d S] [-c N]\n"); return 2; }
  const char *mode = argv[1];
  int port = 0, conns = 1;
  double seconds = 5;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "-p") == 0) port = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "-d") == 0) seconds = atof(argv[i + 1]);
    else if (strcmp(argv[i], "-c") == 0) conns = atoi(argv[i + 1]);
  }
  memset(block, 'x', sizeof block);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (strcmp(mode, "server") == 0) { serve(); return 0; }
  if (strcmp(mode, "bulk") == 0) return bulk(seconds, conns);
  if (strcmp(mode, "connect") == 0) return connect_rate(seconds, conns);
  fprintf(stderr, "unknown mode %s\n", mode);
  return 2;
}
