// A token bucket per key (the origin limits publishes per vendor): `per_minute` tokens a minute,
// at most `per_minute` held, so a quiet vendor may publish a burst of that many at once.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace whale::origin {

class rate_limit {
 public:
  using clock = std::chrono::steady_clock;

  explicit rate_limit(uint32_t per_minute) : capacity_(per_minute), per_second_(per_minute / 60.0) {}

  // Takes a token for `key`: 0 when granted, else the whole seconds until one is available
  // (for Retry-After). A limit of 0 grants everything.
  uint32_t take(const std::string& key, clock::time_point now = clock::now()) {
    if (capacity_ == 0) return 0;
    std::lock_guard<std::mutex> lock(mutex_);
    bucket& b = refilled(key, now);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return static_cast<uint32_t>(std::ceil((1 - b.tokens) / per_second_));
  }

  // Gives back a token taken for a request that did not use it (nothing was published).
  void refund(const std::string& key) {
    if (capacity_ == 0) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = buckets_.find(key);
    if (it != buckets_.end() && it->second.tokens >= 0) it->second.tokens = std::fmin(it->second.tokens + 1, capacity_);
  }

 private:
  struct bucket {
    double tokens = -1;  // < 0: never used (starts full)
    clock::time_point at;
  };

  bucket& refilled(const std::string& key, clock::time_point now) {
    bucket& b = buckets_[key];
    if (b.tokens < 0) {
      b.tokens = capacity_;
    } else {
      const double elapsed = std::chrono::duration<double>(now - b.at).count();
      b.tokens = std::fmin(capacity_, b.tokens + elapsed * per_second_);
    }
    b.at = now;
    return b;
  }

  const double capacity_;
  const double per_second_;
  std::mutex mutex_;
  std::map<std::string, bucket> buckets_;  // one per vendor that published: bounded by the vendors table
};

}  // namespace whale::origin
