#include "store.h"

#include <sqlite3.h>

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
)sql";

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
  uint64_t number(int column) { return static_cast<uint64_t>(sqlite3_column_int64(stmt_, column)); }

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

result<std::unique_ptr<store>> store::open(const std::string& path) {
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
  std::unique_ptr<store> s(new store(db));
  sqlite3_busy_timeout(db, 5000);  // a CLI `vendor add` may write while the server runs
  WHALE_TRY_VOID(s->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  WHALE_TRY_VOID(s->exec(schema));
  return s;
}

store::store(sqlite3* db) : db_(db) {}
store::~store() { sqlite3_close(db_); }

result<void> store::exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : "unknown error";
    sqlite3_free(message);
    return fail(error_code::internal, "sqlite: " + text);
  }
  return {};
}

result<void> store::add_principal(principal_kind kind, const std::string& name, const std::string& token_hash,
                                  const std::string& now) {
  std::lock_guard<std::mutex> lock(mutex_);
  const bool vendor = kind == principal_kind::vendor;
  statement s(db_, vendor ? "INSERT INTO vendors(slug, token_hash, created_at) VALUES(?, ?, ?)"
                          : "INSERT INTO edges(name, token_hash, created_at) VALUES(?, ?, ?)");
  s.bind(name).bind(token_hash).bind(now);
  const int rc = s.step();
  if (rc == SQLITE_CONSTRAINT) {
    return fail(error_code::invalid_value, std::string(vendor ? "vendor " : "edge ") + name + " already exists");
  }
  if (rc != SQLITE_DONE) return sqlite_failure(db_, "insert");
  return {};
}

std::optional<principal> store::find_token(const std::string& token_hash) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement vendor(db_, "SELECT slug FROM vendors WHERE token_hash = ?");
  if (vendor.bind(token_hash).row()) return principal{principal_kind::vendor, vendor.text(0)};
  statement edge(db_, "SELECT name FROM edges WHERE token_hash = ?");
  if (edge.bind(token_hash).row()) return principal{principal_kind::edge, edge.text(0)};
  return std::nullopt;
}

result<void> store::put_draft(const std::string& slug, const std::string& body, const std::string& now) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_,
              "INSERT INTO drafts(slug, body, updated_at) VALUES(?, ?, ?) "
              "ON CONFLICT(slug) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at");
  return s.bind(slug).bind(body).bind(now).run("store draft");
}

std::optional<draft> store::get_draft(const std::string& slug) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_, "SELECT body, updated_at FROM drafts WHERE slug = ?");
  if (!s.bind(slug).row()) return std::nullopt;
  return draft{s.text(0), s.text(1)};
}

result<publish_outcome> store::publish(const std::string& slug, const std::string& idempotency_key,
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

  statement insert(db_,
                   "INSERT INTO snapshots(slug, version, body, signature, key_id, published_at, seq) "
                   "VALUES(?, ?, ?, ?, ?, ?, ?)");
  insert.bind(slug).bind(snap.version).bind(snap.body).bind(snap.signature).bind(snap.key_id);
  WHALE_TRY_VOID(insert.bind(snap.published_at).bind(snap.seq).run("insert snapshot"));
  if (!idempotency_key.empty()) {
    statement forget(db_, "DELETE FROM idempotency WHERE created_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)");
    WHALE_TRY_VOID(forget.bind(std::string(idempotency_retention)).run("expire idempotency keys"));
    statement remember(db_, "INSERT INTO idempotency(key, slug, response, created_at) VALUES(?, ?, ?, ?)");
    WHALE_TRY_VOID(remember.bind(idempotency_key).bind(slug).bind(response).bind(now).run("remember key"));
  }
  WHALE_TRY_VOID(tx.commit());
  return publish_outcome{std::move(response), false, std::move(snap)};
}

std::optional<snapshot> store::find_snapshot(const std::string& slug, uint64_t version) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_,
              "SELECT slug, version, body, signature, key_id, published_at, seq FROM snapshots "
              "WHERE slug = ? AND (? = 0 OR version = ?) ORDER BY version DESC LIMIT 1");
  if (!s.bind(slug).bind(version).bind(version).row()) return std::nullopt;
  return read_snapshot(s);
}

std::vector<change> store::changes_since(uint64_t seq) {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_,
              "SELECT slug, MAX(version), MAX(seq) FROM snapshots WHERE seq > ? GROUP BY slug ORDER BY MAX(seq)");
  s.bind(seq);
  std::vector<change> out;
  while (s.row()) out.push_back(change{s.text(0), s.number(1), s.number(2)});
  return out;
}

// The draft and the numbers of the next version of `slug`; false when there is no draft.
bool store::next_snapshot(const std::string& slug, snapshot& snap) {
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

bool store::healthy() {
  std::lock_guard<std::mutex> lock(mutex_);
  statement s(db_, "SELECT 1");
  return s.row();
}

}  // namespace whale::origin
