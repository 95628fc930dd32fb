#include "store.h"

#include "pg_store.h"
#include "sqlite_store.h"

namespace whale::origin {

bool is_postgres_url(const std::string& db) {
  return db.rfind("postgres://", 0) == 0 || db.rfind("postgresql://", 0) == 0;
}

result<std::unique_ptr<store>> store::open(const std::string& db) {
  if (is_postgres_url(db)) return pg_store::open(db);
  return sqlite_store::open(db);
}

}  // namespace whale::origin
