// The self-optimizer's view of a config: which components each variation of each experiment
// shows, the search for a better component set per section, and the proposal as a new
// experiment. See include/whale/learn/optimizer.h and docs/optimizer.md.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string_view>

#include "whale/learn/optimizer.h"

namespace whale::optimizer {

namespace {

using json::value;

const value* array_member(const value& v, std::string_view key) {
  const value* m = v.is_object() ? v.find(key) : nullptr;
  return m != nullptr && m->is_array() ? m : nullptr;
}

std::string string_member(const value& v, std::string_view key) {
  const value* m = v.is_object() ? v.find(key) : nullptr;
  return m != nullptr && m->is_string() ? m->as_string() : std::string();
}

// A section a feature drives.
struct bound_section {
  const value* page;
  const value* section;
};

std::map<std::string, std::vector<bound_section>> sections_by_feature(const value& config) {
  std::map<std::string, std::vector<bound_section>> out;
  const value* pages = array_member(config, "pages");
  if (pages == nullptr) return out;
  for (const value& page : pages->items()) {
    const value* sections = array_member(page, "sections");
    if (sections == nullptr) continue;
    for (const value& section : sections->items()) {
      const std::string feature = string_member(section, "feature");
      if (!feature.empty()) out[feature].push_back({&page, &section});
    }
  }
  return out;
}

std::set<std::string> component_keys(const value& config) {
  std::set<std::string> out;
  const value* components = config.is_object() ? config.find("components") : nullptr;
  if (components == nullptr || !components->is_object()) return out;
  for (const json::member& m : components->members()) out.insert(m.first);
  return out;
}

// The instances a section shows under a feature value, as the layout renderer builds them:
// null keeps them as written, {"components"} replaces them, {"props": {id: patch}} merges
// each patch into the instance with that id.
std::vector<value> instances_of(const value& section, const value& variant) {
  std::vector<value> out;
  const value* replacement = array_member(variant, "components");
  const value* list = replacement != nullptr ? replacement : array_member(section, "components");
  if (list != nullptr) out = list->items();
  const value* patches = variant.is_object() ? variant.find("props") : nullptr;
  if (patches == nullptr || !patches->is_object()) return out;
  for (const json::member& patch : patches->members()) {
    if (!patch.second.is_object()) continue;
    for (value& instance : out) {
      if (!instance.is_object() || string_member(instance, "id") != patch.first) continue;
      value* props = instance.find("props");
      if (props == nullptr || !props->is_object()) {
        instance.set("props", value::object());
        props = instance.find("props");
      }
      for (const json::member& field : patch.second.members()) props->set(field.first, field.second);
    }
  }
  return out;
}

std::vector<std::string> keys_of(const std::vector<value>& instances) {
  std::vector<std::string> out;
  for (const value& i : instances) {
    const std::string key = string_member(i, "key");
    if (!key.empty()) out.push_back(key);
  }
  return out;
}

// The longest component key that `feature` equals or starts with followed by '-'.
std::string component_named_by(const std::string& feature, const std::set<std::string>& keys) {
  std::string best;
  for (const std::string& k : keys) {
    const bool names =
        feature == k || (feature.size() > k.size() && feature.compare(0, k.size(), k) == 0 && feature[k.size()] == '-');
    if (names && k.size() > best.size()) best = k;
  }
  return best;
}

std::vector<std::string> sorted_unique(std::vector<std::string> keys) {
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

}  // namespace

std::vector<experiment> experiments(const value& config) {
  std::vector<experiment> out;
  const value* features = config.is_object() ? config.find("features") : nullptr;
  if (features == nullptr || !features->is_object()) return out;
  const std::set<std::string> keys = component_keys(config);
  const auto bindings = sections_by_feature(config);
  for (const json::member& feature : features->members()) {
    const value* rules = array_member(feature.second, "rules");
    if (rules == nullptr) continue;
    const auto bound = bindings.find(feature.first);
    for (size_t r = 0; r < rules->items().size(); ++r) {
      const value& rule = rules->items()[r];
      const value* variations = array_member(rule, "variations");
      if (variations == nullptr || variations->items().empty()) continue;
      experiment e;
      e.feature = feature.first;
      e.rule = r;
      e.key = string_member(rule, "key");
      if (e.key.empty()) e.key = feature.first;
      e.layout = bound != bindings.end();
      if (const value* condition = rule.find("condition"); condition != nullptr && condition->is_object()) {
        e.condition = *condition;
      }
      const value* bandit = rule.find("bandit");
      const std::string declared = bandit != nullptr ? string_member(*bandit, "component") : std::string();
      if (keys.count(declared) != 0) {
        e.component = declared;
      } else if (e.layout) {
        const std::vector<std::string> written = keys_of(instances_of(*bound->second.front().section, value()));
        if (!written.empty()) e.component = written.front();
      }
      if (e.component.empty()) e.component = component_named_by(feature.first, keys);
      const value* meta = array_member(rule, "meta");
      for (size_t i = 0; i < variations->items().size(); ++i) {
        variation v;
        if (meta != nullptr && i < meta->items().size()) v.meta_key = string_member(meta->items()[i], "key");
        if (e.layout) {
          for (const bound_section& s : bound->second) {
            for (std::string& k : keys_of(instances_of(*s.section, variations->items()[i])))
              v.components.push_back(std::move(k));
          }
        } else if (!e.component.empty()) {
          v.components.push_back(e.component);
        }
        e.variations.push_back(std::move(v));
      }
      out.push_back(std::move(e));
    }
  }
  return out;
}

int variation_index(const experiment& e, const std::string& stored) {
  if (!stored.empty() && stored.size() < 10 && stored.find_first_not_of("0123456789") == std::string::npos) {
    size_t index = 0;
    for (char c : stored) index = index * 10 + static_cast<size_t>(c - '0');
    return index < e.variations.size() ? static_cast<int>(index) : -1;
  }
  for (size_t i = 0; i < e.variations.size(); ++i) {
    if (!e.variations[i].meta_key.empty() && e.variations[i].meta_key == stored) return static_cast<int>(i);
  }
  return -1;
}

// ---- proposals ------------------------------------------------------------------------------

namespace {

struct candidate {
  std::string key;
  value instance;
};

// Component key -> the keys it conflicts with (declared on either side).
std::map<std::string, std::set<std::string>> conflicts_of(const value& config) {
  std::map<std::string, std::set<std::string>> out;
  const value* components = config.is_object() ? config.find("components") : nullptr;
  if (components == nullptr || !components->is_object()) return out;
  for (const json::member& c : components->members()) {
    const value* list = array_member(c.second, "conflicts");
    if (list == nullptr) continue;
    for (const value& other : list->items()) {
      if (!other.is_string()) continue;
      out[c.first].insert(other.as_string());
      out[other.as_string()].insert(c.first);
    }
  }
  return out;
}

// The first instance of `key` written in the config: sections in page order, then the
// {"components"} variants of section features in document order.
const value* first_instance(const value& config, const std::string& key) {
  if (const value* pages = array_member(config, "pages")) {
    for (const value& page : pages->items()) {
      const value* sections = array_member(page, "sections");
      if (sections == nullptr) continue;
      for (const value& section : sections->items()) {
        const value* list = array_member(section, "components");
        if (list == nullptr) continue;
        for (const value& i : list->items()) {
          if (string_member(i, "key") == key) return &i;
        }
      }
    }
  }
  const value* features = config.find("features");
  if (features == nullptr || !features->is_object()) return nullptr;
  for (const json::member& f : features->members()) {
    const value* rules = array_member(f.second, "rules");
    if (rules == nullptr) continue;
    for (const value& rule : rules->items()) {
      const value* variations = array_member(rule, "variations");
      if (variations == nullptr) continue;
      for (const value& v : variations->items()) {
        const value* list = array_member(v, "components");
        if (list == nullptr) continue;
        for (const value& i : list->items()) {
          if (string_member(i, "key") == key) return &i;
        }
      }
    }
  }
  return nullptr;
}

struct section_best {
  std::vector<size_t> chosen;  // indexes into the candidates
  double score = 0;
};

// The conflict-free non-empty subset of `pool` with the highest score (ties: fewer components,
// then the first in mask order).
section_best best_subset(const std::vector<candidate>& pool, const model& m,
                         const std::map<std::string, std::set<std::string>>& conflicts) {
  section_best best;
  bool found = false;
  const size_t n = pool.size();
  for (uint32_t mask = 1; mask < (1u << n); ++mask) {
    std::vector<size_t> chosen;
    std::vector<std::string> keys;
    std::set<std::string> ids;
    bool ok = true;
    for (size_t i = 0; i < n && ok; ++i) {
      if ((mask & (1u << i)) == 0) continue;
      const auto c = conflicts.find(pool[i].key);
      for (const std::string& k : keys) ok = ok && (c == conflicts.end() || c->second.count(k) == 0);
      ok = ok && ids.insert(string_member(pool[i].instance, "id")).second;  // ids are unique on a page
      chosen.push_back(i);
      keys.push_back(pool[i].key);
    }
    if (!ok) continue;
    const double s = score(m, keys);
    if (!found || s > best.score + 1e-12 ||
        (std::fabs(s - best.score) <= 1e-12 && chosen.size() < best.chosen.size())) {
      best = {std::move(chosen), s};
      found = true;
    }
  }
  return best;
}

// The candidates of one section: its instances as written, those its feature's variations
// show, then positive-synergy partners placed elsewhere (not on this page).
std::vector<candidate> candidates(const value& config, const value& page, const value& section, const model& m,
                                  size_t limit) {
  std::vector<candidate> pool;
  std::set<std::string> in_pool;
  const auto add = [&](const value& instance) {
    const std::string key = string_member(instance, "key");
    if (key.empty() || !in_pool.insert(key).second) return;
    pool.push_back({key, instance});
  };
  for (const value& i : instances_of(section, value())) add(i);
  const std::string feature = string_member(section, "feature");
  const value* features = config.find("features");
  const value* f = feature.empty() || features == nullptr ? nullptr : features->find(feature);
  if (const value* rules = f != nullptr ? array_member(*f, "rules") : nullptr) {
    for (const value& rule : rules->items()) {
      const value* variations = array_member(rule, "variations");
      if (variations == nullptr) continue;
      for (const value& v : variations->items()) {
        for (const value& i : instances_of(section, v)) add(i);
      }
    }
  }
  // Keys and ids the page shows in its other sections: a partner must bring neither.
  std::set<std::string> elsewhere;
  if (const value* sections = array_member(page, "sections")) {
    for (const value& other : sections->items()) {
      if (&other == &section) continue;
      for (const value& i : instances_of(other, value())) {
        elsewhere.insert(string_member(i, "key"));
        elsewhere.insert("#" + string_member(i, "id"));
      }
    }
  }
  std::vector<std::pair<double, std::string>> partners;
  for (const effect& p : m.pairs) {
    if (!(p.mean > 0)) continue;
    if (in_pool.count(p.a) != 0 && in_pool.count(p.b) == 0) partners.emplace_back(-p.mean, p.b);
    if (in_pool.count(p.b) != 0 && in_pool.count(p.a) == 0) partners.emplace_back(-p.mean, p.a);
  }
  std::sort(partners.begin(), partners.end());
  for (const auto& [negated, key] : partners) {
    if (elsewhere.count(key) != 0 || in_pool.count(key) != 0) continue;
    const value* instance = first_instance(config, key);
    if (instance == nullptr || elsewhere.count("#" + string_member(*instance, "id")) != 0) continue;
    add(*instance);
  }
  if (pool.size() > limit) pool.resize(limit);
  return pool;
}

}  // namespace

std::optional<proposal> propose(const value& config, const model& m, const proposal_options& opts) {
  std::optional<proposal> best;
  const value* pages = array_member(config, "pages");
  if (pages == nullptr) return best;
  const auto conflicts = conflicts_of(config);
  const size_t limit = std::min<size_t>(opts.max_candidates, 20);  // 2^20 subsets at most
  for (const value& page : pages->items()) {
    const value* sections = array_member(page, "sections");
    // A proposal names its page and section by id (apply() finds them so).
    const std::string page_id = string_member(page, "id");
    if (sections == nullptr || page_id.empty() || (!opts.page.empty() && page_id != opts.page)) continue;
    for (const value& section : sections->items()) {
      const std::string section_id = string_member(section, "id");
      if (section_id.empty() || (!opts.section.empty() && section_id != opts.section)) continue;
      const std::vector<candidate> pool = candidates(config, page, section, m, limit);
      if (pool.empty()) continue;
      const std::vector<std::string> control = keys_of(instances_of(section, value()));
      const section_best b = best_subset(pool, m, conflicts);
      std::vector<std::string> variant;
      std::vector<value> instances;
      for (size_t i : b.chosen) {
        variant.push_back(pool[i].key);
        instances.push_back(pool[i].instance);
      }
      if (sorted_unique(variant) == sorted_unique(control)) continue;
      const double control_score = score(m, control);
      const double gain = b.score - control_score;
      if (!(gain >= opts.min_gain) || (best && !(gain > best->gain))) continue;
      proposal p;
      p.page = page_id;
      p.section = section_id;
      p.feature = string_member(section, "feature");
      p.control = control;
      p.variant = std::move(variant);
      p.instances = value::array(std::move(instances));
      p.control_score = control_score;
      p.variant_score = b.score;
      p.gain = gain;
      best = std::move(p);
    }
  }
  return best;
}

std::vector<value> section_instances(const value& section, const value& variant) { return instances_of(section, variant); }

result<value> apply(const value& config, const proposal& p, const std::string& key) {
  value out = config;
  value* features = out.is_object() ? out.find("features") : nullptr;
  if (features == nullptr || !features->is_object()) return fail(error_code::wrong_type, "config: no features object");
  if (features->find(key) != nullptr) return fail(error_code::invalid_value, "features: \"" + key + "\" exists");
  value* target = nullptr;
  if (value* pages = out.find("pages"); pages != nullptr && pages->is_array()) {
    for (value& page : pages->items()) {
      if (string_member(page, "id") != p.page) continue;
      value* sections = page.find("sections");
      if (sections == nullptr || !sections->is_array()) continue;
      for (value& section : sections->items()) {
        if (string_member(section, "id") == p.section) target = &section;
      }
    }
  }
  if (target == nullptr)
    return fail(error_code::not_found, "no section \"" + p.section + "\" on page \"" + p.page + "\"");
  const auto meta = [](const char* k, const std::string& name) {
    return value::object({{"key", value::string(k)}, {"name", value::string(name)}});
  };
  const std::string proposal_name = p.segment.empty() ? "Optimizer proposal" : "Optimizer proposal for " + p.segment;
  value rule = value::object({
      {"id", value::string(key)},
      {"key", value::string(key)},
      {"seed", value::string(key)},
      {"hashAttribute", value::string("id")},
      {"hashVersion", value::number(2)},
      {"coverage", value::number(1)},
      {"variations", value::array({value(), value::object({{"components", p.instances}})})},
      {"weights", value::array({value::number(0.5), value::number(0.5)})},
      {"meta", value::array({meta("control", "As written"), meta("optimized", proposal_name)})},
      {"bandit", value::object({{"minUnits", value::number(100)}})},
  });
  if (!p.segment.empty()) {
    // Targeted at its segment, first among the section's rules: visitors outside it fall through
    // to what the section showed them before.
    rule.set("condition", p.condition.is_object() ? p.condition : value::object());
    const std::string current = string_member(*target, "feature");
    value* feature = current.empty() ? nullptr : features->find(current);
    if (feature != nullptr && feature->is_object()) {
      value* rules = feature->find("rules");
      if (rules == nullptr || !rules->is_array()) {
        feature->set("rules", value::array());
        rules = feature->find("rules");
      }
      rules->items().insert(rules->items().begin(), std::move(rule));
      return out;
    }
  }
  features->set(key, value::object({{"defaultValue", value()}, {"rules", value::array({std::move(rule)})}}));
  target->set("feature", value::string(key));
  return out;
}

namespace {

value string_array(const std::vector<std::string>& xs) {
  std::vector<value> items;
  for (const std::string& x : xs) items.push_back(value::string(x));
  return value::array(std::move(items));
}

result<std::vector<std::string>> strings_of(const value& v, std::string_view key) {
  const value* list = array_member(v, key);
  if (list == nullptr) return fail(error_code::wrong_type, "proposal." + std::string(key) + ": expected an array");
  std::vector<std::string> out;
  for (const value& x : list->items()) {
    if (!x.is_string()) return fail(error_code::wrong_type, "proposal." + std::string(key) + ": expected strings");
    out.push_back(x.as_string());
  }
  return out;
}

double number_member(const value& v, std::string_view key) {
  const value* m = v.find(key);
  return m != nullptr && m->is_number() ? m->as_number() : 0;
}

}  // namespace

value to_json(const proposal& p) {
  return value::object({
      {"page", value::string(p.page)},
      {"section", value::string(p.section)},
      {"feature", value::string(p.feature)},
      {"control", string_array(p.control)},
      {"variant", string_array(p.variant)},
      {"instances", p.instances},
      {"control_score", value::number(p.control_score)},
      {"variant_score", value::number(p.variant_score)},
      {"gain", value::number(p.gain)},
      {"segment", value::string(p.segment)},
      {"condition", p.condition},
  });
}

result<proposal> proposal_from_json(const value& v) {
  if (!v.is_object()) return fail(error_code::wrong_type, "proposal: expected an object");
  proposal p;
  p.page = string_member(v, "page");
  p.section = string_member(v, "section");
  p.feature = string_member(v, "feature");
  if (p.page.empty() || p.section.empty())
    return fail(error_code::invalid_value, "proposal: page and section are required");
  WHALE_TRY(p.control, strings_of(v, "control"));
  WHALE_TRY(p.variant, strings_of(v, "variant"));
  const value* instances = array_member(v, "instances");
  if (instances == nullptr) return fail(error_code::wrong_type, "proposal.instances: expected an array");
  p.instances = *instances;
  p.control_score = number_member(v, "control_score");
  p.variant_score = number_member(v, "variant_score");
  p.gain = number_member(v, "gain");
  p.segment = string_member(v, "segment");
  if (const value* condition = v.find("condition"); condition != nullptr && condition->is_object()) p.condition = *condition;
  return p;
}

}  // namespace whale::optimizer
