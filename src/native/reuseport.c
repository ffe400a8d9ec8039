// One listening TCP socket per data-plane worker thread, all on the same port: SO_REUSEPORT lets
// the kernel spread connections across them (as uWS does), which Node 20's net module cannot ask
// for (its `reusePort` option arrived in Node 22.12). The socket is handed to net.Server through
// its fd, so each worker owns its own socket and closing one never affects the others.
//
// listen(host, port, backlog) -> fd; throws an Error whose code is the errno name.
//
// It also sets what Node 20 cannot on a connected socket: the TCP keepalive probe interval and
// count (DestinationRule connectionPool.tcp.tcpKeepalive; Node sets only the idle time).
// keepalive(fd, idleS, intervalS, probes) turns keepalive on and sets each value > 0;
// keepaliveOf(fd) -> [on, idleS, intervalS, probes] reads them back (tests).
#include <node_api.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *errno_name(int e) {
  switch (e) {
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    default: return "EIO";
  }
}

static napi_value fail(napi_env env, int e, const char *what) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", what, strerror(e));
  napi_throw_error(env, errno_name(e), message);
  return NULL;
}

static napi_value Listen(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value args[3];
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 3) return fail(env, EINVAL, "listen(host, port, backlog)");
  char host[64];
  size_t host_len = 0;
  int32_t port = 0, backlog = 0;
  if (napi_get_value_string_utf8(env, args[0], host, sizeof host, &host_len) != napi_ok ||
      napi_get_value_int32(env, args[1], &port) != napi_ok || napi_get_value_int32(env, args[2], &backlog) != napi_ok ||
      port < 0 || port > 65535) {
    return fail(env, EINVAL, "listen(host, port, backlog)");
  }
  struct sockaddr_in v4;
  struct sockaddr_in6 v6;
  struct sockaddr *addr;
  socklen_t addr_len;
  int family;
  memset(&v4, 0, sizeof v4);
  memset(&v6, 0, sizeof v6);
  if (inet_pton(AF_INET, host, &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons((uint16_t)port);
    addr = (struct sockaddr *)&v4;
    addr_len = sizeof v4;
    family = AF_INET;
  } else if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons((uint16_t)port);
    addr = (struct sockaddr *)&v6;
    addr_len = sizeof v6;
    family = AF_INET6;
  } else {
    return fail(env, EINVAL, "listen: host is not an IP address");
  }
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return fail(env, errno, "socket");
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int e = errno;
    close(fd);
    return fail(env, e, "setsockopt");
  }
  if (family == AF_INET6) {
    int zero = 0; // dual stack, as Node's own listen on '::'
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  }
  if (bind(fd, addr, addr_len) != 0) {
    int e = errno;
    close(fd);
    return fail(env, e, "bind");
  }
  if (listen(fd, backlog) != 0) {
    int e = errno;
    close(fd);
    return fail(env, e, "listen");
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

static napi_value Keepalive(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  int32_t v[4];
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 4) return fail(env, EINVAL, "keepalive(fd, idle, interval, probes)");
  for (int i = 0; i < 4; i++) {
    if (napi_get_value_int32(env, args[i], &v[i]) != napi_ok || v[i] < 0) return fail(env, EINVAL, "keepalive(fd, idle, interval, probes)");
  }
  int one = 1;
  if (setsockopt(v[0], SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) != 0 ||
      (v[1] > 0 && setsockopt(v[0], IPPROTO_TCP, TCP_KEEPIDLE, &v[1], sizeof v[1]) != 0) ||
      (v[2] > 0 && setsockopt(v[0], IPPROTO_TCP, TCP_KEEPINTVL, &v[2], sizeof v[2]) != 0) ||
      (v[3] > 0 && setsockopt(v[0], IPPROTO_TCP, TCP_KEEPCNT, &v[3], sizeof v[3]) != 0)) {
    return fail(env, errno, "setsockopt");
  }
  return NULL;
}

static napi_value KeepaliveOf(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, args[0], &fd) != napi_ok) {
    return fail(env, EINVAL, "keepaliveOf(fd)");
  }
  int v[4];
  socklen_t len = sizeof v[0];
  if (getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v[0], &len) != 0 || getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v[1], &len) != 0 ||
      getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v[2], &len) != 0 || getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v[3], &len) != 0) {
    return fail(env, errno, "getsockopt");
  }
  napi_value result;
  napi_create_array_with_length(env, 4, &result);
  for (int i = 0; i < 4; i++) {
    napi_value n;
    napi_create_int32(env, v[i], &n);
    napi_set_element(env, result, i, n);
  }
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "listen", NAPI_AUTO_LENGTH, Listen, NULL, &fn);
  napi_set_named_property(env, exports, "listen", fn);
  napi_create_function(env, "keepalive", NAPI_AUTO_LENGTH, Keepalive, NULL, &fn);
  napi_set_named_property(env, exports, "keepalive", fn);
  napi_create_function(env, "keepaliveOf", NAPI_AUTO_LENGTH, KeepaliveOf, NULL, &fn);
  napi_set_named_property(env, exports, "keepaliveOf", fn);
  return exports;
}
