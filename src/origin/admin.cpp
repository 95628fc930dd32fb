#include "admin.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "admin_assets.h"  // generated from src/origin/admin/* (embed_admin.cmake)
#include "crypto.h"
#include "http_util.h"
#include "optimize.h"
#include "results.h"
#include "store.h"
#include "whale/bandit.h"
#include "whale/json.h"
#include "whale/learn/srm.h"

namespace whale::origin {

namespace {

using httplib::Request;
using httplib::Response;

constexpr uint64_t max_history_versions = 50;  // weights over time: the last N published versions
constexpr uint32_t pbest_draws = 20000;
constexpr double srm_alpha = 0.001;
constexpr size_t max_top_components = 10;

std::string num(double x) { return json::number_to_string(x); }

// The vendor slug of the request's token, or nullopt after answering 401 / 403 as docs/origin.md
// says. A non-empty `slug` must be the token's own.
std::optional<std::string> vendor_of(store& db, const Request& req, Response& res, const std::string& slug) {
  const std::string token = bearer_token(req);
  result<std::optional<principal>> found = token.empty() ? std::optional<principal>() : db.find_token(sha256_hex(token));
  if (!found) {
    res.set_header("Retry-After", "5");
    send_error(res, 503, "storage_unavailable", found.message());
    return std::nullopt;
  }
  const std::optional<principal>& who = *found;
  if (!who) {
    res.set_header("WWW-Authenticate", "Bearer realm=\"whale-origin\"");
    send_error(res, 401, "unauthorized", token.empty() ? "missing bearer token" : "unknown token");
    return std::nullopt;
  }
  if (who->kind != principal_kind::vendor) {
    send_error(res, 403, "forbidden", "the dashboard takes a vendor token");
    return std::nullopt;
  }
  if (!slug.empty() && who->name != slug) {
    send_error(res, 403, "forbidden", "this token belongs to another vendor");
    return std::nullopt;
  }
  return who->name;
}

struct experiment_rule {
  std::string feature;
  std::string key;  // the rule's `key`, else the feature's
  std::string id;
  std::vector<std::string> variation_keys;
  std::vector<std::string> variation_names;
  std::vector<double> weights;
  bool configured_prior = false;
  double prior_alpha = 1, prior_beta = 1;
  std::string prior_source = "uniform";
};

double number_or(const json::value* v, double fallback) {
  return v != nullptr && v->is_number() ? v->as_number() : fallback;
}

std::string string_or(const json::value* v, std::string fallback) {
  return v != nullptr && v->is_string() ? v->as_string() : fallback;
}

// The experiment rules (rules with `variations`) of a config, in document order.
std::vector<experiment_rule> experiments_of(const json::value& config) {
  std::vector<experiment_rule> out;
  const json::value* features = config.find("features");
  if (features == nullptr || !features->is_object()) return out;
  for (const auto& [feature_key, feature] : features->members()) {
    const json::value* rules = feature.find("rules");
    if (rules == nullptr || !rules->is_array()) continue;
    for (const json::value& rule : rules->items()) {
      const json::value* variations = rule.find("variations");
      if (variations == nullptr || !variations->is_array() || variations->items().empty()) continue;
      experiment_rule e;
      e.feature = feature_key;
      e.key = string_or(rule.find("key"), feature_key);
      e.id = string_or(rule.find("id"), "");
      const size_t n = variations->items().size();
      const json::value* meta = rule.find("meta");
      const json::value* weights = rule.find("weights");
      for (size_t i = 0; i < n; ++i) {
        const json::value* m = meta != nullptr && meta->is_array() && i < meta->items().size() ? &meta->items()[i] : nullptr;
        e.variation_keys.push_back(string_or(m != nullptr ? m->find("key") : nullptr, std::to_string(i)));
        e.variation_names.push_back(string_or(m != nullptr ? m->find("name") : nullptr, ""));
        const json::value* w = weights != nullptr && weights->is_array() && i < weights->items().size()
                                   ? &weights->items()[i]
                                   : nullptr;
        e.weights.push_back(number_or(w, 1.0 / static_cast<double>(n)));
      }
      // A configured prior: `prior` or `bandit.prior`, {alpha, beta} both > 0.
      const json::value* prior = rule.find("prior");
      if (prior == nullptr) {
        const json::value* bandit = rule.find("bandit");
        if (bandit != nullptr) prior = bandit->find("prior");
      }
      if (prior != nullptr) {
        const double a = number_or(prior->find("alpha"), 1), b = number_or(prior->find("beta"), 1);
        if (a > 0 && b > 0 && std::isfinite(a) && std::isfinite(b)) {
          e.prior_alpha = a, e.prior_beta = b;
          e.configured_prior = true;
          e.prior_source = "config";
        }
      }
      out.push_back(std::move(e));
    }
  }
  return out;
}

// The same experiment in another version of the config (matched by key), or nullptr.
const experiment_rule* find_experiment(const std::vector<experiment_rule>& all, const std::string& key) {
  for (const auto& e : all) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

std::string experiment_json(const std::string& slug, const experiment_rule& e, const experiment_counts& counts,
                            const std::vector<std::pair<const snapshot*, const experiment_rule*>>& history) {
  const size_t n = e.variation_keys.size();
  std::vector<bandit::beta_arm> arms;
  uint64_t total_units = 0;
  for (size_t i = 0; i < n; ++i) {
    const arm_counts c = i < counts.arms.size() ? counts.arms[i] : arm_counts{};
    const uint64_t conv = std::min(c.conversions, c.units);
    arms.push_back({e.prior_alpha + static_cast<double>(conv), e.prior_beta + static_cast<double>(c.units - conv)});
    total_units += c.units;
  }
  // P(best): the Monte-Carlo win shares, with the core's sampler, seeded per experiment so that
  // a reload shows the same numbers.
  std::vector<double> p_best(n, 0.0);
  bandit::weights_options options;
  options.draws = static_cast<uint32_t>(std::max<uint64_t>(1, std::min<uint64_t>(pbest_draws, bandit::max_samples / std::max<size_t>(n, 1))));
  bandit::rng r = bandit::rng::from_seed("admin/" + slug + "/" + e.key);
  if (auto w = bandit::bandit_weights(arms, options, r)) p_best = *w;

  // Sample-ratio mismatch: chi-square of the units against the current weights, p < 0.001
  // (the same test as the reweighting job, whale::srm), or the job's own flag.
  std::vector<uint64_t> observed;
  for (size_t i = 0; i < n; ++i) observed.push_back(i < counts.arms.size() ? counts.arms[i].units : 0);
  srm::srm_result test;
  if (total_units > 0) {
    if (auto r = srm::srm_test(observed, e.weights)) test = *r;
  }
  const double chi = test.chi2;
  const double srm_p = test.p;
  const bool srm = counts.srm || srm_p < srm_alpha;
  const std::string prior = "{\"alpha\":" + num(e.prior_alpha) + ",\"beta\":" + num(e.prior_beta) +
                            ",\"source\":" + json_string(e.prior_source) + "}";

  std::string out = "{\"feature\":" + json_string(e.feature) + ",\"key\":" + json_string(e.key) +
                    ",\"id\":" + json_string(e.id) + ",\"units\":" + std::to_string(total_units) +
                    ",\"srm\":" + (srm ? "true" : "false") + ",\"flagged\":" + (counts.srm ? "true" : "false") +
                    ",\"srm_p\":" + num(srm_p) + ",\"chi_square\":" + num(chi) + ",\"prior\":" + prior +
                    ",\"variations\":[";
  for (size_t i = 0; i < n; ++i) {
    const arm_counts c = i < counts.arms.size() ? counts.arms[i] : arm_counts{};
    if (i > 0) out += ",";
    out += "{\"index\":" + std::to_string(i) + ",\"key\":" + json_string(e.variation_keys[i]) +
           ",\"name\":" + json_string(e.variation_names[i]) + ",\"units\":" + std::to_string(c.units) +
           ",\"conversions\":" + std::to_string(c.conversions) + ",\"rate\":" +
           (c.units > 0 ? num(static_cast<double>(c.conversions) / static_cast<double>(c.units)) : "null") +
           ",\"alpha\":" + num(arms[i].alpha) + ",\"beta\":" + num(arms[i].beta) + ",\"p_best\":" + num(p_best[i]) +
           ",\"weight\":" + num(e.weights[i]) + "}";
  }
  out += "],\"weights_history\":[";
  bool first = true;
  for (const auto& [snap, rule] : history) {
    if (rule == nullptr || rule->weights.size() != n) continue;
    if (!first) out += ",";
    first = false;
    out += "{\"version\":" + std::to_string(snap->version) + ",\"at\":" + json_string(snap->published_at) +
           ",\"weights\":[";
    for (size_t i = 0; i < n; ++i) out += (i > 0 ? "," : "") + num(rule->weights[i]);
    out += "]}";
  }
  return out + "]}";
}

// The event aggregates of an experiment (docs/bandits.md): arms by index, a stored variation
// naming its arm by index or by meta key; flagged when the reweighting job stopped it.
experiment_counts stored_counts(store& db, const std::string& slug, const experiment_rule& e) {
  experiment_counts out;
  out.arms.resize(e.variation_keys.size());
  for (const arm_stat& s : db.arm_stats_of(slug, e.key)) {
    for (size_t i = 0; i < e.variation_keys.size(); ++i) {
      if (s.variation == std::to_string(i) || s.variation == e.variation_keys[i]) {
        out.arms[i].units += s.units;
        out.arms[i].conversions += s.conversions;
        break;
      }
    }
  }
  for (const bandit_flag& f : db.bandit_flags_of(slug)) out.srm = out.srm || f.experiment == e.key;
  return out;
}

// What the dashboard reads from the vendor's config and its published versions: computed once
// per version (published versions never change), then only the event aggregates are read per
// request.
struct dashboard_view {
  uint64_t version = 0;  // the latest published version; 0 when nothing is published
  std::string published_at;
  std::string source = "none";  // "snapshot", "draft" or "none"
  std::vector<experiment_rule> rules;  // priors: configured ones only (resolved per request)
  std::string vertical;
  std::vector<optimizer::experiment> rule_experiments;  // optimizer::experiments(config), for the priors
  std::vector<snapshot> history;                        // the last versions, bodies dropped
  std::vector<std::vector<experiment_rule>> history_rules;
  std::shared_ptr<const vendor_results> results;  // the experiments behind the top components; counts empty
};

// The dashboard's views, one per vendor, replaced when the vendor publishes (or, before its first
// publish, saves a new draft). Thread-safe.
class dashboard {
 public:
  explicit dashboard(store& db) : db_(db) {}

  // The view of the vendor's current version, and whether it came from the cache.
  std::pair<std::shared_ptr<const dashboard_view>, bool> view(const std::string& slug) {
    const std::optional<change> latest = db_.latest_of(slug);
    std::optional<draft> d;
    if (!latest) d = db_.get_draft(slug);
    const std::string key = latest ? "v" + std::to_string(latest->version) : d ? "draft " + d->updated_at : "none";
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = views_.find(slug);
      if (it != views_.end() && it->second.first == key) return {it->second.second, true};
    }
    std::shared_ptr<const dashboard_view> computed = compute(slug, latest, d);
    if (computed == nullptr) return {nullptr, false};
    std::lock_guard<std::mutex> lock(mutex_);
    views_[slug] = {key, computed};
    return {computed, false};
  }

  results_cache& results() { return results_; }

 private:
  std::shared_ptr<const dashboard_view> compute(const std::string& slug, const std::optional<change>& latest,
                                                const std::optional<draft>& d) {
    auto v = std::make_shared<dashboard_view>();
    std::optional<snapshot> current;
    std::string body;
    if (latest) {
      result<std::optional<snapshot>> found = db_.find_snapshot(slug, latest->version);
      if (!found.ok() || !*found) return nullptr;
      current = std::move(*found);
      body = current->body, v->source = "snapshot", v->version = current->version;
      v->published_at = current->published_at;
    } else if (d) {
      body = d->body, v->source = "draft";
    }
    if (body.empty()) return v;
    result<json::value> config = json::parse(body);
    if (!config) return nullptr;
    v->rules = experiments_of(*config);
    v->vertical = vertical_of(*config);
    v->rule_experiments = optimizer::experiments(*config);
    if (latest) {
      v->results = results_.experiments(db_, slug, v->version);
      read_history(slug, *current, *v);
    } else {
      v->results = std::make_shared<const vendor_results>(experiments_of_versions(db_, slug, *config, 0));
    }
    return v;
  }

  // Weights over time: the experiment rules of each of the last published versions.
  void read_history(const std::string& slug, const snapshot& latest, dashboard_view& v) {
    const uint64_t from = latest.version > max_history_versions ? latest.version - max_history_versions + 1 : 1;
    for (uint64_t n = from; n <= latest.version; ++n) {
      std::optional<snapshot> s = latest;
      if (n != latest.version) {
        result<std::optional<snapshot>> found = db_.find_snapshot(slug, n);
        if (!found.ok()) continue;
        s = std::move(*found);
      }
      if (!s) continue;
      result<json::value> config = json::parse(s->body);
      if (!config) continue;
      v.history_rules.push_back(experiments_of(*config));
      s->body.clear();
      v.history.push_back(std::move(*s));
    }
  }

  store& db_;
  results_cache results_;
  std::mutex mutex_;
  std::map<std::string, std::pair<std::string, std::shared_ptr<const dashboard_view>>> views_;  // slug -> key, view
};

// Rules without a configured prior show the collective prior the reweighting job would use
// (docs/priors.md), so that the plotted posteriors are the job's.
std::vector<experiment_rule> with_priors(store& db, dashboard& board, const std::string& slug,
                                        const dashboard_view& v) {
  std::vector<experiment_rule> rules = v.rules;
  std::optional<std::vector<vendor_results>> platform;
  for (experiment_rule& r : rules) {
    if (r.configured_prior) continue;
    optimizer::experiment e;
    e.key = r.key;
    for (const optimizer::experiment& x : v.rule_experiments) {
      if (x.feature == r.feature && x.key == r.key) e = x;
    }
    if (!platform) platform = board.results().platform(db);
    if (result<resolved_prior> p = collective_prior(*platform, slug, v.vertical, e)) {
      r.prior_alpha = p->alpha;
      r.prior_beta = p->beta;
      r.prior_source = p->source;
    }
  }
  return rules;
}

void experiments(dashboard& board, store& db, const counts_source& counts, const Request& req, Response& res) {
  const std::string slug = req.matches[1];
  if (!vendor_of(db, req, res, slug)) return;
  const auto [view, cached] = board.view(slug);
  if (view == nullptr) return send_error(res, 500, "internal", "the stored config of " + slug + " does not parse");
  const std::vector<experiment_rule> current = with_priors(db, board, slug, *view);
  std::string out = "{\"slug\":" + json_string(slug) + ",\"version\":" + std::to_string(view->version) +
                    ",\"published_at\":" + (view->version > 0 ? json_string(view->published_at) : "null") +
                    ",\"source\":" + json_string(view->source) + ",\"experiments\":[";
  for (size_t i = 0; i < current.size(); ++i) {
    std::vector<std::pair<const snapshot*, const experiment_rule*>> history;
    for (size_t s = 0; s < view->history.size(); ++s) {
      history.emplace_back(&view->history[s], find_experiment(view->history_rules[s], current[i].key));
    }
    const experiment_counts c = counts ? counts(slug, current[i].key) : stored_counts(db, slug, current[i]);
    if (i > 0) out += ",";
    out += experiment_json(slug, current[i], c, history);
  }
  // Top components (docs/optimizer.md): the components the vendor's variations showed, by conversion.
  std::string top = "[]";
  if (view->results != nullptr) {
    vendor_results results = *view->results;
    read_counts(db, results);
    top = top_components_json(results, max_top_components);
  }
  out += "],\"top_components\":" + top + "}";
  res.set_header("Cache-Control", "no-store");
  // RFC 9211: whether the config-derived part was computed for this request.
  res.set_header("Cache-Status", cached ? "whale-origin; hit" : "whale-origin; fwd=miss");
  res.set_content(out, "application/json");
}

void asset(const std::string& name, Response& res) {
  for (const admin_asset& a : admin_assets) {
    if (name == a.name) {
      const auto ends = [&](std::string_view suffix) {
        return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
      };
      const char* type = ends(".js")    ? "text/javascript; charset=utf-8"
                         : ends(".css") ? "text/css; charset=utf-8"
                                        : "text/html; charset=utf-8";
      res.set_header("Cache-Control", "no-cache");
      res.set_content(reinterpret_cast<const char*>(a.data), a.size, type);
      return;
    }
  }
  send_error(res, 404, "not_found", "no such dashboard file: " + name);
}

}  // namespace

std::vector<admin_route> admin_routes(store& db, counts_source counts) {
  std::vector<admin_route> routes;
  routes.push_back({"/admin/?", "GET /admin", [](const Request&, Response& res) { asset("index.html", res); }});
  // The operator view (docs/platform.md): its data come from GET /v1/platform with an operator token.
  routes.push_back({"/admin/operator/?", "GET /admin/operator", [](const Request&, Response& res) { asset("operator.html", res); }});
  routes.push_back({R"(/admin/([a-z0-9-]+\.(?:js|css)))", "GET /admin/{file}",
                    [](const Request& req, Response& res) { asset(req.matches[1], res); }});
  routes.push_back({"/admin/api/me", "GET /admin/api/me", [&db](const Request& req, Response& res) {
                      if (auto slug = vendor_of(db, req, res, "")) {
                        res.set_content("{\"slug\":" + json_string(*slug) + "}", "application/json");
                      }
                    }});
  auto board = std::make_shared<dashboard>(db);
  routes.push_back({R"(/admin/api/)" WHALE_SLUG_PATTERN R"(/experiments)", "GET /admin/api/{slug}/experiments",
                    [&db, board, counts = std::move(counts)](const Request& req, Response& res) {
                      experiments(*board, db, counts, req, res);
                    }});
  return routes;
}

}  // namespace whale::origin
