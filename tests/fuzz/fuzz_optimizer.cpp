// The self-optimizer on arbitrary configs: experiments() reads any JSON without a crash, the
// model fits whatever counts it is given (finite effects), and for a config the parser accepts,
// a proposal applied as a new experiment is a config the parser accepts too.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "whale/config.h"
#include "whale/learn/optimizer.h"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

// Deterministic counts per (experiment, variation): the rates differ, so proposals happen.
uint64_t mix(std::string_view key, size_t i) {
  uint64_t h = 1469598103934665603ull;
  for (char c : key) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return (h ^ (i * 0x9e3779b97f4a7c15ull)) % 61;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace opt = whale::optimizer;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto config = whale::json::parse(input);
  if (!config.ok()) return 0;
  const std::vector<opt::experiment> experiments = opt::experiments(*config);
  std::vector<opt::arm> arms;
  for (const opt::experiment& e : experiments) {
    require(!e.key.empty());
    for (size_t i = 0; i < e.variations.size(); ++i) {
      require(opt::variation_index(e, std::to_string(i)) == static_cast<int>(i));
      arms.push_back({e.key, e.variations[i].components, 1000, static_cast<double>(10 + mix(e.key, i))});
    }
  }
  auto model = opt::fit(arms);
  if (!model.ok()) {
    require(model.code() == whale::error_code::too_large);
    return 0;
  }
  for (const opt::effect& e : model->components) require(std::isfinite(e.mean) && std::isfinite(e.sd));
  for (const opt::effect& e : model->pairs) require(std::isfinite(e.mean) && e.information >= 0 && e.information <= 1);
  auto rates = opt::component_rates(arms);
  require(rates.ok());
  for (const opt::component_rate& r : *rates) require(r.low <= r.mean && r.mean <= r.high);

  const std::optional<opt::proposal> p = opt::propose(*config, *model);
  if (!p) return 0;
  require(p->gain >= 0.01 && !p->variant.empty());
  auto back = opt::proposal_from_json(opt::to_json(*p));
  require(back.ok() && back->variant == p->variant);
  auto applied = opt::apply(*config, *p, "opt-fuzz-proposal");
  if (!applied.ok() || !whale::config::parse(input).ok()) return 0;
  require(whale::config::parse(whale::json::to_string(*applied)).ok());
  return 0;
}
