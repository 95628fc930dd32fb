// The origin's counters in Prometheus text format (GET /metrics).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace whale::origin {

class metrics {
 public:
  // One finished request: its route pattern (e.g. "PUT /v1/vendors/{slug}/config"), status and
  // duration in seconds.
  void request(const std::string& route, int status, double seconds);
  void publish();
  void validation_failure(const std::string& code);
  void nudge(bool ok);
  // One POST /v1/events batch and its per-event outcome.
  void events(uint64_t accepted, uint64_t duplicates, uint64_t rejected);
  // Events of a batch left out: of the wrong shape, or whose id is not the events key's MAC.
  void events_refused(uint64_t malformed, uint64_t signature);
  void events_expired(uint64_t n);  // raw events deleted past their retention
  // One experiment's reweight attempt by its status ("reweighted", "below_min_units", "srm", ...).
  void reweight(const std::string& status);
  // One optimizer proposal attempt by its result: "created" (a draft), "published", "not_created".
  void proposal(const std::string& result);
  void srm_cleared();
  // The exposition text (text/plain; version=0.0.4).
  std::string render();

 private:
  // Upper bounds of the latency histogram's buckets, in seconds (+Inf is implied).
  static constexpr std::array<double, 10> bounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
  struct histogram {
    std::array<uint64_t, bounds.size()> buckets{};  // per bucket; render() accumulates
    uint64_t count = 0;
    double sum = 0;
  };
  std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, histogram> latency_;
  std::map<std::string, uint64_t> validation_failures_;
  uint64_t publishes_ = 0;
  uint64_t nudges_ok_ = 0;
  uint64_t nudges_failed_ = 0;
  uint64_t event_batches_ = 0;
  uint64_t events_accepted_ = 0;
  uint64_t events_duplicate_ = 0;
  uint64_t events_rejected_ = 0;
  uint64_t events_malformed_ = 0;
  uint64_t events_bad_signature_ = 0;
  uint64_t events_expired_ = 0;
  std::map<std::string, uint64_t> reweights_;
  std::map<std::string, uint64_t> proposals_;
  uint64_t srm_cleared_ = 0;
};

}  // namespace whale::origin
