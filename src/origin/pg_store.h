// The shared backend: PostgreSQL through libpq, for any number of origin processes on one database
// (docs/origin.md, "PostgreSQL"). Every statement is unnamed (PQexecParams, text parameters) and
// no session state outlives a transaction, so it runs through PgBouncer in transaction pooling.
// A few connections, each used by one call at a time; a lost one is reopened by the next call.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "store.h"

namespace whale::origin {

class pg_connection;

class pg_store final : public store {
 public:
  // Connects to `url` (postgres://...) and creates or migrates the schema (idempotent; processes
  // opening one database at once take turns).
  static result<std::unique_ptr<store>> open(const std::string& url);
  ~pg_store() override;

  result<void> add_principal(principal_kind kind, const std::string& name, const std::string& token_hash,
                             const std::string& now) override;
  result<std::optional<principal>> find_token(const std::string& token_hash) override;
  result<void> rotate_token(principal_kind kind, const std::string& name, const std::string& token_hash,
                            uint32_t grace_s) override;
  result<uint64_t> revoke_tokens(principal_kind kind, const std::string& name) override;
  result<uint64_t> resign_snapshots(const std::string& key_id,
                                    const std::function<result<void>(snapshot&)>& sign) override;
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
  result<void> mark_proposal(const std::string& slug, uint64_t id, const std::string& status,
                             const std::string& now) override;
  bool auto_publish(const std::string& slug) override;
  result<void> set_auto_publish(const std::string& slug, bool on, const std::string& now) override;
  result<bool> take_lease(const std::string& name, uint32_t ttl_s) override;
  void release_lease(const std::string& name) override;

 private:
  // One connection taken from the pool for the length of a call; given back when it ends.
  class checkout {
   public:
    explicit checkout(pg_store& owner);
    ~checkout();
    checkout(const checkout&) = delete;
    checkout& operator=(const checkout&) = delete;
    pg_connection& operator*() { return *conn_; }
    pg_connection* operator->() { return conn_.get(); }

   private:
    pg_store& owner_;
    std::unique_ptr<pg_connection> conn_;
  };

  explicit pg_store(std::string url);
  result<void> migrate();
  result<publish_outcome> publish_in(pg_connection& c, const std::string& slug, const std::string& body,
                                     const std::string& now, const snapshot_finisher& finish,
                                     const std::string& idempotency_key, publish_extras* extras);
  result<void> ensure_partitions(pg_connection& c, const std::string& day);

  std::string url_;
  std::string holder_;  // this process's name in the leases table
  uint64_t keep_snapshots_ = 50;
  std::mutex pool_mutex_;
  std::condition_variable pool_free_;
  std::vector<std::unique_ptr<pg_connection>> idle_;
  size_t open_ = 0;           // connections handed out or idle
  std::set<std::string> partitions_;  // days (YYYY-MM-DD) whose events partition exists; under pool_mutex_
};

}  // namespace whale::origin
