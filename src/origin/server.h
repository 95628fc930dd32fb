// The origin's HTTP API (docs/origin.md): vendor config writes and revalidation, signed
// snapshots for the edges, health, metrics and one JSON log line per request on stderr.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "whale/result.h"

namespace whale::origin {

class keyring;
class store;

struct server_options {
  std::string host = "127.0.0.1";
  int port = 8788;                     // 0: any free port
  std::vector<std::string> edge_urls;  // invalidate endpoints nudged after each publish
  std::vector<std::string> publish_urls;  // workers' /v1/publish, sent each signed snapshot (KV)
  std::string edge_token;              // bearer token sent with the nudges
  int reweight_every_s = 3600;         // bandit reweight cadence (docs/bandits.md); 0: only on request
  // The HTTP transport's limits (docs/origin.md, "HTTP server"; the rest are in http_server.h).
  int head_timeout_ms = 10000;         // for a whole request head, from accept or its first byte
  int max_conns = 4096;                // open connections in all
  int max_conns_per_ip = 64;           // open connections from one client address
  // media.allowedSources may name loopback, private and link-local hosts (the local stack only).
  bool allow_private_media_sources = false;
  std::vector<std::string> events_keys;  // shared with the edges, current first: event ids are MACs (docs/bandits.md)
  uint32_t events_retention_days = 30; // raw events kept this long (aggregates forever); 0: forever
  uint32_t revalidate_per_minute = 10; // publishes per vendor per minute, bursts of as many; 0: unlimited
};

class server {
 public:
  server(store& db, keyring& keys, server_options options);
  ~server();
  // Binds the listening socket; the port actually bound.
  result<int> bind();
  // Serves until stop() (callable from any thread).
  void run();
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// The time now in UTC with milliseconds, e.g. "2026-11-25T08:31:14.123Z" (such strings sort by time).
std::string now_iso();

// The bytes a snapshot's signature covers (docs/origin.md, "Signing"):
// "whale-snapshot-v1\n" slug "\n" version "\n" published_at "\n" config.
std::string signed_message(const std::string& slug, uint64_t version, const std::string& published_at,
                           const std::string& config);

}  // namespace whale::origin
