#include "server.h"

#include <httplib.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <thread>
#include <cstdio>
#include <ctime>

#include "admin.h"
#include "components.h"
#include "crypto.h"
#include "events.h"
#include "http_util.h"
#include "media_sources.h"
#include "http_server.h"
#include "keyring.h"
#include "metrics.h"
#include "nudger.h"
#include "optimize.h"
#include "platform.h"
#include "rate_limit.h"
#include "reweight.h"
#include "store.h"
#include "validate.h"
#include "whale/config.h"
#include "whale/json.h"

namespace whale::origin {

namespace {

using clock = std::chrono::steady_clock;
using httplib::Request;
using httplib::Response;

// Bodies up to config::max_config_bytes are checked by the handlers (413 with a JSON error); the
// transport refuses anything past this without reading it (chunked bodies too).
constexpr size_t max_payload_bytes = config::max_config_bytes + 64 * 1024;
// Every other route takes no body or a small JSON one: the transport refuses more unread.
constexpr size_t max_small_body_bytes = 64 * 1024;
constexpr size_t max_idempotency_key_bytes = 255;
// POST /v1/vendors/{slug}/live/{page}: a transform, at most what an edge takes (edge-workers/live.js).
constexpr size_t max_live_body_bytes = 16 * 1024;
// POST /v1/events: at most this many events in at most this many bytes (docs/bandits.md).
constexpr size_t max_event_batch = 1000;
constexpr size_t max_event_batch_bytes = 1024 * 1024;
// The timer proposes again for a vendor once every arm of its last published proposal has this
// many units (the proposal's bandit minUnits).
constexpr uint64_t optimizer_min_units = 100;
// A vendor's job lease (server::impl::job_lease) bounds how long a crashed holder blocks the others.
constexpr uint32_t job_lease_s = 300;

}  // namespace

std::string now_iso() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char seconds_text[24];
  std::strftime(seconds_text, sizeof seconds_text, "%Y-%m-%dT%H:%M:%S", &utc);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(ms % 1000));
  return std::string(seconds_text) + millis;
}

namespace {

// A write the database refused (busy, full, damaged, or a PostgreSQL primary down: docs/origin.md,
// "When the primary is down"): 503 with Retry-After, so that a vendor or an edge retries later
// rather than treating it as refused.
constexpr const char* storage_retry_after_s = "5";

// A vendor's reweight or optimizer run is under way in another origin process (its job lease).
void job_running(Response& res, std::string_view message) {
  res.set_header("Retry-After", "1");
  send_error(res, 409, "job_running", message);
}

void storage_unavailable(Response& res, std::string_view message) {
  res.set_header("Retry-After", storage_retry_after_s);
  send_error(res, 503, "storage_unavailable", message);
}

// The transport's counters (http_server.h) in Prometheus text format, after metrics::render()'s.
std::string transport_metrics(const http_counters& c) {
  const auto family = [](const char* name, const char* type, const char* help) {
    return std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  return family("whale_origin_connections_open", "gauge", "HTTP connections open now.") +
         "whale_origin_connections_open " + std::to_string(c.open) + "\n" +
         family("whale_origin_connections_refused_total", "counter",
                "Connections closed at accept: their client address or the origin had as many as allowed.") +
         "whale_origin_connections_refused_total{reason=\"per_ip\"} " + std::to_string(c.refused_per_ip) + "\n" +
         "whale_origin_connections_refused_total{reason=\"total\"} " + std::to_string(c.refused_total) + "\n" +
         family("whale_origin_requests_timed_out_total", "counter",
                "Requests closed unanswered: their head or body was not in by its deadline.") +
         "whale_origin_requests_timed_out_total{phase=\"head\"} " + std::to_string(c.head_timeouts) + "\n" +
         "whale_origin_requests_timed_out_total{phase=\"body\"} " + std::to_string(c.body_timeouts) + "\n";
}

// Where the database's plain reads went (store::reads), when a replica is configured.
std::string read_metrics(const read_targets& reads) {
  if (!reads.replica_configured) return "";
  return "# HELP whale_origin_db_reads_total Plain reads (snapshots, changes, aggregates) by the server that answered.\n"
         "# TYPE whale_origin_db_reads_total counter\n"
         "whale_origin_db_reads_total{target=\"primary\"} " + std::to_string(reads.primary) + "\n" +
         "whale_origin_db_reads_total{target=\"replica\"} " + std::to_string(reads.replica) + "\n";
}

// The transport's limits (http_server.h) from the command line's.
http_limits limits_of(const server_options& o) {
  http_limits limits;
  limits.head_timeout = std::chrono::milliseconds(o.head_timeout_ms);
  limits.max_conns = o.max_conns;
  limits.max_conns_per_ip = o.max_conns_per_ip;
  return limits;
}

// If-None-Match holds `etag` (or *), weak or strong.
bool etag_matches(const std::string& if_none_match, const std::string& etag) {
  size_t start = 0;
  while (start < if_none_match.size()) {
    size_t end = if_none_match.find(',', start);
    if (end == std::string::npos) end = if_none_match.size();
    std::string tag = if_none_match.substr(start, end - start);
    tag.erase(0, tag.find_first_not_of(" \t"));
    tag.erase(tag.find_last_not_of(" \t") + 1);
    if (tag.rfind("W/", 0) == 0) tag.erase(0, 2);
    if (tag == etag || tag == "*") return true;
    start = end + 1;
  }
  return false;
}

// A decimal integer below 10^18 (so it fits SQLite's signed 64 bits).
bool parse_count(const std::string& text, uint64_t& out) {
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos) return false;
  out = std::stoull(text);
  return true;
}

bool valid_idempotency_key(const std::string& key) {
  if (key.size() > max_idempotency_key_bytes) return false;
  for (char c : key) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

std::string json_number_array(const std::string& text) { return text.empty() ? "[]" : text; }

std::string snapshot_json(const snapshot& s) {
  // `config` comes last and holds exactly the signed config bytes (docs/origin.md).
  return "{\"slug\":" + json_string(s.slug) + ",\"version\":" + std::to_string(s.version) +
         ",\"published_at\":" + json_string(s.published_at) + ",\"key_id\":" + json_string(s.key_id) +
         ",\"signature\":" + json_string(s.signature) + ",\"config\":" + s.body + "}";
}

}  // namespace

std::string signed_message(const std::string& slug, uint64_t version, const std::string& published_at,
                           const std::string& config) {
  return "whale-snapshot-v1\n" + slug + "\n" + std::to_string(version) + "\n" + published_at + "\n" + config;
}

struct server::impl {
  store& db;
  keyring& keys;  // signs with its active key, re-read when `key rotate` changes it
  server_options options;
  generator_settings generator = generator_settings::from_env();  // docs/components.md
  metrics stats;
  nudger edges;
  rate_limit publishes{options.revalidate_per_minute};  // POST .../revalidate, per vendor
  event_verifier verifier{options.events_keys};
  std::atomic<int64_t> last_event_expiry{0};
  http_server http{limits_of(options)};
  std::mutex reweight_mutex;  // one reweight at a time (the timer and the manual route)
  std::mutex timer_mutex;
  std::condition_variable timer_wake;
  bool stopping = false;
  std::thread timer;

  ~impl() {
    {
      std::lock_guard<std::mutex> lock(timer_mutex);
      stopping = true;
    }
    timer_wake.notify_all();
    if (timer.joinable()) timer.join();
  }

  impl(store& d, keyring& k, server_options o)
      : db(d),
        keys(k),
        options(std::move(o)),
        edges(options.edge_urls, options.publish_urls, options.edge_token,
              [this](const std::string& url, bool ok, const std::string& detail) { nudged(url, ok, detail); }) {
    routes();
    hooks();
  }

  using handler = void (impl::*)(const Request&, Response&);
  // Who may send a route a body: authorized once the head is read, before any byte of the body.
  enum class sender { anyone, vendor, edge };

  // Registers `h` for `method` and the regex `pattern`; `route` names it in metrics and logs. A
  // body longer than `max_body` is refused unread (413); `who` is checked before it is read (the
  // handler checks again: a guard only spares reading what would be refused).
  void on(const char* method, const char* pattern, const char* route, handler h,
          size_t max_body = max_small_body_bytes, sender who = sender::anyone) {
    http_guard guard;
    if (who != sender::anyone) {
      guard = [this, who](const Request& req, Response& res) {
        if (who == sender::edge) return authorize(req, res, principal_kind::edge, "");
        return authorize(req, res, principal_kind::vendor, req.matches[1]);
      };
    }
    http_handler handle = [this, h](const Request& req, Response& res) { (this->*h)(req, res); };
    http.add({method, pattern, route, max_body, std::string(method) == "GET" ? reading(std::move(handle)) : std::move(handle),
              std::move(guard)});
  }

  // A GET only reads: its plain reads may be answered by the database's replica (store.h).
  static http_handler reading(http_handler h) {
    return [h = std::move(h)](const Request& req, Response& res) {
      replica_reads scope;
      h(req, res);
    };
  }

  void routes() {
    on("PUT", R"(/v1/vendors/)" WHALE_SLUG_PATTERN R"(/config)", "PUT /v1/vendors/{slug}/config", &impl::put_config,
       max_payload_bytes, sender::vendor);
    on("GET", R"(/v1/vendors/)" WHALE_SLUG_PATTERN R"(/config)", "GET /v1/vendors/{slug}/config", &impl::get_config);
    on("POST", R"(/v1/vendors/)" WHALE_SLUG_PATTERN R"(/revalidate)", "POST /v1/vendors/{slug}/revalidate",
       &impl::revalidate, max_small_body_bytes, sender::vendor);
    on("POST", "/v1/events", "POST /v1/events", &impl::post_events, max_event_batch_bytes, sender::edge);
    on("POST", R"(/v1/vendors/)" WHALE_SLUG_PATTERN R"(/reweight)", "POST /v1/vendors/{slug}/reweight", &impl::post_reweight,
       max_small_body_bytes, sender::vendor);
    on("GET", R"(/v1/vendors/)" WHALE_SLUG_PATTERN R"(/bandits)", "GET /v1/vendors/{slug}/bandits", &impl::get_bandits);
    on("POST", R"(/v1/vendors/)" WHALE_SLUG_PATTERN R"(/experiments/([^/]{1,128})/srm/clear)",
       "POST /v1/vendors/{slug}/experiments/{key}/srm/clear", &impl::clear_srm,
       max_small_body_bytes, sender::vendor);
    on("GET", R"(/v1/vendors/)" WHALE_SLUG_PATTERN R"(/optimizer)", "GET /v1/vendors/{slug}/optimizer",
       &impl::get_optimizer);
    on("POST", R"(/v1/vendors/)" WHALE_SLUG_PATTERN R"(/optimizer/propose)", "POST /v1/vendors/{slug}/optimizer/propose",
       &impl::post_propose, max_small_body_bytes, sender::vendor);
    on("PUT", R"(/v1/vendors/)" WHALE_SLUG_PATTERN R"(/optimizer/settings)", "PUT /v1/vendors/{slug}/optimizer/settings",
       &impl::put_optimizer_settings, max_small_body_bytes, sender::vendor);
    on("POST", R"(/v1/vendors/)" WHALE_SLUG_PATTERN R"(/optimizer/proposals/([0-9]{1,18})/apply)",
       "POST /v1/vendors/{slug}/optimizer/proposals/{id}/apply", &impl::post_apply_proposal,
       max_small_body_bytes, sender::vendor);
    on("POST", R"(/v1/vendors/)" WHALE_SLUG_PATTERN R"(/live/([A-Za-z0-9][A-Za-z0-9_-]{0,63}))",
       "POST /v1/vendors/{slug}/live/{page}", &impl::post_live, max_live_body_bytes, sender::vendor);
    on("POST", R"(/v1/vendors/)" WHALE_SLUG_PATTERN R"(/components)", "POST /v1/vendors/{slug}/components",
       &impl::post_component, max_small_body_bytes, sender::vendor);
    on("POST", R"(/v1/vendors/)" WHALE_SLUG_PATTERN R"(/components/generate)",
       "POST /v1/vendors/{slug}/components/generate", &impl::post_generate, max_small_body_bytes, sender::vendor);
    on("POST", R"(/v1/vendors/)" WHALE_SLUG_PATTERN R"(/components/([A-Za-z0-9_.:-]{1,128})/deploy)",
       "POST /v1/vendors/{slug}/components/{key}/deploy", &impl::post_deploy, max_small_body_bytes, sender::vendor);
    on("GET", "/v1/platform", "GET /v1/platform", &impl::get_platform);
    on("POST", R"(/v1/vendors/)" WHALE_SLUG_PATTERN R"(/bootstrap)", "POST /v1/vendors/{slug}/bootstrap",
       &impl::post_bootstrap, max_small_body_bytes);
    on("GET", R"(/v1/snapshots/)" WHALE_SLUG_PATTERN, "GET /v1/snapshots/{slug}", &impl::get_snapshot);
    on("GET", "/v1/snapshots", "GET /v1/snapshots", &impl::list_snapshots);
    on("GET", "/v1/keys", "GET /v1/keys", &impl::get_keys);
    on("GET", "/", "GET /", &impl::root);
    on("GET", "/healthz", "GET /healthz", &impl::healthz);
    on("GET", "/metrics", "GET /metrics", &impl::get_metrics);
    for (admin_route& r : admin_routes(db)) {  // the dashboard (admin.cpp)
      http.add({"GET", r.pattern, r.route, max_small_body_bytes, reading(std::move(r.handle)), {}});
    }
  }

  void hooks() {
    // Every status >= 400 passes here; fill in a JSON body where a handler left none (the
    // transport's own refusals, 404, 405, 411, 413, 431, come with theirs).
    http.set_error_handler([](const Request& req, Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 404) return send_error(res, 404, "not_found", "no route for " + req.method + " " + req.path);
      send_error(res, res.status, "http_" + std::to_string(res.status), "the request could not be served");
    });
    http.set_exception_handler([](const Request&, Response& res, std::exception_ptr e) {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        what = x.what();
      } catch (...) {
      }
      send_error(res, 500, "internal", what);
    });
    http.set_logger([this](const Request& req, const Response& res, const char* route, double seconds) {
      finished(req, res, route, seconds);
    });
  }

  // Metrics and the log line of a finished request; `seconds` from the end of its head.
  void finished(const Request& req, const Response& res, const char* route, double seconds) {
    stats.request(route, res.status, seconds);
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.3f", seconds * 1000);
    const std::string line = "{\"ts\":" + json_string(now_iso()) + ",\"method\":" + json_string(req.method) +
                             ",\"path\":" + json_string(req.path) + ",\"route\":" + json_string(route) +
                             ",\"status\":" + std::to_string(res.status) + ",\"ms\":" + ms + "}\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  }

  void nudged(const std::string& url, bool ok, const std::string& detail) {
    stats.nudge(ok);
    if (ok) return;
    const std::string line = "{\"ts\":" + json_string(now_iso()) + ",\"event\":\"edge_nudge_failed\",\"url\":" +
                             json_string(url) + ",\"detail\":" + json_string(detail) + "}\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  }

  // Lets the request through when its bearer token belongs to `kind` (and, for a vendor, to
  // `slug`); otherwise answers 401 (no or unknown token) or 403 (a token of another kind or vendor).
  // or_operator: an operator's token is taken too (routes operators may run for a vendor).
  bool authorize(const Request& req, Response& res, principal_kind kind, const std::string& slug,
                 bool or_operator = false) {
    const std::string token = bearer_token(req);
    result<std::optional<principal>> found = token.empty() ? std::optional<principal>() : db.find_token(sha256_hex(token));
    if (!found) {
      storage_unavailable(res, found.message());
      return false;
    }
    const std::optional<principal>& who = *found;
    if (!who) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"whale-origin\"");
      send_error(res, 401, "unauthorized", token.empty() ? "missing bearer token" : "unknown token");
      return false;
    }
    if (or_operator && who->kind == principal_kind::operator_) return true;
    if (who->kind != kind) {
      send_error(res, 403, "forbidden",
                 kind == principal_kind::edge      ? "snapshots are read with an edge token"
                 : kind == principal_kind::operator_ ? "the platform view takes an operator token"
                                                     : "vendor routes take the vendor's own token");
      return false;
    }
    if (kind == principal_kind::vendor && who->name != slug) {
      send_error(res, 403, "forbidden", "this token belongs to another vendor");
      return false;
    }
    return true;
  }

  void put_config(const Request& req, Response& res) {
    const std::string slug = req.matches[1];
    if (!authorize(req, res, principal_kind::vendor, slug)) return;
    result<std::string> accepted = accept_config(req.body, slug);
    if (accepted && !options.allow_private_media_sources) {
      if (result<void> sources = refuse_local_media_sources(*accepted); !sources) accepted = sources.error();
    }
    if (!accepted) {
      stats.validation_failure(error_name(accepted.code()));
      send_error(res, accepted.code() == error_code::too_large ? 413 : 400, error_name(accepted.code()),
                 accepted.message());
      return;
    }
    const std::string now = now_iso();
    if (auto stored = db.put_draft(slug, *accepted, now); !stored) {
      storage_unavailable(res, "the draft could not be stored: " + stored.message());
      return;
    }
    send_json(res, 200,
              "{\"slug\":" + json_string(slug) + ",\"draft\":true,\"bytes\":" + std::to_string(accepted->size()) +
                  ",\"updated_at\":" + json_string(now) + "}");
  }

  void get_config(const Request& req, Response& res) {
    const std::string slug = req.matches[1];
    if (!authorize(req, res, principal_kind::vendor, slug)) return;
    const std::optional<draft> d = db.get_draft(slug);
    if (!d) return send_error(res, 404, "not_found", "no draft for " + slug);
    send_json(res, 200, "{\"slug\":" + json_string(slug) + ",\"updated_at\":" + json_string(d->updated_at) +
                            ",\"config\":" + d->body + "}");
  }

  void revalidate(const Request& req, Response& res) {
    const std::string slug = req.matches[1];
    if (!authorize(req, res, principal_kind::vendor, slug)) return;
    const std::string idempotency_key = req.get_header_value("Idempotency-Key");
    if (!valid_idempotency_key(idempotency_key)) {
      return send_error(res, 400, "invalid_value", "Idempotency-Key: expected 1 to 255 visible ASCII characters");
    }
    // A replay of a remembered Idempotency-Key publishes nothing and is not counted.
    const bool counted = idempotency_key.empty() || !db.remembers(slug, idempotency_key);
    if (counted) {
      if (const uint32_t wait_s = publishes.take(slug); wait_s > 0) {
        res.set_header("Retry-After", std::to_string(wait_s));
        return send_error(res, 429, "rate_limited",
                          "more than " + std::to_string(options.revalidate_per_minute) +
                              " publishes a minute for " + slug + ": retry in " + std::to_string(wait_s) + " s");
      }
    }
    bool signing_failed = false;
    result<publish_outcome> outcome = db.publish(slug, idempotency_key, now_iso(), [&](snapshot& s) {
      result<std::string> signed_snapshot = sign(s);
      signing_failed = !signed_snapshot;
      return signed_snapshot;
    });
    if (counted && (!outcome || outcome->replayed)) publishes.refund(slug);
    if (!outcome) {
      if (outcome.code() == error_code::not_found) return send_error(res, 409, "no_draft", outcome.message());
      if (signing_failed) return send_error(res, 500, "internal", outcome.message());
      return storage_unavailable(res, "nothing was published: " + outcome.message());
    }
    if (outcome->replayed) {
      res.set_header("Idempotent-Replayed", "true");
    } else {
      stats.publish();
      edges.notify(slug, outcome->published.version, snapshot_json(outcome->published));
    }
    send_json(res, 200, outcome->response);
  }

  // Signs a new snapshot and returns the revalidate response remembered with it.
  result<std::string> sign(snapshot& s) {
    const std::shared_ptr<const signer> key = keys.active();
    WHALE_TRY(std::string signature, key->sign(signed_message(s.slug, s.version, s.published_at, s.body)));
    s.signature = base64(signature);
    s.key_id = key->key_id();
    return "{\"slug\":" + json_string(s.slug) + ",\"version\":" + std::to_string(s.version) +
           ",\"published_at\":" + json_string(s.published_at) + ",\"seq\":" + std::to_string(s.seq) + "}";
  }

  // --- bandits (docs/bandits.md) ---

  // Raw events past their retention are deleted at most once a minute, by the batch that finds the
  // minute over (the aggregates stay).
  void expire_events() {
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(clock::now().time_since_epoch()).count();
    int64_t last = last_event_expiry.load();
    if (now - last < 60 || !last_event_expiry.compare_exchange_strong(last, now)) return;
    result<uint64_t> expired = db.expire_events(options.events_retention_days);
    if (expired && *expired > 0) stats.events_expired(*expired);
  }

  void post_events(const Request& req, Response& res) {
    if (!authorize(req, res, principal_kind::edge, "")) return;
    if (req.body.size() > max_event_batch_bytes) {
      return send_error(res, 413, "too_large", "events batch larger than " + std::to_string(max_event_batch_bytes) + " bytes");
    }
    if (!verifier.configured()) {
      return send_error(res, 503, "events_key_missing",
                        "this origin has no events key (WHALE_EVENTS_KEY or --events-key-file): events cannot be verified");
    }
    result<json::value> body = json::parse(req.body);
    if (!body) return send_error(res, 400, error_name(body.code()), body.message());
    std::vector<event_record> batch;
    event_refusals refused;
    std::string problem;
    bool too_many = false;
    if (!read_event_batch(*body, max_event_batch, verifier, batch, refused, problem, too_many)) {
      return send_error(res, too_many ? 413 : 400, too_many ? "too_large" : "wrong_type", problem);
    }
    const uint64_t rejected = refused.total();
    stats.events_refused(refused.malformed, refused.signature);
    ingest_counts counts;
    if (!batch.empty()) {
      result<ingest_counts> stored = db.ingest_events(batch, now_iso());
      if (!stored) return storage_unavailable(res, stored.message());
      counts = *stored;
    }
    stats.events(counts.accepted, counts.duplicates, rejected);
    expire_events();
    send_json(res, 200, "{\"accepted\":" + std::to_string(counts.accepted) + ",\"duplicates\":" +
                            std::to_string(counts.duplicates) + ",\"rejected\":" + std::to_string(rejected) +
                            ",\"refused\":{\"malformed\":" + std::to_string(refused.malformed) +
                            ",\"signature\":" + std::to_string(refused.signature) + "}}");
  }

  // The name of a vendor's job lease: its reweights and optimizer runs, one at a time across the
  // origin processes sharing a database (store::take_lease); in this process reweight_mutex.
  static std::string job_lease(const std::string& slug) { return "jobs:" + slug; }

  // Gives a lease back when it goes out of scope.
  struct lease_release {
    store& db;
    std::string name;
    ~lease_release() { db.release_lease(name); }
  };

  // Takes the vendor's job lease; false (and `*busy` set) when another process holds it.
  result<bool> take_job(const std::string& slug, bool* busy) {
    WHALE_TRY(const bool mine, db.take_lease(job_lease(slug), job_lease_s));
    if (!mine && busy != nullptr) *busy = true;
    return mine;
  }

  result<reweight_outcome> reweight(const std::string& slug, bool* busy = nullptr) {
    std::lock_guard<std::mutex> lock(reweight_mutex);
    WHALE_TRY(const bool mine, take_job(slug, busy));
    if (!mine) return fail(error_code::internal, "another origin process is running " + slug + "'s reweight or optimizer");
    const lease_release release{db, job_lease(slug)};
    result<reweight_outcome> outcome = reweight_vendor(db, slug, now_iso(), [this](snapshot& s) { return sign(s); });
    if (!outcome) return outcome;
    for (const std::string& status : outcome->statuses) stats.reweight(status);
    if (outcome->published) {
      stats.publish();
      edges.notify(slug, outcome->published_snapshot.version, snapshot_json(outcome->published_snapshot));
    }
    return outcome;
  }

  // A failure the handler has no answer of its own for: the storage's when it does not answer
  // its health check now (503 with Retry-After, as every write with the database away), else a
  // bug (500).
  void failed(Response& res, const std::string& message) {
    if (!db.health()) return storage_unavailable(res, message);
    send_error(res, 500, "internal", message);
  }

  void post_reweight(const Request& req, Response& res) {
    const std::string slug = req.matches[1];
    if (!authorize(req, res, principal_kind::vendor, slug)) return;
    bool busy = false;
    result<reweight_outcome> outcome = reweight(slug, &busy);
    if (busy) return job_running(res, outcome.message());
    if (!outcome) {
      if (outcome.code() == error_code::not_found) return send_error(res, 409, "nothing_published", outcome.message());
      return failed(res, outcome.message());
    }
    send_json(res, 200, outcome->response);
  }

  // Arm aggregates, the weights history and the SRM flags of the vendor's bandits.
  void get_bandits(const Request& req, Response& res) {
    const std::string slug = req.matches[1];
    if (!authorize(req, res, principal_kind::vendor, slug)) return;
    std::string body = "{\"slug\":" + json_string(slug) + ",\"arms\":[";
    bool first = true;
    for (const arm_stat& a : db.arm_stats_of(slug)) {
      if (!first) body += ",";
      first = false;
      body += "{\"experiment\":" + json_string(a.experiment) + ",\"variation\":" + json_string(a.variation) +
              ",\"units\":" + std::to_string(a.units) + ",\"conversions\":" + std::to_string(a.conversions) + "}";
    }
    body += "],\"history\":[";
    first = true;
    for (const bandit_record& r : db.bandit_history_of(slug)) {
      if (!first) body += ",";
      first = false;
      body += "{\"id\":" + std::to_string(r.id) + ",\"experiment\":" + json_string(r.experiment) +
              ",\"feature\":" + json_string(r.feature) + ",\"rule\":" + std::to_string(r.rule) +
              ",\"version\":" + std::to_string(r.version) + ",\"at\":" + json_string(r.at) +
              ",\"status\":" + json_string(r.status) + ",\"weights\":" + json_number_array(r.weights) +
              ",\"units\":" + json_number_array(r.units) + ",\"conversions\":" + json_number_array(r.conversions) +
              ",\"p_best\":" + json_number_array(r.p_best) + ",\"srm_chi2\":" + json::number_to_string(r.srm_chi2) +
              ",\"srm_p\":" + json::number_to_string(r.srm_p) + ",\"prior\":{\"alpha\":" +
              json::number_to_string(r.prior_alpha) + ",\"beta\":" + json::number_to_string(r.prior_beta) +
              ",\"source\":" + json_string(r.prior_source) + "}}";
    }
    body += "],\"flags\":[";
    first = true;
    for (const bandit_flag& f : db.bandit_flags_of(slug)) {
      if (!first) body += ",";
      first = false;
      body += "{\"experiment\":" + json_string(f.experiment) + ",\"flagged_at\":" + json_string(f.flagged_at) +
              ",\"reason\":" + json_string(f.reason) + ",\"srm_chi2\":" + json::number_to_string(f.srm_chi2) +
              ",\"srm_p\":" + json::number_to_string(f.srm_p) + "}";
    }
    send_json(res, 200, body + "]}");
  }

  // Removes an experiment's SRM flag so that reweighting resumes (docs/bandits.md); logged.
  void clear_srm(const Request& req, Response& res) {
    const std::string slug = req.matches[1];
    const std::string experiment = req.matches[2];
    if (!authorize(req, res, principal_kind::vendor, slug)) return;
    const std::string now = now_iso();
    result<bandit_flag> cleared = [&] {
      std::lock_guard<std::mutex> lock(reweight_mutex);
      return db.clear_flag(slug, experiment, now);
    }();
    if (!cleared) {
      if (cleared.code() == error_code::not_found) return send_error(res, 404, "not_flagged", cleared.message());
      return failed(res, cleared.message());
    }
    stats.srm_cleared();
    log_event("srm_cleared", slug,
              ",\"experiment\":" + json_string(experiment) + ",\"flagged_at\":" + json_string(cleared->flagged_at) +
                  ",\"srm_chi2\":" + json::number_to_string(cleared->srm_chi2) +
                  ",\"srm_p\":" + json::number_to_string(cleared->srm_p));
    send_json(res, 200,
              "{\"slug\":" + json_string(slug) + ",\"experiment\":" + json_string(experiment) +
                  ",\"cleared\":true,\"cleared_at\":" + json_string(now) + ",\"flag\":{\"flagged_at\":" +
                  json_string(cleared->flagged_at) + ",\"reason\":" + json_string(cleared->reason) +
                  ",\"srm_chi2\":" + json::number_to_string(cleared->srm_chi2) +
                  ",\"srm_p\":" + json::number_to_string(cleared->srm_p) + "}}");
  }

  // One JSON line on stderr for an event that is not a request: {"ts","event","slug",...}.
  void log_event(const char* event, const std::string& slug, const std::string& more) {
    const std::string line = "{\"ts\":" + json_string(now_iso()) + ",\"event\":\"" + event + "\",\"slug\":" +
                             json_string(slug) + more + "}\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  }

  // --- live updates (edge-workers/live.js) ---

  // The vendor's transform for a page, forwarded as sent to every edge's live route, which checks
  // it and broadcasts it to the browsers showing the page. 200 when an edge took it, with the
  // browsers reached in all and each edge's answer; the edges' own refusal (400 for a transform
  // they refuse) when every edge refused it alike; 502 when none answered; 409 without edges.
  void post_live(const Request& req, Response& res) {
    const std::string slug = req.matches[1];
    const std::string page = req.matches[2];
    if (!authorize(req, res, principal_kind::vendor, slug)) return;
    result<json::value> body = json::parse(req.body);
    if (!body) return send_error(res, 400, error_name(body.code()), body.message());
    if (!body->is_object()) return send_error(res, 400, "wrong_type", "expected a transform object (docs/origin.md)");
    if (options.edge_urls.empty()) return send_error(res, 409, "no_edges", "this origin has no edges (--edge)");
    const std::vector<nudger::live_answer> answers = edges.forward_live(slug, page, req.body);
    double delivered = 0;
    int took = 0;
    std::string list;
    for (const nudger::live_answer& a : answers) {
      std::string item = "{\"url\":" + json_string(a.url) + ",\"status\":" + std::to_string(a.status);
      result<json::value> answer = json::parse(a.body);  // a transport error (status 0) is no JSON
      if (a.status >= 200 && a.status < 300) {
        took++;
        const json::value* n = answer && answer->is_object() ? answer->find("delivered") : nullptr;
        if (n != nullptr && n->is_number()) {
          delivered += n->as_number();
          item += ",\"delivered\":" + json::number_to_string(n->as_number());
        }
      } else {
        item += ",\"error\":" + json_string(a.status == 0 ? a.body : edge_error(answer, a.status));
      }
      list += (list.empty() ? "" : ",") + item + "}";
    }
    log_event("live_forwarded", slug, ",\"page\":" + json_string(page) + ",\"edges\":" + std::to_string(answers.size()) +
                                          ",\"took\":" + std::to_string(took));
    const bool alike = std::all_of(answers.begin(), answers.end(), [&](const nudger::live_answer& a) {
      return a.status == answers.front().status;
    });
    if (took == 0 && alike && answers.front().status >= 400 && answers.front().status < 500) {
      // Every edge refused the transform: their refusal is the vendor's answer.
      res.status = answers.front().status;
      res.set_content(answers.front().body, "application/json");
      return;
    }
    const std::string summary = "{\"slug\":" + json_string(slug) + ",\"page\":" + json_string(page) +
                                ",\"delivered\":" + json::number_to_string(delivered) + ",\"edges\":[" + list + "]}";
    if (took == 0) {
      return send_json(res, 502, "{\"error\":{\"code\":\"edges_unavailable\",\"message\":\"no edge took the transform\"}," +
                                     summary.substr(1));
    }
    send_json(res, 200, summary);
  }

  // "code: message" of an edge's JSON error, else its status.
  static std::string edge_error(const result<json::value>& answer, int status) {
    const json::value* error = answer && answer->is_object() ? answer->find("error") : nullptr;
    const json::value* code = error != nullptr && error->is_object() ? error->find("code") : nullptr;
    const json::value* message = error != nullptr && error->is_object() ? error->find("message") : nullptr;
    if (code == nullptr || !code->is_string()) return "HTTP " + std::to_string(status);
    return code->as_string() + (message != nullptr && message->is_string() ? ": " + message->as_string() : "");
  }

  // --- the optimizer (docs/optimizer.md) ---

  void get_optimizer(const Request& req, Response& res) {
    const std::string slug = req.matches[1];
    if (!authorize(req, res, principal_kind::vendor, slug)) return;
    result<std::string> report = optimizer_report(db, slug);
    if (!report) {
      if (report.code() == error_code::not_found) return send_error(res, 409, "nothing_published", report.message());
      return failed(res, report.message());
    }
    res.set_header("Cache-Control", "no-store");
    send_json(res, 200, *report);
  }

  // Proposes under the reweight lock: a reweight publishes from the snapshot it read, so the two
  // must not interleave.
  result<propose_outcome> propose(const std::string& slug, const propose_request& request, bool* busy = nullptr) {
    std::lock_guard<std::mutex> lock(reweight_mutex);
    WHALE_TRY(const bool mine, take_job(slug, busy));
    if (!mine) return fail(error_code::internal, "another origin process is running " + slug + "'s reweight or optimizer");
    const lease_release release{db, job_lease(slug)};
    result<propose_outcome> outcome =
        propose_layout(db, slug, request, now_iso(), [this](snapshot& s) { return sign(s); });
    if (!outcome) return outcome;
    if (outcome->published) {
      stats.publish();
      stats.proposal("published");
      edges.notify(slug, outcome->published_snapshot.version, snapshot_json(outcome->published_snapshot));
      log_event("optimizer_published", slug, ",\"version\":" + std::to_string(outcome->published_snapshot.version));
    } else {
      stats.proposal(outcome->created ? "created" : "not_created");
    }
    return outcome;
  }

  void post_propose(const Request& req, Response& res) {
    const std::string slug = req.matches[1];
    if (!authorize(req, res, principal_kind::vendor, slug)) return;
    propose_request request;
    if (!req.body.empty()) {
      result<json::value> body = json::parse(req.body);
      if (!body) return send_error(res, 400, error_name(body.code()), body.message());
      if (!body->is_object()) return send_error(res, 400, "wrong_type", "expected {\"page\"?, \"section\"?, \"segment\"?, \"segments\"?}");
      for (const char* name : {"page", "section", "segment"}) {
        const json::value* v = body->find(name);
        if (v == nullptr) continue;
        if (!v->is_string()) return send_error(res, 400, "wrong_type", std::string(name) + ": expected a string");
        (std::string(name) == "page" ? request.page : std::string(name) == "section" ? request.section : request.segment) =
            v->as_string();
      }
      if (const json::value* all = body->find("segments")) {
        if (!all->is_bool()) return send_error(res, 400, "wrong_type", "segments: expected a boolean");
        request.segments = all->as_bool();
      }
    }
    bool busy = false;
    result<propose_outcome> outcome = propose(slug, request, &busy);
    if (busy) return job_running(res, outcome.message());
    if (!outcome) {
      if (outcome.code() == error_code::not_found) return send_error(res, 409, "nothing_published", outcome.message());
      if (outcome.code() == error_code::invalid_value) return send_error(res, 400, "invalid_value", outcome.message());
      return failed(res, outcome.message());
    }
    send_json(res, outcome->created ? 201 : 200, outcome->response);
  }

  void put_optimizer_settings(const Request& req, Response& res) {
    const std::string slug = req.matches[1];
    if (!authorize(req, res, principal_kind::vendor, slug)) return;
    result<json::value> body = json::parse(req.body);
    if (!body) return send_error(res, 400, error_name(body.code()), body.message());
    const json::value* on = body->is_object() ? body->find("autoPublish") : nullptr;
    if (on == nullptr || !on->is_bool()) {
      return send_error(res, 400, "wrong_type", "expected {\"autoPublish\": true|false}");
    }
    const std::string now = now_iso();
    if (auto stored = db.set_auto_publish(slug, on->as_bool(), now); !stored) {
      return storage_unavailable(res, "the setting could not be stored: " + stored.message());
    }
    log_event("optimizer_settings", slug, std::string(",\"autoPublish\":") + (on->as_bool() ? "true" : "false"));
    send_json(res, 200, "{\"slug\":" + json_string(slug) + ",\"autoPublish\":" + (on->as_bool() ? "true" : "false") +
                            ",\"updated_at\":" + json_string(now) + "}");
  }

  // --- platform intelligence (docs/platform.md) ---

  void get_platform(const Request& req, Response& res) {
    if (!authorize(req, res, principal_kind::operator_, "")) return;
    send_json(res, 200, platform_report(db));
  }

  // The vendor's own token, or an operator's.
  void post_bootstrap(const Request& req, Response& res) {
    const std::string slug = req.matches[1];
    if (!authorize(req, res, principal_kind::vendor, slug, true)) return;
    result<std::string> r = bootstrap_vendor(db, slug, now_iso());
    if (!r) {
      if (r.code() == error_code::not_found) return send_error(res, 404, "not_found", r.message());
      if (r.code() == error_code::invalid_value) return send_error(res, 409, "not_new", r.message());
      return failed(res, r.message());
    }
    log_event("bootstrapped", slug, "");
    send_json(res, 200, *r);
  }

  // --- generated components (docs/components.md) ---

  // The vendor's draft, or a 404 answered.
  std::optional<draft> draft_of(const std::string& slug, Response& res) {
    std::optional<draft> d = db.get_draft(slug);
    if (!d) send_error(res, 404, "not_found", "no draft for " + slug + ": PUT a config first");
    return d;
  }

  void refuse(Response& res, const failure& f) {
    const int status = f.code == error_code::too_large ? 413 : f.code == error_code::not_found ? 404 : 400;
    send_error(res, status, error_name(f.code), f.message);
  }

  // Registers a definition as experimental in the draft: {key, definition} -> 201.
  void register_definition(const std::string& slug, const std::string& key, const json::value& definition,
                           Response& res, const std::string& extra = "") {
    std::optional<draft> d = draft_of(slug, res);
    if (!d) return;
    result<registered> r = register_component(d->body, slug, key, definition);
    if (!r) {
      stats.validation_failure(error_name(r.code()));
      if (!extra.empty()) return send_error(res, 422, "refused", "the generated component breaks the rules: " + r.message());
      return refuse(res, r.error());
    }
    const std::string now = now_iso();
    if (auto stored = db.put_draft(slug, r->draft, now); !stored) {
      return storage_unavailable(res, "the draft could not be stored: " + stored.message());
    }
    log_event("component_registered", slug, ",\"key\":" + json_string(key) + ",\"version\":" + std::to_string(r->version));
    send_json(res, 201, "{\"slug\":" + json_string(slug) + ",\"key\":" + json_string(key) +
                            ",\"version\":" + std::to_string(r->version) +
                            ",\"status\":\"experimental\",\"draft\":true,\"updated_at\":" + json_string(now) + extra + "}");
  }

  static bool component_key(const json::value* key) {
    if (key == nullptr || !key->is_string() || key->as_string().empty() || key->as_string().size() > 128) return false;
    for (char c : key->as_string()) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':')) return false;
    }
    return true;
  }

  void post_component(const Request& req, Response& res) {
    const std::string slug = req.matches[1];
    if (!authorize(req, res, principal_kind::vendor, slug)) return;
    result<json::value> body = json::parse(req.body);
    if (!body) return send_error(res, 400, error_name(body.code()), body.message());
    const json::value* key = body->is_object() ? body->find("key") : nullptr;
    const json::value* definition = body->is_object() ? body->find("definition") : nullptr;
    if (!component_key(key)) return send_error(res, 400, "invalid_value", "key: expected 1-128 letters, digits, '_', '-', '.' or ':'");
    if (definition == nullptr) return send_error(res, 400, "wrong_type", "definition: expected an object");
    register_definition(slug, key->as_string(), *definition, res);
  }

  void post_deploy(const Request& req, Response& res) {
    const std::string slug = req.matches[1];
    const std::string key = req.matches[2];
    if (!authorize(req, res, principal_kind::vendor, slug)) return;
    result<json::value> body = json::parse(req.body);
    if (!body) return send_error(res, 400, error_name(body.code()), body.message());
    std::optional<draft> d = draft_of(slug, res);
    if (!d) return;
    result<deployed> r = deploy_component(d->body, slug, key, *body);
    if (!r) return refuse(res, r.error());
    const std::string now = now_iso();
    if (auto stored = db.put_draft(slug, r->draft, now); !stored) {
      return storage_unavailable(res, "the draft could not be stored: " + stored.message());
    }
    log_event("component_deployed", slug, ",\"key\":" + json_string(key) + ",\"experiment\":" + json_string(r->experiment));
    send_json(res, 201, "{\"slug\":" + json_string(slug) + ",\"key\":" + json_string(key) + ",\"experiment\":" +
                            json_string(r->experiment) + ",\"status\":\"draft\",\"draft\":true,\"updated_at\":" +
                            json_string(now) + "}");
  }

  // The generator: a brief -> a definition from the model -> the same checks -> registered.
  void post_generate(const Request& req, Response& res) {
    const std::string slug = req.matches[1];
    if (!authorize(req, res, principal_kind::vendor, slug)) return;
    if (!generator.enabled()) {
      return send_error(res, 503, "generator_off", "the generator is off: set ANTHROPIC_API_KEY and ANTHROPIC_MODEL");
    }
    result<json::value> body = json::parse(req.body);
    if (!body) return send_error(res, 400, error_name(body.code()), body.message());
    const json::value* brief = body->is_object() ? body->find("brief") : nullptr;
    if (brief == nullptr || !brief->is_string() || brief->as_string().empty() || brief->as_string().size() > 2000) {
      return send_error(res, 400, "invalid_value", "brief: expected 1 to 2000 characters");
    }
    std::optional<draft> d = draft_of(slug, res);
    if (!d) return;
    const generated g = generate_definition(generator, generator_request(generator, d->body, brief->as_string()));
    if (!g.ok()) {
      log_event("component_generation_failed", slug, ",\"code\":" + json_string(g.code) + ",\"detail\":" + json_string(g.message));
      return send_error(res, g.status, g.code, g.message);
    }
    json::value definition = g.definition;
    std::string key;
    if (const json::value* k = definition.find("key"); component_key(k)) key = k->as_string();
    if (const json::value* k = body->find("key"); component_key(k)) key = k->as_string();
    if (key.empty()) return send_error(res, 422, "refused", "the generated component breaks the rules: key: expected 1-128 letters, digits, '_', '-', '.' or ':'");
    std::vector<json::member>& members = definition.members();
    members.erase(std::remove_if(members.begin(), members.end(), [](const json::member& m) { return m.first == "key"; }),
                  members.end());
    register_definition(slug, key, definition, res,
                        ",\"model\":" + json_string(generator.model) + ",\"definition\":" + json::to_string(definition));
  }

  void post_apply_proposal(const Request& req, Response& res) {
    const std::string slug = req.matches[1];
    if (!authorize(req, res, principal_kind::vendor, slug)) return;
    uint64_t id = 0;
    if (!parse_count(req.matches[2], id)) return send_error(res, 400, "invalid_value", "expected a proposal id");
    result<std::string> applied = apply_proposal(db, slug, id, now_iso());
    if (!applied) {
      if (applied.code() == error_code::not_found) return send_error(res, 404, "not_found", applied.message());
      if (applied.code() == error_code::invalid_value) return send_error(res, 409, "conflict", applied.message());
      return failed(res, applied.message());
    }
    send_json(res, 200, *applied);
  }

  // One round of the timer. Among origin processes sharing a database one runs it per period: the
  // lease "timer" is kept (not given back) for the period, so the others' timers find it held.
  // A vendor whose job another process is running (a manual reweight) is left to it.
  void run_jobs() {
    result<bool> mine = db.take_lease("timer", static_cast<uint32_t>(options.reweight_every_s));
    if (!mine || !*mine) return;
    for (const change& c : db.changes_since(0)) {
      bool busy = false;
      result<reweight_outcome> outcome = reweight(c.slug, &busy);
      if (busy) continue;
      if (!outcome) log_event("reweight_failed", c.slug, ",\"detail\":" + json_string(outcome.message()));
      if (!ready_to_propose(db, c.slug, optimizer_min_units)) continue;
      result<propose_outcome> proposed = propose(c.slug, {}, &busy);
      if (!proposed && !busy) log_event("optimizer_failed", c.slug, ",\"detail\":" + json_string(proposed.message()));
    }
  }

  // Every reweight_every_s seconds, reweights every vendor that has published, then lets the
  // optimizer propose (and publish) for the vendors who opted in.
  void start_timer() {
    if (options.reweight_every_s <= 0) return;
    timer = std::thread([this] {
      std::unique_lock<std::mutex> lock(timer_mutex);
      while (!timer_wake.wait_for(lock, std::chrono::seconds(options.reweight_every_s), [this] { return stopping; })) {
        lock.unlock();
        run_jobs();
        lock.lock();
      }
    });
  }

  void get_snapshot(const Request& req, Response& res) {
    const std::string slug = req.matches[1];
    if (!authorize(req, res, principal_kind::edge, slug)) return;
    uint64_t version = 0;  // the latest
    if (req.has_param("version") && !parse_count(req.get_param_value("version"), version)) {
      return send_error(res, 400, "invalid_value", "version: expected a positive integer");
    }
    const result<std::optional<snapshot>> found = db.find_snapshot(slug, version);
    if (!found.ok()) return send_error(res, 503, "storage_unavailable", "the database could not be read: " + found.message());
    const std::optional<snapshot>& s = *found;
    if (!s) return send_error(res, 404, "not_found", "nothing published for " + slug);
    const std::string etag = "\"" + std::to_string(s->version) + "\"";
    res.set_header("ETag", etag);
    res.set_header("Cache-Control", "no-cache");
    if (etag_matches(req.get_header_value("If-None-Match"), etag)) {
      res.status = 304;
      return;
    }
    send_json(res, 200, snapshot_json(*s));
  }

  void list_snapshots(const Request& req, Response& res) {
    if (!authorize(req, res, principal_kind::edge, "")) return;
    uint64_t since = 0;
    if (req.has_param("since") && !parse_count(req.get_param_value("since"), since)) {
      return send_error(res, 400, "invalid_value", "since: expected a publish sequence number (a non-negative integer)");
    }
    std::string body = "[";
    for (const change& c : db.changes_since(since)) {
      if (body.size() > 1) body += ",";
      body += "{\"slug\":" + json_string(c.slug) + ",\"version\":" + std::to_string(c.version) +
              ",\"seq\":" + std::to_string(c.seq) + "}";
    }
    send_json(res, 200, body + "]");
  }

  // The active key first ("active": true, it signs new snapshots), then the next one ("next": true,
  // pinned by the edges before `key rotate` makes it sign), then the previous keys not yet retired.
  void get_keys(const Request&, Response& res) {
    std::string body = "{\"keys\":[";
    for (const announced_key& k : keys.announced()) {
      if (body.back() != '[') body += ",";
      body += "{\"key_id\":" + json_string(k.key_id) + ",\"alg\":\"Ed25519\",\"public_key\":" +
              json_string(base64(k.public_key)) + ",\"active\":" + (k.active ? "true" : "false") +
              (k.next ? ",\"next\":true}" : "}");
    }
    send_json(res, 200, body + "]}");
  }

  // {"ok":true}, or 503 {"ok":false,"storage":"<what is wrong>"} when the database does not answer
  // a cheap read or its integrity check found damage.
  // The origin's front page is the vendor dashboard.
  void root(const Request&, Response& res) {
    res.set_header("Location", "/admin");
    send_json(res, 302, "{\"see\":\"/admin\"}");
  }

  void healthz(const Request&, Response& res) {
    result<void> storage = db.health();
    const read_targets reads = db.reads();
    const std::string where = reads.replica_configured ? ",\"reads\":{\"primary\":" + std::to_string(reads.primary) +
                                                            ",\"replica\":" + std::to_string(reads.replica) + "}"
                                                      : "";
    if (storage) return send_json(res, 200, "{\"ok\":true" + where + "}");
    send_json(res, 503, "{\"ok\":false,\"storage\":" + json_string(storage.message()) + "}");
  }

  void get_metrics(const Request&, Response& res) {
    res.set_content(stats.render() + transport_metrics(http.counters()) + read_metrics(db.reads()), "text/plain; version=0.0.4");
  }
};

server::server(store& db, keyring& key, server_options options)
    : impl_(std::make_unique<impl>(db, key, std::move(options))) {}

server::~server() = default;

result<int> server::bind() { return impl_->http.bind(impl_->options.host, impl_->options.port); }

void server::run() {
  impl_->start_timer();
  impl_->http.run();
}

void server::stop() { impl_->http.stop(); }

}  // namespace whale::origin
