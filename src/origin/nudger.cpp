#include "nudger.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <string_view>

#include "whale/json.h"

namespace whale::origin {

namespace {

constexpr time_t connect_timeout_seconds = 1;
constexpr time_t io_timeout_seconds = 2;
// A publish target is sent the snapshot itself (up to the origin's config limit) and writes it to
// KV before it answers: more time than a nudge.
constexpr time_t publish_io_timeout_seconds = 15;
constexpr int first_retry_ms = 1000;
constexpr int max_retry_ms = 30000;

// "http://host:port/path" -> {"http://host:port", "/path"}.
std::pair<std::string, std::string> split_url(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (path == std::string::npos) return {url, "/"};
  return {url.substr(0, path), url.substr(path)};
}

// An edge's live route for slug/page, beside its invalidate or publish URL: the URL's path with
// its "/v1/invalidate" or "/v1/publish" replaced (an edge served under a path prefix keeps it).
std::string live_url(const std::string& target_url, const std::string& slug, const std::string& page) {
  auto [base, path] = split_url(target_url);
  const auto ends_with = [&](std::string_view suffix) {
    return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  std::string prefix;
  for (std::string_view suffix : {std::string_view("/v1/invalidate"), std::string_view("/v1/publish")}) {
    if (ends_with(suffix)) prefix = path.substr(0, path.size() - suffix.size());
  }
  return base + prefix + "/v1/live/" + slug + "/" + page;
}

}  // namespace

struct nudger::edge {
  std::string url;
  bool publish = false;  // sent the snapshot, retried until it lands
  std::mutex mutex;
  std::condition_variable wake;
  // Pending nudges as (slug, body): at most one per vendor, the newest version (edges pull the
  // latest anyway), so an unreachable edge costs memory per vendor, not per publish.
  std::deque<std::pair<std::string, std::string>> queue;
  bool stopping = false;
  std::thread thread;
};

nudger::nudger(std::vector<std::string> invalidate_urls, std::vector<std::string> publish_urls, std::string token,
               reporter report)
    : token_(std::move(token)), report_(std::move(report)) {
  for (auto* urls : {&invalidate_urls, &publish_urls}) {
    for (std::string& url : *urls) {
      auto e = std::make_unique<edge>();
      e->url = std::move(url);
      e->publish = urls == &publish_urls;
      edges_.push_back(std::move(e));
    }
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

void nudger::notify(const std::string& slug, uint64_t version, const std::string& snapshot) {
  std::string nudge = "{\"slug\":";
  json::write_string(slug, nudge);
  nudge += ",\"version\":" + std::to_string(version) + "}";
  for (auto& e : edges_) {
    {
      std::lock_guard<std::mutex> lock(e->mutex);
      const std::string& body = e->publish ? snapshot : nudge;
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
  const time_t io_timeout = e.publish ? publish_io_timeout_seconds : io_timeout_seconds;
  client.set_read_timeout(io_timeout, 0);
  client.set_write_timeout(io_timeout, 0);
  if (!token_.empty()) client.set_bearer_token_auth(token_);
  int retry_ms = first_retry_ms;
  for (;;) {
    std::string slug;
    std::string body;
    {
      std::unique_lock<std::mutex> lock(e.mutex);
      e.wake.wait(lock, [&] { return e.stopping || !e.queue.empty(); });
      if (e.stopping) return;
      slug = std::move(e.queue.front().first);
      body = std::move(e.queue.front().second);
      e.queue.pop_front();
    }
    const httplib::Result res = client.Post(path, body, "application/json");
    // A publish is retried after a network failure, a 5xx or a 429; any other answer is final.
    bool retry = false;
    if (!res) {
      report_(e.url, false, httplib::to_string(res.error()));
      retry = e.publish;
    } else {
      const bool ok = res->status >= 200 && res->status < 300;
      report_(e.url, ok, "HTTP " + std::to_string(res->status));
      retry = e.publish && (res->status >= 500 || res->status == 429);
    }
    if (!retry) {
      retry_ms = first_retry_ms;
      continue;
    }
    std::unique_lock<std::mutex> lock(e.mutex);
    // Put it back unless a newer version of the vendor is already waiting, then back off.
    if (std::none_of(e.queue.begin(), e.queue.end(), [&](const auto& q) { return q.first == slug; })) {
      e.queue.emplace_front(std::move(slug), std::move(body));
    }
    e.wake.wait_for(lock, std::chrono::milliseconds(retry_ms), [&] { return e.stopping; });
    if (e.stopping) return;
    retry_ms = std::min(retry_ms * 2, max_retry_ms);
  }
}

}  // namespace whale::origin
