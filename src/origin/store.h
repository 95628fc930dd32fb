// The origin's storage: one SQLite file in WAL mode with synchronous=FULL, so that a write the
// origin acknowledged (a 2xx) is on disk before the answer leaves and survives kill -9.
// One connection guarded by a mutex: every call is a short transaction.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "whale/result.h"

struct sqlite3;

namespace whale::origin {

enum class principal_kind { vendor, edge };

struct principal {
  principal_kind kind;
  std::string name;  // the vendor's slug or the edge's name
};

struct draft {
  std::string body;  // minified config JSON
  std::string updated_at;
};

struct snapshot {
  std::string slug;
  uint64_t version = 0;
  std::string body;       // minified config JSON: the signed config bytes
  std::string signature;  // base64 Ed25519
  std::string key_id;
  std::string published_at;
  uint64_t seq = 0;  // global publish sequence
};

struct change {
  std::string slug;
  uint64_t version;
  uint64_t seq;
};

// What publish() answered: `response` is the JSON body, the same bytes on a replay.
struct publish_outcome {
  std::string response;
  bool replayed = false;  // an earlier request with the same Idempotency-Key answered this
  snapshot published;     // empty on a replay
};

// Signs a new snapshot (fills signature and key_id from its other fields) and returns the JSON
// response to remember under the idempotency key.
using snapshot_finisher = std::function<result<std::string>(snapshot&)>;

class store {
 public:
  // Opens (creating if needed) the database at `path` and its schema.
  static result<std::unique_ptr<store>> open(const std::string& path);
  ~store();

  // Registers a vendor or an edge under the SHA-256 of its token; fails if the name exists.
  result<void> add_principal(principal_kind kind, const std::string& name, const std::string& token_hash,
                             const std::string& now);
  std::optional<principal> find_token(const std::string& token_hash);

  result<void> put_draft(const std::string& slug, const std::string& body, const std::string& now);
  std::optional<draft> get_draft(const std::string& slug);

  // Publishes the vendor's draft as its next version in one transaction: not_found when there is
  // no draft. With a non-empty idempotency key, a key seen before for this vendor returns the
  // response stored with it and publishes nothing.
  result<publish_outcome> publish(const std::string& slug, const std::string& idempotency_key, const std::string& now,
                                  const snapshot_finisher& finish);

  // The vendor's snapshot of `version`, or its latest when `version` is 0.
  std::optional<snapshot> find_snapshot(const std::string& slug, uint64_t version);
  // The latest version of every vendor published after `seq`, in publish order.
  std::vector<change> changes_since(uint64_t seq);
  bool healthy();

 private:
  explicit store(sqlite3* db);
  result<void> exec(const char* sql);
  bool next_snapshot(const std::string& slug, snapshot& snap);
  sqlite3* db_;
  std::mutex mutex_;
};

}  // namespace whale::origin
