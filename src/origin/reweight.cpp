#include "reweight.h"

#include <cmath>
#include <map>
#include <optional>
#include <utility>

#include "http_util.h"
#include "results.h"
#include "validate.h"
#include "whale/bandit.h"
#include "whale/json.h"
#include "whale/learn/srm.h"

namespace whale::origin {

namespace {

constexpr double default_floor = 0.01;
constexpr uint64_t default_min_units = 100;
constexpr uint32_t draws = 10000;
// P(best) is raised to this power and renormalized before the floor (not for top-two): with
// batched updates plain Beta P(best) over-explores, its right-skewed tails giving the weaker arms
// more weight than a Gaussian sampler does; 1.5 is at or below GrowthBook's Gaussian Thompson at
// every cadence of bench/bandit-sim.mjs (docs/bandits.md, "Reweighting"). 1 is plain P(best).
constexpr double default_power = 1.5;
constexpr double srm_alpha = 0.001;
// The SRM test runs once every arm expects at least this many units in its window.
constexpr double srm_min_expected = 5;

struct bandit_rule {
  std::string feature;
  size_t rule = 0;
  std::string experiment;
  size_t arms = 0;
  std::vector<std::string> meta_keys;  // per arm, may be empty
  std::vector<double> weights;         // the current weights (equal when the rule has none)
  double floor = default_floor;
  uint64_t min_units = default_min_units;
  bool top_two = false;
  double power = default_power;
  bool configured_prior = false;  // bandit.prior given; else the collective prior
  double prior_alpha = 1;
  double prior_beta = 1;
};

double number_or(const json::value* v, double fallback) {
  return v != nullptr && v->is_number() && std::isfinite(v->as_number()) ? v->as_number() : fallback;
}

std::vector<bandit_rule> bandit_rules(const json::value& config) {
  std::vector<bandit_rule> out;
  const json::value* features = config.find("features");
  if (features == nullptr || !features->is_object()) return out;
  for (const auto& [feature, f] : features->members()) {
    const json::value* rules = f.find("rules");
    if (rules == nullptr || !rules->is_array()) continue;
    for (size_t i = 0; i < rules->items().size(); ++i) {
      const json::value& r = rules->items()[i];
      const json::value* b = r.find("bandit");
      const json::value* variations = r.find("variations");
      if (b == nullptr || !b->is_object() || variations == nullptr || !variations->is_array() ||
          variations->items().size() < 2) {
        continue;
      }
      bandit_rule br;
      br.feature = feature;
      br.rule = i;
      const json::value* key = r.find("key");
      br.experiment = key != nullptr && key->is_string() ? key->as_string() : feature;
      br.arms = variations->items().size();
      const json::value* meta = r.find("meta");
      for (size_t a = 0; a < br.arms; ++a) {
        const json::value* m = meta != nullptr && meta->is_array() && a < meta->items().size() ? &meta->items()[a] : nullptr;
        const json::value* k = m != nullptr ? m->find("key") : nullptr;
        br.meta_keys.push_back(k != nullptr && k->is_string() ? k->as_string() : std::string());
      }
      const json::value* w = r.find("weights");
      if (w != nullptr && w->is_array() && w->items().size() == br.arms) {
        for (const json::value& x : w->items()) br.weights.push_back(number_or(&x, 0));
      } else {
        br.weights.assign(br.arms, 1.0 / static_cast<double>(br.arms));
      }
      br.floor = number_or(b->find("floor"), default_floor);
      const double max_floor = 1.0 / static_cast<double>(br.arms);
      if (!(br.floor >= 0)) br.floor = default_floor;
      if (br.floor > max_floor) br.floor = max_floor;
      const double min_units = number_or(b->find("minUnits"), static_cast<double>(default_min_units));
      br.min_units = min_units >= 1 ? static_cast<uint64_t>(min_units) : 1;
      const json::value* top_two = b->find("topTwo");
      br.top_two = top_two != nullptr && top_two->is_bool() && top_two->as_bool();
      br.power = number_or(b->find("power"), default_power);
      if (!(br.power >= 1 && br.power <= 4)) br.power = default_power;
      if (const json::value* prior = b->find("prior"); prior != nullptr && prior->is_object()) {
        br.configured_prior = true;
        br.prior_alpha = number_or(prior->find("alpha"), 1);
        br.prior_beta = number_or(prior->find("beta"), 1);
        if (!(br.prior_alpha > 0)) br.prior_alpha = 1;
        if (!(br.prior_beta > 0)) br.prior_beta = 1;
      }
      out.push_back(std::move(br));
    }
  }
  return out;
}

// The arm of a stored variation: its index in decimal, or a meta key; -1 when neither.
int arm_of(const bandit_rule& r, const std::string& variation) {
  if (!variation.empty() && variation.size() < 10 && variation.find_first_not_of("0123456789") == std::string::npos) {
    const size_t index = std::stoul(variation);
    return index < r.arms ? static_cast<int>(index) : -1;
  }
  for (size_t a = 0; a < r.arms; ++a) {
    if (!r.meta_keys[a].empty() && r.meta_keys[a] == variation) return static_cast<int>(a);
  }
  return -1;
}

template <typename T>
std::string json_array(const std::vector<T>& xs) {
  std::string out = "[";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0) out += ",";
    out += json::number_to_string(static_cast<double>(xs[i]));
  }
  return out + "]";
}

// Rounded to 1e-4 (the weights are written into the config); the largest absorbs the rounding
// so that they sum to 1 within a few ulps.
std::vector<double> rounded(const std::vector<double>& w) {
  std::vector<double> out(w.size());
  size_t largest = 0;
  double sum = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    out[i] = std::round(w[i] * 10000) / 10000;
    if (w[i] > w[largest]) largest = i;
  }
  for (size_t i = 0; i < w.size(); ++i) {
    if (i != largest) sum += out[i];
  }
  out[largest] = std::round((1 - sum) * 10000) / 10000;
  return out;
}

void set_weights(json::value& config, const bandit_rule& r, const std::vector<double>& weights) {
  json::value* features = config.find("features");
  if (features == nullptr) return;
  json::value* f = features->find(r.feature);
  json::value* rules = f != nullptr ? f->find("rules") : nullptr;
  if (rules == nullptr || !rules->is_array() || r.rule >= rules->items().size()) return;
  json::value& rule = rules->items()[r.rule];
  const json::value* variations = rule.find("variations");
  if (!rule.is_object() || variations == nullptr || !variations->is_array() || variations->items().size() != r.arms) return;
  std::vector<json::value> items;
  for (double w : weights) items.push_back(json::value::number(w));
  rule.set("weights", json::value::array(std::move(items)));
}

// The prior of a rule: its bandit.prior, else the collective prior of its experiment (the
// platform's results are read once, on the first rule that needs them).
result<resolved_prior> prior_of(const bandit_rule& r, store& db, const std::string& slug, const json::value& config,
                                const std::vector<optimizer::experiment>& experiments,
                                std::optional<std::vector<vendor_results>>& platform) {
  if (r.configured_prior) return resolved_prior{r.prior_alpha, r.prior_beta, "config", ""};
  optimizer::experiment e;
  e.key = r.experiment;
  for (const optimizer::experiment& x : experiments) {
    if (x.feature == r.feature && x.rule == r.rule) e = x;
  }
  if (!platform) platform = platform_results(db);
  return collective_prior(*platform, slug, vertical_of(config), e);
}

// p_i^power / sum_j p_j^power (the identity for power 1).
std::vector<double> sharpened(const std::vector<double>& p, double power) {
  if (power == 1) return p;
  std::vector<double> out(p.size());
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) sum += out[i] = std::pow(p[i], power);
  for (double& x : out) x /= sum;
  return out;
}

// The additive floor of whale::bandit::bandit_weights: floor + (1 - n * floor) * w_i.
std::vector<double> floored(const std::vector<double>& w, double floor) {
  const double spread = 1 - static_cast<double>(w.size()) * floor;
  std::vector<double> out(w.size());
  for (size_t i = 0; i < w.size(); ++i) out[i] = floor + spread * w[i];
  return out;
}

// ---- gather: what the store knows of one bandit rule ----

struct arm_counts_of_rule {
  std::vector<uint64_t> units, conversions;
};

arm_counts_of_rule counts_of(store& db, const std::string& slug, const bandit_rule& r) {
  arm_counts_of_rule c{std::vector<uint64_t>(r.arms, 0), std::vector<uint64_t>(r.arms, 0)};
  for (const arm_stat& s : db.arm_stats_of(slug, r.experiment)) {
    const int a = arm_of(r, s.variation);
    if (a < 0) continue;
    c.units[a] += s.units;
    c.conversions[a] += s.conversions;
  }
  return c;
}

// The SRM test over the units first exposed since the last reweight (or since an SRM flag was
// cleared), against the weights they were served with; nullopt while an arm expects too few.
std::optional<srm::srm_result> srm_of_window(store& db, const std::string& slug, const bandit_rule& r) {
  uint64_t window_start = 0;
  for (const bandit_record& h : db.bandit_history_of(slug, r.experiment)) {
    if (h.status == "reweighted" || h.status == "srm_cleared") window_start = h.exposure_mark;
  }
  std::vector<uint64_t> window(r.arms, 0);
  uint64_t window_total = 0;
  for (const arm_stat& s : db.exposures_since(slug, r.experiment, window_start)) {
    const int a = arm_of(r, s.variation);
    if (a < 0) continue;
    window[a] += s.units;
    window_total += s.units;
  }
  double share_sum = 0;
  for (double w : r.weights) share_sum += w;
  bool enough = share_sum > 0;
  for (double w : r.weights) enough = enough && static_cast<double>(window_total) * (w / share_sum) >= srm_min_expected;
  if (!enough) return std::nullopt;
  auto t = srm::srm_test(window, r.weights);
  if (!t) return std::nullopt;
  return *t;
}

// ---- decide: one rule's status and weights ----

struct rule_decision {
  std::string status;  // flagged, below_min_units, srm, reweighted, error
  std::vector<double> weights;  // the new weights when reweighted
  std::vector<double> p_best;
  std::optional<srm::srm_result> srm;
};

rule_decision decide(store& db, const std::string& slug, const bandit_rule& r, const arm_counts_of_rule& c,
                     const resolved_prior& prior, bool flagged, uint64_t next_version) {
  rule_decision d;
  if (flagged) {
    d.status = "flagged";
    return d;
  }
  for (uint64_t u : c.units) {
    if (u < r.min_units) {
      d.status = "below_min_units";
      return d;
    }
  }
  d.srm = srm_of_window(db, slug, r);
  if (d.srm && d.srm->p < srm_alpha) {
    d.status = "srm";
    return d;
  }
  std::vector<bandit::beta_arm> arms;
  for (size_t a = 0; a < r.arms; ++a) {
    arms.push_back({prior.alpha + static_cast<double>(c.conversions[a]),
                    prior.beta + static_cast<double>(c.units[a] - std::min(c.conversions[a], c.units[a]))});
  }
  // Seeded by (vendor, experiment, version): a retried reweight publishes the same weights.
  const std::string seed = slug + "\n" + r.experiment + "\n" + std::to_string(next_version);
  bandit::weights_options options;
  options.draws = draws;
  options.top_two = r.top_two;
  bandit::rng rng = bandit::rng::from_seed(seed);
  auto w = bandit::bandit_weights(arms, options, rng);
  if (!w) {
    d.status = "error";
    return d;
  }
  bandit::weights_options plain;
  plain.draws = draws;
  bandit::rng rng2 = bandit::rng::from_seed(seed);
  if (auto best = bandit::bandit_weights(arms, plain, rng2)) d.p_best = *best;
  d.weights = rounded(floored(r.top_two ? *w : sharpened(*w, r.power), r.floor));
  d.status = "reweighted";
  return d;
}

// ---- the record kept, and the answer ----

bandit_record record_of(const std::string& slug, const bandit_rule& r, const rule_decision& d, const arm_counts_of_rule& c,
                        const resolved_prior& prior, const std::string& now, uint64_t mark) {
  bandit_record rec;
  rec.slug = slug;
  rec.experiment = r.experiment;
  rec.feature = r.feature;
  rec.rule = r.rule;
  rec.at = now;
  rec.status = d.status;
  rec.weights = json_array(d.status == "reweighted" ? d.weights : r.weights);
  rec.units = json_array(c.units);
  rec.conversions = json_array(c.conversions);
  rec.p_best = json_array(d.p_best);
  rec.srm_chi2 = d.srm ? d.srm->chi2 : 0;
  rec.srm_p = d.srm ? d.srm->p : 1;
  rec.exposure_mark = mark;
  rec.prior_alpha = prior.alpha;
  rec.prior_beta = prior.beta;
  rec.prior_source = prior.source;
  return rec;
}

std::string rule_json(const bandit_rule& r, const rule_decision& d, const arm_counts_of_rule& c, const resolved_prior& prior) {
  return "{\"feature\":" + json_string(r.feature) + ",\"rule\":" + std::to_string(r.rule) +
         ",\"experiment\":" + json_string(r.experiment) + ",\"status\":" + json_string(d.status) +
         ",\"units\":" + json_array(c.units) + ",\"conversions\":" + json_array(c.conversions) +
         ",\"previous_weights\":" + json_array(r.weights) +
         ",\"weights\":" + json_array(d.status == "reweighted" ? d.weights : r.weights) +
         ",\"p_best\":" + json_array(d.p_best) + ",\"min_units\":" + std::to_string(r.min_units) +
         ",\"floor\":" + json::number_to_string(r.floor) + ",\"prior\":{\"alpha\":" +
         json::number_to_string(prior.alpha) + ",\"beta\":" + json::number_to_string(prior.beta) +
         ",\"source\":" + json_string(prior.source) + ",\"component\":" + json_string(prior.component) +
         "},\"srm\":" +
         (d.srm ? "{\"chi2\":" + json::number_to_string(d.srm->chi2) + ",\"p\":" + json::number_to_string(d.srm->p) + "}"
                : std::string("null")) +
         "}";
}

// ---- publish: the new weights as the next signed version ----

using weight_changes = std::vector<std::pair<const bandit_rule*, std::vector<double>>>;

// The config with the new weights published (and the draft patched the same way, so that the
// vendor's next revalidate keeps the learned weights: only when it still has the rule with as
// many arms; skipped if it changed meanwhile), with the records and flags in the same commit.
result<publish_outcome> publish_weights(store& db, const std::string& slug, json::value config, const weight_changes& changes,
                                        publish_extras extras, const std::string& now, const snapshot_finisher& finish) {
  for (const auto& [r, w] : changes) set_weights(config, *r, w);
  WHALE_TRY(std::string body, accept_config(json::to_string(config), slug));
  if (std::optional<draft> d = db.get_draft(slug)) {
    if (auto parsed = json::parse(d->body)) {
      json::value patched = std::move(*parsed);
      for (const auto& [r, w] : changes) set_weights(patched, *r, w);
      if (auto accepted = accept_config(json::to_string(patched), slug)) {
        extras.draft_body = *accepted;
        extras.draft_updated_at = d->updated_at;
      }
    }
  }
  return db.publish_body(slug, body, now, finish, std::move(extras));
}

}  // namespace

result<reweight_outcome> reweight_vendor(store& db, const std::string& slug, const std::string& now,
                                         const snapshot_finisher& finish) {
  WHALE_TRY(const std::optional<snapshot> latest, db.find_snapshot(slug, 0));
  if (!latest) return fail(error_code::not_found, "nothing published for " + slug);
  WHALE_TRY(json::value config, json::parse(latest->body));
  const std::vector<bandit_rule> rules = bandit_rules(config);
  const std::vector<optimizer::experiment> experiments = optimizer::experiments(config);
  std::optional<std::vector<vendor_results>> platform;
  std::map<std::string, bandit_flag> flagged;
  for (bandit_flag& f : db.bandit_flags_of(slug)) flagged[f.experiment] = f;
  const uint64_t mark = db.exposure_mark();

  reweight_outcome outcome;
  publish_extras extras;
  weight_changes changes;
  std::string experiments_json;
  for (const bandit_rule& r : rules) {
    const arm_counts_of_rule counts = counts_of(db, slug, r);
    WHALE_TRY(const resolved_prior prior, prior_of(r, db, slug, config, experiments, platform));
    const rule_decision d = decide(db, slug, r, counts, prior, flagged.count(r.experiment) != 0, latest->version + 1);
    outcome.statuses.push_back(d.status);
    if (d.status == "reweighted") changes.emplace_back(&r, d.weights);
    if (d.status == "srm") {
      extras.flags.push_back(bandit_flag{slug, r.experiment, now, "sample ratio mismatch", d.srm->chi2, d.srm->p});
    }
    if (d.status == "reweighted" || d.status == "srm") extras.records.push_back(record_of(slug, r, d, counts, prior, now, mark));
    if (!experiments_json.empty()) experiments_json += ",";
    experiments_json += rule_json(r, d, counts, prior);
  }

  std::string version_json = "null";
  if (!changes.empty()) {
    WHALE_TRY(publish_outcome published, publish_weights(db, slug, std::move(config), changes, std::move(extras), now, finish));
    outcome.published = true;
    outcome.published_snapshot = published.published;
    version_json = std::to_string(published.published.version);
  } else if (!extras.records.empty() || !extras.flags.empty()) {
    WHALE_TRY_VOID(db.record_bandits(extras.records, extras.flags));
  }
  outcome.response = "{\"slug\":" + json_string(slug) + ",\"based_on\":" + std::to_string(latest->version) +
                     ",\"version\":" + version_json + ",\"experiments\":[" + experiments_json + "]}";
  return outcome;
}

}  // namespace whale::origin
