// The origin's HTTP/1.x transport (docs/origin.md, "HTTP server"): one I/O thread multiplexes every
// connection (Boost.Asio on epoll, Boost.Beast's parser) and a small pool of workers runs the
// handlers, which block on SQLite. A request head has a deadline and a size limit; a body, whether
// framed by Content-Length or chunked, has a per-route cap; a route's guard refuses a caller before
// any byte of the body is read; connections are capped per client address and in all.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <string>

#include "whale/result.h"

namespace whale::origin {

struct http_limits {
  std::chrono::milliseconds head_timeout{10000};   // the whole request head, from accept or its first byte
  std::chrono::milliseconds idle_timeout{10000};   // a kept-alive connection waiting for its next request
  std::chrono::milliseconds body_timeout{30000};   // the whole body, from the end of the head
  std::chrono::milliseconds write_timeout{30000};  // the whole response
  size_t head_bytes = 16 * 1024;                   // request line and header fields; past it: 431
  int max_conns = 4096;                            // open connections in all; past it: 503 and close
  int max_conns_per_ip = 64;                       // open connections from one client address
  int workers = 8;                                 // threads running guards and handlers
};

// Handlers see httplib's plain structs: method, path (percent-decoded), headers, params (the query
// string), matches (the route's regex on the path, as httplib's router fills them) and body.
using http_handler = std::function<void(const httplib::Request&, httplib::Response&)>;
// Runs on a worker once the head is read, before any byte of the body: false refuses the caller
// with the status and body it left in the response (the connection is then closed unread).
using http_guard = std::function<bool(const httplib::Request&, httplib::Response&)>;
// Every answer with a status >= 400 passes here before it is sent (to fill in a body).
using http_error_handler = std::function<void(const httplib::Request&, httplib::Response&)>;
// A handler threw: fills in the answer (status and body).
using http_exception_handler = std::function<void(const httplib::Request&, httplib::Response&, std::exception_ptr)>;
// Once per answer, on a worker, just before it is written: `route` is the route's name or
// "unmatched", `seconds` counts from the end of the request head.
using http_logger =
    std::function<void(const httplib::Request&, const httplib::Response&, const char* route, double seconds)>;

struct http_route {
  const char* method;   // GET also answers HEAD
  const char* pattern;  // an ECMAScript regex matched against the whole path
  const char* name;     // the route's name in metrics and logs
  size_t max_body;      // bytes; a longer body is answered 413 without reading past the cap
  http_handler handle;
  http_guard guard;     // optional
};

// What the transport refused or cut, for /metrics.
struct http_counters {
  uint64_t open = 0;                // connections open now
  uint64_t refused_per_ip = 0;      // closed at accept: the client address had max_conns_per_ip
  uint64_t refused_total = 0;       // closed at accept: max_conns were open
  uint64_t head_timeouts = 0;       // closed unanswered: the head was not in by its deadline
  uint64_t body_timeouts = 0;       // closed unanswered: the body was not in by its deadline
};

class http_server {
 public:
  explicit http_server(http_limits limits = {});
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Routes, in the order they are tried; all before run().
  void add(http_route route);
  void set_error_handler(http_error_handler handler);
  void set_exception_handler(http_exception_handler handler);
  void set_logger(http_logger logger);

  // Raises RLIMIT_NOFILE to its hard limit and listens on host:port (SO_REUSEADDR, not
  // SO_REUSEPORT); the port bound (port 0: any free one).
  result<int> bind(const std::string& host, int port);
  // Serves until stop(): requests under way are answered, then run() returns.
  void run();
  // Callable from any thread, before or during run().
  void stop();
  // Callable from any thread.
  http_counters counters() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace whale::origin
