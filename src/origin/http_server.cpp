#include "http_server.h"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <unordered_set>
#include <utility>
#include <vector>

#include "http_util.h"
#include "whale/json.h"

namespace whale::origin {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;
using httplib::Request;
using httplib::Response;

// A connection's read buffer never holds more than this (Beast reads at most 64 KiB at a time and
// the parser takes what it reads before the next read).
constexpr size_t read_buffer_bytes = 128 * 1024;
// After an answer that leaves a body unread, the connection stays open this long before it is
// closed, so that the close (a reset, with unread bytes) does not discard the answer before a busy
// client has read it. It reads and drops at most `linger_bytes` meanwhile (enough for the end of a
// body and the client's FIN); past that it stops reading and TCP flow control stalls the client.
constexpr size_t linger_bytes = 64 * 1024;
constexpr std::chrono::milliseconds linger_time{1000};
// A connection refused at accept (too many) gets this if its socket buffer takes it at once.
constexpr std::string_view busy_answer =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 79\r\n"
    "Connection: close\r\nRetry-After: 1\r\n\r\n"
    "{\"error\":{\"code\":\"too_many_connections\",\"message\":\"too many open connections\"}}";
// stop(): connections still busy after this long are cut.
constexpr std::chrono::seconds stop_grace{10};
constexpr std::chrono::milliseconds stop_poll{50};

std::string text(beast::string_view s) { return std::string(s.data(), s.size()); }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// Method, target, version, headers, path and params the way httplib's server fills them.
void fill_request(const http::request<http::empty_body>& head, const tcp::socket& socket, Request& req) {
  req.method = text(head.method_string());
  req.target = text(head.target());
  req.version = head.version() == 10 ? "HTTP/1.0" : "HTTP/1.1";
  for (const auto& field : head) req.headers.emplace(text(field.name_string()), text(field.value()));
  std::string target = req.target;
  if (const size_t hash = target.find('#'); hash != std::string::npos) target.erase(hash);
  const size_t query = target.find('?');
  req.path = httplib::detail::decode_url(target.substr(0, query), false);
  if (query != std::string::npos) httplib::detail::parse_query_text(target.substr(query + 1), req.params);
  beast::error_code ec;
  if (const tcp::endpoint remote = socket.remote_endpoint(ec); !ec) {
    req.remote_addr = remote.address().to_string();
    req.remote_port = remote.port();
  }
  if (const tcp::endpoint local = socket.local_endpoint(ec); !ec) {
    req.local_addr = local.address().to_string();
    req.local_port = local.port();
  }
}

// The status line and header fields of `res` (its body is sent as it is, after them).
std::string response_head(const Request& req, const Response& res, bool keep_alive, std::chrono::milliseconds idle) {
  const std::string reason = text(http::obsolete_reason(http::int_to_status(static_cast<unsigned>(res.status))));
  std::string out = "HTTP/1.1 " + std::to_string(res.status) + " " + reason + "\r\n";
  for (const auto& [name, value] : res.headers) {
    if (iequals(name, "Content-Length") || iequals(name, "Connection") || iequals(name, "Keep-Alive")) continue;
    out += name + ": " + value + "\r\n";
  }
  const bool bodyless = res.status / 100 == 1 || res.status == 204 || res.status == 304;
  if (!bodyless) out += "Content-Length: " + std::to_string(res.body.size()) + "\r\n";
  if (!keep_alive) {
    out += "Connection: close\r\n";
  } else {
    if (req.version == "HTTP/1.0") out += "Connection: keep-alive\r\n";
    out += "Keep-Alive: timeout=" + std::to_string(idle.count() / 1000) + "\r\n";
  }
  return out + "\r\n";
}

// A protocol error of the request (malformed, too large), not of the connection (closed, reset,
// timed out).
bool protocol_error(beast::error_code ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

// An IPv4 client seen through an IPv6 socket counts as its IPv4 address.
asio::ip::address client_address(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

struct compiled_route {
  std::string method;
  std::regex pattern;
  http_route route;
};

class connection;

// The server's state: routes, hooks, the I/O loop, the workers and the open connections.
struct engine {
  http_limits limits;
  std::vector<compiled_route> routes;
  http_error_handler on_error;
  http_exception_handler on_exception;
  http_logger logger;

  // Open connections, by client address and in all; guarded by `conns_mutex` (a connection may
  // be destroyed on a worker when the I/O loop is gone).
  std::mutex conns_mutex;
  std::unordered_set<connection*> conns;
  std::map<asio::ip::address, int> per_ip;

  std::atomic<uint64_t> refused_per_ip{0};
  std::atomic<uint64_t> refused_total{0};
  std::atomic<uint64_t> head_timeouts{0};
  std::atomic<uint64_t> body_timeouts{0};

  std::atomic<bool> stopping{false};
  asio::io_context io{1};  // one thread runs it: every connection's I/O happens there
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_retry{io};
  asio::steady_timer stop_timer{io};
  clock::time_point stop_started;
  asio::thread_pool workers;

  explicit engine(http_limits l) : limits(l), workers(static_cast<size_t>(std::max(1, l.workers))) {}
  ~engine() { workers.join(); }

  void accept();
  void admit(tcp::socket socket);
  void begin_stop();
  void await_drain();
};

// One client connection, driven by the I/O thread; only the guard and the handler of its current
// request run on a worker, while no I/O is pending on it.
class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(engine& server, tcp::socket socket, asio::ip::address ip)
      : server_(server), stream_(std::move(socket)), buffer_(read_buffer_bytes), ip_(ip) {
    std::lock_guard<std::mutex> lock(server_.conns_mutex);
    server_.conns.insert(this);
  }

  ~connection() {
    std::lock_guard<std::mutex> lock(server_.conns_mutex);
    server_.conns.erase(this);
    if (--server_.per_ip[ip_] == 0) server_.per_ip.erase(ip_);
  }

  // The head deadline runs from accept.
  void start() {
    stream_.expires_after(server_.limits.head_timeout);
    read_head();
  }

  // stop(): a connection whose request is with a worker or being answered finishes it; the others
  // (waiting for a request, reading one, lingering) are closed, none of them acknowledged anything.
  void close_unless_answering() {
    if (phase_ != phase::guard && phase_ != phase::handler && phase_ != phase::writing) close();
  }

 private:
  enum class phase { idle, head, guard, body, handler, writing, lingering };

  // The request under way and its answer.
  struct exchange {
    Request req;
    Response res;
    const compiled_route* route = nullptr;
    clock::time_point start = clock::now();
    bool keep_alive = false;
    bool unread_body = false;  // a body follows the head that was not read
  };

  void wait_for_request() {
    if (server_.stopping) return close();
    if (buffer_.size() > 0) {  // pipelined: the next head has begun
      stream_.expires_after(server_.limits.head_timeout);
      return read_head();
    }
    phase_ = phase::idle;
    stream_.expires_after(server_.limits.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, size_t n) {
      if (ec) return self->close();
      self->buffer_.commit(n);
      self->stream_.expires_after(self->server_.limits.head_timeout);  // from the first byte
      self->read_head();
    });
  }

  void read_head() {
    phase_ = phase::head;
    head_.emplace();
    head_->header_limit(static_cast<uint32_t>(server_.limits.head_bytes));
    // No cap yet: the route's is set once the route is known. (Not boost::none: Boost 1.74 compares
    // a Content-Length against an empty limit and finds it exceeded.)
    head_->body_limit(std::numeric_limits<uint64_t>::max());
    http::async_read_header(stream_, buffer_, *head_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_head(ec); });
  }

  void on_head(beast::error_code ec) {
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return refuse_head(431, "header_too_large",
                         "request head larger than " + std::to_string(server_.limits.head_bytes) + " bytes");
    }
    if (protocol_error(ec)) {
      return refuse_head(400, "bad_request", "malformed request: " + ec.message());
    }
    if (ec == beast::error::timeout) ++server_.head_timeouts;
    if (ec) return close();  // closed, reset or past the head deadline: nothing to answer
    stream_.expires_never();
    ex_ = std::make_unique<exchange>();
    fill_request(head_->get(), stream_.socket(), ex_->req);
    ex_->keep_alive = head_->keep_alive();
    ex_->unread_body = head_->chunked() || head_->content_length().value_or(0) > 0;
    route();
  }

  void refuse_head(int status, std::string_view code, const std::string& message) {
    ex_ = std::make_unique<exchange>();
    ex_->unread_body = true;  // whatever follows a bad head is not read
    send_error(ex_->res, status, code, message);
    answer();
  }

  // Route and method first, then the caller (the guard), then the body's size: all before any
  // byte of the body is read.
  void route() {
    Request& req = ex_->req;
    const std::string method = req.method == "HEAD" ? "GET" : req.method;
    std::string allow;
    for (const compiled_route& r : server_.routes) {
      if (!std::regex_match(req.path, r.pattern)) continue;
      if (r.method == method) {
        std::regex_match(req.path, req.matches, r.pattern);
        ex_->route = &r;
        break;
      }
      if (allow.find(r.method) == std::string::npos) allow += (allow.empty() ? "" : ", ") + r.method;
    }
    if (ex_->route == nullptr && allow.empty()) {
      send_error(ex_->res, 404, "not_found", "no route for " + req.method + " " + req.path);
      return answer();
    }
    if (ex_->route == nullptr) {
      send_error(ex_->res, 405, "method_not_allowed", req.method + " is not allowed on " + req.path);
      ex_->res.set_header("Allow", allow);
      return answer();
    }
    const bool takes_body = method == "POST" || method == "PUT" || method == "PATCH";
    if (takes_body && !head_->chunked() && !head_->content_length()) {
      send_error(ex_->res, 411, "length_required", "send a Content-Length header (0 for an empty body)");
      return answer();
    }
    if (!ex_->route->route.guard) return size_body();
    phase_ = phase::guard;
    on_worker([](connection& c) {
      if (!c.ex_->route->route.guard(c.ex_->req, c.ex_->res)) {
        if (c.ex_->res.status < 400) send_error(c.ex_->res, 403, "forbidden", "refused");
        return c.finish();
      }
      c.ex_->res = Response{};
      c.on_io([](connection& c) { c.size_body(); });
    });
  }

  void size_body() {
    const size_t cap = ex_->route->route.max_body;
    if (head_->content_length().value_or(0) > cap) return too_large();
    if (!ex_->unread_body) return run_handler();
    const std::string expect = ex_->req.get_header_value("Expect");
    if (!iequals(expect, "100-continue") || ex_->req.version == "HTTP/1.0") return read_body();
    static constexpr std::string_view proceed = "HTTP/1.1 100 Continue\r\n\r\n";
    phase_ = phase::writing;
    stream_.expires_after(server_.limits.write_timeout);
    asio::async_write(stream_, asio::buffer(proceed.data(), proceed.size()),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->close();
                        self->read_body();
                      });
  }

  void read_body() {
    phase_ = phase::body;
    body_.emplace(std::move(*head_));
    head_.reset();
    body_->body_limit(ex_->route->route.max_body);  // chunked bodies included: Beast counts every chunk
    stream_.expires_after(server_.limits.body_timeout);
    http::async_read(stream_, buffer_, *body_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->on_body(ec);
    });
  }

  void on_body(beast::error_code ec) {
    if (ec == http::error::body_limit) return too_large();
    if (protocol_error(ec)) {
      send_error(ex_->res, 400, "bad_request", "malformed body: " + ec.message());
      return answer();
    }
    if (ec == beast::error::timeout) ++server_.body_timeouts;
    if (ec) return close();  // closed, reset or past the body deadline
    stream_.expires_never();
    ex_->req.body = std::move(body_->get().body());
    body_.reset();
    ex_->unread_body = false;
    run_handler();
  }

  void too_large() {
    send_error(ex_->res, 413, "too_large",
              "body larger than " + std::to_string(ex_->route->route.max_body) + " bytes");
    answer();
  }

  void run_handler() {
    phase_ = phase::handler;
    on_worker([](connection& c) {
      Response& res = c.ex_->res;
      try {
        c.ex_->route->route.handle(c.ex_->req, res);
      } catch (...) {
        if (c.server_.on_exception) {
          c.server_.on_exception(c.ex_->req, res, std::current_exception());
        } else {
          send_error(res, 500, "internal", "the handler failed");
        }
      }
      if (res.status == -1) res.status = 200;
      c.finish();
    });
  }

  // An answer made on the I/O thread goes through a worker too (error handler, logger).
  void answer() {
    phase_ = phase::handler;
    on_worker([](connection& c) { c.finish(); });
  }

  // On a worker: the error handler and the logger, then the write on the I/O thread.
  void finish() {
    if (ex_->res.status >= 400 && server_.on_error) server_.on_error(ex_->req, ex_->res);
    if (server_.logger) {
      const char* name = ex_->route != nullptr ? ex_->route->route.name : "unmatched";
      server_.logger(ex_->req, ex_->res, name, std::chrono::duration<double>(clock::now() - ex_->start).count());
    }
    on_io([](connection& c) { c.write_answer(); });
  }

  void write_answer() {
    phase_ = phase::writing;
    const bool keep_alive = ex_->keep_alive && !ex_->unread_body && !server_.stopping;
    answer_head_ = response_head(ex_->req, ex_->res, keep_alive, server_.limits.idle_timeout);
    const bool bodyless = ex_->req.method == "HEAD" || ex_->res.status == 204 || ex_->res.status == 304;
    const std::array<asio::const_buffer, 2> out{asio::buffer(answer_head_),
                                                bodyless ? asio::const_buffer() : asio::buffer(ex_->res.body)};
    stream_.expires_after(server_.limits.write_timeout);
    asio::async_write(stream_, out, [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
      if (ec) return self->close();
      if (!keep_alive) return self->ex_->unread_body ? self->linger() : self->close();
      self->ex_.reset();
      self->answer_head_.clear();
      self->wait_for_request();
    });
  }

  // Sends FIN, then waits up to linger_time for the client to close, reading and dropping at most
  // linger_bytes; then closes.
  void linger() {
    phase_ = phase::lingering;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    head_.reset();
    body_.reset();
    buffer_.consume(buffer_.size());
    linger_end_ = clock::now() + linger_time;
    stream_.expires_at(linger_end_);
    drain();
  }

  void drain() {
    stream_.async_read_some(buffer_.prepare(16 * 1024), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->lingered_ += n;
      if (ec) return self->close();  // the client closed, or the linger time is up
      if (self->lingered_ < linger_bytes) return self->drain();
      self->stall();
    });
  }

  // The client is still sending: no more reads until the linger time is up.
  void stall() {
    stream_.expires_never();
    stall_timer_.emplace(stream_.get_executor());
    stall_timer_->expires_at(linger_end_);
    stall_timer_->async_wait([self = shared_from_this()](beast::error_code) { self->close(); });
  }

  void close() {
    if (stall_timer_) stall_timer_->cancel();
    phase_ = phase::idle;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  // Runs `step` on a worker, then whatever it posts back runs on the I/O thread. A work guard
  // keeps run() from returning while a worker holds the connection.
  template <typename Step>
  void on_worker(Step step) {
    asio::post(server_.workers, [self = shared_from_this(), step,
                                 work = asio::make_work_guard(server_.io)]() mutable { step(*self); });
  }

  template <typename Step>
  void on_io(Step step) {
    asio::post(server_.io, [self = shared_from_this(), step]() mutable { step(*self); });
  }

  engine& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  asio::ip::address ip_;
  phase phase_ = phase::head;
  std::optional<http::request_parser<http::empty_body>> head_;
  std::optional<http::request_parser<http::string_body>> body_;
  std::unique_ptr<exchange> ex_;
  std::string answer_head_;
  size_t lingered_ = 0;
  clock::time_point linger_end_;
  std::optional<asio::steady_timer> stall_timer_;
};

// The hard limit, so that max_conns sockets fit (each connection is one descriptor).
void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

void engine::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (stopping || ec == asio::error::operation_aborted) return;
    if (ec) {  // out of descriptors, most likely: try again shortly rather than spin
      accept_retry.expires_after(std::chrono::milliseconds(50));
      accept_retry.async_wait([this](beast::error_code wait) {
        if (!wait && !stopping) accept();
      });
      return;
    }
    admit(std::move(socket));
    accept();
  });
}

void engine::admit(tcp::socket socket) {
  beast::error_code ec;
  const tcp::endpoint remote = socket.remote_endpoint(ec);
  if (ec) return;
  const asio::ip::address ip = client_address(remote.address());
  {
    std::lock_guard<std::mutex> lock(conns_mutex);
    const auto from_ip = per_ip.find(ip);
    const bool all_full = static_cast<int>(conns.size()) >= limits.max_conns;
    const bool ip_full = from_ip != per_ip.end() && from_ip->second >= limits.max_conns_per_ip;
    if (all_full || ip_full) {
      ++(all_full ? refused_total : refused_per_ip);
      socket.non_blocking(true, ec);
      socket.write_some(asio::buffer(busy_answer.data(), busy_answer.size()), ec);
      socket.shutdown(tcp::socket::shutdown_both, ec);
      socket.close(ec);
      return;
    }
    ++per_ip[ip];
  }
  socket.set_option(tcp::no_delay(true), ec);  // the head and the body go out as two buffers
  std::make_shared<connection>(*this, std::move(socket), ip)->start();
}

void engine::begin_stop() {
  if (stopping.exchange(true)) return;
  beast::error_code ec;
  acceptor.close(ec);
  accept_retry.cancel();
  std::vector<std::shared_ptr<connection>> open;
  {
    std::lock_guard<std::mutex> lock(conns_mutex);
    for (connection* c : conns) {
      if (auto held = c->weak_from_this().lock()) open.push_back(std::move(held));
    }
  }
  for (const auto& c : open) c->close_unless_answering();
  stop_started = clock::now();
  await_drain();
}

// Polls until every connection is gone; past the grace period, cuts them.
void engine::await_drain() {
  stop_timer.expires_after(stop_poll);
  stop_timer.async_wait([this](beast::error_code ec) {
    if (ec) return;
    bool empty = false;
    {
      std::lock_guard<std::mutex> lock(conns_mutex);
      empty = conns.empty();
    }
    if (empty) return;
    if (clock::now() - stop_started > stop_grace) return io.stop();
    await_drain();
  });
}

}  // namespace

struct http_server::impl {
  explicit impl(http_limits limits) : core(limits) {}
  engine core;
};

http_server::http_server(http_limits limits) : impl_(std::make_unique<impl>(limits)) {}

http_server::~http_server() = default;

void http_server::add(http_route route) {
  const std::string method = route.method;
  const std::regex pattern(route.pattern);
  impl_->core.routes.push_back(compiled_route{method, pattern, std::move(route)});
}

void http_server::set_error_handler(http_error_handler handler) { impl_->core.on_error = std::move(handler); }

void http_server::set_exception_handler(http_exception_handler handler) {
  impl_->core.on_exception = std::move(handler);
}

void http_server::set_logger(http_logger logger) { impl_->core.logger = std::move(logger); }

result<int> http_server::bind(const std::string& host, int port) {
  raise_descriptor_limit();
  const std::string where = host + ":" + std::to_string(port);
  beast::error_code ec;
  tcp::resolver resolver(impl_->core.io);
  const auto found = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
  if (ec || found.empty()) return fail(error_code::internal, "cannot resolve " + where + ": " + ec.message());
  const tcp::endpoint endpoint = found.begin()->endpoint();
  tcp::acceptor& acceptor = impl_->core.acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);  // SO_REUSEADDR only, never SO_REUSEPORT
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail(error_code::internal, "cannot listen on " + where + ": " + ec.message());
  return static_cast<int>(acceptor.local_endpoint().port());
}

void http_server::run() {
  impl_->core.accept();
  impl_->core.io.run();
}

void http_server::stop() {
  asio::post(impl_->core.io, [this] { impl_->core.begin_stop(); });
}

http_counters http_server::counters() const {
  engine& core = impl_->core;
  http_counters c;
  {
    std::lock_guard<std::mutex> lock(core.conns_mutex);
    c.open = core.conns.size();
  }
  c.refused_per_ip = core.refused_per_ip;
  c.refused_total = core.refused_total;
  c.head_timeouts = core.head_timeouts;
  c.body_timeouts = core.body_timeouts;
  return c;
}

}  // namespace whale::origin
