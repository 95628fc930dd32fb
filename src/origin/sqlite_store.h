// The embedded backend: one SQLite file in WAL mode with synchronous=FULL, so that a write the
// origin acknowledged (a 2xx) is on disk before the answer leaves and survives kill -9.
// One connection guarded by a mutex: every call is a short transaction.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store.h"

struct sqlite3;

namespace whale::origin {

class sqlite_store final : public store {
 public:
  // Opens (creating if needed) the file at `path` (and its directory) and its schema.
  static result<std::unique_ptr<store>> open(const std::string& path);
  // Whether `path` is an existing origin database (it has the origin's tables), read-only: not_found
  // when there is no such file, invalid_value when it is not an SQLite origin database.
  static result<void> check_origin_file(const std::string& path);
  ~sqlite_store() override;

  result<void> add_principal(principal_kind kind, const std::string& name, const std::string& token_hash,
                             const std::string& now) override;
  result<std::optional<principal>> find_token(const std::string& token_hash) override;
  result<void> rotate_token(principal_kind kind, const std::string& name, const std::string& token_hash,
                            uint32_t grace_s) override;
  result<uint64_t> revoke_tokens(principal_kind kind, const std::string& name) override;
  result<uint64_t> resign_snapshots(const std::string& key_id, const std::function<result<void>(snapshot&)>& sign) override;
  result<void> put_draft(const std::string& slug, const std::string& body, const std::string& now) override;
  std::optional<draft> get_draft(const std::string& slug) override;
  result<publish_outcome> publish(const std::string& slug, const std::string& idempotency_key, const std::string& now,
                                  const snapshot_finisher& finish) override;
  void keep_snapshots(uint64_t n) override;
  bool remembers(const std::string& slug, const std::string& idempotency_key) override;
  result<std::optional<snapshot>> find_snapshot(const std::string& slug, uint64_t version) override;
  std::vector<change> changes_since(uint64_t seq) override;
  std::optional<change> latest_of(const std::string& slug) override;
  result<void> quick_check(const std::atomic<bool>* cancel) override;
  result<void> health() override;
  result<ingest_counts> ingest_events(const std::vector<event_record>& events, const std::string& now) override;
  result<uint64_t> expire_events(uint32_t retention_days) override;
  uint64_t event_count() override;
  std::vector<arm_stat> arm_stats_of(const std::string& slug, const std::string& experiment) override;
  std::vector<arm_stat> exposures_since(const std::string& slug, const std::string& experiment, uint64_t mark) override;
  uint64_t exposure_mark() override;
  std::vector<bandit_record> bandit_history_of(const std::string& slug, const std::string& experiment) override;
  std::vector<bandit_flag> bandit_flags_of(const std::string& slug) override;
  result<void> record_bandits(const std::vector<bandit_record>& records, const std::vector<bandit_flag>& flags) override;
  result<publish_outcome> publish_body(const std::string& slug, const std::string& body, const std::string& now,
                                       const snapshot_finisher& finish, publish_extras extras) override;
  result<bandit_flag> clear_flag(const std::string& slug, const std::string& experiment, const std::string& now) override;
  result<proposal_record> add_proposal(const std::string& slug, const std::string& body, uint64_t based_on,
                                       const std::string& now,
                                       const std::function<std::string(uint64_t id)>& experiment_key) override;
  std::vector<proposal_record> proposals_of(const std::string& slug) override;
  result<std::optional<proposal_record>> find_proposal(const std::string& slug, uint64_t id) override;
  result<void> mark_proposal(const std::string& slug, uint64_t id, const std::string& status, const std::string& now) override;
  bool auto_publish(const std::string& slug) override;
  result<void> set_auto_publish(const std::string& slug, bool on, const std::string& now) override;
  result<std::vector<table_rows>> export_tables() override;
  result<void> import_tables(const std::vector<table_rows>& tables) override;
  result<bool> take_lease(const std::string&, uint32_t) override { return true; }
  void release_lease(const std::string&) override {}

 private:
  sqlite_store(sqlite3* db, std::string path);
  result<void> insert_snapshot(const snapshot& snap);
  result<void> insert_bandits(const std::vector<bandit_record>& records, const std::vector<bandit_flag>& flags);
  result<void> migrate();
  result<void> migrate_tokens();
  bool principal_exists(principal_kind kind, const std::string& name);
  result<void> exec(const char* sql);
  bool next_snapshot(const std::string& slug, snapshot& snap);
  sqlite3* db_;
  std::string path_;
  uint64_t keep_snapshots_ = 50;
  std::mutex mutex_;
  std::mutex fault_mutex_;
  std::string fault_;  // what the last quick_check found wrong; empty when nothing
};

}  // namespace whale::origin
