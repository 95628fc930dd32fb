// Native figures for bench/config.bench.mjs: a warm resolve (config::cache hit), a miss, and
// the native parse of the same config, in ns. No test framework: the bench compiles this file
// against build/bench's libraries and runs it.
//
//   config_resolve <config.json>   prints one JSON line
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "whale/config.h"

namespace {

using clock_type = std::chrono::steady_clock;

template <typename F>
double ns_per_op(size_t n, F&& op) {
  double best = 1e300;
  for (int round = 0; round < 5; ++round) {
    const auto t0 = clock_type::now();
    for (size_t i = 0; i < n; ++i) op(i);
    const double ns = std::chrono::duration<double, std::nano>(clock_type::now() - t0).count() / static_cast<double>(n);
    if (ns < best) best = ns;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: config_resolve <config.json>\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto parsed = whale::config::parse(text);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n", parsed.message().c_str());
    return 1;
  }
  const std::string slug = parsed.value()->vendor().slug;
  whale::config::cache cache;
  // A realistic cache: the vendor's current version among a few others.
  for (uint64_t v = 1; v <= 8; ++v) cache.put(slug, v, parsed.value());
  size_t sink = 0;
  const double hit = ns_per_op(2'000'000, [&](size_t i) { sink += cache.get(slug, 1 + (i & 7)) != nullptr; });
  const double miss = ns_per_op(2'000'000, [&](size_t i) { sink += cache.get(slug, 100 + (i & 7)) != nullptr; });
  const double parse = ns_per_op(50, [&](size_t) { sink += whale::config::parse(text).ok(); });
  std::printf("{\"hitNs\":%.1f,\"missNs\":%.1f,\"parseNs\":%.0f,\"sink\":%zu}\n", hit, miss, parse, sink);
  return 0;
}
