#include "platform.h"

#include <algorithm>
#include <map>
#include <set>

#include "http_util.h"
#include "results.h"
#include "validate.h"
#include "whale/bandit.h"
#include "whale/json.h"
#include "whale/learn/optimizer.h"

namespace whale::origin {

using json::value;

namespace {

constexpr size_t max_rows = 10;             // top components, synergies
constexpr size_t max_layouts_per_section = 3;
constexpr uint64_t max_versions_counted = 200;  // per vendor, for publishes per day
constexpr size_t max_timeline = 100;

std::string num(double x) { return json::number_to_string(x); }

std::string string_member(const value& v, std::string_view key) {
  const value* m = v.is_object() ? v.find(key) : nullptr;
  return m != nullptr && m->is_string() ? m->as_string() : std::string();
}

struct vendor_view {
  std::string slug, vertical;
  snapshot latest;
  value config;
  vendor_results results;
};

std::vector<vendor_view> vendors_of(store& db) {
  std::vector<vendor_view> out;
  for (const change& c : db.published_vendors()) {
    const result<std::optional<snapshot>> latest = db.find_snapshot(c.slug, 0);
    if (!latest.ok() || !*latest) continue;
    result<value> config = json::parse((*latest)->body);
    if (!config) continue;
    vendor_view v;
    v.slug = c.slug;
    v.latest = **latest;
    v.results = results_of(db, c.slug, *config, (*latest)->version);
    v.vertical = v.results.vertical;
    v.config = std::move(*config);
    out.push_back(std::move(v));
  }
  return out;
}

// Every vendor's arms; experiment keys prefixed by the vendor so each keeps its own baseline.
std::vector<optimizer::arm> all_arms(const std::vector<vendor_view>& vendors) {
  std::vector<optimizer::arm> arms;
  for (const vendor_view& v : vendors) {
    for (optimizer::arm a : optimizer_arms(v.results)) {
      a.experiment = v.slug + "/" + a.experiment;
      arms.push_back(std::move(a));
    }
  }
  return arms;
}

// Beta(1 + C, 1 + N - C): posterior mean and 95% interval.
struct rate {
  double mean = 0, low = 0, high = 0;
};
rate rate_of(double units, double conversions) {
  const double a = 1 + conversions, b = 1 + units - conversions;
  return {a / (a + b), optimizer::beta_quantile(0.025, a, b), optimizer::beta_quantile(0.975, a, b)};
}

// One layout a section of a vertical showed: its components, pooled over vendors.
struct layout_stat {
  std::string page, section, vertical;
  std::vector<std::string> components;  // sorted: the layout's identity
  double units = 0, conversions = 0;
  std::set<std::string> vendors;
  std::string from;                     // the vendor whose instances it keeps (the largest arm)
  double from_units = -1;
  value instances;                      // that vendor's instances (an array)
};

std::vector<layout_stat> layout_stats(const std::vector<vendor_view>& vendors) {
  std::map<std::string, layout_stat> by_key;
  for (const vendor_view& v : vendors) {
    const value* pages = v.config.find("pages");
    if (pages == nullptr || !pages->is_array()) continue;
    for (size_t x = 0; x < v.results.experiments.size(); ++x) {
      const optimizer::experiment& e = v.results.experiments[x];
      if (!e.layout) continue;
      const value* feature = v.config.find("features") != nullptr ? v.config.find("features")->find(e.feature) : nullptr;
      const value* rules = feature != nullptr ? feature->find("rules") : nullptr;
      const value* rule = rules != nullptr && rules->is_array() && e.rule < rules->items().size() ? &rules->items()[e.rule] : nullptr;
      const value* variations = rule != nullptr ? rule->find("variations") : nullptr;
      for (const value& page : pages->items()) {
        const value* sections = page.find("sections");
        if (sections == nullptr || !sections->is_array()) continue;
        for (const value& section : sections->items()) {
          if (string_member(section, "feature") != e.feature) continue;
          for (size_t i = 0; i < e.variations.size() && i < v.results.counts[x].size(); ++i) {
            const variation_counts& c = v.results.counts[x][i];
            if (c.units == 0) continue;
            std::vector<std::string> keys = e.variations[i].components;
            std::sort(keys.begin(), keys.end());
            keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
            std::string id = v.vertical + "\n" + string_member(page, "id") + "\n" + string_member(section, "id") + "\n";
            for (const std::string& k : keys) id += k + ",";
            layout_stat& s = by_key[id];
            s.vertical = v.vertical;
            s.page = string_member(page, "id");
            s.section = string_member(section, "id");
            s.components = keys;
            s.units += static_cast<double>(c.units);
            s.conversions += static_cast<double>(c.conversions);
            s.vendors.insert(v.slug);
            if (static_cast<double>(c.units) > s.from_units) {
              s.from_units = static_cast<double>(c.units);
              s.from = v.slug;
              const value variant = variations != nullptr && variations->is_array() && i < variations->items().size()
                                        ? variations->items()[i] : value();
              s.instances = value::array(optimizer::section_instances(section, variant));
            }
          }
        }
      }
    }
  }
  std::vector<layout_stat> out;
  for (auto& [id, s] : by_key) out.push_back(std::move(s));
  // Per (vertical, page, section), best first: by the interval's lower end, then units.
  std::stable_sort(out.begin(), out.end(), [](const layout_stat& a, const layout_stat& b) {
    if (a.vertical != b.vertical) return a.vertical < b.vertical;
    if (a.page != b.page) return a.page < b.page;
    if (a.section != b.section) return a.section < b.section;
    const double la = rate_of(a.units, a.conversions).low, lb = rate_of(b.units, b.conversions).low;
    if (la != lb) return la > lb;
    return a.units > b.units;
  });
  return out;
}

std::string strings_json(const std::vector<std::string>& xs) {
  std::string out = "[";
  for (size_t i = 0; i < xs.size(); ++i) out += (i ? "," : "") + json_string(xs[i]);
  return out + "]";
}

std::string layout_json(const layout_stat& s) {
  const rate r = rate_of(s.units, s.conversions);
  return "{\"page\":" + json_string(s.page) + ",\"section\":" + json_string(s.section) +
         ",\"components\":" + strings_json(s.components) + ",\"units\":" + num(s.units) +
         ",\"conversions\":" + num(s.conversions) + ",\"mean\":" + num(r.mean) + ",\"low\":" + num(r.low) +
         ",\"high\":" + num(r.high) + ",\"vendors\":" + std::to_string(s.vendors.size()) + ",\"from\":" +
         json_string(s.from) + "}";
}

std::string day_of(const std::string& iso) { return iso.size() >= 10 ? iso.substr(0, 10) : iso; }

}  // namespace

std::string platform_report(store& db) {
  const std::vector<vendor_view> vendors = vendors_of(db);
  std::set<std::string> verticals;
  for (const vendor_view& v : vendors) verticals.insert(v.vertical);
  std::string out = "{\"vendors\":" + std::to_string(vendors.size()) + ",\"verticals\":" +
                    strings_json(std::vector<std::string>(verticals.begin(), verticals.end()));

  // Top components: every vendor's arms pooled per component, best interval first.
  const std::vector<optimizer::arm> arms = all_arms(vendors);
  out += ",\"topComponents\":[";
  if (result<std::vector<optimizer::component_rate>> rates = optimizer::component_rates(arms); rates) {
    for (size_t i = 0; i < rates->size() && i < max_rows; ++i) {
      const optimizer::component_rate& c = (*rates)[i];
      std::set<std::string> with;
      for (const optimizer::arm& a : arms) {
        if (std::find(a.components.begin(), a.components.end(), c.key) != a.components.end()) {
          with.insert(a.experiment.substr(0, a.experiment.find('/')));
        }
      }
      out += std::string(i ? "," : "") + "{\"key\":" + json_string(c.key) + ",\"units\":" + num(c.units) +
             ",\"conversions\":" + num(c.conversions) + ",\"mean\":" + num(c.mean) + ",\"low\":" + num(c.low) +
             ",\"high\":" + num(c.high) + ",\"arms\":" + std::to_string(c.arms) +
             ",\"vendors\":" + std::to_string(with.size()) + "}";
    }
  }
  // Synergies: the model over every vendor's arms, strongest first.
  out += "],\"synergies\":[";
  std::string model_error;
  if (result<optimizer::model> m = optimizer::fit(arms); m) {
    std::vector<const optimizer::effect*> pairs;
    for (const optimizer::effect& e : m->pairs) pairs.push_back(&e);
    std::stable_sort(pairs.begin(), pairs.end(), [](auto* a, auto* b) { return a->mean > b->mean; });
    for (size_t i = 0; i < pairs.size() && i < max_rows; ++i) {
      const optimizer::effect& e = *pairs[i];
      out += std::string(i ? "," : "") + "{\"a\":" + json_string(e.a) + ",\"b\":" + json_string(e.b) +
             ",\"effect\":" + num(e.mean) + ",\"low\":" + num(e.low) + ",\"high\":" + num(e.high) +
             ",\"uplift\":" + num(e.uplift) + ",\"units\":" + num(e.units) + "}";
    }
  } else {
    model_error = m.message();
  }
  out += "]";
  if (!model_error.empty()) out += ",\"modelError\":" + json_string(model_error);

  // Layouts per vertical: per section, the best layouts its vendors served.
  out += ",\"layoutsByVertical\":{";
  const std::vector<layout_stat> layouts = layout_stats(vendors);
  std::string vertical;
  size_t in_section = 0;
  std::string section_id;
  for (const layout_stat& s : layouts) {
    if (s.vertical != vertical) {
      out += std::string(vertical.empty() ? "" : "],") + json_string(s.vertical) + ":[";
      vertical = s.vertical;
      section_id.clear();
    }
    const std::string id = s.page + "/" + s.section;
    if (id != section_id) {
      section_id = id;
      in_section = 0;
    }
    if (in_section++ >= max_layouts_per_section) continue;
    if (out.back() != '[') out += ",";
    out += layout_json(s);
  }
  out += std::string(vertical.empty() ? "" : "]") + "}";

  // Publishes and transformations (bandit reweights that published, optimizer proposals published
  // or applied) per day, and the timeline of those events, newest first.
  struct event {
    std::string at, slug, kind, detail;
  };
  std::vector<event> events;
  std::map<std::string, std::pair<uint64_t, uint64_t>> per_day;  // day -> (publishes, transformations)
  for (const vendor_view& v : vendors) {
    const uint64_t newest = v.latest.version;
    const uint64_t oldest = newest > max_versions_counted ? newest - max_versions_counted + 1 : 1;
    for (uint64_t version = newest; version >= oldest && version > 0; --version) {
      const result<std::optional<snapshot>> s = db.find_snapshot(v.slug, version);
      if (!s.ok() || !*s) continue;
      per_day[day_of((*s)->published_at)].first++;
      events.push_back({(*s)->published_at, v.slug, "publish", "v" + std::to_string(version)});
    }
    for (const bandit_record& b : db.bandit_history_of(v.slug)) {
      if (b.version == 0) continue;
      per_day[day_of(b.at)].second++;
      events.push_back({b.at, v.slug, "reweight", b.experiment + " -> v" + std::to_string(b.version)});
    }
    for (const proposal_record& p : db.proposals_of(v.slug)) {
      if (p.status != "published" && p.status != "applied") {
        events.push_back({p.created_at, v.slug, "proposal", p.experiment + " (draft)"});
        continue;
      }
      per_day[day_of(p.updated_at)].second++;
      events.push_back({p.updated_at, v.slug, "proposal", p.experiment + " (" + p.status + ")"});
    }
  }
  out += ",\"perDay\":[";
  bool first = true;
  for (const auto& [day, counts] : per_day) {
    out += std::string(first ? "" : ",") + "{\"day\":" + json_string(day) + ",\"publishes\":" +
           std::to_string(counts.first) + ",\"transformations\":" + std::to_string(counts.second) + "}";
    first = false;
  }
  std::stable_sort(events.begin(), events.end(), [](const event& a, const event& b) { return a.at > b.at; });
  out += "],\"timeline\":[";
  for (size_t i = 0; i < events.size() && i < max_timeline; ++i) {
    out += std::string(i ? "," : "") + "{\"at\":" + json_string(events[i].at) + ",\"vendor\":" +
           json_string(events[i].slug) + ",\"kind\":" + json_string(events[i].kind) + ",\"detail\":" +
           json_string(events[i].detail) + "}";
  }
  return out + "]}";
}

result<std::string> bootstrap_vendor(store& db, const std::string& slug, const std::string& now) {
  WHALE_TRY(std::optional<snapshot> published, db.find_snapshot(slug, 0));
  if (published) {
    return fail(error_code::invalid_value, slug + " has published version " + std::to_string(published->version) +
                                               ": bootstrap is for a new vendor's first draft");
  }
  const std::optional<draft> d = db.get_draft(slug);
  if (!d) return fail(error_code::not_found, "no draft for " + slug + ": PUT a config first (its pages and vertical)");
  WHALE_TRY(value config, json::parse(d->body));
  const value* vendor = config.find("vendor");
  const std::string vertical = vendor != nullptr ? string_member(*vendor, "vertical") : std::string();
  const std::vector<vendor_view> vendors = vendors_of(db);
  std::vector<layout_stat> winners;
  for (layout_stat& s : layout_stats(vendors)) {
    if (s.vertical != vertical || s.vendors.count(slug) != 0) continue;
    const bool first_of_section = winners.empty() || winners.back().page != s.page || winners.back().section != s.section;
    if (first_of_section) winners.push_back(std::move(s));
  }
  std::string applied;
  std::string skipped;
  // The section `page`/`section` of a config, or nullptr.
  const auto section_of = [](value& doc, const std::string& page_id, const std::string& section_id) -> value* {
    value* pages = doc.find("pages");
    if (pages == nullptr || !pages->is_array()) return nullptr;
    for (value& page : pages->items()) {
      value* sections = page.is_object() ? page.find("sections") : nullptr;
      if (string_member(page, "id") != page_id || sections == nullptr || !sections->is_array()) continue;
      for (value& section : sections->items()) {
        if (string_member(section, "id") == section_id) return &section;
      }
    }
    return nullptr;
  };
  for (const layout_stat& w : winners) {
    if (section_of(config, w.page, w.section) == nullptr) continue;
    // The winner's instances, and the definitions of components this vendor lacks.
    value trial = config;
    value* trial_section = section_of(trial, w.page, w.section);
    trial_section->set("components", w.instances);
    // The section as the winner showed it: no feature of this vendor's drives it.
    std::vector<json::member>& members = trial_section->members();
    members.erase(std::remove_if(members.begin(), members.end(), [](const json::member& m) { return m.first == "feature"; }),
                  members.end());
    value* registry = trial.find("components");
    if (registry == nullptr) {
      trial.set("components", value::object());
      registry = trial.find("components");
    }
    const vendor_view* from = nullptr;
    for (const vendor_view& v : vendors) {
      if (v.slug == w.from) from = &v;
    }
    const value* their = from != nullptr ? from->config.find("components") : nullptr;
    for (const value& instance : w.instances.items()) {
      const std::string key = string_member(instance, "key");
      if (registry->find(key) != nullptr || their == nullptr) continue;
      if (const value* definition = their->find(key)) registry->set(key, *definition);
    }
    const rate r = rate_of(w.units, w.conversions);
    const std::string item = "{\"page\":" + json_string(w.page) + ",\"section\":" + json_string(w.section) +
                             ",\"components\":" + strings_json(w.components) + ",\"from\":" + json_string(w.from) +
                             ",\"vendors\":" + std::to_string(w.vendors.size()) + ",\"units\":" + num(w.units) +
                             ",\"mean\":" + num(r.mean);
    if (result<std::string> ok = accept_config(json::to_string(trial), slug); !ok) {
      skipped += (skipped.empty() ? "" : ",") + item + ",\"reason\":" + json_string(ok.message()) + "}";
      continue;
    }
    config = std::move(trial);
    applied += (applied.empty() ? "" : ",") + item + "}";
  }
  WHALE_TRY(std::string body, accept_config(json::to_string(config), slug));
  if (!applied.empty()) WHALE_TRY_VOID(db.put_draft(slug, body, now));
  return "{\"slug\":" + json_string(slug) + ",\"vertical\":" + json_string(vertical) +
         ",\"draft\":" + (applied.empty() ? "false" : "true") + ",\"published\":false,\"applied\":[" + applied +
         "],\"skipped\":[" + skipped + "],\"updated_at\":" + (applied.empty() ? std::string("null") : json_string(now)) + "}";
}

}  // namespace whale::origin
