// Generated components' templates on arbitrary bytes: a props schema, a newline, a template
// (whale::tmpl::check, docs/components.md). Never a crash, a hang or a leak; an accepted template
// holds only the listed tags and classes, and checks the same a second time.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "whale/json.h"
#include "whale/template.h"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

bool listed(std::string_view s, const char* const* list, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (s == list[i]) return true;
  }
  return false;
}

// Every node of an accepted template: a listed tag, listed classes, no other member.
void walk(const whale::json::value& node, size_t depth) {
  require(depth <= whale::tmpl::max_depth && node.is_object());
  const whale::json::value* tag = node.find("tag");
  require(tag != nullptr && tag->is_string() && listed(tag->as_string(), whale::tmpl::tags, whale::tmpl::tag_count));
  if (const whale::json::value* c = node.find("class")) {
    std::string_view rest = c->as_string();
    while (!rest.empty()) {
      const size_t space = rest.find(' ');
      require(listed(rest.substr(0, space), whale::tmpl::classes, whale::tmpl::class_count));
      rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    }
  }
  for (const whale::json::member& m : node.members()) require(m.first != "style" && m.first.rfind("on", 0) != 0);
  if (const whale::json::value* children = node.find("children")) {
    for (const whale::json::value& child : children->items()) walk(child, depth + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  if (newline == std::string_view::npos) return 0;
  auto props = whale::json::parse(input.substr(0, newline));
  auto tmpl = whale::json::parse(input.substr(newline + 1));
  if (!props.ok() || !tmpl.ok()) return 0;
  const auto checked = whale::tmpl::check(tmpl.value(), &props.value(), "t");
  if (!checked.ok()) {
    require(checked.message().rfind("t", 0) == 0);
    return 0;
  }
  walk(tmpl.value(), 1);
  require(whale::tmpl::check(tmpl.value(), &props.value(), "t").ok());
  return 0;
}
