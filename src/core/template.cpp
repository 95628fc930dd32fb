// Generated components' templates: the checks of include/whale/template.h.
#include "whale/template.h"

#include <string_view>

namespace whale::tmpl {

using json::value;

const char* const tags[] = {"div", "section", "h2", "h3", "p", "span", "strong", "em", "small",
                            "a", "img", "ul", "ol", "li", "button"};
const size_t tag_count = sizeof(tags) / sizeof(tags[0]);
const char* const classes[] = {"wt-panel", "wt-h2", "wt-button", "wt-promo", "wt-badge", "wt-grid", "wt-row",
                               "wt-card", "wt-card-body", "wt-price", "wt-tiles", "wt-tile", "wt-rich",
                               "wt-muted", "wt-accent", "wt-center"};
const size_t class_count = sizeof(classes) / sizeof(classes[0]);

namespace {

bool listed(std::string_view s, const char* const* list, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (s == list[i]) return true;
  }
  return false;
}

// The properties of an object schema, or nullptr.
const value* properties_of(const value* schema) {
  if (schema == nullptr || !schema->is_object()) return nullptr;
  const value* p = schema->find("properties");
  return p != nullptr && p->is_object() ? p : nullptr;
}

struct scope {
  const value* props = nullptr;  // the component's declared props
  const value* item = nullptr;   // inside `each`: the item schema (may be non-object), else nullptr
};

struct walker {
  size_t nodes = 0;

  failure fail(const std::string& path, const std::string& rule) const {
    return failure{error_code::invalid_value, path + ": " + rule};
  }

  // A binding: "name" (a declared prop) or, inside each, "item" / "item.field".
  result<const value*> binding(std::string_view name, const scope& s, const std::string& path) const {
    if (s.item != nullptr && (name == "item" || name.substr(0, 5) == "item.")) {
      if (name == "item") return s.item;
      const value* fields = properties_of(s.item);
      const value* field = fields != nullptr ? fields->find(name.substr(5)) : nullptr;
      if (field == nullptr) return fail(path, "{{" + std::string(name) + "}} is not a declared field of the items");
      return field;
    }
    const value* prop = s.props != nullptr ? s.props->find(name) : nullptr;
    if (prop == nullptr) return fail(path, "{{" + std::string(name) + "}} is not a declared prop");
    return prop;
  }

  // Text with {{name}} placeholders; every name bound.
  result<void> text(const value& v, const scope& s, const std::string& path) const {
    if (!v.is_string()) return fail(path, "expected a string");
    const std::string& t = v.as_string();
    if (t.size() > max_text_bytes) return fail(path, "longer than " + std::to_string(max_text_bytes) + " bytes");
    for (size_t at = t.find("{{"); at != std::string::npos; at = t.find("{{", at)) {
      const size_t end = t.find("}}", at + 2);
      if (end == std::string::npos) return fail(path, "a {{ without its }}");
      WHALE_TRY_VOID(binding(std::string_view(t).substr(at + 2, end - at - 2), s, path));
      at = end + 2;
    }
    return {};
  }

  // href/src: one placeholder, or a site path or https URL.
  result<void> link(const value& v, const scope& s, const std::string& path) const {
    if (!v.is_string()) return fail(path, "expected a string");
    const std::string& t = v.as_string();
    if (t.size() > 4 && t.compare(0, 2, "{{") == 0 && t.compare(t.size() - 2, 2, "}}") == 0 &&
        t.find("{{", 2) == std::string::npos) {
      WHALE_TRY_VOID(binding(std::string_view(t).substr(2, t.size() - 4), s, path));
      return {};
    }
    const bool site = t.size() >= 1 && t[0] == '/' && (t.size() == 1 || t[1] != '/');
    if (!(site || t.compare(0, 8, "https://") == 0) || t.size() > 2048 ||
        t.find_first_of(" \"'<>\\`{}") != std::string::npos) {
      return fail(path, "expected {{prop}}, a path on the site or an https URL");
    }
    return {};
  }

  result<void> node(const value& n, const scope& outer, const std::string& path, size_t depth) {
    if (!n.is_object()) return fail(path, "expected a node object");
    if (++nodes > max_nodes) return fail(path, "more than " + std::to_string(max_nodes) + " nodes");
    if (depth > max_depth) return fail(path, "nested deeper than " + std::to_string(max_depth));
    for (const json::member& m : n.members()) {
      static const char* const known[] = {"tag", "class", "text", "href", "src", "alt", "children", "each", "if"};
      if (!listed(m.first, known, sizeof(known) / sizeof(known[0]))) {
        return fail(path + "." + m.first, m.first == "style" || m.first.rfind("on", 0) == 0
                                              ? "not allowed: the theme styles templates, and they run no code"
                                              : "unknown member");
      }
    }
    const value* tag = n.find("tag");
    if (tag == nullptr || !tag->is_string() || !listed(tag->as_string(), tags, tag_count)) {
      std::string list;
      for (size_t i = 0; i < tag_count; ++i) list += (i ? ", " : "") + std::string(tags[i]);
      return fail(path + ".tag", "expected one of " + list);
    }
    const std::string& t = tag->as_string();
    if (const value* c = n.find("class")) {
      if (!c->is_string() || c->as_string().empty()) return fail(path + ".class", "expected a string");
      std::string_view rest = c->as_string();
      while (!rest.empty()) {
        const size_t space = rest.find(' ');
        const std::string_view one = rest.substr(0, space);
        if (!listed(one, classes, class_count)) {
          return fail(path + ".class", "\"" + std::string(one) + "\" is not one of the storefront's classes");
        }
        rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
      }
    }
    scope inner = outer;
    if (const value* each = n.find("each")) {
      if (!each->is_string() || outer.item != nullptr) return fail(path + ".each", "expected a prop name (not inside another each)");
      WHALE_TRY(const value* prop, binding(each->as_string(), outer, path + ".each"));
      const value* type = prop->is_object() ? prop->find("type") : nullptr;
      const value* items = prop->is_object() ? prop->find("items") : nullptr;
      if (type == nullptr || !type->is_string() || type->as_string() != "array" || items == nullptr) {
        return fail(path + ".each", "\"" + each->as_string() + "\" is not an array prop with items");
      }
      inner.item = items;
    }
    if (const value* cond = n.find("if")) {
      if (!cond->is_string()) return fail(path + ".if", "expected a prop name");
      WHALE_TRY_VOID(binding(cond->as_string(), inner, path + ".if"));
    }
    if (const value* v = n.find("text")) WHALE_TRY_VOID(text(*v, inner, path + ".text"));
    if (const value* v = n.find("alt")) {
      if (t != "img") return fail(path + ".alt", "only on img");
      WHALE_TRY_VOID(text(*v, inner, path + ".alt"));
    }
    if (const value* v = n.find("href")) {
      if (t != "a") return fail(path + ".href", "only on a");
      WHALE_TRY_VOID(link(*v, inner, path + ".href"));
    }
    if (const value* v = n.find("src")) {
      if (t != "img") return fail(path + ".src", "only on img");
      WHALE_TRY_VOID(link(*v, inner, path + ".src"));
    }
    if (t == "img" && (n.find("src") == nullptr || n.find("alt") == nullptr)) {
      return fail(path, "an img needs src and alt");
    }
    if (const value* children = n.find("children")) {
      if (!children->is_array()) return fail(path + ".children", "expected an array of nodes");
      if (t == "img") return fail(path + ".children", "an img has no children");
      for (size_t i = 0; i < children->items().size(); ++i) {
        WHALE_TRY_VOID(node(children->items()[i], inner, path + ".children[" + std::to_string(i) + "]", depth + 1));
      }
    }
    return {};
  }
};

}  // namespace

result<void> check(const json::value& tmpl, const json::value* props_schema, const std::string& path) {
  if (json::to_string(tmpl).size() > max_template_bytes) {
    return failure{error_code::too_large, path + ": larger than " + std::to_string(max_template_bytes) + " bytes"};
  }
  scope s;
  s.props = properties_of(props_schema);
  walker w;
  return w.node(tmpl, s, path, 1);
}

}  // namespace whale::tmpl
