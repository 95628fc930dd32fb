// Layout rendering (include/whale/layout.h, docs/layout.md).
#include "whale/layout.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <utility>

#include "whale/assign.h"

namespace whale::layout {
namespace {

using json::value;

// One component instance while the page is being decided.
struct item {
  std::string_view id;  // a view of the config, a feature value or an adaptation (all outlive the call)
  uint32_t component = 0;
  uint32_t section = 0;
  uint32_t order = 0;  // position on the page as written (ties in ordering)
  int32_t source = -1;  // index in the config's section when the instance is as written (JSON precomputed)
  const value* props = nullptr;  // borrowed, unless own_props is used
  value own_props;
  bool owned = false;
  const value* visibility = nullptr;  // nullptr: always visible
  std::optional<config::schedule> when;
  bool alive = true;

  const value& current_props() const { return owned ? own_props : *props; }
  value& writable_props() {
    source = -1;
    if (!owned) {
      own_props = *props;
      owned = true;
    }
    return own_props;
  }
};

struct dropped_item {
  std::string_view id;
  drop_reason reason;
  std::string_view detail_key;  // "by" (conflict) or "needs" (missing dependency); empty: none
  std::string_view detail;
};

struct assignment {
  std::string experiment;
  double variation = 0;
  bool in_experiment = false;
};

// ---- vary: the attribute names the page's decisions read ----

class attribute_set {
 public:
  void add(std::string_view path) {
    const size_t dot = path.find('.');
    names_.push_back(dot == std::string_view::npos ? path : path.substr(0, dot));
  }
  // The attributes a condition reads: its field names, not the fields inside $elemMatch.
  void add_condition(const value& condition, int depth = 0) {
    if (!condition.is_object() || depth > assign::max_condition_depth) return;
    for (const json::member& m : condition.members()) {
      if (m.first == "$and" || m.first == "$or" || m.first == "$nor") {
        for (const value& c : m.second.items()) add_condition(c, depth + 1);
      } else if (m.first == "$not") {
        add_condition(m.second, depth + 1);
      } else if (m.first.empty() || m.first[0] != '$') {
        add(m.first);
      }
    }
  }
  // The attributes a feature's rules read: conditions, hash attributes, parent features.
  void add_feature(const assign::payload& data, std::string_view key, int depth = 0) {
    const assign::feature_index* f = data.find(key);
    if (f == nullptr || depth > 16) return;
    for (const assign::rule_index& r : f->rules) {
      if (r.condition) add_condition(*r.condition);
      if (r.parent_conditions && r.parent_conditions->is_array()) {
        for (const value& parent : r.parent_conditions->items()) {
          const value* id = parent.find("id");
          if (id && id->is_string()) add_feature(data, id->as_string(), depth + 1);
        }
      }
      const bool hashes = r.experiment || r.range || r.coverage || r.filters;
      if (!hashes) continue;
      const value* hash_attribute = r.experiment ? r.fields.hash_attribute : r.hash_attribute;
      add(hash_attribute && hash_attribute->is_string() ? std::string_view(hash_attribute->as_string()) : "id");
      const value* fallback = r.experiment ? r.fields.fallback_attribute : r.fallback_attribute;
      if (fallback && fallback->is_string() && !fallback->as_string().empty()) add(fallback->as_string());
    }
  }
  void write(std::string& out) {
    std::sort(names_.begin(), names_.end());
    names_.erase(std::unique(names_.begin(), names_.end()), names_.end());
    out.push_back('[');
    for (size_t i = 0; i < names_.size(); ++i) {
      if (i) out.push_back(',');
      json::write_string(names_[i], out);
    }
    out.push_back(']');
  }

 private:
  std::vector<std::string_view> names_;
};

// ---- schedules inside feature values (the config keeps them as JSON) ----

std::optional<int64_t> parse_time(std::string_view s) {
  int64_t seconds = 0;
  if (!tz::parse_rfc3339(s, seconds)) return std::nullopt;
  return seconds;
}

uint8_t flags(const value* list, std::initializer_list<std::string_view> names) {
  uint8_t bits = 0;
  if (list == nullptr) return 0;
  for (const value& v : list->items()) {
    uint8_t bit = 1;
    for (std::string_view n : names) {
      if (v.is_string() && v.as_string() == n) bits |= bit;
      bit = static_cast<uint8_t>(bit << 1);
    }
  }
  return bits;
}

std::optional<config::schedule> read_schedule(const value* v) {
  if (v == nullptr || !v->is_object()) return std::nullopt;
  config::schedule out;
  if (const value* s = v->find("start"); s && s->is_string()) out.start = parse_time(s->as_string()).value_or(out.start);
  if (const value* e = v->find("end"); e && e->is_string()) out.end = parse_time(e->as_string()).value_or(out.end);
  out.dayparts = flags(v->find("dayparts"), {"morning", "afternoon", "evening", "night"});
  out.days = flags(v->find("days"), {"mon", "tue", "wed", "thu", "fri", "sat", "sun"});
  return out;
}

// ---- the page being decided ----

// A 64-bit hash fed piece by piece: FNV-1a over each piece's bytes, each piece closed by its
// length (so "ab"+"c" and "a"+"bc" differ), and a final mix. Not cryptographic: it keys caches
// of layouts. The same on every target (bytes and integers, no floating point).
class decision_hash {
 public:
  void add(std::string_view s) {
    for (const char c : s) byte(static_cast<unsigned char>(c));
    add(static_cast<int64_t>(s.size()));
  }
  void add(int64_t n) {
    const auto u = static_cast<uint64_t>(n);
    for (int shift = 0; shift < 64; shift += 8) byte(static_cast<unsigned char>(u >> shift));
  }
  uint64_t value() const {
    uint64_t h = h_;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return h;
  }

 private:
  void byte(unsigned char c) {
    h_ ^= c;
    h_ *= 0x100000001b3ull;
  }
  uint64_t h_ = 0xcbf29ce484222325ull;
};

class page_state {
 public:
  page_state(const config::vendor_config& config, const config::page& page, const prepared& prep,
             const value& attributes, int64_t now, const options& opts)
      : config_(config), page_(page), page_index_(static_cast<size_t>(&page - config.pages().data())), prep_(prep),
        attributes_(attributes), now_(now), opts_(opts) {}

  // Evaluates the page's variants, behaviour, visibility and schedules (everything the layout
  // depends on) and hashes those decisions into key_.
  void decide();
  // decide_layout's answer.
  void write_decision(std::string& out);
  // The layout; decide() first.
  void render(uint64_t version, std::string& out);
  void write_templates(std::string& out) const;
  // decide()'s experiment of `key`: its variation when the visitor is in it, else -1.
  int variation_in(std::string_view key) const {
    for (const assignment& a : assignments_) {
      if (a.in_experiment && a.experiment == key) return static_cast<int>(a.variation);
    }
    return -1;
  }

 private:
  bool id_taken(std::string_view id) const {
    for (const item& i : items_) {
      if (i.id == id) return true;
    }
    return false;
  }
  const config::component& component_of(const item& i) const { return config_.components()[i.component]; }
  void drop(item& i, drop_reason reason, std::string_view key = {}, std::string_view detail = {}) {
    i.alive = false;
    dropped_.push_back({i.id, reason, key, detail});
  }

  void evaluate_sections();
  void add_section(uint32_t s, const value* variant);
  void apply_adaptations(uint32_t s, size_t first);
  void filter(size_t first);
  void resolve_conflicts();
  void resolve_dependencies();
  std::vector<size_t> ordered(uint32_t section) const;
  void write_component(const item& i, std::string& out) const;
  void write_assignments(std::string& out) const;
  void write_sticky_docs(std::string& out) const;
  int64_t max_age() const;

  const config::vendor_config& config_;
  const config::page& page_;
  size_t page_index_;
  const prepared& prep_;
  const value& attributes_;
  int64_t now_;
  const options& opts_;

  std::vector<item> items_;
  std::vector<dropped_item> dropped_;
  std::vector<assignment> assignments_;
  attribute_set vary_;
  std::deque<std::string> strings_;  // ids of pulled-in instances
  std::vector<const behaviour::adaptation*> adaptations_;
  behaviour::state_set states_ = 0;
  std::optional<assign::context> context_;
  uint32_t next_order_ = 0;
  decision_hash decisions_;  // see decide
  uint64_t key_ = 0;
};

void page_state::evaluate_sections() {
  for (uint32_t s = 0; s < page_.sections.size(); ++s) {
    const config::section& section = page_.sections[s];
    const value* variant = nullptr;
    if (!section.feature.empty()) {
      if (!context_) {
        context_.emplace();
        context_->data = &config_.assignments();
        context_->attributes = attributes_;
        context_->enabled = opts_.experiments;
        context_->record_compact = true;  // exposures are not reported from here: no JSON for them
        if (opts_.forced_variations != nullptr) context_->forced_variations = *opts_.forced_variations;
        if (opts_.sticky_docs != nullptr) {
          context_->sticky_bucketing = true;
          context_->sticky_docs = *opts_.sticky_docs;
        }
      }
      vary_.add_feature(config_.assignments(), section.feature);
      const assign::feature_pick pick = assign::pick_feature(section.feature, *context_);
      if (pick.has_experiment) {
        // A forced variation is shown, not assigned: no exposure (GrowthBook tracks none either).
        const bool forced = opts_.forced_variations != nullptr && opts_.forced_variations->find(pick.experiment) != nullptr;
        assignments_.push_back({std::string(pick.experiment), static_cast<double>(pick.variation), pick.in_experiment && !forced});
        const assignment& a = assignments_.back();
        decisions_.add(a.experiment);
        decisions_.add(a.in_experiment ? 1 : 0);
        decisions_.add(pick.variation);
      }
      // The value, named by where it is in the payload: the layouts' contexts force no feature.
      variant = pick.value;
      decisions_.add(pick.source);
      decisions_.add(pick.rule);
      decisions_.add(pick.variation);
    }
    add_section(s, variant);
  }
}

// The section's instances as written, or as its feature's value replaces or patches them.
void page_state::add_section(uint32_t s, const value* variant) {
  const size_t first = items_.size();
  const value* replacement = variant && variant->is_object() ? variant->find("components") : nullptr;
  if (replacement && replacement->is_array()) {
    for (const value& v : replacement->items()) {
      const value* id = v.find("id");
      const value* key = v.find("key");
      const config::component* c = key && key->is_string() ? config_.find_component(key->as_string()) : nullptr;
      if (!id || !id->is_string() || c == nullptr) continue;  // the config parser refuses these
      item i;
      i.id = id->as_string();
      i.component = static_cast<uint32_t>(c - config_.components().data());
      i.section = s;
      i.order = next_order_++;
      const value* props = v.find("props");
      i.own_props = props && props->is_object() ? *props : value::object();
      i.owned = true;
      config::fill_defaults(c->props, i.own_props);
      const value* visibility = v.find("visibility");
      i.visibility = visibility && visibility->is_object() ? visibility : nullptr;
      i.when = read_schedule(v.find("schedule"));
      items_.push_back(std::move(i));
    }
  } else {
    const auto& written = page_.sections[s].components;
    for (size_t n = 0; n < written.size(); ++n) {
      const config::instance& in = written[n];
      item i;
      i.source = static_cast<int32_t>(n);
      i.id = in.id;
      i.component = in.component;
      i.section = s;
      i.order = next_order_++;
      i.props = &in.props;
      i.visibility = in.visibility.is_null() ? nullptr : &in.visibility;
      i.when = in.when;
      items_.push_back(std::move(i));
    }
  }
  const value* patches = variant && variant->is_object() ? variant->find("props") : nullptr;
  if (patches && patches->is_object()) {
    for (const json::member& patch : patches->members()) {
      for (size_t k = first; k < items_.size(); ++k) {
        if (items_[k].id != patch.first || !patch.second.is_object()) continue;
        value& props = items_[k].writable_props();
        for (const json::member& field : patch.second.members()) props.set(field.first, field.second);
      }
    }
  }
  apply_adaptations(s, first);
  filter(first);
}

// The behaviour adaptations declared for this section, in declaration order.
void page_state::apply_adaptations(uint32_t s, size_t first) {
  const std::string& section_id = page_.sections[s].id;
  for (const behaviour::adaptation* a : adaptations_) {
    if (a->section != section_id) continue;
    size_t target = items_.size();
    for (size_t k = first; k < items_.size(); ++k) {
      if (items_[k].id == a->target) target = k;
    }
    if (a->act == behaviour::action::props) {
      if (target == items_.size() || !a->props.is_object()) continue;
      value patched = items_[target].current_props();
      for (const json::member& field : a->props.members()) patched.set(field.first, field.second);
      if (!config::validate(component_of(items_[target]).props, patched, "props").ok()) continue;
      items_[target].own_props = std::move(patched);
      items_[target].owned = true;
      items_[target].source = -1;
      continue;
    }
    const config::component* c = config_.find_component(a->component);
    if (c == nullptr) continue;
    item i;
    i.id = a->id;
    i.component = static_cast<uint32_t>(c - config_.components().data());
    i.section = s;
    i.own_props = a->props.is_object() ? a->props : value::object();
    i.owned = true;
    const bool valid = config::validate(c->props, i.own_props, "props").ok();
    config::fill_defaults(c->props, i.own_props);
    if (a->act == behaviour::action::replace) {
      if (target == items_.size()) continue;
      i.order = items_[target].order;
      items_[target] = std::move(i);
      if (!valid) drop(items_[target], drop_reason::invalid_props);
      continue;
    }
    if (id_taken(i.id)) continue;
    i.order = a->at == behaviour::position::start && first < items_.size() ? items_[first].order : next_order_;
    ++next_order_;
    if (a->at == behaviour::position::start) {
      items_.insert(items_.begin() + static_cast<std::ptrdiff_t>(first), std::move(i));
      if (!valid) drop(items_[first], drop_reason::invalid_props);
    } else {
      items_.push_back(std::move(i));
      if (!valid) drop(items_.back(), drop_reason::invalid_props);
    }
  }
}

void page_state::filter(size_t first) {
  const value& saved_groups = config_.assignments().saved_groups;
  for (size_t k = first; k < items_.size(); ++k) {
    item& i = items_[k];
    if (!i.alive) continue;
    if (i.visibility != nullptr) {
      vary_.add_condition(*i.visibility);
      if (!assign::eval_condition(attributes_, *i.visibility, saved_groups)) {
        drop(i, drop_reason::hidden);
        continue;
      }
    }
    if (i.when && !in_schedule(*i.when, now_, prep_.zone())) drop(i, drop_reason::off_schedule);
  }
}

bool conflicting(const config::component& a, uint32_t a_index, const config::component& b, uint32_t b_index) {
  return std::find(a.conflicts.begin(), a.conflicts.end(), b_index) != a.conflicts.end() ||
         std::find(b.conflicts.begin(), b.conflicts.end(), a_index) != b.conflicts.end();
}

// Higher priority first, then page order: each instance is kept unless it conflicts with one
// already kept.
void page_state::resolve_conflicts() {
  std::vector<size_t> by_priority;
  for (size_t k = 0; k < items_.size(); ++k) {
    if (items_[k].alive) by_priority.push_back(k);
  }
  std::stable_sort(by_priority.begin(), by_priority.end(), [&](size_t a, size_t b) {
    const int32_t pa = component_of(items_[a]).priority, pb = component_of(items_[b]).priority;
    return pa != pb ? pa > pb : items_[a].order < items_[b].order;
  });
  std::vector<size_t> kept;
  for (size_t k : by_priority) {
    const item& i = items_[k];
    if (!prep_.in_conflicts(i.component)) continue;  // conflicts with nothing: kept
    const size_t* winner = nullptr;
    for (const size_t& w : kept) {
      if (conflicting(component_of(i), i.component, component_of(items_[w]), items_[w].component)) {
        winner = &w;
        break;
      }
    }
    if (winner) {
      drop(items_[k], drop_reason::conflict, "by", items_[*winner].id);
    } else {
      kept.push_back(k);
    }
  }
}

// Every instance's dependencies must be on the page. A dependency the page does not have at
// all is pulled in with its default props (placed in the dependent's section), when those
// satisfy its schema and it conflicts with nothing kept; a dependency the page has but dropped
// drops the dependent. Repeated until nothing changes (drops cascade).
void page_state::resolve_dependencies() {
  const auto& components = config_.components();
  bool changed = true;
  while (changed) {
    changed = false;
    for (size_t k = 0; k < items_.size(); ++k) {
      if (!items_[k].alive) continue;
      for (uint32_t dep : components[items_[k].component].dependencies) {
        bool present = false, written = false;
        for (const item& other : items_) {
          if (other.component != dep) continue;
          written = true;
          present = present || other.alive;
        }
        if (present) continue;
        const config::component& needed = components[dep];
        bool pulled = false;
        if (!written) {
          value props = value::object();
          bool clash = false;
          for (const item& other : items_) {
            clash = clash || (other.alive && conflicting(needed, dep, component_of(other), other.component));
          }
          strings_.push_back("auto:" + needed.key);
          if (!clash && !id_taken(strings_.back()) && config::validate(needed.props, props, "props").ok()) {
            config::fill_defaults(needed.props, props);
            item i;
            i.id = strings_.back();
            i.component = dep;
            i.section = items_[k].section;
            i.order = items_[k].order;
            i.own_props = std::move(props);
            i.owned = true;
            items_.push_back(std::move(i));
            pulled = true;
          }
        }
        if (!pulled) drop(items_[k], drop_reason::missing_dependency, "needs", needed.key);
        changed = true;
        break;
      }
    }
  }
}

// A section's kept instances: dependencies before their dependents (Kahn's algorithm), else
// page order, and a synergy partner of the instance just placed next when it is free to go.
std::vector<size_t> page_state::ordered(uint32_t section) const {
  std::vector<size_t> pending;
  for (size_t k = 0; k < items_.size(); ++k) {
    if (items_[k].alive && items_[k].section == section) pending.push_back(k);
  }
  std::stable_sort(pending.begin(), pending.end(), [&](size_t a, size_t b) { return items_[a].order < items_[b].order; });
  std::vector<size_t> out;
  out.reserve(pending.size());
  const auto ready = [&](size_t k) {
    for (uint32_t dep : component_of(items_[k]).dependencies) {
      for (size_t other : pending) {
        if (other != k && items_[other].component == dep) return false;
      }
    }
    return true;
  };
  while (!pending.empty()) {
    size_t pick = pending.size();
    if (!out.empty()) {
      const auto& synergies = component_of(items_[out.back()]).synergies;
      for (size_t p = 0; p < pending.size() && pick == pending.size(); ++p) {
        const bool partner = std::find(synergies.begin(), synergies.end(), items_[pending[p]].component) != synergies.end();
        if (partner && ready(pending[p])) pick = p;
      }
    }
    for (size_t p = 0; p < pending.size() && pick == pending.size(); ++p) {
      if (ready(pending[p])) pick = p;
    }
    if (pick == pending.size()) pick = 0;  // a cycle (the config parser refuses them): page order
    out.push_back(pending[pick]);
    pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(pick));
  }
  return out;
}

// ---- product grids ----

struct product_ref {
  size_t index;  // into catalog().products
  bool sold_out;
  double key = 0;  // ascending sort key of the grid's order (0: as selected)
};

// A product grid's ",\"products\":[...]" for its props (nothing when it selects none): a
// function of the config alone, so grids as written are precomputed with their instance.
void write_products(const config::vendor_config& config, const prepared& prep, const value& props, std::string& out) {
  const config::product_catalog& catalog = config.catalog();
  const auto& products = catalog.products;
  std::vector<product_ref> picked;
  const auto pick = [&](const config::product& p) {
    const size_t index = static_cast<size_t>(&p - products.data());
    const bool sold_out = p.on_hand <= 0;
    if (sold_out && catalog.sold_out == config::sold_out_policy::hide) return;
    picked.push_back({index, sold_out});
  };
  if (const value* skus = props.find("skus"); skus && skus->is_array()) {
    for (const value& sku : skus->items()) {
      const config::product* p = sku.is_string() ? config.find_product(sku.as_string()) : nullptr;
      if (p) pick(*p);
    }
  } else if (const value* category = props.find("category"); category && category->is_string()) {
    for (const config::product& p : products) {
      if (p.category == category->as_string()) pick(p);
    }
  } else {
    return;  // no selection: the storefront fills it (recommendations, recently viewed)
  }
  std::string_view sort = "featured";
  if (const value* s = props.find("sort"); s && s->is_string()) sort = s->as_string();
  if (catalog.order_by_urgency && sort == "featured") sort = "urgency";
  for (product_ref& r : picked) {
    if (sort == "urgency") r.key = -prep.forecast(r.index).score;
    else if (sort == "price-asc") r.key = products[r.index].price;
    else if (sort == "price-desc") r.key = -products[r.index].price;
    else if (sort == "bestselling") r.key = -prep.recent_sales(r.index);
  }
  std::stable_sort(picked.begin(), picked.end(), [](const product_ref& a, const product_ref& b) {
    if (a.sold_out != b.sold_out) return b.sold_out;  // sold-out products last
    return a.key < b.key;
  });
  if (const value* limit = props.find("limit"); limit && limit->is_number() && limit->as_number() >= 0 &&
                                                 limit->as_number() < static_cast<double>(picked.size())) {
    picked.resize(static_cast<size_t>(limit->as_number()));
  }
  const value* show = props.find("showUrgency");
  const bool urgency = !(show && show->is_bool() && !show->as_bool());
  out += ",\"products\":[";
  for (size_t n = 0; n < picked.size(); ++n) {
    if (n) out.push_back(',');
    out += prep.product_json(picked[n].index);
    if (urgency) out += prep.urgency_json(picked[n].index);
    if (picked[n].sold_out && catalog.sold_out == config::sold_out_policy::mark) out += ",\"soldOut\":true";
    out.push_back('}');
  }
  out.push_back(']');
}

// Puts a grid's products inside the props object that ends `out` (written from props_at).
void add_products(const config::vendor_config& config, const prepared& prep, const value& props, size_t props_at,
                  std::string& out) {
  out.pop_back();  // the props object's '}': the products go inside it
  const size_t at = out.size();
  write_products(config, prep, props, out);
  if (out.size() > at && at - props_at == 1) out.erase(at, 1);  // "{" + ",..." -> "{..."
  out.push_back('}');
}

void page_state::write_component(const item& i, std::string& out) const {
  if (i.source >= 0) {  // as written: precomputed, a grid's products included
    out += prep_.instance_json(page_index_, i.section, static_cast<size_t>(i.source));
    out.push_back('}');
    return;
  }
  out += "{\"id\":";
  json::write_string(i.id, out);
  out += ",\"key\":";
  json::write_string(component_of(i).key, out);
  out += ",\"props\":";
  const size_t props_at = out.size();
  json::write(i.current_props(), out);
  if (prep_.is_grid(i.component)) add_products(config_, prep_, i.current_props(), props_at, out);
  out.push_back('}');
}

// The layout is a function of the config and these decisions alone: conflicts, dependencies,
// order and product grids follow from which instances are kept, and the clock reaches the layout
// only through schedules. So their hash keys a cache of layouts across visitors.
void page_state::decide() {
  if (!opts_.behaviour.empty()) {
    const behaviour::rules& rules = opts_.behaviour_rules ? *opts_.behaviour_rules : behaviour::rules::defaults();
    auto decided = behaviour::decide(rules, opts_.behaviour, page_.id);
    if (decided.ok()) {
      states_ = decided.value().states;
      adaptations_ = std::move(decided.value().adaptations);
    }
  }
  items_.reserve(64);
  decisions_.add(page_.id);
  decisions_.add(opts_.behaviour.empty() ? -1 : static_cast<int64_t>(states_));
  evaluate_sections();
  decisions_.add(static_cast<int64_t>(items_.size()));
  for (const item& i : items_) {
    decisions_.add(i.id);
    decisions_.add(i.alive ? 1 : 0);
  }
  key_ = decisions_.value();
}

void write_hex(uint64_t v, std::string& out) {
  static const char hex[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(hex[(v >> shift) & 15]);
}

void page_state::write_decision(std::string& out) {
  out += "{\"cacheKey\":\"";
  write_hex(key_, out);
  out += "\",\"maxAge\":";
  out += std::to_string(max_age());
  out += ",\"assignments\":";
  write_assignments(out);
  write_sticky_docs(out);
  out += ",\"vary\":";
  vary_.write(out);
  out.push_back('}');
}

void page_state::write_assignments(std::string& out) const {
  out.push_back('[');
  for (size_t n = 0; n < assignments_.size(); ++n) {
    if (n) out.push_back(',');
    out += "{\"experiment\":";
    json::write_string(assignments_[n].experiment, out);
    out += ",\"variation\":";
    out += json::number_to_string(assignments_[n].variation);
    out += assignments_[n].in_experiment ? ",\"inExperiment\":true}" : ",\"inExperiment\":false}";
  }
  out.push_back(']');
}

void page_state::write_sticky_docs(std::string& out) const {
  if (opts_.sticky_docs == nullptr || !context_ || !opts_.write_sticky_docs) return;
  out += ",\"stickyBucketAssignmentDocs\":";
  out += assign::changed_docs_json(*context_);
}

// Seconds until a schedule on the page may change its answer (at most a day).
int64_t page_state::max_age() const {
  constexpr int64_t day = 86400;
  int64_t max_age = day;
  for (const item& i : items_) {
    if (i.when) max_age = std::min(max_age, seconds_until_change(*i.when, now_, prep_.zone(), day));
  }
  return max_age;
}

// ,"theme":{...} with what the config gives, in a fixed order; nothing when it gives none.
static void write_theme(const config::theme_settings& t, std::string& out) {
  if (!t.any()) return;
  out += ",\"theme\":{";
  const char* sep = "";
  for (auto [key, v] : {std::pair{"primary", &t.primary}, std::pair{"accent", &t.accent},
                        std::pair{"background", &t.background}, std::pair{"text", &t.text},
                        std::pair{"muted", &t.muted}, std::pair{"font", &t.font}}) {
    if (v->empty()) continue;
    out += sep;
    out += '"';
    out += key;
    out += "\":";
    json::write_string(*v, out);
    sep = ",";
  }
  if (t.radius >= 0) {
    out += sep;
    out += "\"radius\":" + std::to_string(t.radius);
  }
  out += '}';
}

void page_state::render(uint64_t version, std::string& out) {
  resolve_conflicts();
  resolve_dependencies();

  out.reserve(out.size() + prep_.size_hint());
  out += "{\"vendor\":";
  json::write_string(config_.vendor().slug, out);
  out += ",\"version\":";
  out += std::to_string(version);
  out += ",\"page\":";
  json::write_string(page_.id, out);
  out += ",\"assignments\":";
  write_assignments(out);
  if (!opts_.behaviour.empty()) {
    out += ",\"behaviour\":[";
    bool first = true;
    for (behaviour::state s : behaviour::all_states) {
      if ((states_ & s) == 0) continue;
      if (!first) out.push_back(',');
      first = false;
      json::write_string(behaviour::state_name(s), out);
    }
    out.push_back(']');
  }
  write_sticky_docs(out);
  out += ",\"sections\":[";
  for (uint32_t s = 0; s < page_.sections.size(); ++s) {
    if (s) out.push_back(',');
    out += "{\"id\":";
    json::write_string(page_.sections[s].id, out);
    out += ",\"components\":[";
    const std::vector<size_t> order = ordered(s);
    for (size_t n = 0; n < order.size(); ++n) {
      if (n) out.push_back(',');
      write_component(items_[order[n]], out);
    }
    out += "]}";
  }
  out += "],\"dropped\":[";
  for (size_t n = 0; n < dropped_.size(); ++n) {
    if (n) out.push_back(',');
    out += "{\"id\":";
    json::write_string(dropped_[n].id, out);
    out += ",\"reason\":\"";
    out += drop_reason_name(dropped_[n].reason);
    out.push_back('"');
    if (!dropped_[n].detail_key.empty()) {
      out += ",\"";
      out += dropped_[n].detail_key;
      out += "\":";
      json::write_string(dropped_[n].detail, out);
    }
    out.push_back('}');
  }
  out.push_back(']');
  out += ",\"cacheKey\":\"";
  write_hex(key_, out);
  out += "\",\"maxAge\":";
  out += std::to_string(max_age());
  out += ",\"vary\":";
  vary_.write(out);
  write_templates(out);
  write_theme(config_.theme(), out);
  out.push_back('}');
}

// ,"templates":{key:{"version","template"}} for the components on the page that have one (the
// storefront builds them, docs/components.md); nothing when none does.
void page_state::write_templates(std::string& out) const {
  bool any = false;
  for (const item& i : items_) {
    if (!i.alive) continue;
    const config::component& c = component_of(i);
    if (c.view.is_null()) continue;
    bool written = false;
    for (const item& j : items_) {
      if (&j == &i) break;
      if (j.alive && j.component == i.component) written = true;
    }
    if (written) continue;
    out += any ? "," : ",\"templates\":{";
    any = true;
    json::write_string(c.key, out);
    out += ":{\"version\":";
    out += std::to_string(c.version);
    out += ",\"template\":";
    json::write(c.view, out);
    out.push_back('}');
  }
  if (any) out.push_back('}');
}

}  // namespace

const char* drop_reason_name(drop_reason r) noexcept {
  switch (r) {
    case drop_reason::hidden: return "hidden";
    case drop_reason::off_schedule: return "off-schedule";
    case drop_reason::conflict: return "conflict";
    case drop_reason::missing_dependency: return "missing-dependency";
    case drop_reason::invalid_props: return "invalid-props";
  }
  return "unknown";
}

namespace {

std::string product_head(const config::product& p) {
  std::string out = "{\"sku\":";
  json::write_string(p.sku, out);
  out += ",\"name\":";
  json::write_string(p.name, out);
  out += ",\"price\":";
  out += json::number_to_string(p.price);
  if (!p.image.empty()) {
    out += ",\"image\":";
    json::write_string(p.image, out);
  }
  if (!p.url.empty()) {
    out += ",\"url\":";
    json::write_string(p.url, out);
  }
  return out;
}

std::string urgency_members(const inventory::forecast& f) {
  std::string out = ",\"urgency\":\"";
  out += inventory::urgency_name(f.level);
  out += "\",\"sellsOutBy\":";
  if (f.sells_out_by.empty()) {
    out += "null";
  } else {
    json::write_string(f.sells_out_by, out);
  }
  return out;
}

}  // namespace

prepared::prepared(const config::vendor_config& config)
    : in_conflicts_(config.components().size(), 0), is_grid_(config.components().size(), 0) {
  for (size_t c = 0; c < config.components().size(); ++c) is_grid_[c] = config.components()[c].kind == "product-grid";
  for (size_t c = 0; c < config.components().size(); ++c) {
    for (uint32_t other : config.components()[c].conflicts) {
      in_conflicts_[c] = 1;
      if (other < in_conflicts_.size()) in_conflicts_[other] = 1;
    }
  }
  auto zone = tz::zone_rule(config.vendor().timezone);
  zone_known_ = zone.ok();
  if (zone_known_) zone_ = zone.value();  // unknown zones: UTC (docs/layout.md)
  const config::product_catalog& catalog = config.catalog();
  forecasts_.reserve(catalog.products.size());
  recent_sales_.reserve(catalog.products.size());
  for (const config::product& p : catalog.products) {
    forecasts_.push_back(inventory::forecast_product(p, catalog));
    double recent = 0;
    const size_t from = p.daily_sales.size > bestselling_days ? p.daily_sales.size - bestselling_days : 0;
    for (size_t d = from; d < p.daily_sales.size; ++d) recent += p.daily_sales[d];
    recent_sales_.push_back(recent);
    product_json_.push_back(product_head(p));
    urgency_json_.push_back(urgency_members(forecasts_.back()));
  }
  size_t largest_page = 0;
  for (const config::page& page : config.pages()) {
    size_t page_bytes = 0;
    auto& sections = instance_json_.emplace_back();
    for (const config::section& s : page.sections) {
      auto& list = sections.emplace_back();
      for (const config::instance& i : s.components) {
        std::string& out = list.emplace_back("{\"id\":");
        json::write_string(i.id, out);
        out += ",\"key\":";
        json::write_string(config.components()[i.component].key, out);
        out += ",\"props\":";
        const size_t props_at = out.size();
        json::write(i.props, out);
        if (is_grid_[i.component]) add_products(config, *this, i.props, props_at, out);
        page_bytes += out.size();
      }
    }
    largest_page = std::max(largest_page, page_bytes);
  }
  // Grids add their products: room for the catalog once, plus the page.
  size_hint_ = largest_page + 1024;
  for (const std::string& p : product_json_) size_hint_ += p.size() + 64;
}

namespace {

uint8_t daypart_of(int seconds_of_day) noexcept {
  const int hour = seconds_of_day / 3600;
  if (hour >= 5 && hour < 12) return config::daypart_morning;
  if (hour >= 12 && hour < 17) return config::daypart_afternoon;
  if (hour >= 17 && hour < 22) return config::daypart_evening;
  return config::daypart_night;
}

}  // namespace

bool in_schedule(const config::schedule& when, int64_t utc, const tz::rule& zone) noexcept {
  if (utc < when.start || utc >= when.end) return false;
  if (when.dayparts == 0 && when.days == 0) return true;
  const tz::civil local = tz::to_civil(utc + tz::utc_offset(zone, utc));
  if (when.dayparts != 0 && (when.dayparts & daypart_of(local.seconds)) == 0) return false;
  if (when.days != 0 && (when.days & (1u << local.weekday)) == 0) return false;
  return true;
}

int64_t seconds_until_change(const config::schedule& when, int64_t utc, const tz::rule& zone, int64_t cap) noexcept {
  int64_t next = cap;
  if (when.start > utc) next = std::min(next, when.start - utc);
  if (when.end > utc) next = std::min(next, when.end - utc);
  if (when.dayparts == 0 && when.days == 0) return next;
  // The next local boundary of a daypart (05, 12, 17, 22 h) or a day (24 h).
  const int32_t offset = tz::utc_offset(zone, utc);
  const int seconds = tz::to_civil(utc + offset).seconds;
  int64_t boundary = 0;
  for (int hour : {5, 12, 17, 22, 24}) {
    if (hour * 3600 > seconds) {
      boundary = hour * 3600 - seconds;
      break;
    }
  }
  // A clock change before that boundary moves it by the difference (forward: sooner; back: later).
  boundary -= tz::utc_offset(zone, utc + boundary) - offset;
  return std::min(next, std::max<int64_t>(boundary, 1));
}

namespace {

// Decides `page_id` for these inputs, then hands the decided page to `then`.
template <class Then>
result<void> with_decided_page(const config::vendor_config& config, uint64_t version, std::string_view page_id,
                               const json::value& attributes, int64_t now, const options& opts, Then&& then) {
  const config::page* page = config.find_page(page_id);
  if (page == nullptr) {
    return fail(error_code::not_found,
                "page: no page \"" + std::string(page_id) + "\" in " + config.vendor().slug + " v" + std::to_string(version));
  }
  if (!attributes.is_object()) return fail(error_code::wrong_type, "attributes: expected object");
  std::optional<prepared> local;
  const prepared* prep = opts.precomputed;
  if (prep == nullptr) prep = &local.emplace(config);
  page_state state(config, *page, *prep, attributes, now, opts);
  state.decide();
  then(state);
  return {};
}

}  // namespace

result<void> render_layout(const config::vendor_config& config, uint64_t version, std::string_view page_id,
                           const json::value& attributes, int64_t now, const options& opts, std::string& out) {
  return with_decided_page(config, version, page_id, attributes, now, opts,
                           [&](page_state& state) { state.render(version, out); });
}

result<void> decide_layout(const config::vendor_config& config, uint64_t version, std::string_view page_id,
                           const json::value& attributes, int64_t now, const options& opts, std::string& out) {
  return with_decided_page(config, version, page_id, attributes, now, opts,
                           [&](page_state& state) { state.write_decision(out); });
}

namespace {

// The candidates a request is offered, in order (at most count); empty: the page as decided.
result<std::vector<const config::candidate*>> candidates_of(const config::vendor_config& config, uint64_t version,
                                                             std::string_view page_id, const json::value& attributes,
                                                             int64_t now, const options& opts, size_t count) {
  if (count < 1 || count > max_candidates) {
    return fail(error_code::invalid_value, "candidates: expected 1 to " + std::to_string(max_candidates));
  }
  const config::page* page = config.find_page(page_id);
  std::vector<const config::candidate*> order;
  if (page == nullptr || page->candidates.empty() || !opts.experiments) {
    // A missing page still answers not_found, as a decision would.
    if (page == nullptr) {
      std::string ignored;
      WHALE_TRY_VOID(decide_layout(config, version, page_id, attributes, now, opts, ignored));
    }
    return order;
  }
  const config::page_candidates& declared = page->candidates;
  int own = -1;
  if (!declared.experiment.empty()) {
    WHALE_TRY_VOID(with_decided_page(config, version, page_id, attributes, now, opts,
                                     [&](page_state& state) { own = state.variation_in(declared.experiment); }));
    if (own >= 0) order.push_back(&declared.strategies[static_cast<size_t>(own)]);
  }
  for (size_t i = 0; i < declared.strategies.size() && order.size() < count; ++i) {
    if (static_cast<int>(i) != own) order.push_back(&declared.strategies[i]);
  }
  return order;
}

json::value forced_of(const config::candidate& c) {
  std::vector<json::member> members;
  for (const auto& [key, variation] : c.force) members.emplace_back(key, json::value::number(variation));
  return json::value::object(std::move(members));
}

void write_candidate_head(const config::candidate* c, std::string& out) {
  out += "{\"name\":";
  json::write_string(c != nullptr ? std::string_view(c->name) : std::string_view("default"), out);
  out += ",\"states\":[";
  const std::vector<std::string> names = behaviour::state_names(c != nullptr ? c->states : 0);
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out.push_back(',');
    json::write_string(names[i], out);
  }
  out += "],\"forcedVariations\":";
  json::write(c != nullptr ? forced_of(*c) : json::value::object(), out);
}

}  // namespace

result<void> decide_candidates(const config::vendor_config& config, uint64_t version, std::string_view page_id,
                               const json::value& attributes, int64_t now, const options& opts, size_t count,
                               std::string& out) {
  WHALE_TRY(std::vector<const config::candidate*> order,
            candidates_of(config, version, page_id, attributes, now, opts, count));
  const config::page* page = config.find_page(page_id);
  out += "{\"watchMs\":";
  out += order.empty() ? "0" : std::to_string(page->candidates.watch_ms);
  out += ",\"candidates\":[";
  const size_t n = order.empty() ? 1 : order.size();
  for (size_t i = 0; i < n; ++i) {
    const config::candidate* c = order.empty() ? nullptr : order[i];
    if (i) out.push_back(',');
    write_candidate_head(c, out);
    out += ",\"decision\":";
    options each = opts;
    const json::value forced = c != nullptr ? forced_of(*c) : json::value::object();
    if (c != nullptr) each.forced_variations = &forced;
    WHALE_TRY_VOID(decide_layout(config, version, page_id, attributes, now, each, out));
    out.push_back('}');
  }
  out += "]}";
  return {};
}

result<void> choose_candidate(const config::vendor_config& config, uint64_t version, std::string_view page_id,
                              const json::value& attributes, int64_t now, const options& opts, size_t count,
                              int kept, std::string& out) {
  WHALE_TRY(std::vector<const config::candidate*> order,
            candidates_of(config, version, page_id, attributes, now, opts, count));
  const size_t n = order.empty() ? 1 : order.size();
  behaviour::state_set states = 0;
  if (!opts.behaviour.empty()) {
    const behaviour::rules& rules = opts.behaviour_rules ? *opts.behaviour_rules : behaviour::rules::defaults();
    auto decided = behaviour::decide(rules, opts.behaviour, page_id);
    if (decided.ok()) states = decided.value().states;
  }
  size_t chosen = 0;
  if (kept >= 0) {
    if (static_cast<size_t>(kept) >= n) {
      return fail(error_code::invalid_value, "kept: expected a candidate index below " + std::to_string(n));
    }
    chosen = static_cast<size_t>(kept);
  } else if (!order.empty()) {
    bool found = false;
    for (behaviour::state s : behaviour::all_states) {
      if ((states & s) == 0) continue;
      for (size_t i = 0; i < order.size() && !found; ++i) {
        if ((order[i]->states & s) != 0) {
          chosen = i;
          found = true;
        }
      }
      if (found) break;
    }
  }
  out += "{\"chosen\":";
  out += std::to_string(chosen);
  out += ",\"visit\":[";
  const std::vector<std::string> names = behaviour::state_names(states);
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out.push_back(',');
    json::write_string(names[i], out);
  }
  out += "],\"candidate\":";
  write_candidate_head(order.empty() ? nullptr : order[chosen], out);
  out += "}}";
  return {};
}

}  // namespace whale::layout
