// whale-origin migrate (docs/origin.md, "Moving an SQLite origin to PostgreSQL"): copies an SQLite
// origin database into an empty PostgreSQL database in one transaction, then reads both back and
// compares them table by table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store.h"

namespace whale::origin {

// One table on both sides after a migration.
struct table_comparison {
  std::string table;
  uint64_t source_rows = 0;
  uint64_t target_rows = 0;
  std::string source_digest;  // table_digest, 64 hex digits
  std::string target_digest;
  bool matches() const { return source_rows == target_rows && source_digest == target_digest; }
};

// SHA-256 over the table's rows in a fixed order (their encodings sorted), whatever order a
// backend read them in: equal tables have equal digests on either backend.
std::string table_digest(const table_rows& table);

// Copies `sqlite_path` (an existing origin database) into `postgres_url` (an empty database) and
// compares both. not_found: no such file; invalid_value: not an origin database, or a target
// that holds data; internal: a database that failed. The signing key is not in either database.
result<std::vector<table_comparison>> migrate_to_postgres(const std::string& sqlite_path,
                                                          const std::string& postgres_url);

}  // namespace whale::origin
