// Generated components at the origin (docs/components.md): registering a definition in a vendor's
// config draft as experimental, deploying it as the arm of a new draft experiment, and asking a
// language model (the Anthropic Messages API) for a definition that then goes through the same
// checks as one a person wrote.
#pragma once

#include <string>

#include "whale/json.h"
#include "whale/result.h"

namespace whale::origin {

// The generator's endpoint, model and key, from ANTHROPIC_BASE_URL (default
// https://api.anthropic.com), ANTHROPIC_MODEL and ANTHROPIC_API_KEY. Off unless the key and the
// model are set.
struct generator_settings {
  std::string base_url = "https://api.anthropic.com";
  std::string model;
  std::string api_key;
  int timeout_s = 60;
  bool enabled() const { return !api_key.empty() && !model.empty(); }
  static generator_settings from_env();
};

struct registered {
  std::string draft;     // the new draft text
  std::string key;
  uint32_t version = 1;  // the definition's version: one more than the one it replaces
};

// Puts `definition` under components[key] in the draft (status "experimental", version bumped
// past the draft's), and checks the whole config as a PUT would (invalid_value naming the path,
// e.g. "components.promo.template.text: {{price}} is not a declared prop"). A key that names a
// stable component is refused: generated definitions never replace a vendor's own.
result<registered> register_component(const std::string& draft, const std::string& slug, const std::string& key,
                                      const json::value& definition);

struct deployed {
  std::string draft;
  std::string experiment;  // the new experiment's key (and its feature's)
};

// Adds an experiment to the draft whose control is the section as it is and whose treatment adds
// an instance of the component at its end: a feature of one experiment rule with status "draft"
// (it runs once the vendor sets it running and publishes), the section's `feature` set to it.
// request: {"page", "section", "experiment"?, "props"?}. The section must have no feature yet.
result<deployed> deploy_component(const std::string& draft, const std::string& slug, const std::string& key,
                                  const json::value& request);

// The Messages API request for a brief: a system prompt with the template rules, the vendor's
// registry (keys, kinds, prop names) and theme, and the brief. JSON text.
std::string generator_request(const generator_settings& s, const std::string& draft, const std::string& brief);

// What the model gave: a definition, or why not: "generator_failed" (HTTP 502: the transport, an
// HTTP error, not a Messages API answer) or "refused" (HTTP 422: the model refused, or its answer
// holds no JSON object).
struct generated {
  json::value definition;  // an object when ok
  int status = 200;
  std::string code, message;
  bool ok() const { return status == 200; }
};

// POSTs the request to {base_url}/v1/messages and reads the definition from the answer's first
// text block (a JSON object, fenced or not).
generated generate_definition(const generator_settings& s, const std::string& request);

}  // namespace whale::origin
