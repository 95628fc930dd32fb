#include "components.h"

#include <httplib.h>

#include <cstdlib>

#include "validate.h"
#include "whale/config.h"
#include "whale/template.h"

namespace whale::origin {

using json::value;

namespace {

constexpr size_t max_definition_bytes = 16 * 1024;
constexpr size_t max_brief_bytes = 2000;

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

value* member_object(value& parent, const std::string& key) {
  value* v = parent.find(key);
  if (v == nullptr) {
    parent.set(key, value::object());
    v = parent.find(key);
  }
  return v;
}

// The whole config checked as a PUT checks it; the minified text.
result<std::string> accepted(const value& doc, const std::string& slug) {
  return accept_config(json::to_string(doc), slug);
}

}  // namespace

generator_settings generator_settings::from_env() {
  generator_settings s;
  s.base_url = env_or("ANTHROPIC_BASE_URL", s.base_url);
  while (!s.base_url.empty() && s.base_url.back() == '/') s.base_url.pop_back();
  s.model = env_or("ANTHROPIC_MODEL", "");
  s.api_key = env_or("ANTHROPIC_API_KEY", "");
  return s;
}

result<registered> register_component(const std::string& draft, const std::string& slug, const std::string& key,
                                      const json::value& definition) {
  if (!definition.is_object()) return fail(error_code::wrong_type, "definition: expected an object");
  if (json::to_string(definition).size() > max_definition_bytes) {
    return fail(error_code::too_large, "definition: larger than " + std::to_string(max_definition_bytes) + " bytes");
  }
  if (definition.find("template") == nullptr) {
    return fail(error_code::invalid_value, "definition.template: a generated component needs a template");
  }
  WHALE_TRY(value doc, json::parse(draft));
  if (!doc.is_object()) return fail(error_code::wrong_type, "draft: expected an object");
  value* components = member_object(doc, "components");
  registered out;
  out.key = key;
  if (const value* old = components->find(key)) {
    const value* status = old->is_object() ? old->find("status") : nullptr;
    if (status == nullptr || !status->is_string() || status->as_string() != "experimental") {
      return fail(error_code::invalid_value, "components." + key + ": a stable component of the vendor's; choose another key");
    }
    const value* v = old->find("version");
    if (v != nullptr && v->is_number()) out.version = static_cast<uint32_t>(v->as_number()) + 1;
  }
  value def = definition;
  def.set("status", value::string("experimental"));
  def.set("version", value::number(out.version));
  components->set(key, std::move(def));
  WHALE_TRY(out.draft, accepted(doc, slug));
  return out;
}

result<deployed> deploy_component(const std::string& draft, const std::string& slug, const std::string& key,
                                  const json::value& request) {
  if (!request.is_object()) return fail(error_code::wrong_type, "request: expected an object {page, section, experiment?, props?}");
  const value* page_id = request.find("page");
  const value* section_id = request.find("section");
  if (page_id == nullptr || !page_id->is_string() || section_id == nullptr || !section_id->is_string()) {
    return fail(error_code::wrong_type, "page, section: expected the ids of a page and of one of its sections");
  }
  WHALE_TRY(value doc, json::parse(draft));
  const value* components = doc.find("components");
  const value* comp = components != nullptr ? components->find(key) : nullptr;
  if (comp == nullptr) return fail(error_code::not_found, "components." + key + ": no such component in the draft");
  const value* version = comp->find("version");
  const std::string v = version != nullptr && version->is_number() ? json::number_to_string(version->as_number()) : "1";
  std::string experiment = "gen-" + key + "-v" + v;
  if (const value* e = request.find("experiment")) {
    if (!e->is_string() || e->as_string().empty() || e->as_string().size() > 128) {
      return fail(error_code::invalid_value, "experiment: expected a key of 1-128 characters");
    }
    experiment = e->as_string();
  }
  value props = value::object();
  if (const value* p = request.find("props")) {
    if (!p->is_object()) return fail(error_code::wrong_type, "props: expected an object");
    props = *p;
  }
  value* pages = doc.find("pages");
  value* section = nullptr;
  for (value& p : pages != nullptr && pages->is_array() ? pages->items() : doc.items()) {
    const value* id = p.find("id");
    if (id == nullptr || !id->is_string() || id->as_string() != page_id->as_string()) continue;
    value* sections = p.find("sections");
    for (value& s : sections != nullptr && sections->is_array() ? sections->items() : p.items()) {
      const value* sid = s.find("id");
      if (sid != nullptr && sid->is_string() && sid->as_string() == section_id->as_string()) section = &s;
    }
  }
  if (section == nullptr) {
    return fail(error_code::not_found, "no section \"" + section_id->as_string() + "\" on page \"" + page_id->as_string() + "\"");
  }
  if (section->find("feature") != nullptr) {
    return fail(error_code::invalid_value, "pages." + page_id->as_string() + ".sections." + section_id->as_string() +
                                               ": already driven by a feature; one experiment per section");
  }
  value* features = member_object(doc, "features");
  if (features->find(experiment) != nullptr) return fail(error_code::invalid_value, "features." + experiment + ": exists already");
  // The treatment: the section's instances as written, plus the new one at the end.
  value instances = *section->find("components");
  value instance = value::object();
  instance.set("id", value::string(experiment));
  instance.set("key", value::string(key));
  instance.set("props", std::move(props));
  instances.items().push_back(std::move(instance));
  value treatment = value::object();
  treatment.set("components", std::move(instances));
  value rule = value::object();
  rule.set("id", value::string("rule-" + experiment));
  rule.set("key", value::string(experiment));
  rule.set("seed", value::string(experiment));
  rule.set("hashAttribute", value::string("id"));
  rule.set("hashVersion", value::number(2));
  rule.set("status", value::string("draft"));
  rule.set("variations", value::array({value(), std::move(treatment)}));
  rule.set("weights", value::array({value::number(0.5), value::number(0.5)}));
  value meta0 = value::object();
  meta0.set("key", value::string("control"));
  value meta1 = value::object();
  meta1.set("key", value::string(key));
  rule.set("meta", value::array({std::move(meta0), std::move(meta1)}));
  value feature = value::object();
  feature.set("defaultValue", value());
  feature.set("rules", value::array({std::move(rule)}));
  features->set(experiment, std::move(feature));
  section->set("feature", value::string(experiment));
  deployed out;
  out.experiment = experiment;
  WHALE_TRY(out.draft, accepted(doc, slug));
  return out;
}

std::string generator_request(const generator_settings& s, const std::string& draft, const std::string& brief) {
  std::string registry;
  std::string theme = "{}";
  if (result<value> doc = json::parse(draft); doc && doc->is_object()) {
    if (const value* components = doc->find("components"); components != nullptr && components->is_object()) {
      for (const json::member& m : components->members()) {
        registry += "- " + m.first;
        const value* kind = m.second.find("kind");
        if (kind != nullptr && kind->is_string()) registry += " (" + kind->as_string() + ")";
        const value* props = m.second.find("props");
        const value* properties = props != nullptr ? props->find("properties") : nullptr;
        if (properties != nullptr && properties->is_object()) {
          registry += ": props";
          for (const json::member& p : properties->members()) registry += " " + p.first;
        }
        registry += "\n";
      }
    }
    if (const value* t = doc->find("theme")) theme = json::to_string(*t);
  }
  std::string tags, classes;
  for (size_t i = 0; i < tmpl::tag_count; ++i) tags += (i ? ", " : "") + std::string(tmpl::tags[i]);
  for (size_t i = 0; i < tmpl::class_count; ++i) classes += (i ? ", " : "") + std::string(tmpl::classes[i]);
  const std::string system =
      "You design storefront components for WhaleTools Edge. Answer with one JSON object and nothing else: "
      "{\"key\": a new component key (lowercase letters, digits, '-'), \"kind\": a short role, \"description\": one "
      "sentence, \"props\": a JSON Schema of type object whose properties each have a type and a default, "
      "\"template\": a node}. A node is {\"tag\", \"class\"?, \"text\"?, \"href\"? (a only), \"src\"? and \"alt\"? (img "
      "only, both required), \"children\"?: [node], \"each\"?: an array prop, \"if\"?: a prop}. Tags: " + tags +
      ". Classes (the vendor's theme styles them; no other classes, no style, no scripts, no event handlers): " +
      classes +
      ". Text and links read props only through {{name}} placeholders naming declared props (inside each: "
      "{{item}} or {{item.field}} of the items schema). Links are {{prop}}, a path on the site or an https URL. At "
      "most 64 nodes, 8 levels, 500 characters of text per node.";
  std::string user = "The vendor's components:\n" + registry + "The vendor's theme: " + theme + "\n\nBrief: " + brief;
  std::string out = "{\"model\":" + json::to_string(value::string(s.model)) + ",\"max_tokens\":2048,\"system\":" +
                    json::to_string(value::string(system)) +
                    ",\"messages\":[{\"role\":\"user\",\"content\":" + json::to_string(value::string(user)) + "}]}";
  return out;
}

generated generate_definition(const generator_settings& s, const std::string& request) {
  generated g;
  const auto failed = [&](std::string message) {
    g.status = 502;
    g.code = "generator_failed";
    g.message = std::move(message);
    return g;
  };
  const auto refused = [&](std::string message) {
    g.status = 422;
    g.code = "refused";
    g.message = std::move(message);
    return g;
  };
  httplib::Client client(s.base_url);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(s.timeout_s, 0);
  client.set_write_timeout(10, 0);
  const httplib::Headers headers = {{"x-api-key", s.api_key}, {"anthropic-version", "2023-06-01"}};
  const httplib::Result res = client.Post("/v1/messages", headers, request, "application/json");
  if (!res) return failed("the model could not be reached: " + httplib::to_string(res.error()));
  result<value> answer = json::parse(res->body);
  if (res->status != 200) {
    std::string detail;
    if (answer && answer->is_object()) {
      const value* error = answer->find("error");
      const value* message = error != nullptr && error->is_object() ? error->find("message") : nullptr;
      if (message != nullptr && message->is_string()) detail = ": " + message->as_string().substr(0, 300);
    }
    return failed("the model answered HTTP " + std::to_string(res->status) + detail);
  }
  if (!answer || !answer->is_object() || answer->find("content") == nullptr || !answer->find("content")->is_array()) {
    return failed("the model's answer is not a Messages API message");
  }
  if (const value* stop = answer->find("stop_reason"); stop != nullptr && stop->is_string()) {
    if (stop->as_string() == "refusal") return refused("the model refused the brief");
    if (stop->as_string() == "max_tokens") return refused("the model's answer was cut off (max_tokens)");
  }
  std::string text;
  for (const value& block : answer->find("content")->items()) {
    const value* type = block.find("type");
    const value* t = block.find("text");
    if (type != nullptr && type->is_string() && type->as_string() == "text" && t != nullptr && t->is_string()) {
      text = t->as_string();
      break;
    }
  }
  const size_t open = text.find('{');
  const size_t close = text.rfind('}');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    return refused("the model's answer holds no JSON object");
  }
  result<value> definition = json::parse(std::string_view(text).substr(open, close - open + 1));
  if (!definition || !definition->is_object()) {
    return refused("the model's answer is not a JSON object: " +
                                         (definition ? std::string("not an object") : definition.message()));
  }
  g.definition = std::move(*definition);
  return g;
}

}  // namespace whale::origin
