// Tells the edges about a new snapshot: POST {"slug","version"} to each edge's invalidate URL
// with the edge token as bearer. Fire and forget: one background thread per edge, short
// timeouts, failures only counted and logged; a revalidate never waits for an edge.
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

 private:
  struct edge;
  void run(edge& e);
  std::vector<std::unique_ptr<edge>> edges_;
  std::string token_;
  reporter report_;
};

}  // namespace whale::origin
