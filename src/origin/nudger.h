// Tells the edges about a new snapshot, with the edge token as bearer, from one background thread
// per target (a revalidate never waits for an edge). Two kinds of target:
//   - invalidate: POST {"slug","version"} to an edge's /v1/invalidate, which pulls the snapshot
//     itself. Fire and forget: failures are counted and logged (the edge pulls on its own once
//     its copy is max-age old).
//   - publish: POST the signed snapshot itself to a worker's /v1/publish, which writes it to
//     Workers KV (edge-workers/README.md, "Deploy to Cloudflare"). Isolates cannot be nudged
//     there, so a failed publish is retried with backoff (1 s doubling to 30 s) until it lands,
//     or a newer version of the vendor replaces it, or the worker refuses it for good (4xx).
// Also forwards a vendor's live transform to every target's /v1/live route (forward_live), and
// waits for their answers.
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
  // invalidate_urls and publish_urls: one target each.
  nudger(std::vector<std::string> invalidate_urls, std::vector<std::string> publish_urls, std::string token,
         reporter report);
  ~nudger();  // drops what is queued; an attempt in flight ends within its timeouts
  nudger(const nudger&) = delete;
  nudger& operator=(const nudger&) = delete;

  // snapshot: the signed snapshot as GET /v1/snapshots/{slug} answers it (for publish targets).
  void notify(const std::string& slug, uint64_t version, const std::string& snapshot);

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
