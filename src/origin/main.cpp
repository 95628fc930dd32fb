// whale-origin: the origin server and its administration commands (docs/origin.md).
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "crypto.h"
#include "keyring.h"
#include "migrate.h"
#include "events.h"
#include "http_util.h"
#include "server.h"
#include "store.h"
#include "whale/json.h"

namespace {

using namespace whale;
using namespace whale::origin;

// Exit codes.
constexpr int exit_ok = 0;
constexpr int exit_failure = 1;  // the command was well formed but failed (database, key, name taken)
constexpr int exit_usage = 2;    // bad command line

constexpr const char* default_db = "build/origin/whale.db";

constexpr const char* usage_text =
    "usage:\n"
    "  whale-origin serve [--db PATH] [--port N] [--host ADDR] [--key PATH] [--events-key-file PATH]\n"
    "                     [--edge URL]... [--publish URL]... [--edge-token TOKEN] [--reweight-every SECONDS]\n"
    "                     [--max-conns N] [--max-conns-per-ip N] [--head-timeout-ms MS]\n"
    "                     [--allow-private-media-sources]\n"
    "                     [--keep-snapshots N] [--revalidate-rate N] [--skip-integrity-check]\n"
    "                     [--events-retention-days N] [--db-replica URL] [--db-pool N] [--replica-max-lag-ms MS]\n"
    "  whale-origin vendor add|rotate|revoke <slug> [--db PATH] [--grace SECONDS]\n"
    "  whale-origin edge add|rotate|revoke <name> [--db PATH] [--grace SECONDS]\n"
    "  whale-origin operator add|rotate|revoke <name> [--db PATH] [--grace SECONDS]\n"
    "  whale-origin key list|add|rotate [--db PATH] [--key PATH]\n"
    "  whale-origin key retire <key_id> [--db PATH] [--key PATH]\n"
    "  whale-origin migrate --from PATH --to URL\n"
    "\n"
    "  add                prints the new principal's token, once (only its SHA-256 is stored)\n"
    "  rotate             prints a new token; the principal's older tokens stay valid for --grace\n"
    "                     seconds (default 86400; 0: refused at once)\n"
    "  revoke             every token of the principal refused from the next request; rotate issues a new one\n"
    "  key add            generates the next snapshot signing key: in /v1/keys (\"active\": false), not\n"
    "                     signing yet, so that the edges can pin it first\n"
    "  key rotate         the next key (or, without one, a new key) signs from the next publish; the old\n"
    "                     one stays in /v1/keys (\"active\": false) until retired\n"
    "  key retire ID      re-signs the snapshots signed by key ID with the active key and drops ID\n"
    "                     from /v1/keys\n"
    "  key list           the keys /v1/keys announces, the active one first\n"
    "  migrate            copies the SQLite origin database --from (stop its origin first) into the empty\n"
    "                     PostgreSQL database --to in one transaction, then compares both (rows and a\n"
    "                     SHA-256 per table; a difference fails). The signing key stays a file: start the\n"
    "                     PostgreSQL origins with --key and the SQLite origin's key file\n"
    "\n"
    "  --db PATH|URL      SQLite database (default build/origin/whale.db; created if missing), or a\n"
    "                     PostgreSQL database, postgres://user@host:port/name (schema created if missing)\n"
    "  --port N           TCP port (default 8788; 0 picks a free one)\n"
    "  --host ADDR        address to listen on (default 127.0.0.1)\n"
    "  --key PATH         Ed25519 private key, PEM (default: next to an SQLite database, created if missing;\n"
    "                     required with PostgreSQL, the same file for every origin process); the\n"
    "                     keys it replaced are in the directory beside it (whale.keys/ for whale.key.pem)\n"
    "  --edge URL         an edge's invalidate endpoint, nudged after each publish (repeatable)\n"
    "  --publish URL      a Cloudflare worker's publish route (https://.../v1/publish), sent each signed\n"
    "                     snapshot to write to Workers KV; retried until it lands (repeatable)\n"
    "  --edge-token TOKEN bearer token for the nudges and publishes (default: $WHALE_EDGE_TOKEN)\n"
    "  --max-conns N      open connections in all; more are answered 503 and closed (default 4096)\n"
    "  --max-conns-per-ip N  open connections from one client address (default 64)\n"
    "  --head-timeout-ms MS  deadline for a whole request head (default 10000)\n"
    "  --allow-private-media-sources  accept media.allowedSources on loopback, private and link-local\n"
    "                     hosts (local tests and the local stack only; docs/origin.md)\n"
    "  --reweight-every S bandit reweight cadence in seconds (default 3600; 0: only POST .../reweight)\n"
    "  --keep-snapshots N versions kept per vendor, older ones pruned at publish (default 50, at least 1)\n"
    "  --revalidate-rate N publishes per vendor per minute, in bursts of up to N (default 10; 0: no limit)\n"
    "  --skip-integrity-check  start without the database check (PRAGMA quick_check); it then runs in\n"
    "                     the background and /healthz reports what it finds\n"
    "  --events-key-file PATH  the events key shared with the edges (default: $WHALE_EVENTS_KEY); without\n"
    "                     one POST /v1/events answers 503; two keys (current, previous; separated by a\n"
    "                     comma or a new line) while one is rotated (docs/bandits.md)\n"
    "  --events-retention-days N  raw events kept this long (default 30; 0: forever); aggregates stay\n"
    "  --db-replica URL   a streaming replica of the PostgreSQL --db: snapshot, dashboard and other GET\n"
    "                     reads go to it while it keeps up (docs/origin.md, \"PostgreSQL\")\n"
    "  --db-pool N        PostgreSQL connections per server and process (default 4)\n"
    "  --replica-max-lag-ms MS  a replica further behind hands its reads to the primary (default 5000)\n";

int usage(const std::string& problem) {
  std::fprintf(stderr, "whale-origin: %s\n%s", problem.c_str(), usage_text);
  return exit_usage;
}

int failed(const std::string& problem) {
  std::fprintf(stderr, "whale-origin: %s\n", problem.c_str());
  return exit_failure;
}

struct options {
  std::vector<std::string> positional;
  std::string db = default_db;
  std::string key;
  std::string from, to;               // migrate: the SQLite file and the PostgreSQL URL
  bool skip_integrity_check = false;  // serve at once; the check runs in the background (/healthz)
  uint64_t keep_snapshots = 50;       // versions kept per vendor (store::keep_snapshots)
  uint32_t grace_s = 86400;           // how long a rotated token's predecessors stay valid
  store_options storage;              // PostgreSQL: the replica, the pool
  server_options serve;
};

// `value` as a whole number from `min` to `max` (`unit` names it in the problem); false with `problem`.
bool whole_flag(const std::string& flag, const std::string& value, long min, long max, const char* unit, long& out,
                std::string& problem) {
  char* end = nullptr;
  out = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || out < min || out > max) {
    problem = flag + ": expected " + std::to_string(min) + " to " + std::to_string(max) + unit + ", got " + value;
    return false;
  }
  return true;
}

// Parses flags anywhere after the command; false (with `problem`) on a bad one.
bool parse_flags(int argc, char** argv, options& o, std::string& problem) {
  if (const char* token = std::getenv("WHALE_EDGE_TOKEN")) o.serve.edge_token = token;
  if (const char* key = std::getenv("WHALE_EVENTS_KEY")) o.serve.events_keys = split_event_keys(key);
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      o.positional.insert(o.positional.begin(), "help");
      return true;
    }
    if (arg.rfind("--", 0) != 0) {
      o.positional.push_back(arg);
      continue;
    }
    if (arg == "--skip-integrity-check") {
      o.skip_integrity_check = true;
      continue;
    }
    if (arg == "--allow-private-media-sources") {
      o.serve.allow_private_media_sources = true;
      continue;
    }
    if (i + 1 >= argc) {
      problem = arg + " needs a value";
      return false;
    }
    const std::string value = argv[++i];
    long n = 0;  // a whole-number flag's value
    if (arg == "--db") {
      o.db = value;
    } else if (arg == "--key") {
      o.key = value;
    } else if (arg == "--from") {
      o.from = value;
    } else if (arg == "--to") {
      o.to = value;
    } else if (arg == "--host") {
      o.serve.host = value;
    } else if (arg == "--edge") {
      o.serve.edge_urls.push_back(value);
    } else if (arg == "--publish") {
      o.serve.publish_urls.push_back(value);
    } else if (arg == "--edge-token") {
      o.serve.edge_token = value;
    } else if (arg == "--port") {
      if (!whole_flag(arg, value, 0, 65535, "", n, problem)) return false;
      o.serve.port = static_cast<int>(n);
    } else if (arg == "--max-conns" || arg == "--max-conns-per-ip" || arg == "--head-timeout-ms") {
      if (!whole_flag(arg, value, 1, 1000000, "", n, problem)) return false;
      int& limit = arg == "--max-conns"          ? o.serve.max_conns
                   : arg == "--max-conns-per-ip" ? o.serve.max_conns_per_ip
                                                 : o.serve.head_timeout_ms;
      limit = static_cast<int>(n);
    } else if (arg == "--reweight-every") {
      if (!whole_flag(arg, value, 0, 31 * 86400, " seconds", n, problem)) return false;
      o.serve.reweight_every_s = static_cast<int>(n);
    } else if (arg == "--events-key-file") {
      std::ifstream in(value, std::ios::binary);
      std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
      if (!in.good() && !in.eof()) {
        problem = "--events-key-file: cannot read " + value;
        return false;
      }
      o.serve.events_keys = split_event_keys(key);
    } else if (arg == "--events-retention-days") {
      if (!whole_flag(arg, value, 0, 36500, " days", n, problem)) return false;
      o.serve.events_retention_days = static_cast<uint32_t>(n);
    } else if (arg == "--grace") {
      if (!whole_flag(arg, value, 0, 365L * 86400, " seconds", n, problem)) return false;
      o.grace_s = static_cast<uint32_t>(n);
    } else if (arg == "--keep-snapshots") {
      if (!whole_flag(arg, value, 1, 1000000, "", n, problem)) return false;
      o.keep_snapshots = static_cast<uint64_t>(n);
    } else if (arg == "--db-replica") {
      o.storage.replica = value;
    } else if (arg == "--db-pool") {
      if (!whole_flag(arg, value, 1, 1000, " connections", n, problem)) return false;
      o.storage.pool_size = static_cast<size_t>(n);
    } else if (arg == "--replica-max-lag-ms") {
      if (!whole_flag(arg, value, 0, 3600000, " ms", n, problem)) return false;
      o.storage.replica_max_lag_ms = static_cast<uint32_t>(n);
    } else if (arg == "--revalidate-rate") {
      if (!whole_flag(arg, value, 0, 1000000, " per minute", n, problem)) return false;
      o.serve.revalidate_per_minute = static_cast<uint32_t>(n);
    } else {
      problem = "unknown option " + arg;
      return false;
    }
  }
  return true;
}

// `vendor add|rotate|revoke <slug>`, `edge add|rotate|revoke <name>` (docs/origin.md, "Tokens").
// add and rotate print the new token once: only its SHA-256 is stored.
int manage_principal(principal_kind kind, const options& o) {
  const char* noun = kind == principal_kind::vendor ? "vendor" : kind == principal_kind::edge ? "edge" : "operator";
  const std::string verb = o.positional.size() == 3 ? o.positional[1] : "";
  if (verb != "add" && verb != "rotate" && verb != "revoke") {
    return usage(std::string("expected: ") + noun + " add|rotate|revoke <name>");
  }
  const std::string& name = o.positional[2];
  if (!valid_slug(name)) {
    return usage(std::string(noun) + " name \"" + name + "\": expected [a-z0-9-], at most 64, no '-' at either end");
  }
  auto db = store::open(o.db);
  if (!db) return failed(db.message());
  if (verb == "revoke") {
    result<uint64_t> revoked = (*db)->revoke_tokens(kind, name);
    if (!revoked) return failed(revoked.message());
    std::fprintf(stderr, "whale-origin: %s %s: %llu token(s) revoked; `%s rotate %s` issues a new one\n", noun,
                 name.c_str(), static_cast<unsigned long long>(*revoked), noun, name.c_str());
    return exit_ok;
  }
  auto token = random_token(kind == principal_kind::vendor ? "whv_" : kind == principal_kind::edge ? "whe_" : "who_");
  if (!token) return failed(token.message());
  const std::string hash = sha256_hex(*token);
  if (verb == "add") {
    if (auto added = (*db)->add_principal(kind, name, hash, now_iso()); !added) return failed(added.message());
  } else if (auto rotated = (*db)->rotate_token(kind, name, hash, o.grace_s); !rotated) {
    return failed(rotated.message());
  }
  std::printf("%s\n", token->c_str());
  if (verb == "add") {
    std::fprintf(stderr, "whale-origin: %s %s added; its token is printed above and is not stored\n", noun, name.c_str());
  } else {
    std::fprintf(stderr,
                 "whale-origin: %s %s has a new token, printed above and not stored; its older tokens are refused "
                 "%u s from now\n",
                 noun, name.c_str(), o.grace_s);
  }
  return exit_ok;
}

// The key beside an SQLite file. A PostgreSQL database has no place on this machine, and every
// origin process sharing it must sign with one key: --key names it (empty here).
std::string default_key_path(const std::string& db) {
  if (is_postgres_url(db)) return "";
  return std::filesystem::path(db).replace_extension(".key.pem").string();
}

constexpr const char* key_required = "--key PATH is required with a PostgreSQL database (the same key file for every "
                                     "origin process sharing it)";

void print_keys(keyring& ring) {
  for (const announced_key& k : ring.announced()) {
    std::printf("%s %s %s\n", k.key_id.c_str(), base64(k.public_key).c_str(),
                k.active ? "active" : k.next ? "next" : "previous");
  }
}

// `key list|add|rotate`, `key retire <key_id>` (docs/origin.md, "Rotating the signing key").
int manage_keys(const options& o) {
  const std::string verb = o.positional.size() >= 2 ? o.positional[1] : "";
  const size_t arity = verb == "retire" ? 3 : 2;
  if ((verb != "list" && verb != "add" && verb != "rotate" && verb != "retire") || o.positional.size() != arity) {
    return usage("expected: key list|add|rotate, or key retire <key_id>");
  }
  const std::string key_path = o.key.empty() ? default_key_path(o.db) : o.key;
  if (key_path.empty()) return usage(key_required);
  if (verb == "add" || verb == "rotate") {
    if (verb == "add") {  // the active key exists before a next one
      if (auto ring = keyring::open(key_path); !ring) return failed(ring.message());
    }
    result<std::string> fresh = verb == "add" ? keyring::add_next(key_path) : keyring::rotate(key_path);
    if (!fresh) return failed(fresh.message());
    auto ring = keyring::open(key_path);
    if (!ring) return failed(ring.message());
    print_keys(**ring);
    if (verb == "add") {
      std::fprintf(stderr, "whale-origin: key %s is next: pin it at the edges, then `key rotate`\n", fresh->c_str());
    } else {
      std::fprintf(stderr, "whale-origin: key %s signs from the next publish; the previous key stays in /v1/keys until "
                   "`key retire`\n", fresh->c_str());
    }
    return exit_ok;
  }
  auto ring = keyring::open(key_path);
  if (!ring) return failed(ring.message());
  if (verb == "list") {
    print_keys(**ring);
    return exit_ok;
  }
  const std::string& key_id = o.positional[2];
  const std::vector<announced_key> keys = (*ring)->announced();
  const auto found = std::find_if(keys.begin(), keys.end(), [&](const announced_key& k) { return k.key_id == key_id; });
  if (found == keys.end()) return failed("no key " + key_id + " in the ring of " + key_path);
  if (found->active) return failed("key " + key_id + " is the active signing key: rotate first");
  auto db = store::open(o.db);
  if (!db) return failed(db.message());
  const std::shared_ptr<const signer> active = (*ring)->active();
  result<uint64_t> resigned = (*db)->resign_snapshots(key_id, [&](snapshot& s) -> result<void> {
    WHALE_TRY(std::string signature, active->sign(signed_message(s.slug, s.version, s.published_at, s.body)));
    s.signature = base64(signature);
    s.key_id = active->key_id();
    return {};
  });
  if (!resigned) return failed(resigned.message());
  if (auto retired = keyring::retire(key_path, key_id); !retired) return failed(retired.message());
  std::fprintf(stderr, "whale-origin: key %s retired; %llu snapshot(s) re-signed with %s\n", key_id.c_str(),
               static_cast<unsigned long long>(*resigned), active->key_id().c_str());
  return exit_ok;
}

// `migrate --from PATH --to URL` (docs/origin.md, "Moving an SQLite origin to PostgreSQL"): prints
// one line per table, rows on both sides and the digest, then how to serve the copy.
int migrate(const options& o) {
  if (o.positional.size() != 1) return usage("migrate takes no arguments");
  if (o.from.empty() || o.to.empty()) return usage("migrate needs --from PATH (SQLite) and --to URL (postgres://)");
  if (!is_postgres_url(o.to)) return usage("--to takes a postgres:// URL");
  result<std::vector<table_comparison>> compared = migrate_to_postgres(o.from, o.to);
  if (!compared) return failed("migrate: " + compared.message());
  bool same = true;
  uint64_t rows = 0;
  std::printf("%-20s %10s %10s  %s\n", "table", "sqlite", "postgres", "sha256");
  for (const table_comparison& c : *compared) {
    same = same && c.matches();
    rows += c.target_rows;
    std::printf("%-20s %10llu %10llu  %.16s  %s\n", c.table.c_str(), static_cast<unsigned long long>(c.source_rows),
                static_cast<unsigned long long>(c.target_rows), c.source_digest.c_str(),
                c.matches() ? "ok" : ("MISMATCH (postgres " + c.target_digest.substr(0, 16) + ")").c_str());
  }
  std::fflush(stdout);
  if (!same) return failed("migrate: the PostgreSQL copy differs from the SQLite database (see above)");
  const std::string key_path = o.key.empty() ? default_key_path(o.from) : o.key;
  std::printf("migrated %llu rows in %zu tables; serve it with --db <the --to URL> --key %s (the same key file for "
              "every PostgreSQL origin)\n",
              static_cast<unsigned long long>(rows), compared->size(), key_path.c_str());
  return exit_ok;
}

// The integrity check of --skip-integrity-check, run while serving: /healthz reports what it
// finds (store::health), and a failure is logged as one JSON line on stderr.
void check_in_background(store& db, const std::atomic<bool>& stopping) {
  result<void> checked = db.quick_check(&stopping);
  if (stopping) return;  // interrupted: nothing was found
  std::string line = "{\"ts\":\"" + now_iso() + "\",\"event\":\"integrity_check\",\"ok\":";
  if (checked) {
    line += "true}\n";
  } else {
    line += "false,\"detail\":";
    json::write_string(checked.message(), line);
    line += "}\n";
  }
  std::fwrite(line.data(), 1, line.size(), stderr);
}

int serve(options& o) {
  if (o.positional.size() != 1) return usage("serve takes no arguments");
  if (o.key.empty() && is_postgres_url(o.db)) return usage(key_required);
  if (!o.storage.replica.empty() && (!is_postgres_url(o.db) || !is_postgres_url(o.storage.replica))) {
    return usage("--db-replica takes a postgres:// URL, with a PostgreSQL --db");
  }
  // SIGINT and SIGTERM are taken by one thread that stops the server; every thread started
  // from here on inherits the blocked mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto db = store::open(o.db, o.storage);
  if (!db) return failed(db.message());
  if (!o.skip_integrity_check) {
    if (auto checked = (*db)->quick_check(); !checked) {
      return failed(checked.message() +
                    "\nwhale-origin: refusing to serve a damaged database: restore it from a backup, or start with "
                    "--skip-integrity-check to serve what can still be read");
    }
  }
  (*db)->keep_snapshots(o.keep_snapshots);
  const std::string key_path = o.key.empty() ? default_key_path(o.db) : o.key;
  auto keys = keyring::open(key_path);
  if (!keys) return failed(keys.message());

  if (o.serve.events_keys.size() > 2) return failed("at most two events keys (the current one, then the previous one)");
  for (const std::string& k : o.serve.events_keys) {
    if (k.size() < 32) return failed("an events key must be at least 32 bytes (WHALE_EVENTS_KEY or --events-key-file)");
  }
  if (o.serve.events_keys.empty()) {
    std::fprintf(stderr, "whale-origin: no events key (WHALE_EVENTS_KEY or --events-key-file): POST /v1/events answers 503\n");
  }
  server http(**db, **keys, o.serve);
  auto port = http.bind();
  if (!port) return failed(port.message());
  std::printf("whale-origin listening on http://%s:%d\n", o.serve.host.c_str(), *port);
  const std::shared_ptr<const signer> active = (*keys)->active();
  std::printf("public key (Ed25519, raw, base64): %s\n", base64(active->public_key()).c_str());
  std::printf("key id: %s (%s)\n", active->key_id().c_str(), key_path.c_str());
  std::fflush(stdout);

  std::thread stopper([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    http.stop();
  });
  std::atomic<bool> stopping{false};
  std::thread checker;
  if (o.skip_integrity_check) checker = std::thread([&] { check_in_background(**db, stopping); });
  http.run();
  stopping = true;
  if (checker.joinable()) checker.join();
  pthread_kill(stopper.native_handle(), SIGTERM);  // wakes the stopper if run() ended on its own
  stopper.join();
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  std::string problem;
  if (!parse_flags(argc, argv, o, problem)) return usage(problem);
  if (o.positional.empty()) return usage("missing command");
  const std::string& command = o.positional[0];
  if (command == "serve") return serve(o);
  if (command == "vendor") return manage_principal(principal_kind::vendor, o);
  if (command == "edge") return manage_principal(principal_kind::edge, o);
  if (command == "operator") return manage_principal(principal_kind::operator_, o);
  if (command == "key") return manage_keys(o);
  if (command == "migrate") return migrate(o);
  if (command == "help") {
    std::fputs(usage_text, stdout);
    return exit_ok;
  }
  return usage("unknown command " + command);
}
