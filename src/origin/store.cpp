#include "store.h"

#include "pg_store.h"
#include "sqlite_store.h"

namespace whale::origin {

bool is_postgres_url(const std::string& db) {
  return db.rfind("postgres://", 0) == 0 || db.rfind("postgresql://", 0) == 0;
}

namespace {
thread_local int replica_scopes = 0;  // replica_reads open on this thread
}  // namespace

replica_reads::replica_reads() { ++replica_scopes; }
replica_reads::~replica_reads() { --replica_scopes; }
bool replica_reads::allowed() { return replica_scopes > 0; }

result<std::unique_ptr<store>> store::open(const std::string& db, const store_options& options) {
  if (is_postgres_url(db)) return pg_store::open(db, options);
  return sqlite_store::open(db);
}

}  // namespace whale::origin
