// The shared backend: PostgreSQL through libpq, for any number of origin processes on one database
// (docs/origin.md, "PostgreSQL"). Every statement is unnamed (PQexecParams, text parameters) and
// no session state outlives a transaction, so it runs through PgBouncer in transaction pooling.
// A few connections per server, each used by one call at a time; a lost one is reopened by the next
// call. With a streaming replica, the plain reads of GET routes go to it while it keeps up.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "store.h"

namespace whale::origin {

// An event's fact key, (slug, experiment, unit), in hashed sets and maps (the unit first: it
// tells keys apart).
using fact_key = std::tuple<std::string, std::string, std::string>;
struct fact_key_hash {
  size_t operator()(const fact_key& k) const noexcept {
    const std::hash<std::string> h;
    return (h(std::get<2>(k)) * 31 + h(std::get<1>(k))) * 31 + h(std::get<0>(k));
  }
};
using fact_set = std::unordered_set<fact_key, fact_key_hash>;
template <typename T>
using fact_map = std::unordered_map<fact_key, T, fact_key_hash>;

class pg_connection;
class pg_rows;

// Up to `size` connections to one server; callers beyond wait for one to be given back.
class pg_pool {
 public:
  pg_pool(std::string url, size_t size);
  ~pg_pool();
  std::unique_ptr<pg_connection> take();
  void give_back(std::unique_ptr<pg_connection> c);
  // Whether a connection was lost or could not be opened in the last second, and none has been
  // given back from a server that answered since.
  bool unreachable() const;

 private:
  std::string url_;
  size_t size_;
  std::mutex mutex_;
  std::condition_variable free_;
  std::vector<std::unique_ptr<pg_connection>> idle_;
  size_t open_ = 0;  // connections handed out or idle
  std::atomic<int64_t> down_until_{0};  // steady_clock ticks; 0: reachable as far as is known
};

class pg_store final : public store {
 public:
  // Connects to `url` (postgres://...) and creates or migrates the schema (idempotent; processes
  // opening one database at once take turns). The replica, if any, is not needed to open.
  static result<std::unique_ptr<store>> open(const std::string& url, const store_options& options);
  ~pg_store() override;
  read_targets reads() const override;

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
  result<std::vector<table_rows>> export_tables() override;
  result<void> import_tables(const std::vector<table_rows>& tables) override;
  result<bool> take_lease(const std::string& name, uint32_t ttl_s) override;
  void release_lease(const std::string& name) override;

 private:
  // One connection taken from a pool (the primary's by default) for the length of a call.
  class checkout {
   public:
    explicit checkout(pg_store& owner) : checkout(owner.primary_) {}
    explicit checkout(pg_pool& pool);
    ~checkout();
    checkout(const checkout&) = delete;
    checkout& operator=(const checkout&) = delete;
    pg_connection& operator*() { return *conn_; }
    pg_connection* operator->() { return conn_.get(); }

   private:
    pg_pool& pool_;
    std::unique_ptr<pg_connection> conn_;
  };

  // What this process knows of the replica: refreshed at most every few milliseconds.
  struct replica_state {
    uint64_t replay_lsn = 0;  // pg_last_wal_replay_lsn()
    uint64_t lag_ms = 0;      // how far its replay is behind what it received
    std::chrono::steady_clock::time_point checked{};
    std::chrono::steady_clock::time_point down_until{};  // unreachable: not asked again before
  };

  pg_store(std::string url, const store_options& options);
  result<void> migrate();
  result<publish_outcome> publish_in(pg_connection& c, const std::string& slug, const std::string& body,
                                     const std::string& now, const snapshot_finisher& finish,
                                     const std::string& idempotency_key, publish_extras* extras);
  result<void> ensure_partitions(pg_connection& c, const std::string& day);
  result<ingest_counts> ingest_once(pg_connection& c, const std::vector<event_record>& events, const std::string& now);
  // A plain read of `slug`'s data ("": every vendor's): on the replica when replica_reads is open,
  // the replica keeps up and has replayed this process's last write of the vendor; else, or when the
  // replica fails, on the primary. `on_replica` says where it was answered.
  result<pg_rows> plain_read(const std::string& slug, const std::string& sql, const std::vector<std::string>& params,
                             bool* on_replica = nullptr);
  bool replica_usable(const std::string& slug);
  // On the primary, or on the replica (if any) when the primary cannot be reached or could not be
  // in the last second: reads that must not fail while the replica can answer them (tokens, and
  // the GET routes' reads the replica did not take by itself). `on_replica` says where.
  result<pg_rows> primary_else_replica(const std::string& sql, const std::vector<std::string>& params,
                                       bool* on_replica = nullptr);
  void refresh_replica(std::chrono::steady_clock::time_point now);
  // After a commit: the primary's WAL position, which the replica must have replayed before it
  // answers reads of `slug` (read-your-writes). Nothing without a replica.
  void note_write(pg_connection& c, const std::string& slug);

  pg_pool primary_;
  std::unique_ptr<pg_pool> replica_;  // none without --db-replica
  std::chrono::milliseconds replica_max_lag_;
  std::string holder_;  // this process's name in the leases table
  uint64_t keep_snapshots_ = 50;
  std::mutex partitions_mutex_;
  std::set<std::string> partitions_;  // days (YYYY-MM-DD) whose events partition exists
  // The (slug, experiment, unit) keys of the batches being written by this process, with how many
  // hold each (ingest_events).
  std::mutex writing_mutex_;
  std::condition_variable written_cv_;
  fact_map<int> writing_;
  std::mutex replica_mutex_;
  replica_state replica_state_;                // under replica_mutex_
  std::map<std::string, uint64_t> written_;    // slug -> WAL position after its last write here; under replica_mutex_
  uint64_t written_any_ = 0;                   // the largest of them
  std::atomic<uint64_t> primary_reads_{0};
  std::atomic<uint64_t> replica_reads_{0};
};

}  // namespace whale::origin
