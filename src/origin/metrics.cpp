#include "metrics.h"

#include <cstdio>

namespace whale::origin {

namespace {

std::string label(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c == '\n' ? ' ' : c);
  }
  return out + "\"";
}

std::string number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

void metrics::request(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{route, status}];
  histogram& h = latency_[route];
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (seconds <= bounds[i]) {
      ++h.buckets[i];
      break;
    }
  }
  ++h.count;
  h.sum += seconds;
}

void metrics::publish() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++publishes_;
}

void metrics::validation_failure(const std::string& code) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++validation_failures_[code];
}

void metrics::nudge(bool ok) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++(ok ? nudges_ok_ : nudges_failed_);
}

void metrics::events(uint64_t accepted, uint64_t duplicates, uint64_t rejected) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++event_batches_;
  events_accepted_ += accepted;
  events_duplicate_ += duplicates;
  events_rejected_ += rejected;
}

void metrics::events_refused(uint64_t malformed, uint64_t signature) {
  std::lock_guard<std::mutex> lock(mutex_);
  events_malformed_ += malformed;
  events_bad_signature_ += signature;
}

void metrics::events_expired(uint64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  events_expired_ += n;
}

void metrics::reweight(const std::string& status) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++reweights_[status];
}

void metrics::proposal(const std::string& result) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++proposals_[result];
}

void metrics::srm_cleared() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++srm_cleared_;
}

std::string metrics::render() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  header(out, "whale_origin_requests_total", "counter", "HTTP requests by route and status.");
  for (const auto& [key, n] : requests_) {
    out += "whale_origin_requests_total{route=" + label(key.first) + ",status=\"" + std::to_string(key.second) +
           "\"} " + std::to_string(n) + "\n";
  }
  header(out, "whale_origin_request_duration_seconds", "histogram", "Request latency by route.");
  for (const auto& [route, h] : latency_) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds.size(); ++i) {
      cumulative += h.buckets[i];
      out += "whale_origin_request_duration_seconds_bucket{route=" + label(route) + ",le=\"" + number(bounds[i]) +
             "\"} " + std::to_string(cumulative) + "\n";
    }
    out += "whale_origin_request_duration_seconds_bucket{route=" + label(route) + ",le=\"+Inf\"} " +
           std::to_string(h.count) + "\n";
    out += "whale_origin_request_duration_seconds_sum{route=" + label(route) + "} " + number(h.sum) + "\n";
    out += "whale_origin_request_duration_seconds_count{route=" + label(route) + "} " + std::to_string(h.count) + "\n";
  }
  header(out, "whale_origin_publishes_total", "counter", "Snapshots published (revalidations that made a version).");
  out += "whale_origin_publishes_total " + std::to_string(publishes_) + "\n";
  header(out, "whale_origin_validation_failures_total", "counter", "Configs refused, by error code.");
  for (const auto& [code, n] : validation_failures_) {
    out += "whale_origin_validation_failures_total{code=" + label(code) + "} " + std::to_string(n) + "\n";
  }
  header(out, "whale_origin_edge_nudges_total", "counter", "Invalidation nudges and snapshot publishes sent to edges (each attempt), by result.");
  out += "whale_origin_edge_nudges_total{result=\"ok\"} " + std::to_string(nudges_ok_) + "\n";
  out += "whale_origin_edge_nudges_total{result=\"error\"} " + std::to_string(nudges_failed_) + "\n";
  header(out, "whale_origin_event_batches_total", "counter", "POST /v1/events batches stored.");
  out += "whale_origin_event_batches_total " + std::to_string(event_batches_) + "\n";
  header(out, "whale_origin_events_total", "counter", "Events received, by result.");
  out += "whale_origin_events_total{result=\"accepted\"} " + std::to_string(events_accepted_) + "\n";
  out += "whale_origin_events_total{result=\"duplicate\"} " + std::to_string(events_duplicate_) + "\n";
  out += "whale_origin_events_total{result=\"rejected\"} " + std::to_string(events_rejected_) + "\n";
  header(out, "whale_origin_events_refused_total", "counter", "Events left out of a batch, by reason.");
  out += "whale_origin_events_refused_total{reason=\"malformed\"} " + std::to_string(events_malformed_) + "\n";
  out += "whale_origin_events_refused_total{reason=\"signature\"} " + std::to_string(events_bad_signature_) + "\n";
  header(out, "whale_origin_events_expired_total", "counter", "Raw events deleted past their retention.");
  out += "whale_origin_events_expired_total " + std::to_string(events_expired_) + "\n";
  header(out, "whale_origin_reweights_total", "counter", "Bandit reweight attempts per experiment, by status.");
  for (const auto& [status, n] : reweights_) {
    out += "whale_origin_reweights_total{status=" + label(status) + "} " + std::to_string(n) + "\n";
  }
  header(out, "whale_origin_srm_flags_cleared_total", "counter", "SRM flags cleared by vendors.");
  out += "whale_origin_srm_flags_cleared_total " + std::to_string(srm_cleared_) + "\n";
  header(out, "whale_origin_optimizer_proposals_total", "counter", "Optimizer proposal attempts, by result.");
  for (const auto& [result, n] : proposals_) {
    out += "whale_origin_optimizer_proposals_total{result=" + label(result) + "} " + std::to_string(n) + "\n";
  }
  return out;
}

}  // namespace whale::origin
