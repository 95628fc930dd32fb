// The origin's HTTP API (docs/origin.md): vendor config writes and revalidation, signed
// snapshots for the edges, health, metrics and one JSON log line per request on stderr.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "whale/result.h"

namespace whale::origin {

class signer;
class store;

struct server_options {
  std::string host = "127.0.0.1";
  int port = 8788;                     // 0: any free port
  std::vector<std::string> edge_urls;  // invalidate endpoints nudged after each publish
  std::string edge_token;              // bearer token sent with the nudges
  int reweight_every_s = 3600;         // bandit reweight cadence (docs/bandits.md); 0: only on request
  // media.allowedSources may name loopback, private and link-local hosts (the local stack only).
  bool allow_private_media_sources = false;
};

class server {
 public:
  server(store& db, const signer& key, server_options options);
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
