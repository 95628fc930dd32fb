#include "migrate.h"

#include <algorithm>

#include "crypto.h"
#include "sqlite_store.h"

namespace whale::origin {

namespace {

// A row as unambiguous bytes: each value length-prefixed, NULL apart from any text.
std::string encode_row(const std::vector<std::optional<std::string>>& row) {
  std::string out;
  for (const std::optional<std::string>& value : row) {
    if (!value) {
      out += "N;";
      continue;
    }
    out += std::to_string(value->size()) + ":" + *value + ";";
  }
  return out;
}

std::vector<table_comparison> compare(const std::vector<table_rows>& source, const std::vector<table_rows>& target) {
  std::vector<table_comparison> out;
  for (size_t i = 0; i < source.size(); ++i) {
    table_comparison c;
    c.table = source[i].table;
    c.source_rows = source[i].rows.size();
    c.source_digest = table_digest(source[i]);
    if (i < target.size() && target[i].table == source[i].table) {
      c.target_rows = target[i].rows.size();
      c.target_digest = table_digest(target[i]);
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

std::string table_digest(const table_rows& table) {
  std::vector<std::string> rows;
  rows.reserve(table.rows.size());
  for (const auto& row : table.rows) rows.push_back(encode_row(row));
  std::sort(rows.begin(), rows.end());
  std::string all;
  for (const std::string& row : rows) all += std::to_string(row.size()) + ":" + row + "\n";
  return sha256_hex(all);
}

result<std::vector<table_comparison>> migrate_to_postgres(const std::string& sqlite_path,
                                                          const std::string& postgres_url) {
  if (!is_postgres_url(postgres_url)) return fail(error_code::invalid_value, "--to takes a postgres:// URL");
  WHALE_TRY_VOID(sqlite_store::check_origin_file(sqlite_path));
  WHALE_TRY(std::unique_ptr<store> source, sqlite_store::open(sqlite_path));
  WHALE_TRY(std::unique_ptr<store> target, store::open(postgres_url));
  WHALE_TRY(std::vector<table_rows> rows, source->export_tables());
  WHALE_TRY_VOID(target->import_tables(rows));
  WHALE_TRY(std::vector<table_rows> copied, target->export_tables());
  return compare(rows, copied);
}

}  // namespace whale::origin
