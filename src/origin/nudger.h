// Tells the edges about a new snapshot: POST {"slug","version"} to each edge's invalidate URL
// with the edge token as bearer. Fire and forget: one background thread per edge, short
// timeouts, failures only counted and logged; a revalidate never waits for an edge.
// Also forwards a vendor's live transform to every edge (forward_live), and waits for their answers.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace whale::origin {

class nudger {
 public:
  // `report(url, ok, detail)` is called from the background threads after each attempt.
  using reporter = std::function<void(const std::string& url, bool ok, const std::string& detail)>;
  nudger(std::vector<std::string> urls, std::string token, reporter report);
  ~nudger();  // drops what is queued; an attempt in flight ends within its timeouts
  nudger(const nudger&) = delete;
  nudger& operator=(const nudger&) = delete;

  void notify(const std::string& slug, uint64_t version);

  // One edge's answer to a forwarded transform: its HTTP status and body, or status 0 and what
  // went wrong on the way.
  struct live_answer {
    std::string url;  // where it was posted
    int status = 0;
    std::string body;  // the edge's body, or the transport error
  };
  // POSTs `transform` (JSON text) with the edge token to every edge's live route for the page,
  // /v1/live/<slug>/<page> beside its invalidate URL, all at once; returns when each answered or
  // timed out (1 s to connect, 2 s per read or write). An empty list when no edge is configured.
  std::vector<live_answer> forward_live(const std::string& slug, const std::string& page,
                                        const std::string& transform) const;

 private:
  struct edge;
  void run(edge& e);
  std::vector<std::unique_ptr<edge>> edges_;
  std::string token_;
  reporter report_;
};

}  // namespace whale::origin
