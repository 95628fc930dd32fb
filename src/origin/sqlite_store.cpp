#include "sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace whale::origin {

namespace {

constexpr const char* schema = R"sql(
CREATE TABLE IF NOT EXISTS vendors(slug TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS edges(name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS drafts(slug TEXT PRIMARY KEY, body TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots(
  slug TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL, signature TEXT NOT NULL,
  key_id TEXT NOT NULL, published_at TEXT NOT NULL, seq INTEGER NOT NULL UNIQUE,
  PRIMARY KEY(slug, version));
CREATE TABLE IF NOT EXISTS idempotency(
  key TEXT NOT NULL, slug TEXT NOT NULL, response TEXT NOT NULL, created_at TEXT NOT NULL,
  PRIMARY KEY(slug, key));
CREATE TABLE IF NOT EXISTS events(
  slug TEXT NOT NULL, event_id TEXT NOT NULL, experiment TEXT NOT NULL, variation TEXT NOT NULL,
  unit TEXT NOT NULL, type TEXT NOT NULL, ts INTEGER NOT NULL, received_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS exposures(
  slug TEXT NOT NULL, experiment TEXT NOT NULL, unit TEXT NOT NULL, variation TEXT NOT NULL, ts INTEGER NOT NULL,
  PRIMARY KEY(slug, experiment, unit));
CREATE INDEX IF NOT EXISTS exposures_window ON exposures(slug, experiment, variation);
CREATE TABLE IF NOT EXISTS conversions(
  slug TEXT NOT NULL, experiment TEXT NOT NULL, unit TEXT NOT NULL, ts INTEGER NOT NULL,
  PRIMARY KEY(slug, experiment, unit)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS arm_stats(
  slug TEXT NOT NULL, experiment TEXT NOT NULL, variation TEXT NOT NULL,
  units INTEGER NOT NULL DEFAULT 0, conversions INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(slug, experiment, variation)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bandit_history(
  id INTEGER PRIMARY KEY, slug TEXT NOT NULL, experiment TEXT NOT NULL, feature TEXT NOT NULL,
  rule INTEGER NOT NULL, version INTEGER NOT NULL, at TEXT NOT NULL, status TEXT NOT NULL,
  weights TEXT NOT NULL, units TEXT NOT NULL, conversions TEXT NOT NULL, p_best TEXT NOT NULL,
  srm_chi2 REAL NOT NULL, srm_p REAL NOT NULL, exposure_mark INTEGER NOT NULL,
  prior_alpha REAL NOT NULL DEFAULT 1, prior_beta REAL NOT NULL DEFAULT 1, prior_source TEXT NOT NULL DEFAULT 'config');
CREATE INDEX IF NOT EXISTS bandit_history_of ON bandit_history(slug, experiment, id);
CREATE TABLE IF NOT EXISTS bandit_flags(
  slug TEXT NOT NULL, experiment TEXT NOT NULL, flagged_at TEXT NOT NULL, srm_chi2 REAL NOT NULL,
  srm_p REAL NOT NULL, reason TEXT NOT NULL, PRIMARY KEY(slug, experiment));
CREATE TABLE IF NOT EXISTS optimizer_settings(
  slug TEXT PRIMARY KEY, auto_publish INTEGER NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS optimizer_proposals(
  id INTEGER PRIMARY KEY, slug TEXT NOT NULL, experiment TEXT NOT NULL, status TEXT NOT NULL, body TEXT NOT NULL,
  based_on INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS optimizer_proposals_of ON optimizer_proposals(slug, id);
)sql";

// Tokens, any number per principal (docs/origin.md, "Rotating tokens"): `expires_at` is NULL
// until a rotate gives the principal a newer one. Created by migrate_tokens, not with the schema.
constexpr const char* tokens_schema = R"sql(
CREATE TABLE tokens(
  hash TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT)
  WITHOUT ROWID;
CREATE INDEX tokens_of ON tokens(kind, name);
INSERT INTO tokens(hash, kind, name, created_at) SELECT token_hash, 'vendor', slug, created_at FROM vendors;
INSERT INTO tokens(hash, kind, name, created_at) SELECT token_hash, 'edge', name, created_at FROM edges;
)sql";

// Now as the origin writes times (server.h now_iso), in SQL, so that the CLI and the server
// compare token expiries on one clock without passing it around.
#define WHALE_SQL_NOW "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

const char* kind_name(principal_kind kind) {
  return kind == principal_kind::vendor ? "vendor" : kind == principal_kind::edge ? "edge" : "operator";
}

principal_kind kind_of(const std::string& name) {
  return name == "vendor" ? principal_kind::vendor : name == "edge" ? principal_kind::edge : principal_kind::operator_;
}

// Idempotency keys are remembered this long (ISO timestamps compare as strings).
constexpr const char* idempotency_retention = "-1 day";

failure sqlite_failure(sqlite3* db, const std::string& what) {
  return fail(error_code::internal, "sqlite: " + what + ": " + sqlite3_errmsg(db));
}

// A prepared statement: bind in order, step, read columns.
class statement {
 public:
  statement(sqlite3* db, const char* sql) : db_(db) { sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~statement() { sqlite3_finalize(stmt_); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  statement& bind(const std::string& text) {
    if (stmt_ != nullptr) {
      sqlite3_bind_text(stmt_, ++bound_, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    }
    return *this;
  }
  statement& bind(uint64_t n) {
    if (stmt_ != nullptr) sqlite3_bind_int64(stmt_, ++bound_, static_cast<sqlite3_int64>(n));
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return stmt_ == nullptr ? SQLITE_ERROR : sqlite3_step(stmt_); }
  bool row() { return step() == SQLITE_ROW; }
  result<void> run(const std::string& what) {
    if (step() != SQLITE_DONE) return sqlite_failure(db_, what);
    return {};
  }
  std::string text(int column) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return p == nullptr ? std::string() : std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
  }
  statement& bind(double x) {
    if (stmt_ != nullptr) sqlite3_bind_double(stmt_, ++bound_, x);
    return *this;
  }
  uint64_t number(int column) { return static_cast<uint64_t>(sqlite3_column_int64(stmt_, column)); }
  bool is_null(int column) { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  double real(int column) { return sqlite3_column_double(stmt_, column); }
  // Clears the bindings' positions for the next step (the values are rebound).
  void reset() {
    if (stmt_ != nullptr) sqlite3_reset(stmt_);
    bound_ = 0;
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int bound_ = 0;
};

// Rolls back unless committed: every early return inside a transaction leaves nothing behind.
class transaction {
 public:
  explicit transaction(sqlite3* db)
      : db_(db), ok_(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK) {}
  ~transaction() {
    if (ok_ && !committed_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  bool began() const { return ok_; }
  result<void> commit() {
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return sqlite_failure(db_, "commit");
    committed_ = true;
    return {};
  }

 private:
  sqlite3* db_;
  bool ok_ = false;
  bool committed_ = false;
};

snapshot read_snapshot(statement& s) {
  snapshot snap;
  snap.slug = s.text(0);
  snap.version = s.number(1);
  snap.body = s.text(2);
  snap.signature = s.text(3);
  snap.key_id = s.text(4);
  snap.published_at = s.text(5);
  snap.seq = s.number(6);
  return snap;
}

}  // namespace

result<std::unique_ptr<store>> sqlite_store::open(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ignored;
  if (!parent.empty()) std::filesystem::create_directories(parent, ignored);
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    failure f = sqlite_failure(db, "cannot open " + path);
    sqlite3_close(db);
    return f;
  }
  std::unique_ptr<sqlite_store> s(new sqlite_store(db, path));
  sqlite3_busy_timeout(db, 5000);  // a CLI `vendor add` may write while the server runs
  // Events arrive keyed by random ids and units, so every batch dirties pages all over the events
  // and exposures indexes: a 64 MB page cache keeps them in memory, and checkpoints run every
  // 16 MB of WAL rather than every 4 MB (each would write most of those pages again).
  WHALE_TRY_VOID(s->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
                         "PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=4096;"));
  WHALE_TRY_VOID(s->exec(schema));
  WHALE_TRY_VOID(s->migrate());
  return std::unique_ptr<store>(std::move(s));
}

// Columns added after the first databases were created (each added when missing).
result<void> sqlite_store::migrate() {
  std::vector<std::string> columns;
  {
    statement info(db_, "SELECT name FROM pragma_table_info('bandit_history')");
    while (info.row()) columns.push_back(info.text(0));
  }
  const std::pair<const char*, const char*> added[] = {
      {"prior_alpha", "ALTER TABLE bandit_history ADD COLUMN prior_alpha REAL NOT NULL DEFAULT 1"},
      {"prior_beta", "ALTER TABLE bandit_history ADD COLUMN prior_beta REAL NOT NULL DEFAULT 1"},
      {"prior_source", "ALTER TABLE bandit_history ADD COLUMN prior_source TEXT NOT NULL DEFAULT 'config'"},
  };
  for (const auto& [name, sql] : added) {
    if (std::find(columns.begin(), columns.end(), name) == columns.end()) WHALE_TRY_VOID(exec(sql));
  }
  // Raw events were once keyed by their id (unique across vendors, then per vendor): now a log in
  // arrival order, deduplicated by the facts they carry (ingest_events), so that inserting one
  // appends instead of touching a random page of a key index.
  bool keyed = false;
  {
    statement pk(db_, "SELECT COUNT(*) FROM pragma_table_info('events') WHERE pk > 0");
    keyed = pk.row() && pk.number(0) > 0;
  }
  if (keyed) {
    WHALE_TRY_VOID(exec(
        "BEGIN; ALTER TABLE events RENAME TO events_keyed;"
        "CREATE TABLE events(slug TEXT NOT NULL, event_id TEXT NOT NULL, experiment TEXT NOT NULL,"
        " variation TEXT NOT NULL, unit TEXT NOT NULL, type TEXT NOT NULL, ts INTEGER NOT NULL,"
        " received_at TEXT NOT NULL);"
        "INSERT INTO events(slug, event_id, experiment, variation, unit, type, ts, received_at)"
        " SELECT slug, event_id, experiment, variation, unit, type, ts, received_at FROM events_keyed"
        " ORDER BY received_at;"
        "DROP TABLE events_keyed; COMMIT;"));
  }
  WHALE_TRY_VOID(exec("CREATE INDEX IF NOT EXISTS events_received ON events(received_at)"));
  return migrate_tokens();
}

// Tokens once lived in vendors.token_hash and edges.token_hash, one per principal. They are copied
// into tokens once, when that table is created: a token revoked since is never copied back. The
// old columns keep each principal's first token hash and are no longer read.
result<void> sqlite_store::migrate_tokens() {
  transaction tx(db_);  // BEGIN IMMEDIATE: a CLI and the server opening a new file at once migrate once
  if (!tx.began()) return sqlite_failure(db_, "begin");
  {
    statement exists(db_, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tokens'");
    if (exists.row()) return {};
  }
  WHALE_TRY_VOID(exec(tokens_schema));
  return tx.commit();
}

sqlite_store::sqlite_store(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
sqlite_store::~sqlite_store() { sqlite3_close(db_); }

result<void> sqlite_store::exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : "unknown error";
    sqlite3_free(message);
    return fail(error_code::internal, "sqlite: " + text);
  }
  return {};
}

result<void> sqlite_store::add_principal(principal_kind kind, const std::string& name, const std::string& token_hash,
                                  const std::string& now) {
  std::lock_guard<std::mutex> lock(mutex_);
  const bool vendor = kind == principal_kind::vendor;
  transaction tx(db_);
  if (!tx.began()) return sqlite_failure(db_, "begin");
  if (kind == principal_kind::operator_) {
    if (principal_exists(kind, name)) return fail(error_code::invalid_value, "operator " + name + " already exists");
  } else {
    statement s(db_, vendor ? "INSERT INTO vendors(slug, token_hash, created_at) VALUES(?, ?, ?)"
                            : "INSERT INTO edges(name, token_hash, created_at) VALUES(?, ?, ?)");
    s.bind(name).bind(token_hash).bind(now);
    const int rc = s.step();
    if (rc == SQLITE_CONSTRAINT) {
      return fail(error_code::invalid_value, std::string(vendor ? "vendor " : "edge ") + name + " already exists");
    }
    if (rc != SQLITE_DONE) return sqlite_failure(db_, "insert");
  }
  statement token(db_, "INSERT INTO tokens(hash, kind, name, created_at) VALUES(?, ?, ?, ?)");
  WHALE_TRY_VOID(token.bind(token_hash).bind(std::string(kind_name(kind))).bind(name).bind(now).run("insert token"));
  return tx.commit();
}

result<std::optional<principal>> sqlite_store::find_token(const std::string& token_hash) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_, "SELECT kind, name FROM tokens WHERE hash = ? AND (expires_at IS NULL OR expires_at > " WHALE_SQL_NOW ")");
  const int rc = s.bind(token_hash).step();
  if (rc == SQLITE_DONE) return std::optional<principal>();
  if (rc != SQLITE_ROW) return sqlite_failure(db_, "find token");
  return std::optional<principal>(principal{kind_of(s.text(0)), s.text(1)});
}

bool sqlite_store::principal_exists(principal_kind kind, const std::string& name) {
  if (kind == principal_kind::operator_) {
    statement s(db_, "SELECT 1 FROM tokens WHERE kind = 'operator' AND name = ?");
    return s.bind(name).row();
  }
  statement s(db_, kind == principal_kind::vendor ? "SELECT 1 FROM vendors WHERE slug = ?" : "SELECT 1 FROM edges WHERE name = ?");
  return s.bind(name).row();
}

result<void> sqlite_store::rotate_token(principal_kind kind, const std::string& name, const std::string& token_hash,
                                 uint32_t grace_s) {
  std::lock_guard<std::mutex> lock(mutex_);
  transaction tx(db_);
  if (!tx.began()) return sqlite_failure(db_, "begin");
  if (!principal_exists(kind, name)) return fail(error_code::not_found, std::string("no ") + kind_name(kind) + " " + name);
  const std::string kind_text = kind_name(kind);
  const std::string grace = "+" + std::to_string(grace_s) + " seconds";  // an SQLite date modifier
  statement forget(db_, "DELETE FROM tokens WHERE kind = ? AND name = ? AND expires_at <= " WHALE_SQL_NOW);
  WHALE_TRY_VOID(forget.bind(kind_text).bind(name).run("delete expired tokens"));
  statement expire(db_,
                   "UPDATE tokens SET expires_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1) WHERE kind = ?2 AND name = ?3"
                   " AND (expires_at IS NULL OR expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1))");
  WHALE_TRY_VOID(expire.bind(grace).bind(kind_text).bind(name).run("expire tokens"));
  statement add(db_, "INSERT INTO tokens(hash, kind, name, created_at) VALUES(?, ?, ?, " WHALE_SQL_NOW ")");
  WHALE_TRY_VOID(add.bind(token_hash).bind(kind_text).bind(name).run("insert token"));
  return tx.commit();
}

result<uint64_t> sqlite_store::revoke_tokens(principal_kind kind, const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  transaction tx(db_);
  if (!tx.began()) return sqlite_failure(db_, "begin");
  if (!principal_exists(kind, name)) return fail(error_code::not_found, std::string("no ") + kind_name(kind) + " " + name);
  statement s(db_, "DELETE FROM tokens WHERE kind = ? AND name = ?");
  WHALE_TRY_VOID(s.bind(std::string(kind_name(kind))).bind(name).run("delete tokens"));
  const uint64_t deleted = static_cast<uint64_t>(sqlite3_changes(db_));
  WHALE_TRY_VOID(tx.commit());
  return deleted;
}

result<uint64_t> sqlite_store::resign_snapshots(const std::string& key_id,
                                         const std::function<result<void>(snapshot&)>& sign) {
  std::lock_guard<std::mutex> lock(mutex_);
  transaction tx(db_);
  if (!tx.began()) return sqlite_failure(db_, "begin");
  std::vector<std::pair<std::string, uint64_t>> signed_by;  // (slug, version): bodies read one at a time
  {
    statement s(db_, "SELECT slug, version FROM snapshots WHERE key_id = ?");
    s.bind(key_id);
    while (s.row()) signed_by.emplace_back(s.text(0), s.number(1));
  }
  for (const auto& [slug, version] : signed_by) {
    statement read(db_,
                   "SELECT slug, version, body, signature, key_id, published_at, seq FROM snapshots"
                   " WHERE slug = ? AND version = ?");
    if (!read.bind(slug).bind(version).row()) return sqlite_failure(db_, "read snapshot");
    snapshot snap = read_snapshot(read);
    WHALE_TRY_VOID(sign(snap));
    statement update(db_, "UPDATE snapshots SET signature = ?, key_id = ? WHERE slug = ? AND version = ?");
    WHALE_TRY_VOID(update.bind(snap.signature).bind(snap.key_id).bind(slug).bind(version).run("re-sign snapshot"));
  }
  WHALE_TRY_VOID(tx.commit());
  return static_cast<uint64_t>(signed_by.size());
}

result<void> sqlite_store::put_draft(const std::string& slug, const std::string& body, const std::string& now) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_,
              "INSERT INTO drafts(slug, body, updated_at) VALUES(?, ?, ?) "
              "ON CONFLICT(slug) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at");
  return s.bind(slug).bind(body).bind(now).run("store draft");
}

std::optional<draft> sqlite_store::get_draft(const std::string& slug) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_, "SELECT body, updated_at FROM drafts WHERE slug = ?");
  if (!s.bind(slug).row()) return std::nullopt;
  return draft{s.text(0), s.text(1)};
}

result<publish_outcome> sqlite_store::publish(const std::string& slug, const std::string& idempotency_key,
                                       const std::string& now, const snapshot_finisher& finish) {
  std::lock_guard<std::mutex> lock(mutex_);
  transaction tx(db_);
  if (!tx.began()) return sqlite_failure(db_, "begin");
  if (!idempotency_key.empty()) {
    statement seen(db_, "SELECT response FROM idempotency WHERE slug = ? AND key = ?");
    if (seen.bind(slug).bind(idempotency_key).row()) return publish_outcome{seen.text(0), true, {}};
  }
  snapshot snap;
  if (!next_snapshot(slug, snap)) return fail(error_code::not_found, "no draft to publish: PUT a config first");
  snap.published_at = now;
  WHALE_TRY(std::string response, finish(snap));

  WHALE_TRY_VOID(insert_snapshot(snap));
  if (!idempotency_key.empty()) {
    statement forget(db_, "DELETE FROM idempotency WHERE created_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)");
    WHALE_TRY_VOID(forget.bind(std::string(idempotency_retention)).run("expire idempotency keys"));
    statement remember(db_, "INSERT INTO idempotency(key, slug, response, created_at) VALUES(?, ?, ?, ?)");
    WHALE_TRY_VOID(remember.bind(idempotency_key).bind(slug).bind(response).bind(now).run("remember key"));
  }
  WHALE_TRY_VOID(tx.commit());
  return publish_outcome{std::move(response), false, std::move(snap)};
}

result<std::optional<snapshot>> sqlite_store::find_snapshot(const std::string& slug, uint64_t version) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_,
              "SELECT slug, version, body, signature, key_id, published_at, seq FROM snapshots "
              "WHERE slug = ? AND (? = 0 OR version = ?) ORDER BY version DESC LIMIT 1");
  const int rc = s.bind(slug).bind(version).bind(version).step();
  if (rc == SQLITE_DONE) return std::optional<snapshot>();
  if (rc != SQLITE_ROW) return sqlite_failure(db_, "find snapshot");
  return std::optional<snapshot>(read_snapshot(s));
}

std::vector<change> sqlite_store::changes_since(uint64_t seq) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_,
              "SELECT slug, MAX(version), MAX(seq) FROM snapshots WHERE seq > ? GROUP BY slug ORDER BY MAX(seq)");
  s.bind(seq);
  std::vector<change> out;
  while (s.row()) out.push_back(change{s.text(0), s.number(1), s.number(2)});
  return out;
}

bool sqlite_store::remembers(const std::string& slug, const std::string& idempotency_key) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement seen(db_, "SELECT 1 FROM idempotency WHERE slug = ? AND key = ?");
  return seen.bind(slug).bind(idempotency_key).row();
}

std::optional<change> sqlite_store::latest_of(const std::string& slug) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_, "SELECT slug, version, seq FROM snapshots WHERE slug = ? ORDER BY version DESC LIMIT 1");
  if (!s.bind(slug).row()) return std::nullopt;
  return change{s.text(0), s.number(1), s.number(2)};
}

// The draft and the numbers of the next version of `slug`; false when there is no draft.
bool sqlite_store::next_snapshot(const std::string& slug, snapshot& snap) {
  statement current(db_, "SELECT body FROM drafts WHERE slug = ?");
  if (!current.bind(slug).row()) return false;
  statement next(db_,
                 "SELECT (SELECT COALESCE(MAX(version), 0) + 1 FROM snapshots WHERE slug = ?), "
                 "(SELECT COALESCE(MAX(seq), 0) + 1 FROM snapshots)");
  if (!next.bind(slug).row()) return false;
  snap.slug = slug;
  snap.body = current.text(0);
  snap.version = next.number(0);
  snap.seq = next.number(1);
  return true;
}

// --- storage health ------------------------------------------------------------------------

namespace {

// quick_check names at most this many problems (a damaged file can have thousands).
constexpr int max_reported_problems = 5;

// The problems PRAGMA quick_check names on `check`, "; "-separated; empty when none. `interrupted`
// is set when the progress handler stopped it.
std::string run_quick_check(sqlite3* check, bool& interrupted) {
  const std::string pragma = "PRAGMA quick_check(" + std::to_string(max_reported_problems) + ")";
  statement s(check, pragma.c_str());
  std::string found;
  int rc = SQLITE_ROW;
  while ((rc = s.step()) == SQLITE_ROW) {
    const std::string line = s.text(0);
    if (line != "ok") found += (found.empty() ? "" : "; ") + line;
  }
  interrupted = rc == SQLITE_INTERRUPT;
  if (rc != SQLITE_DONE && !interrupted) found += (found.empty() ? "" : "; ") + std::string(sqlite3_errmsg(check));
  return found;
}

}  // namespace

result<void> sqlite_store::quick_check(const std::atomic<bool>* cancel) {
  sqlite3* check = nullptr;
  std::string found;
  bool interrupted = false;
  if (sqlite3_open_v2(path_.c_str(), &check, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    found = std::string("cannot open: ") + sqlite3_errmsg(check);
  } else {
    if (cancel != nullptr) {
      // Polled every 1000 virtual machine steps; non-zero interrupts the check.
      sqlite3_progress_handler(
          check, 1000, [](void* flag) { return static_cast<const std::atomic<bool>*>(flag)->load() ? 1 : 0; },
          const_cast<std::atomic<bool>*>(cancel));
    }
    found = run_quick_check(check, interrupted);
  }
  sqlite3_close(check);
  if (interrupted) return {};
  {
    std::lock_guard<std::mutex> lock(fault_mutex_);
    fault_ = found;
  }
  if (found.empty()) return {};
  return fail(error_code::internal, "integrity check (PRAGMA quick_check) of " + path_ + " failed: " + found);
}

result<void> sqlite_store::health() {
  {
    std::lock_guard<std::mutex> lock(fault_mutex_);
    if (!fault_.empty()) return fail(error_code::internal, "integrity check failed: " + fault_);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  // Reads the schema and the snapshot index's last page: fails on a closed, replaced or unreadable file.
  statement s(db_, "SELECT (SELECT COUNT(*) FROM sqlite_master), (SELECT MAX(seq) FROM snapshots)");
  if (!s.row()) return sqlite_failure(db_, "read");
  return {};
}

// --- bandits -------------------------------------------------------------------------------

result<ingest_counts> sqlite_store::ingest_events(const std::vector<event_record>& events, const std::string& now) {
  std::lock_guard<std::mutex> lock(mutex_);
  transaction tx(db_);
  if (!tx.began()) return sqlite_failure(db_, "begin");
  statement insert(db_,
                   "INSERT INTO events(event_id, slug, experiment, variation, unit, type, ts, received_at) "
                   "VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
  statement expose(db_, "INSERT OR IGNORE INTO exposures(slug, experiment, unit, variation, ts) VALUES(?, ?, ?, ?, ?)");
  statement exposed_as(db_, "SELECT variation FROM exposures WHERE slug = ? AND experiment = ? AND unit = ?");
  statement count_unit(db_,
                       "INSERT INTO arm_stats(slug, experiment, variation, units, conversions) VALUES(?, ?, ?, 1, "
                       "EXISTS(SELECT 1 FROM conversions WHERE slug = ?1 AND experiment = ?2 AND unit = ?4)) "
                       "ON CONFLICT(slug, experiment, variation) DO UPDATE SET units = units + 1, "
                       "conversions = conversions + excluded.conversions");
  statement convert(db_, "INSERT OR IGNORE INTO conversions(slug, experiment, unit, ts) VALUES(?, ?, ?, ?)");
  statement count_conversion(db_,
                             "UPDATE arm_stats SET conversions = conversions + 1 WHERE slug = ?1 AND experiment = ?2 "
                             "AND variation = (SELECT variation FROM exposures WHERE slug = ?1 AND experiment = ?2 "
                             "AND unit = ?3)");
  // An event is a duplicate when the vendor already holds its fact: the unit's exposure to the same
  // variation, or the unit's conversion. An exposure of a unit already exposed to another variation
  // is kept (raw) and counts nothing: the first exposure decides.
  ingest_counts counts;
  for (const event_record& e : events) {
    if (e.type == "exposure") {
      expose.reset();
      WHALE_TRY_VOID(expose.bind(e.slug).bind(e.experiment).bind(e.unit).bind(e.variation).bind(e.ts).run("expose"));
      if (sqlite3_changes(db_) == 1) {
        count_unit.reset();
        // ?4 (the unit) is bound after the three of the VALUES list.
        WHALE_TRY_VOID(count_unit.bind(e.slug).bind(e.experiment).bind(e.variation).bind(e.unit).run("count unit"));
      } else {
        exposed_as.reset();
        exposed_as.bind(e.slug).bind(e.experiment).bind(e.unit);
        const bool same = exposed_as.row() && exposed_as.text(0) == e.variation;
        exposed_as.reset();
        if (same) {
          ++counts.duplicates;
          continue;
        }
      }
    } else {
      convert.reset();
      WHALE_TRY_VOID(convert.bind(e.slug).bind(e.experiment).bind(e.unit).bind(e.ts).run("convert"));
      if (sqlite3_changes(db_) == 0) {  // the unit converted before
        ++counts.duplicates;
        continue;
      }
      count_conversion.reset();
      WHALE_TRY_VOID(count_conversion.bind(e.slug).bind(e.experiment).bind(e.unit).run("count conversion"));
    }
    insert.reset();
    insert.bind(e.event_id).bind(e.slug).bind(e.experiment).bind(e.variation).bind(e.unit).bind(e.type).bind(e.ts);
    WHALE_TRY_VOID(insert.bind(now).run("insert event"));
    ++counts.accepted;
  }
  WHALE_TRY_VOID(tx.commit());
  return counts;
}

result<uint64_t> sqlite_store::expire_events(uint32_t retention_days) {
  if (retention_days == 0) return uint64_t{0};
  std::lock_guard<std::mutex> lock(mutex_);
  statement expire(db_, "DELETE FROM events WHERE received_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)");
  WHALE_TRY_VOID(expire.bind("-" + std::to_string(retention_days) + " days").run("expire events"));
  return static_cast<uint64_t>(sqlite3_changes(db_));
}

uint64_t sqlite_store::event_count() {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_, "SELECT COUNT(*) FROM events");
  return s.row() ? s.number(0) : 0;
}

std::vector<arm_stat> sqlite_store::arm_stats_of(const std::string& slug, const std::string& experiment) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_,
              "SELECT experiment, variation, units, conversions FROM arm_stats WHERE slug = ?1 "
              "AND (?2 = '' OR experiment = ?2) ORDER BY experiment, variation");
  s.bind(slug).bind(experiment);
  std::vector<arm_stat> out;
  while (s.row()) out.push_back(arm_stat{s.text(0), s.text(1), s.number(2), s.number(3)});
  return out;
}

std::vector<arm_stat> sqlite_store::exposures_since(const std::string& slug, const std::string& experiment, uint64_t mark) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_,
              "SELECT experiment, variation, COUNT(*) FROM exposures WHERE slug = ? AND experiment = ? AND rowid > ? "
              "GROUP BY variation ORDER BY variation");
  s.bind(slug).bind(experiment).bind(mark);
  std::vector<arm_stat> out;
  while (s.row()) out.push_back(arm_stat{s.text(0), s.text(1), s.number(2), 0});
  return out;
}

uint64_t sqlite_store::exposure_mark() {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_, "SELECT COALESCE(MAX(rowid), 0) FROM exposures");
  return s.row() ? s.number(0) : 0;
}

std::vector<bandit_record> sqlite_store::bandit_history_of(const std::string& slug, const std::string& experiment) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_,
              "SELECT id, slug, experiment, feature, rule, version, at, status, weights, units, conversions, p_best, "
              "srm_chi2, srm_p, exposure_mark, prior_alpha, prior_beta, prior_source FROM bandit_history "
              "WHERE slug = ?1 AND (?2 = '' OR experiment = ?2) ORDER BY id");
  s.bind(slug).bind(experiment);
  std::vector<bandit_record> out;
  while (s.row()) {
    bandit_record r;
    r.id = s.number(0);
    r.slug = s.text(1);
    r.experiment = s.text(2);
    r.feature = s.text(3);
    r.rule = s.number(4);
    r.version = s.number(5);
    r.at = s.text(6);
    r.status = s.text(7);
    r.weights = s.text(8);
    r.units = s.text(9);
    r.conversions = s.text(10);
    r.p_best = s.text(11);
    r.srm_chi2 = s.real(12);
    r.srm_p = s.real(13);
    r.exposure_mark = s.number(14);
    r.prior_alpha = s.real(15);
    r.prior_beta = s.real(16);
    r.prior_source = s.text(17);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<bandit_flag> sqlite_store::bandit_flags_of(const std::string& slug) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_,
              "SELECT slug, experiment, flagged_at, reason, srm_chi2, srm_p FROM bandit_flags WHERE slug = ? "
              "ORDER BY experiment");
  s.bind(slug);
  std::vector<bandit_flag> out;
  while (s.row()) out.push_back(bandit_flag{s.text(0), s.text(1), s.text(2), s.text(3), s.real(4), s.real(5)});
  return out;
}

result<void> sqlite_store::insert_snapshot(const snapshot& snap) {
  statement insert(db_,
                   "INSERT INTO snapshots(slug, version, body, signature, key_id, published_at, seq) "
                   "VALUES(?, ?, ?, ?, ?, ?, ?)");
  insert.bind(snap.slug).bind(snap.version).bind(snap.body).bind(snap.signature).bind(snap.key_id);
  WHALE_TRY_VOID(insert.bind(snap.published_at).bind(snap.seq).run("insert snapshot"));
  // Versions are consecutive per vendor, so these are all but the last keep_snapshots_.
  statement prune(db_, "DELETE FROM snapshots WHERE slug = ? AND version <= ?");
  const uint64_t oldest_kept = snap.version > keep_snapshots_ ? snap.version - keep_snapshots_ + 1 : 1;
  return prune.bind(snap.slug).bind(oldest_kept - 1).run("prune snapshots");
}

void sqlite_store::keep_snapshots(uint64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  keep_snapshots_ = n < 1 ? 1 : n;
}

result<void> sqlite_store::insert_bandits(const std::vector<bandit_record>& records, const std::vector<bandit_flag>& flags) {
  statement add(db_,
                "INSERT INTO bandit_history(slug, experiment, feature, rule, version, at, status, weights, units, "
                "conversions, p_best, srm_chi2, srm_p, exposure_mark, prior_alpha, prior_beta, prior_source) "
                "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  for (const bandit_record& r : records) {
    add.reset();
    add.bind(r.slug).bind(r.experiment).bind(r.feature).bind(r.rule).bind(r.version).bind(r.at).bind(r.status);
    add.bind(r.weights).bind(r.units).bind(r.conversions).bind(r.p_best).bind(r.srm_chi2).bind(r.srm_p);
    add.bind(r.exposure_mark).bind(r.prior_alpha).bind(r.prior_beta);
    WHALE_TRY_VOID(add.bind(r.prior_source).run("record reweight"));
  }
  statement flag(db_,
                 "INSERT OR REPLACE INTO bandit_flags(slug, experiment, flagged_at, srm_chi2, srm_p, reason) "
                 "VALUES(?, ?, ?, ?, ?, ?)");
  for (const bandit_flag& f : flags) {
    flag.reset();
    WHALE_TRY_VOID(flag.bind(f.slug).bind(f.experiment).bind(f.flagged_at).bind(f.srm_chi2).bind(f.srm_p).bind(f.reason)
                       .run("flag experiment"));
  }
  return {};
}

result<void> sqlite_store::record_bandits(const std::vector<bandit_record>& records, const std::vector<bandit_flag>& flags) {
  std::lock_guard<std::mutex> lock(mutex_);
  transaction tx(db_);
  if (!tx.began()) return sqlite_failure(db_, "begin");
  WHALE_TRY_VOID(insert_bandits(records, flags));
  return tx.commit();
}

result<publish_outcome> sqlite_store::publish_body(const std::string& slug, const std::string& body, const std::string& now,
                                            const snapshot_finisher& finish, publish_extras extras) {
  std::lock_guard<std::mutex> lock(mutex_);
  transaction tx(db_);
  if (!tx.began()) return sqlite_failure(db_, "begin");
  statement next(db_,
                 "SELECT (SELECT COALESCE(MAX(version), 0) + 1 FROM snapshots WHERE slug = ?), "
                 "(SELECT COALESCE(MAX(seq), 0) + 1 FROM snapshots)");
  if (!next.bind(slug).row()) return sqlite_failure(db_, "next version");
  snapshot snap;
  snap.slug = slug;
  snap.body = body;
  snap.version = next.number(0);
  snap.seq = next.number(1);
  snap.published_at = now;
  WHALE_TRY(std::string response, finish(snap));
  WHALE_TRY_VOID(insert_snapshot(snap));
  for (bandit_record& r : extras.records) r.version = snap.version;
  WHALE_TRY_VOID(insert_bandits(extras.records, extras.flags));
  if (!extras.draft_body.empty()) {
    statement patch(db_, "UPDATE drafts SET body = ? WHERE slug = ? AND updated_at = ?");
    WHALE_TRY_VOID(patch.bind(extras.draft_body).bind(slug).bind(extras.draft_updated_at).run("patch draft"));
  }
  if (extras.proposal != 0) {
    statement mark(db_,
                   "UPDATE optimizer_proposals SET status = 'published', version = ?, updated_at = ? "
                   "WHERE slug = ? AND id = ?");
    WHALE_TRY_VOID(mark.bind(snap.version).bind(now).bind(slug).bind(extras.proposal).run("mark proposal"));
  }
  WHALE_TRY_VOID(tx.commit());
  return publish_outcome{std::move(response), false, std::move(snap)};
}

result<bandit_flag> sqlite_store::clear_flag(const std::string& slug, const std::string& experiment, const std::string& now) {
  std::lock_guard<std::mutex> lock(mutex_);
  transaction tx(db_);
  if (!tx.began()) return sqlite_failure(db_, "begin");
  statement find(db_,
                 "SELECT slug, experiment, flagged_at, reason, srm_chi2, srm_p FROM bandit_flags "
                 "WHERE slug = ? AND experiment = ?");
  if (!find.bind(slug).bind(experiment).row()) {
    return fail(error_code::not_found, "experiment \"" + experiment + "\" is not flagged");
  }
  bandit_flag flag{find.text(0), find.text(1), find.text(2), find.text(3), find.real(4), find.real(5)};
  statement drop(db_, "DELETE FROM bandit_flags WHERE slug = ? AND experiment = ?");
  WHALE_TRY_VOID(drop.bind(slug).bind(experiment).run("clear flag"));
  statement found_last(db_,
                       "SELECT feature, rule, weights FROM bandit_history WHERE slug = ? AND experiment = ? "
                       "ORDER BY id DESC LIMIT 1");
  bandit_record last;
  const bool any = found_last.bind(slug).bind(experiment).row();
  if (any) {
    last.feature = found_last.text(0);
    last.rule = found_last.number(1);
    last.weights = found_last.text(2);
  }
  bandit_record r = srm_cleared_record(flag, now, any ? &last : nullptr);
  statement mark(db_, "SELECT COALESCE(MAX(rowid), 0) FROM exposures");
  r.exposure_mark = mark.row() ? mark.number(0) : 0;
  WHALE_TRY_VOID(insert_bandits({r}, {}));
  WHALE_TRY_VOID(tx.commit());
  return flag;
}

// --- the optimizer -------------------------------------------------------------------------

namespace {

constexpr const char* proposal_columns =
    "SELECT id, slug, experiment, status, body, based_on, version, created_at, updated_at FROM optimizer_proposals ";

proposal_record read_proposal(statement& s) {
  proposal_record p;
  p.id = s.number(0);
  p.slug = s.text(1);
  p.experiment = s.text(2);
  p.status = s.text(3);
  p.body = s.text(4);
  p.based_on = s.number(5);
  p.version = s.number(6);
  p.created_at = s.text(7);
  p.updated_at = s.text(8);
  return p;
}

}  // namespace

result<proposal_record> sqlite_store::add_proposal(const std::string& slug, const std::string& body, uint64_t based_on,
                                            const std::string& now,
                                            const std::function<std::string(uint64_t id)>& experiment_key) {
  std::lock_guard<std::mutex> lock(mutex_);
  transaction tx(db_);
  if (!tx.began()) return sqlite_failure(db_, "begin");
  statement add(db_,
                "INSERT INTO optimizer_proposals(slug, experiment, status, body, based_on, created_at, updated_at) "
                "VALUES(?, '', 'draft', ?, ?, ?, ?)");
  WHALE_TRY_VOID(add.bind(slug).bind(body).bind(based_on).bind(now).bind(now).run("add proposal"));
  proposal_record p;
  p.id = static_cast<uint64_t>(sqlite3_last_insert_rowid(db_));
  p.slug = slug;
  p.experiment = experiment_key(p.id);
  p.status = "draft";
  p.body = body;
  p.based_on = based_on;
  p.created_at = p.updated_at = now;
  statement name(db_, "UPDATE optimizer_proposals SET experiment = ? WHERE id = ?");
  WHALE_TRY_VOID(name.bind(p.experiment).bind(p.id).run("name proposal"));
  WHALE_TRY_VOID(tx.commit());
  return p;
}

std::vector<proposal_record> sqlite_store::proposals_of(const std::string& slug) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_, (std::string(proposal_columns) + "WHERE slug = ? ORDER BY id DESC").c_str());
  s.bind(slug);
  std::vector<proposal_record> out;
  while (s.row()) out.push_back(read_proposal(s));
  return out;
}

result<std::optional<proposal_record>> sqlite_store::find_proposal(const std::string& slug, uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_, (std::string(proposal_columns) + "WHERE slug = ? AND id = ?").c_str());
  const int rc = s.bind(slug).bind(id).step();
  if (rc == SQLITE_DONE) return std::optional<proposal_record>();
  if (rc != SQLITE_ROW) return sqlite_failure(db_, "find proposal");
  return std::optional<proposal_record>(read_proposal(s));
}

result<void> sqlite_store::mark_proposal(const std::string& slug, uint64_t id, const std::string& status,
                                  const std::string& now) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_, "UPDATE optimizer_proposals SET status = ?, updated_at = ? WHERE slug = ? AND id = ?");
  return s.bind(status).bind(now).bind(slug).bind(id).run("mark proposal");
}

bool sqlite_store::auto_publish(const std::string& slug) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_, "SELECT auto_publish FROM optimizer_settings WHERE slug = ?");
  return s.bind(slug).row() && s.number(0) != 0;
}

result<void> sqlite_store::set_auto_publish(const std::string& slug, bool on, const std::string& now) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_,
              "INSERT INTO optimizer_settings(slug, auto_publish, updated_at) VALUES(?, ?, ?) "
              "ON CONFLICT(slug) DO UPDATE SET auto_publish = excluded.auto_publish, updated_at = excluded.updated_at");
  return s.bind(slug).bind(static_cast<uint64_t>(on ? 1 : 0)).bind(now).run("store optimizer setting");
}

}  // namespace whale::origin

namespace whale::origin {

namespace {

// One column of the current row as migration_tables() writes it (store.h, column_kind).
std::optional<std::string> exported_value(statement& s, int column, column_kind kind) {
  if (s.is_null(column)) return std::nullopt;
  switch (kind) {
    case column_kind::integer:
      return std::to_string(static_cast<int64_t>(s.number(column)));
    case column_kind::real: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", s.real(column));
      return std::string(buf);
    }
    case column_kind::boolean:
      return std::string(s.number(column) != 0 ? "1" : "0");
    case column_kind::text:
    case column_kind::time:
      break;
  }
  return s.text(column);
}

// The SELECT of one table's export. exposures.id is the rowid; tables with a rowid are read in
// insertion order (events: arrival).
std::string export_query(const table_spec& table) {
  const std::string name = table.name;
  std::string sql = "SELECT ";
  for (size_t i = 0; i < table.columns.size(); ++i) {
    const std::string column = table.columns[i].name;
    if (i > 0) sql += ", ";
    sql += name == "exposures" && column == "id" ? std::string("rowid") : "\"" + column + "\"";
  }
  sql += " FROM " + name;
  if (name == "events" || name == "exposures") sql += " ORDER BY rowid";
  return sql;
}

}  // namespace

result<void> sqlite_store::check_origin_file(const std::string& path) {
  std::error_code ignored;
  if (!std::filesystem::is_regular_file(path, ignored)) return fail(error_code::not_found, "no such file: " + path);
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  int tables = 0;
  if (rc == SQLITE_OK) {
    statement s(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('snapshots', 'vendors', 'drafts')");
    if (s.row()) tables = static_cast<int>(s.number(0));
  }
  sqlite3_close(db);
  if (tables != 3) return fail(error_code::invalid_value, path + " is not an SQLite origin database");
  return {};
}

result<std::vector<table_rows>> sqlite_store::export_tables() {
  std::lock_guard<std::mutex> lock(mutex_);
  // One read transaction: every table as of one moment, even while a server writes.
  if (sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) return sqlite_failure(db_, "begin");
  struct end_read {
    sqlite3* db;
    ~end_read() { sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr); }
  } end{db_};
  std::vector<table_rows> out;
  for (const table_spec& table : migration_tables()) {
    const std::string sql = export_query(table);
    statement s(db_, sql.c_str());
    table_rows rows{table.name, {}};
    int rc = SQLITE_ROW;
    while ((rc = s.step()) == SQLITE_ROW) {
      std::vector<std::optional<std::string>> row;
      row.reserve(table.columns.size());
      for (size_t i = 0; i < table.columns.size(); ++i) {
        row.push_back(exported_value(s, static_cast<int>(i), table.columns[i].kind));
      }
      rows.rows.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) return sqlite_failure(db_, std::string("export ") + table.name);
    out.push_back(std::move(rows));
  }
  return out;
}

result<void> sqlite_store::import_tables(const std::vector<table_rows>&) {
  return fail(error_code::invalid_value, "an SQLite database is only migrated from, not into");
}

}  // namespace whale::origin
