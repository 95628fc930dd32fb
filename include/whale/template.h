// whale::tmpl: the declarative templates of generated components (docs/components.md). A template
// is data, never code: a tree of nodes from a fixed list of tags and the storefront's own classes,
// whose text and links read the component's declared props through {{name}} placeholders. The
// browser glue (renderStorefront) builds it with createElement and textContent, so nothing in a
// template, whoever wrote it (a vendor, a language model), can run in a browser.
#pragma once

#include <cstddef>
#include <string>

#include "whale/json.h"
#include "whale/result.h"

namespace whale::tmpl {

inline constexpr size_t max_nodes = 64;
inline constexpr size_t max_depth = 8;
inline constexpr size_t max_text_bytes = 500;
inline constexpr size_t max_template_bytes = 8 * 1024;

// The tags and classes a template may use ("wt-" classes: the vendor's theme styles them).
extern const char* const tags[];
extern const size_t tag_count;
extern const char* const classes[];
extern const size_t class_count;

// Checks `tmpl` against the component's props schema (a JSON Schema object, or nullptr for none):
// node shapes, tags, classes, sizes, and that every placeholder, `each` and `if` names a declared
// prop (inside `each`, `item` or `item.<field>` of the array's item schema). Errors start with
// `path`, e.g. "components.promo.template.children[1].text: {{price}} is not a declared prop".
result<void> check(const json::value& tmpl, const json::value* props_schema, const std::string& path);

}  // namespace whale::tmpl
