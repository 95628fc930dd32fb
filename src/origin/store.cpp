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

bandit_record srm_cleared_record(const bandit_flag& flag, const std::string& now, const bandit_record* last) {
  bandit_record r;
  r.slug = flag.slug;
  r.experiment = flag.experiment;
  r.at = now;
  r.status = "srm_cleared";
  r.weights = r.units = r.conversions = r.p_best = "[]";
  r.srm_chi2 = flag.srm_chi2;
  r.srm_p = flag.srm_p;
  if (last != nullptr) {
    r.feature = last->feature;
    r.rule = last->rule;
    r.weights = last->weights;
  }
  return r;
}

replica_reads::replica_reads() { ++replica_scopes; }
replica_reads::~replica_reads() { --replica_scopes; }
bool replica_reads::allowed() { return replica_scopes > 0; }

const std::vector<table_spec>& migration_tables() {
  using k = column_kind;
  static const std::vector<table_spec> tables = {
      {"vendors", {{"slug", k::text}, {"token_hash", k::text}, {"created_at", k::text}}},
      {"edges", {{"name", k::text}, {"token_hash", k::text}, {"created_at", k::text}}},
      {"tokens", {{"hash", k::text}, {"kind", k::text}, {"name", k::text}, {"created_at", k::text}, {"expires_at", k::text}}},
      {"drafts", {{"slug", k::text}, {"body", k::text}, {"updated_at", k::text}}},
      {"snapshots",
       {{"slug", k::text}, {"version", k::integer}, {"body", k::text}, {"signature", k::text}, {"key_id", k::text},
        {"published_at", k::text}, {"seq", k::integer}}},
      {"idempotency", {{"key", k::text}, {"slug", k::text}, {"response", k::text}, {"created_at", k::text}}},
      {"events",
       {{"slug", k::text}, {"event_id", k::text}, {"experiment", k::text}, {"variation", k::text}, {"unit", k::text},
        {"type", k::text}, {"ts", k::integer}, {"received_at", k::time}}},
      {"exposures",
       {{"id", k::integer}, {"slug", k::text}, {"experiment", k::text}, {"unit", k::text}, {"variation", k::text},
        {"ts", k::integer}}},
      {"conversions", {{"slug", k::text}, {"experiment", k::text}, {"unit", k::text}, {"ts", k::integer}}},
      {"arm_stats",
       {{"slug", k::text}, {"experiment", k::text}, {"variation", k::text}, {"units", k::integer},
        {"conversions", k::integer}}},
      {"bandit_history",
       {{"id", k::integer}, {"slug", k::text}, {"experiment", k::text}, {"feature", k::text}, {"rule", k::integer},
        {"version", k::integer}, {"at", k::text}, {"status", k::text}, {"weights", k::text}, {"units", k::text},
        {"conversions", k::text}, {"p_best", k::text}, {"srm_chi2", k::real}, {"srm_p", k::real},
        {"exposure_mark", k::integer}, {"prior_alpha", k::real}, {"prior_beta", k::real}, {"prior_source", k::text}}},
      {"bandit_flags",
       {{"slug", k::text}, {"experiment", k::text}, {"flagged_at", k::text}, {"srm_chi2", k::real}, {"srm_p", k::real},
        {"reason", k::text}}},
      {"optimizer_settings", {{"slug", k::text}, {"auto_publish", k::boolean}, {"updated_at", k::text}}},
      {"optimizer_proposals",
       {{"id", k::integer}, {"slug", k::text}, {"experiment", k::text}, {"status", k::text}, {"body", k::text},
        {"based_on", k::integer}, {"version", k::integer}, {"created_at", k::text}, {"updated_at", k::text}}},
  };
  return tables;
}

result<std::unique_ptr<store>> store::open(const std::string& db, const store_options& options) {
  if (is_postgres_url(db)) return pg_store::open(db, options);
  return sqlite_store::open(db);
}

}  // namespace whale::origin
