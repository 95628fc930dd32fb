#include "nudger.h"

#include <httplib.h>

#include <algorithm>
#include <string_view>

#include "whale/json.h"

namespace whale::origin {

namespace {

constexpr time_t connect_timeout_seconds = 1;
constexpr time_t io_timeout_seconds = 2;

// "http://host:port/path" -> {"http://host:port", "/path"}.
std::pair<std::string, std::string> split_url(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (path == std::string::npos) return {url, "/"};
  return {url.substr(0, path), url.substr(path)};
}

// An edge's live route for slug/page, beside its invalidate URL: the URL's path with its
// "/v1/invalidate" replaced (an edge served under a path prefix keeps it).
std::string live_url(const std::string& invalidate_url, const std::string& slug, const std::string& page) {
  auto [base, path] = split_url(invalidate_url);
  constexpr std::string_view suffix = "/v1/invalidate";
  std::string prefix = path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0
                           ? path.substr(0, path.size() - suffix.size())
                           : std::string();
  return base + prefix + "/v1/live/" + slug + "/" + page;
}

}  // namespace

struct nudger::edge {
  std::string url;
  std::mutex mutex;
  std::condition_variable wake;
  // Pending nudges as (slug, body): at most one per vendor, the newest version (edges pull the
  // latest anyway), so an unreachable edge costs memory per vendor, not per publish.
  std::deque<std::pair<std::string, std::string>> queue;
  bool stopping = false;
  std::thread thread;
};

nudger::nudger(std::vector<std::string> urls, std::string token, reporter report)
    : token_(std::move(token)), report_(std::move(report)) {
  for (std::string& url : urls) {
    auto e = std::make_unique<edge>();
    e->url = std::move(url);
    edges_.push_back(std::move(e));
  }
  for (auto& e : edges_) e->thread = std::thread([this, p = e.get()] { run(*p); });
}

nudger::~nudger() {
  for (auto& e : edges_) {
    {
      std::lock_guard<std::mutex> lock(e->mutex);
      e->stopping = true;
    }
    e->wake.notify_one();
  }
  for (auto& e : edges_) e->thread.join();
}

void nudger::notify(const std::string& slug, uint64_t version) {
  std::string body = "{\"slug\":";
  json::write_string(slug, body);
  body += ",\"version\":" + std::to_string(version) + "}";
  for (auto& e : edges_) {
    {
      std::lock_guard<std::mutex> lock(e->mutex);
      auto same = std::find_if(e->queue.begin(), e->queue.end(), [&](const auto& q) { return q.first == slug; });
      if (same != e->queue.end()) {
        same->second = body;
      } else {
        e->queue.emplace_back(slug, body);
      }
    }
    e->wake.notify_one();
  }
}

std::vector<nudger::live_answer> nudger::forward_live(const std::string& slug, const std::string& page,
                                                      const std::string& transform) const {
  std::vector<live_answer> answers(edges_.size());
  std::vector<std::thread> posts;
  posts.reserve(edges_.size());
  for (size_t i = 0; i < edges_.size(); i++) {
    answers[i].url = live_url(edges_[i]->url, slug, page);
    posts.emplace_back([this, &transform, &a = answers[i]] {
      const auto [base, path] = split_url(a.url);
      httplib::Client client(base);
      client.set_connection_timeout(connect_timeout_seconds, 0);
      client.set_read_timeout(io_timeout_seconds, 0);
      client.set_write_timeout(io_timeout_seconds, 0);
      if (!token_.empty()) client.set_bearer_token_auth(token_);
      const httplib::Result res = client.Post(path, transform, "application/json");
      if (!res) {
        a.body = httplib::to_string(res.error());
        return;
      }
      a.status = res->status;
      a.body = res->body;
    });
  }
  for (std::thread& t : posts) t.join();
  return answers;
}

void nudger::run(edge& e) {
  const auto [base, path] = split_url(e.url);
  httplib::Client client(base);
  client.set_connection_timeout(connect_timeout_seconds, 0);
  client.set_read_timeout(io_timeout_seconds, 0);
  client.set_write_timeout(io_timeout_seconds, 0);
  if (!token_.empty()) client.set_bearer_token_auth(token_);
  for (;;) {
    std::string body;
    {
      std::unique_lock<std::mutex> lock(e.mutex);
      e.wake.wait(lock, [&] { return e.stopping || !e.queue.empty(); });
      if (e.stopping) return;
      body = std::move(e.queue.front().second);
      e.queue.pop_front();
    }
    const httplib::Result res = client.Post(path, body, "application/json");
    if (!res) {
      report_(e.url, false, httplib::to_string(res.error()));
    } else {
      report_(e.url, res->status >= 200 && res->status < 300, "HTTP " + std::to_string(res->status));
    }
  }
}

}  // namespace whale::origin
