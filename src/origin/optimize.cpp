#include "optimize.h"

#include <algorithm>

#include "http_util.h"
#include "results.h"
#include "validate.h"
#include "whale/bandit.h"
#include "whale/json.h"
#include "whale/learn/optimizer.h"

namespace whale::origin {

namespace {

std::string num(double x) { return json::number_to_string(x); }

double sigmoid(double x) { return 1 / (1 + bandit::detail::det_exp(-x)); }

std::string effect_json(const optimizer::effect& e) {
  std::string out = e.b.empty() ? "{\"key\":" + json_string(e.a) : "{\"a\":" + json_string(e.a) + ",\"b\":" + json_string(e.b);
  return out + ",\"effect\":" + num(e.mean) + ",\"sd\":" + num(e.sd) + ",\"low\":" + num(e.low) +
         ",\"high\":" + num(e.high) + ",\"information\":" + num(e.information) + ",\"uplift\":" + num(e.uplift) +
         ",\"units\":" + num(e.units) + ",\"conversions\":" + num(e.conversions) +
         ",\"arms\":" + std::to_string(e.arms) + "}";
}

std::string record_json(const proposal_record& p) {
  return "{\"id\":" + std::to_string(p.id) + ",\"experiment\":" + json_string(p.experiment) + ",\"status\":" + json_string(p.status) +
         ",\"based_on\":" + std::to_string(p.based_on) +
         ",\"version\":" + (p.version == 0 ? std::string("null") : std::to_string(p.version)) +
         ",\"created_at\":" + json_string(p.created_at) + ",\"updated_at\":" + json_string(p.updated_at) +
         ",\"proposal\":" + (p.body.empty() ? std::string("null") : p.body) + "}";
}

// The vendor's latest snapshot parsed, with the model of its results.
struct fitted {
  snapshot latest;
  json::value config;
  optimizer::model model;
  vendor_results results;
};

result<fitted> fit_vendor(store& db, const std::string& slug) {
  WHALE_TRY(std::optional<snapshot> latest, db.find_snapshot(slug, 0));
  if (!latest) return fail(error_code::not_found, "nothing published for " + slug);
  WHALE_TRY(json::value config, json::parse(latest->body));
  const vendor_results results = results_of(db, slug, config, latest->version);
  WHALE_TRY(optimizer::model model, optimizer::fit(optimizer_arms(results)));
  return fitted{std::move(*latest), std::move(config), std::move(model), results};
}

// The names of the config's `segments` as a JSON array.
std::string segment_names(const json::value& config) {
  std::string out = "[";
  const json::value* segments = config.find("segments");
  if (segments != nullptr && segments->is_object()) {
    for (const json::member& m : segments->members()) out += (out.size() > 1 ? "," : "") + json_string(m.first);
  }
  return out + "]";
}

std::vector<std::string> sorted(std::vector<std::string> keys) {
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

// The section's latest stored proposal proposes these components already.
const proposal_record* same_proposal(const std::vector<proposal_record>& stored, const optimizer::proposal& p) {
  for (const proposal_record& r : stored) {  // newest first
    result<json::value> body = json::parse(r.body);
    if (!body) continue;
    result<optimizer::proposal> old = optimizer::proposal_from_json(*body);
    if (!old || old->page != p.page || old->section != p.section || old->segment != p.segment) continue;
    return sorted(old->variant) == sorted(p.variant) ? &r : nullptr;
  }
  return nullptr;
}

// The config with the proposal applied, validated as a PUT would be.
result<std::string> applied_config(const std::string& body, const optimizer::proposal& p, const std::string& key,
                                   const std::string& slug) {
  WHALE_TRY(json::value config, json::parse(body));
  WHALE_TRY(json::value patched, optimizer::apply(config, p, key));
  return accept_config(json::to_string(patched), slug);
}

}  // namespace

result<std::string> optimizer_report(store& db, const std::string& slug) {
  WHALE_TRY(fitted f, fit_vendor(db, slug));
  const optimizer::model& m = f.model;
  std::vector<const optimizer::effect*> synergies;
  for (const optimizer::effect& e : m.pairs) synergies.push_back(&e);
  std::stable_sort(synergies.begin(), synergies.end(),
                   [](const optimizer::effect* x, const optimizer::effect* y) { return x->mean > y->mean; });
  size_t arms = 0;
  for (const optimizer::baseline& b : m.experiments) arms += b.arms;
  std::string out =
      "{\"slug\":" + json_string(slug) + ",\"based_on\":" + std::to_string(f.latest.version) + ",\"segments\":" +
      segment_names(f.config) +
      ",\"autoPublish\":" + (db.auto_publish(slug) ? "true" : "false") +
      ",\"model\":{\"arms\":" + std::to_string(arms) + ",\"experiments\":" + std::to_string(m.experiments.size()) +
      ",\"iterations\":" + std::to_string(m.iterations) + ",\"converged\":" + (m.converged ? "true" : "false") +
      ",\"base_rate\":" + num(sigmoid(m.base)) + ",\"confounded_pairs\":" + std::to_string(m.confounded_pairs) +
      ",\"dropped_pairs\":" + std::to_string(m.dropped_pairs) + "},\"components\":[";
  for (size_t i = 0; i < m.components.size(); ++i) out += (i > 0 ? "," : "") + effect_json(m.components[i]);
  out += "],\"synergies\":[";
  for (size_t i = 0; i < synergies.size(); ++i) out += (i > 0 ? "," : "") + effect_json(*synergies[i]);
  const std::optional<optimizer::proposal> p = optimizer::propose(f.config, m);
  out += "],\"proposal\":" + (p ? json::to_string(optimizer::to_json(*p)) : std::string("null")) + ",\"proposals\":[";
  const std::vector<proposal_record> stored = db.proposals_of(slug);
  for (size_t i = 0; i < stored.size(); ++i) out += (i > 0 ? "," : "") + record_json(stored[i]);
  return out + "]}";
}

namespace {

// Publishes a stored proposal on top of the latest snapshot (the one it was computed from); the
// vendor's draft gets the experiment too when it still fits, so that a revalidate keeps it.
// Returns the reason it could not be applied ("" when published).
result<std::string> publish_proposal(store& db, const std::string& slug, proposal_record& record,
                                     const optimizer::proposal& p, const snapshot& latest, const std::string& now,
                                     const snapshot_finisher& finish, propose_outcome& outcome) {
  result<std::string> body = applied_config(latest.body, p, record.experiment, slug);
  if (!body) return body.message();
  publish_extras extras;
  extras.proposal = record.id;
  if (std::optional<draft> d = db.get_draft(slug)) {
    if (result<std::string> patched = applied_config(d->body, p, record.experiment, slug)) {
      extras.draft_body = *patched;
      extras.draft_updated_at = d->updated_at;
    }
  }
  WHALE_TRY(publish_outcome published, db.publish_body(slug, *body, now, finish, std::move(extras)));
  outcome.published = true;
  outcome.published_snapshot = published.published;
  // The record as stored after the publish (its status and version); kept as it was if unreadable.
  if (result<std::optional<proposal_record>> updated = db.find_proposal(slug, record.id); updated.ok() && *updated) {
    record = **updated;
  }
  return std::string();
}

std::string outcome_json(const propose_outcome& o, const char* reason, const proposal_record& record,
                         const std::string& publish_error) {
  return "{\"created\":" + std::string(o.created ? "true" : "false") +
         ",\"published\":" + (o.published ? "true" : "false") +
         ",\"version\":" + (o.published ? std::to_string(o.published_snapshot.version) : std::string("null")) +
         (reason != nullptr ? ",\"reason\":" + json_string(reason) : std::string()) +
         (publish_error.empty() ? std::string() : ",\"publish_error\":" + json_string(publish_error)) +
         ",\"proposal\":" + record_json(record) + "}";
}

}  // namespace

namespace {

struct segment_ref {
  std::string name;
  json::value condition;
};

// The config's `segments`, in document order.
std::vector<segment_ref> segments_of(const json::value& config) {
  std::vector<segment_ref> out;
  const json::value* segments = config.find("segments");
  if (segments == nullptr || !segments->is_object()) return out;
  for (const json::member& m : segments->members()) {
    const json::value* condition = m.second.is_object() ? m.second.find("condition") : nullptr;
    if (condition != nullptr && condition->is_object()) out.push_back({m.first, *condition});
  }
  return out;
}

// One proposal: for every visitor (segment nullptr) or for a segment, from the model of its own
// experiments' results (those targeted at its condition) when there are any, else from every
// visitor's.
result<propose_outcome> propose_for(store& db, const std::string& slug, const propose_request& request, fitted& f,
                                    const segment_ref* segment, const std::string& now,
                                    const snapshot_finisher& finish) {
  optimizer::proposal_options options;
  options.page = request.page;
  options.section = request.section;
  propose_outcome outcome;
  const optimizer::model* model = &f.model;
  optimizer::model own;
  std::string basis = "\"every visitor\"";
  if (segment != nullptr) {
    const std::vector<optimizer::arm> arms = optimizer_arms(f.results, segment->condition);
    if (!arms.empty()) {
      WHALE_TRY(own, optimizer::fit(arms));
      model = &own;
      basis = "\"segment\"";
    }
  }
  const std::string about = segment == nullptr ? std::string()
                                               : ",\"segment\":" + json_string(segment->name) + ",\"model\":" + basis;
  std::optional<optimizer::proposal> p = optimizer::propose(f.config, *model, options);
  if (!p) {
    outcome.response =
        "{\"created\":false,\"published\":false,\"version\":null,\"reason\":\"nothing_better\"" + about +
        ",\"proposal\":null}";
    return outcome;
  }
  if (segment != nullptr) {
    p->segment = segment->name;
    p->condition = segment->condition;
  }
  const bool auto_publish = db.auto_publish(slug);
  const std::vector<proposal_record> stored = db.proposals_of(slug);
  proposal_record record;
  const char* reason = nullptr;
  if (const proposal_record* same = same_proposal(stored, *p)) {
    // Proposed before: nothing new, unless it is still a draft and the vendor now opted in.
    record = *same;
    reason = "unchanged";
    if (!(auto_publish && record.status == "draft")) {
      outcome.response = outcome_json(outcome, reason, record, "");
      return outcome;
    }
  } else {
    WHALE_TRY(record,
              db.add_proposal(slug, json::to_string(optimizer::to_json(*p)), f.latest.version, now, [&](uint64_t id) {
                return "opt-" + (segment != nullptr ? segment->name + "-" : std::string()) + p->page + "-" + p->section +
                       "-" + std::to_string(id);
              }));
    outcome.created = true;
  }
  std::string publish_error;
  if (auto_publish) {
    WHALE_TRY(publish_error, publish_proposal(db, slug, record, *p, f.latest, now, finish, outcome));
  }
  outcome.response = outcome_json(outcome, reason, record, publish_error);
  if (!about.empty()) outcome.response.insert(1, about.substr(1) + ",");
  return outcome;
}

}  // namespace

result<propose_outcome> propose_layout(store& db, const std::string& slug, const propose_request& request,
                                       const std::string& now, const snapshot_finisher& finish) {
  WHALE_TRY(fitted f, fit_vendor(db, slug));
  if (!request.segments && request.segment.empty()) return propose_for(db, slug, request, f, nullptr, now, finish);
  const std::vector<segment_ref> segments = segments_of(f.config);
  if (!request.segments) {
    for (const segment_ref& s : segments) {
      if (s.name == request.segment) return propose_for(db, slug, request, f, &s, now, finish);
    }
    return fail(error_code::invalid_value, "segment: no segment \"" + request.segment + "\" in the config's segments");
  }
  // One per segment; a publish moves the latest snapshot, so each starts from the one before.
  propose_outcome all;
  all.response = "{\"segments\":[";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (all.published) {
      WHALE_TRY(f, fit_vendor(db, slug));
    }
    WHALE_TRY(propose_outcome one, propose_for(db, slug, request, f, &segments[i], now, finish));
    all.response += (i > 0 ? "," : "") + one.response;
    all.created = all.created || one.created;
    if (one.published) {
      all.published = true;
      all.published_snapshot = one.published_snapshot;
    }
  }
  all.response += "]}";
  return all;
}

bool ready_to_propose(store& db, const std::string& slug, uint64_t min_units) {
  if (!db.auto_publish(slug)) return false;
  const result<std::optional<snapshot>> found = db.find_snapshot(slug, 0);
  if (!found.ok() || !*found) return false;
  const std::optional<snapshot>& latest = *found;
  for (const proposal_record& r : db.proposals_of(slug)) {  // newest first
    if (r.status != "published") continue;
    result<json::value> config = json::parse(latest->body);
    if (!config) return false;
    for (const optimizer::experiment& e : optimizer::experiments(*config)) {
      if (e.key != r.experiment || !e.layout) continue;
      const vendor_results results = results_of(db, slug, *config, latest->version);
      for (size_t x = 0; x < results.experiments.size(); ++x) {
        if (results.experiments[x].key != r.experiment) continue;
        for (const variation_counts& c : results.counts[x]) {
          if (c.units < min_units) return false;
        }
      }
    }
    return true;
  }
  return true;
}

result<std::string> apply_proposal(store& db, const std::string& slug, uint64_t id, const std::string& now) {
  WHALE_TRY(const std::optional<proposal_record> record, db.find_proposal(slug, id));
  if (!record) return fail(error_code::not_found, "no proposal " + std::to_string(id) + " for " + slug);
  if (record->status != "draft") {
    return fail(error_code::invalid_value,
                "proposal " + std::to_string(id) + " is " + record->status + ", not a draft");
  }
  const std::optional<draft> d = db.get_draft(slug);
  if (!d) return fail(error_code::invalid_value, "no config draft to apply the proposal to");
  WHALE_TRY(json::value body, json::parse(record->body));
  WHALE_TRY(optimizer::proposal p, optimizer::proposal_from_json(body));
  result<std::string> patched = applied_config(d->body, p, record->experiment, slug);
  if (!patched) return fail(error_code::invalid_value, "the proposal no longer fits the draft: " + patched.message());
  WHALE_TRY_VOID(db.put_draft(slug, *patched, now));
  WHALE_TRY_VOID(db.mark_proposal(slug, id, "applied", now));
  return "{\"slug\":" + json_string(slug) + ",\"proposal\":" + std::to_string(id) +
         ",\"experiment\":" + json_string(record->experiment) +
         ",\"status\":\"applied\",\"draft\":true,\"updated_at\":" + json_string(now) + "}";
}

std::string top_components_json(const vendor_results& results, size_t limit) {
  result<std::vector<optimizer::component_rate>> rates = optimizer::component_rates(optimizer_arms(results));
  if (!rates) return "[]";
  std::string out = "[";
  for (size_t i = 0; i < rates->size() && i < limit; ++i) {
    const optimizer::component_rate& r = (*rates)[i];
    out += (i > 0 ? ",{" : "{") + std::string("\"key\":") + json_string(r.key) + ",\"units\":" + num(r.units) +
           ",\"conversions\":" + num(r.conversions) + ",\"arms\":" + std::to_string(r.arms) +
           ",\"experiments\":" + std::to_string(r.experiments) + ",\"rate\":" + num(r.conversions / r.units) +
           ",\"mean\":" + num(r.mean) + ",\"low\":" + num(r.low) + ",\"high\":" + num(r.high) + "}";
  }
  return out + "]";
}

}  // namespace whale::origin
