/* openloop: an open-loop HTTP/1.1 load generator (coordinated-omission free, like wrk2) for the
 * peer bench. Requests are due at a constant rate from one schedule; each goes out on any idle
 * keep-alive connection (or waits for one), and latency counts from its *intended* send time.
 * Prints one JSON object: counts and latency percentiles in ms.
 *
 * usage: openloop -p PORT [-a 127.0.0.1] [-r RATE] [-d SECONDS] [-c CONNECTIONS] [-H HOST] [-u PATH]
 * build: cc -O2 -o openloop openloop.c   (Linux: epoll + timerfd)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define BUFSZ 65536
#define DRAIN_S 2.0

enum state { CONNECTING, IDLE, BUSY };

struct conn {
  int fd;
  enum state state;
  double intended; /* intended send time of the request in flight */
  size_t len;
  char buf[BUFSZ + 1]; /* NUL-terminated after each read */
};

static struct sockaddr_in addr;
static char request[1024];
static size_t request_len;
static struct conn *conns;
static int nconns, epfd;
static int *idle, nidle;
static double *lat_ms;
static size_t nlat, cap_lat;
static long sent, completed, errors, non2xx, reconnects;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  printf("{\"error\":\"%s: %s\"}\n", what, strerror(errno));
  exit(1);
}

static void record(double ms) {
  if (nlat == cap_lat) {
    cap_lat = cap_lat == 0 ? 65536 : cap_lat * 2;
    lat_ms = realloc(lat_ms, cap_lat * sizeof(double));
    if (lat_ms == NULL) die("realloc");
  }
  lat_ms[nlat++] = ms;
}

static void open_conn(int i) {
  struct conn *c = &conns[i];
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) die("socket");
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) die("connect");
  c->state = CONNECTING;
  c->len = 0;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
}

static void set_idle(int i) {
  struct conn *c = &conns[i];
  c->state = IDLE;
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
  idle[nidle++] = i;
}

/* A broken connection: its request in flight failed; it is replaced by a new one. */
static void reconnect(int i) {
  struct conn *c = &conns[i];
  if (c->state == BUSY) errors++;
  for (int k = 0; k < nidle; k++) {
    if (idle[k] == i) { idle[k] = idle[--nidle]; break; }
  }
  close(c->fd);
  reconnects++;
  open_conn(i);
}

/* Length of the complete response at the start of buf, 0 when incomplete, -1 when malformed. */
static long response_length(const char *buf, size_t len, int *status) {
  const char *end = memmem(buf, len, "\r\n\r\n", 4);
  if (end == NULL) return len >= BUFSZ ? -1 : 0;
  size_t head = (size_t)(end - buf) + 4;
  if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0) return -1;
  *status = atoi(buf + 9);
  long content_length = -1;
  int chunked = 0;
  for (const char *line = strstr(buf, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
    if (strncasecmp(line, "content-length:", 15) == 0) content_length = atol(line + 15);
    else if (strncasecmp(line, "transfer-encoding:", 18) == 0 && strcasestr(line, "chunked") != NULL && strcasestr(line, "chunked") < strstr(line, "\r\n")) chunked = 1;
  }
  if (!chunked) {
    if (content_length < 0) content_length = 0; /* bench responses always carry a length */
    return head + (size_t)content_length <= len ? (long)(head + (size_t)content_length) : 0;
  }
  size_t pos = head;
  for (;;) {
    const char *eol = memmem(buf + pos, len - pos, "\r\n", 2);
    if (eol == NULL) return 0;
    long size = strtol(buf + pos, NULL, 16);
    pos = (size_t)(eol - buf) + 2;
    if (size == 0) return pos + 2 <= len ? (long)(pos + 2) : 0; /* no trailers */
    pos += (size_t)size + 2;
    if (pos > len) return 0;
  }
}

static void on_readable(int i, double t) {
  struct conn *c = &conns[i];
  for (;;) {
    ssize_t n = read(c->fd, c->buf + c->len, BUFSZ - c->len);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) { reconnect(i); return; }
    if (n < 0) break;
    c->len += (size_t)n;
    if (c->len == BUFSZ) break;
  }
  c->buf[c->len] = '\0';
  int status = 0;
  long rlen = response_length(c->buf, c->len, &status);
  if (rlen < 0 || (rlen > 0 && c->state != BUSY)) { reconnect(i); return; }
  if (rlen == 0) return;
  memmove(c->buf, c->buf + rlen, c->len - (size_t)rlen);
  c->len -= (size_t)rlen;
  c->buf[c->len] = '\0';
  completed++;
  if (status < 200 || status > 299) non2xx++;
  record((t - c->intended) * 1000.0);
  set_idle(i);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double p) {
  if (nlat == 0) return 0;
  size_t k = (size_t)(p / 100.0 * (double)nlat + 0.999999);
  return lat_ms[(k == 0 ? 1 : k > nlat ? nlat : k) - 1];
}

int main(int argc, char **argv) {
  const char *ip = "127.0.0.1", *host = "localhost", *path = "/";
  int port = 0, opt;
  double rate = 1000, duration = 10;
  nconns = 50;
  while ((opt = getopt(argc, argv, "a:p:r:d:c:H:u:")) != -1) {
    switch (opt) {
      case 'a': ip = optarg; break;
      case 'p': port = atoi(optarg); break;
      case 'r': rate = atof(optarg); break;
      case 'd': duration = atof(optarg); break;
      case 'c': nconns = atoi(optarg); break;
      case 'H': host = optarg; break;
      case 'u': path = optarg; break;
      default: fprintf(stderr, "usage: openloop -p PORT [-a IP] [-r RATE] [-d S] [-c CONNS] [-H HOST] [-u PATH]\n"); return 2;
    }
  }
  if (port <= 0 || rate <= 0 || duration <= 0 || nconns <= 0) { fprintf(stderr, "openloop: bad arguments\n"); return 2; }
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1) { fprintf(stderr, "openloop: bad address %s\n", ip); return 2; }
  request_len = (size_t)snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);

  epfd = epoll_create1(0);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  if (epfd < 0 || tfd < 0) die("epoll/timerfd");
  struct epoll_event tev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
  epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev);
  conns = calloc((size_t)nconns, sizeof *conns);
  idle = calloc((size_t)nconns, sizeof *idle);
  if (conns == NULL || idle == NULL) die("calloc");
  for (int i = 0; i < nconns; i++) open_conn(i);

  const long total = (long)(rate * duration);
  struct epoll_event events[256];
  double t0 = 0, connect_deadline = now_s() + 5, last_done = 0;
  int started = 0;
  for (;;) {
    double t = now_s();
    if (!started && nidle == nconns) { started = 1; t0 = t; }
    if (!started && t > connect_deadline) { errno = ETIMEDOUT; die("connect"); }
    /* send every due request while a connection is idle */
    while (started && sent < total && nidle > 0 && t0 + (double)sent / rate <= t) {
      int i = idle[--nidle];
      struct conn *c = &conns[i];
      c->intended = t0 + (double)sent / rate;
      c->state = BUSY;
      sent++;
      if (write(c->fd, request, request_len) != (ssize_t)request_len) reconnect(i);
    }
    if (started && sent == total && completed + errors >= total) break;
    if (started && t > t0 + duration + DRAIN_S) break;
    if (started && sent < total && nidle > 0) {
      double next = t0 + (double)sent / rate;
      struct itimerspec its = {.it_value = {.tv_sec = (time_t)next, .tv_nsec = (long)((next - (double)(time_t)next) * 1e9)}};
      if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
      timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
    }
    int n = epoll_wait(epfd, events, 256, 100);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    t = now_s();
    for (int k = 0; k < n; k++) {
      uint32_t i = events[k].data.u32;
      if (i == UINT32_MAX) { uint64_t x; while (read(tfd, &x, sizeof x) > 0) {} continue; }
      struct conn *c = &conns[i];
      if (c->state == CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err != 0 || (events[k].events & (EPOLLERR | EPOLLHUP))) {
          if (!started) { errno = err != 0 ? err : ECONNREFUSED; die("connect"); }
          reconnect((int)i);
        } else {
          set_idle((int)i);
        }
        continue;
      }
      long before = completed;
      on_readable((int)i, t);
      if (completed > before) last_done = t;
    }
  }
  long timeouts = sent - completed - errors;
  qsort(lat_ms, nlat, sizeof(double), cmp_double);
  double sum = 0;
  for (size_t k = 0; k < nlat; k++) sum += lat_ms[k];
  double span = last_done > t0 ? last_done - t0 : duration;
  printf("{\"rate\":%.1f,\"duration_s\":%.3f,\"connections\":%d,\"scheduled\":%ld,\"sent\":%ld,\"completed\":%ld,"
         "\"errors\":%ld,\"timeouts\":%ld,\"non2xx\":%ld,\"reconnects\":%ld,\"achieved_rps\":%.1f,"
         "\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,\"mean\":%.3f}}\n",
         rate, duration, nconns, total, sent, completed, errors, timeouts, non2xx, reconnects,
         (double)completed / span, pct(50), pct(90), pct(99), pct(99.9), nlat ? lat_ms[nlat - 1] : 0, nlat ? sum / (double)nlat : 0);
  return 0;
}
