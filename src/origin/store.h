// The origin's storage: one interface, two backends (docs/origin.md, "Storage and durability" and
// "PostgreSQL"). Every call is a short transaction; a write the origin acknowledged (a 2xx) is
// durable before the answer leaves. sqlite_store.h is the embedded default, pg_store.h the
// database several origin processes share.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "whale/result.h"

namespace whale::origin {

// operator: the platform's own people (GET /v1/platform, docs/platform.md); no table of its own,
// it exists while it has a token.
enum class principal_kind { vendor, edge, operator_ };

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

// One event as the origin stores it (docs/bandits.md). `variation` is the arm: its index in
// decimal or the variation's meta key.
struct event_record {
  std::string event_id, type, slug, experiment, variation, unit;
  uint64_t ts = 0;
};

struct ingest_counts {
  uint64_t accepted = 0;
  uint64_t duplicates = 0;
};

// Distinct units exposed to a variation and, of those, converted.
struct arm_stat {
  std::string experiment;
  std::string variation;
  uint64_t units = 0;
  uint64_t conversions = 0;
};

// One reweight attempt that published or flagged (table bandit_history). JSON arrays as text.
struct bandit_record {
  uint64_t id = 0;
  std::string slug, experiment, feature;
  uint64_t rule = 0;     // index of the rule in the feature's rules
  uint64_t version = 0;  // the version published with these weights (0 when nothing was published)
  std::string at;
  std::string status;  // "reweighted" or "srm"
  std::string weights, units, conversions, p_best;  // JSON arrays, one per arm
  double srm_chi2 = 0;
  double srm_p = 1;       // 1 when the test was not run (too few units in the window)
  uint64_t exposure_mark = 0;  // exposures.rowid high-water mark when recorded (start of the next SRM window)
  // The Beta prior the posteriors started from and where it came from: "config" (bandit.prior),
  // or the collective prior's level, "component", "vertical" or "uniform" (docs/priors.md).
  double prior_alpha = 1;
  double prior_beta = 1;
  std::string prior_source = "config";
};

struct bandit_flag {
  std::string slug, experiment, flagged_at, reason;
  double srm_chi2 = 0;
  double srm_p = 0;
};

// What a publish writes besides the snapshot, in the same transaction.
struct publish_extras {
  std::vector<bandit_record> records;  // their version is filled in
  std::vector<bandit_flag> flags;
  // When non-empty and the draft's updated_at is still draft_updated_at, the draft becomes this.
  std::string draft_body;
  std::string draft_updated_at;
  uint64_t proposal = 0;  // an optimizer proposal to mark published with the version (0: none)
};

// An optimizer proposal (docs/optimizer.md): a new experiment for one section, kept as a draft
// until it is published (vendors who opted in) or applied to the vendor's config draft.
struct proposal_record {
  uint64_t id = 0;
  std::string slug;
  std::string experiment;  // the feature and experiment key it creates
  std::string status;      // "draft", "published" or "applied"
  std::string body;        // whale::optimizer::to_json of the proposal
  uint64_t based_on = 0;   // the snapshot version it was computed from
  uint64_t version = 0;    // the version that published it (0 when not published)
  std::string created_at;
  std::string updated_at;
};

// --- migration (whale-origin migrate; docs/origin.md, "Moving an SQLite origin to PostgreSQL") ---
// How a column's values are written in a table_rows, the same by both backends, so that one row
// reads the same bytes from either.
enum class column_kind {
  text,     // as stored
  integer,  // decimal
  real,     // printf %.17g (round-trips a double)
  boolean,  // 0 or 1
  time,     // ISO 8601 UTC with milliseconds, "2026-11-25T08:31:14.123Z" (a timestamptz on PostgreSQL)
};

struct column_spec {
  const char* name;
  column_kind kind;
};

struct table_spec {
  const char* name;
  std::vector<column_spec> columns;
};

// Every table a running origin needs, in the order they are imported. Not among them: leases
// (held by running processes) and PostgreSQL's counters (set from the imported snapshots).
// exposures.id is SQLite's rowid: bandit_history.exposure_mark points into it.
const std::vector<table_spec>& migration_tables();

// One table's rows, each value as its column_kind says; nullopt is NULL.
struct table_rows {
  std::string table;
  std::vector<std::vector<std::optional<std::string>>> rows;
};

// Whether `db` names a PostgreSQL database (a postgres:// or postgresql:// URL) rather than a file.
bool is_postgres_url(const std::string& db);

// The bandit_history row that records a cleared SRM flag (store::clear_flag): the flag's
// statistics, and the feature, rule and weights of the experiment's last row (`last`, when there
// is one), so that the history reads on from it. The exposure mark is the caller's.
bandit_record srm_cleared_record(const bandit_flag& flag, const std::string& now, const bandit_record* last);

// How a PostgreSQL store connects (docs/origin.md, "PostgreSQL"); an SQLite file takes none of it.
struct store_options {
  std::string replica;                 // a streaming replica's URL for plain reads; empty: none
  size_t pool_size = 4;                // connections per server (the primary's, the replica's)
  uint32_t replica_max_lag_ms = 5000;  // a replica further behind hands its reads to the primary
};

// Where the plain reads (snapshots, changes, aggregates, history, proposals) were answered.
struct read_targets {
  bool replica_configured = false;
  uint64_t primary = 0;
  uint64_t replica = 0;
};

// While one lives, the plain reads made on this thread may be answered by the replica (GET routes
// open one); everything else, every write and every read a job makes before writing, reads the
// primary. Nests.
class replica_reads {
 public:
  replica_reads();
  ~replica_reads();
  replica_reads(const replica_reads&) = delete;
  replica_reads& operator=(const replica_reads&) = delete;
  static bool allowed();  // whether one is open on this thread
};

class store {
 public:
  // Opens (creating if needed) the database and its schema: a `postgres://` or `postgresql://`
  // URL opens PostgreSQL, anything else is the path of an SQLite file.
  static result<std::unique_ptr<store>> open(const std::string& db, const store_options& options = {});
  virtual ~store() = default;

  // Where the plain reads went so far (/healthz, /metrics): all on the one database but for a
  // PostgreSQL store with a replica.
  virtual read_targets reads() const { return {}; }

  // --- principals and their tokens (table tokens; docs/origin.md, "Rotating tokens") ---
  // Registers a vendor or an edge with its first token (the SHA-256 of it); fails if the name exists.
  virtual result<void> add_principal(principal_kind kind, const std::string& name, const std::string& token_hash,
                                     const std::string& now) = 0;
  // Whose token this is, when it is one of a principal's unexpired tokens. Read from the database
  // on every call (nothing cached), so a rotate or revoke by another process counts from the next
  // request. A database that cannot answer is a failure (a storage fault), not an unknown token.
  virtual result<std::optional<principal>> find_token(const std::string& token_hash) = 0;
  // Gives the principal a new token; its other tokens expire `grace_s` seconds from now (those
  // expiring sooner keep their time). not_found when there is no such principal.
  virtual result<void> rotate_token(principal_kind kind, const std::string& name, const std::string& token_hash,
                                    uint32_t grace_s) = 0;
  // Deletes every token of the principal at once; how many. not_found when there is no such principal.
  virtual result<uint64_t> revoke_tokens(principal_kind kind, const std::string& name) = 0;

  // Re-signs, in one transaction, every stored snapshot signed by `key_id` (`sign` fills in the
  // signature and key_id); how many. Retiring a signing key leaves no snapshot that names it.
  virtual result<uint64_t> resign_snapshots(const std::string& key_id, const std::function<result<void>(snapshot&)>& sign) = 0;

  virtual result<void> put_draft(const std::string& slug, const std::string& body, const std::string& now) = 0;
  virtual std::optional<draft> get_draft(const std::string& slug) = 0;

  // Publishes the vendor's draft as its next version in one transaction: not_found when there is
  // no draft. With a non-empty idempotency key, a key seen before for this vendor returns the
  // response stored with it and publishes nothing.
  virtual result<publish_outcome> publish(const std::string& slug, const std::string& idempotency_key, const std::string& now,
                                          const snapshot_finisher& finish) = 0;

  // How many versions each vendor keeps (default 50, at least 1): every publish deletes the vendor's
  // snapshots older than the last `n`, in its transaction. The current version is always kept.
  virtual void keep_snapshots(uint64_t n) = 0;

  // Whether a revalidate with this Idempotency-Key is remembered for the vendor (a replay).
  virtual bool remembers(const std::string& slug, const std::string& idempotency_key) = 0;

  // The vendor's snapshot of `version`, or its latest when `version` is 0.
  // Nothing when there is no such snapshot; a failure (internal) when the database could not say.
  virtual result<std::optional<snapshot>> find_snapshot(const std::string& slug, uint64_t version) = 0;
  // The latest version of every vendor published after `seq`, in publish order.
  virtual std::vector<change> changes_since(uint64_t seq) = 0;
  // The vendor's latest version and its seq (no body read); nullopt when nothing is published.
  virtual std::optional<change> latest_of(const std::string& slug) = 0;

  // --- storage health ---
  // PRAGMA quick_check of the whole file, on a read-only connection of its own (the serving
  // connection is not held meanwhile): ok, or the first problems it names. What it finds is also
  // kept for health(). Minutes on a large file: run at start, not per request. Setting `*cancel`
  // stops it early (an unfinished check reports nothing).
  virtual result<void> quick_check(const std::atomic<bool>* cancel = nullptr) = 0;
  // Cheap: a read on the serving connection, and the last quick_check's finding; ok or what is wrong.
  virtual result<void> health() = 0;

  // --- bandits (docs/bandits.md) ---
  // Stores a batch in one transaction; events whose event_id is already stored are duplicates.
  virtual result<ingest_counts> ingest_events(const std::vector<event_record>& events, const std::string& now) = 0;
  // Deletes raw events received more than `retention_days` ago (0: keeps them); how many. The
  // aggregates (exposures, conversions, arm_stats) are kept.
  virtual result<uint64_t> expire_events(uint32_t retention_days) = 0;
  virtual uint64_t event_count() = 0;  // raw events stored (a full count: for tests and benches, not per request)
  // Per (experiment, variation) aggregates of the vendor, every experiment when `experiment` is empty.
  virtual std::vector<arm_stat> arm_stats_of(const std::string& slug, const std::string& experiment = "") = 0;
  // Units first exposed after the exposures rowid `mark`, per variation.
  virtual std::vector<arm_stat> exposures_since(const std::string& slug, const std::string& experiment, uint64_t mark) = 0;
  virtual uint64_t exposure_mark() = 0;
  // The reweight history of the vendor, oldest first (every experiment when `experiment` is empty).
  virtual std::vector<bandit_record> bandit_history_of(const std::string& slug, const std::string& experiment = "") = 0;
  virtual std::vector<bandit_flag> bandit_flags_of(const std::string& slug) = 0;
  // Records attempts that published nothing (SRM flags) with their flags, in one transaction.
  virtual result<void> record_bandits(const std::vector<bandit_record>& records, const std::vector<bandit_flag>& flags) = 0;
  // Publishes `body` (already validated) as the vendor's next version with the extras, in one
  // transaction.
  virtual result<publish_outcome> publish_body(const std::string& slug, const std::string& body, const std::string& now,
                                               const snapshot_finisher& finish, publish_extras extras) = 0;
  // Removes the SRM flag of an experiment and records an "srm_cleared" history row (the flag's
  // chi-square and p, the feature and rule of the experiment's last row, the current exposure
  // mark: the next SRM window starts here). not_found when the experiment is not flagged.
  virtual result<bandit_flag> clear_flag(const std::string& slug, const std::string& experiment, const std::string& now) = 0;

  // --- the optimizer (docs/optimizer.md) ---
  // Stores a draft proposal; its experiment key is experiment_key(id).
  virtual result<proposal_record> add_proposal(const std::string& slug, const std::string& body, uint64_t based_on,
                                               const std::string& now,
                                               const std::function<std::string(uint64_t id)>& experiment_key) = 0;
  // The vendor's proposals, newest first.
  virtual std::vector<proposal_record> proposals_of(const std::string& slug) = 0;
  // Nothing when there is no such proposal; a failure (internal) when the database could not say.
  virtual result<std::optional<proposal_record>> find_proposal(const std::string& slug, uint64_t id) = 0;
  virtual result<void> mark_proposal(const std::string& slug, uint64_t id, const std::string& status, const std::string& now) = 0;
  // Whether the vendor lets the optimizer publish its proposals (default false).
  virtual bool auto_publish(const std::string& slug) = 0;
  virtual result<void> set_auto_publish(const std::string& slug, bool on, const std::string& now) = 0;
  // --- jobs across processes (the reweight and the optimizer) ---
  // Takes the lease `name` for `ttl_s` seconds unless another process holds it unexpired: whether
  // this process holds it now (taking it again extends it). What it guards runs in one process at a
  // time among those sharing the database. An SQLite file is served by one process: always granted.
  virtual result<bool> take_lease(const std::string& name, uint32_t ttl_s) = 0;
  // Gives the lease back before it expires (nothing when this process does not hold it).
  virtual void release_lease(const std::string& name) = 0;

  // --- migration (whale-origin migrate) ---
  // Every table of migration_tables(), in that order, read in one transaction. Whole tables in
  // memory: fine for what an SQLite origin holds (raw events are expired after the retention).
  virtual result<std::vector<table_rows>> export_tables() = 0;
  // Writes `tables` into this database in one transaction (all or nothing) and sets what numbers
  // the next rows (PostgreSQL: the counters "seq" and "version:<slug>", the identity columns).
  // invalid_value when the database already holds data. Only PostgreSQL imports.
  virtual result<void> import_tables(const std::vector<table_rows>& tables) = 0;

  // Every vendor that has published, with its latest version.
  std::vector<change> published_vendors() { return changes_since(0); }

};

}  // namespace whale::origin
