// whale: the developer harness over the core. JSON out on stdout; errors as JSON on stderr.
// Exit codes: 0 ok, 1 the engine refused the input, 2 usage, 3 a file could not be read.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "whale/api.h"
#include "whale/config.h"
#include "whale/avif.h"
#include "whale/image.h"
#include "whale/json.h"

namespace {

constexpr int exit_engine = 1;
constexpr int exit_usage = 2;
constexpr int exit_io = 3;

const char* const usage_text =
    "usage: whale <command> [args]\n"
    "\n"
    "  hash <seed> <value> [version]        GrowthBook hash (version 1 or 2, default 1)\n"
    "  run <experiment.json> <context.json> run one experiment for a GrowthBook context\n"
    "  feature <key> <context.json>         evaluate one feature for a GrowthBook context\n"
    "  eval <features.json> <attributes.json>\n"
    "                                       every feature of a payload for one user\n"
    "  condition <condition.json> <attributes.json>\n"
    "                                       evaluate a targeting condition\n"
    "  layout <config.json> <page> <attributes.json> [now]\n"
    "                                       render a page's layout (now: Unix seconds, default the clock)\n"
    "  bandit <arms.json>                   P(best) traffic weights; arms.json is\n"
    "                                       {\"arms\":[{\"alpha\",\"beta\"}],\"seed\",\"draws\"?,\"floor\"?,\"topTwo\"?}\n"
    "  call <operation> <request.json>      any ABI operation on a raw request (hash, evalCondition,\n"
    "                                       getBucketRanges, chooseVariation, getEqualWeights, inNamespace,\n"
    "                                       getQueryStringOverride, run, evalFeature, urlRedirect, sampleBeta,\n"
    "                                       thompsonChoose, banditWeights,\n"
    "                                       evalAll with {\"payload\",\"request\"},\n"
    "                                       layout with {\"config\",\"version\"?,\"page\",\"attributes\"?,\"now\"?,...})\n"
    "  batch <requests.jsonl>               one {\"op\",\"request\"} per line -> one {\"ok\"|\"error\"} per line\n"
    "  image <options> <input> [<output>] [--accept webp[,avif]] [--slow] [--size-class mobile|tablet|desktop|large]\n"
    "        [--draw <overlay file> <overlay options>]...  (overlays drawn on the output, at most 8)\n"
    "                                       the /img/<options>/ pipeline on a file, e.g.\n"
    "                                       image width=400,fit=cover,format=auto photo.jpg out.jpg\n"
    "                                       (format: auto, jpeg, png, webp, avif, json);\n"
    "                                       without <output> the image goes to stdout, with it a\n"
    "                                       {\"width\",\"height\",\"type\",\"bytes\"} line does\n"
    "  --help                               this text\n"
    "\n"
    "exit codes: 0 ok, 1 invalid input (JSON error on stderr), 2 usage, 3 unreadable file\n";

int usage(const char* problem) {
  if (problem) std::fprintf(stderr, "whale: %s\n\n", problem);
  std::fputs(usage_text, stderr);
  return exit_usage;
}

bool read_file(const char* path, std::string& out) {
  std::FILE* f = std::fopen(path, "rb");
  if (!f) return false;
  char buf[65536];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    out.append(buf, n);
    if (out.size() > whale::api::max_input_bytes) break;  // the engine refuses it with too_large
  }
  const bool ok = !std::ferror(f);
  std::fclose(f);
  return ok;
}

// Reads at most cap + 1 bytes: enough for the engine to see that a file is over its limit.
bool read_bytes(const char* path, size_t cap, std::string& out) {
  std::FILE* f = std::fopen(path, "rb");
  if (!f) return false;
  char buf[65536];
  size_t n = 0;
  while (out.size() <= cap && (n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const bool ok = !std::ferror(f);
  std::fclose(f);
  return ok;
}

int io_error(const char* path) {
  std::string msg;
  whale::json::write_string(std::string("cannot read ") + path + ": " + std::strerror(errno), msg);
  std::fprintf(stderr, "{\"error\":{\"code\":\"io\",\"message\":%s}}\n", msg.c_str());
  return exit_io;
}

int emit(const whale::result<std::string>& r) {
  if (r.ok()) {
    std::fwrite(r.value().data(), 1, r.value().size(), stdout);
    std::fputc('\n', stdout);
    return 0;
  }
  std::string msg;
  whale::json::write_string(r.message(), msg);
  std::fprintf(stderr, "{\"error\":{\"code\":\"%s\",\"number\":%u,\"message\":%s}}\n", whale::error_name(r.code()),
               static_cast<unsigned>(r.code()), msg.c_str());
  return exit_engine;
}

// Wraps two JSON documents as {"a":A,"b":B} without parsing them twice.
std::string pair_request(const char* a, const std::string& a_json, const char* b, const std::string& b_json) {
  return std::string("{\"") + a + "\":" + a_json + ",\"" + b + "\":" + b_json + "}";
}

whale::result<std::string> eval_all(const std::string& payload, const std::string& request) {
  WHALE_TRY(auto set, whale::api::load_features(payload));
  return set->eval_all(request);
}

// Loads a config into a cache of its own and renders one layout request against it.
whale::result<std::string> layout(const std::string& config_json, uint64_t version, const std::string& request) {
  WHALE_TRY(auto config, whale::config::parse(config_json));
  whale::config::cache configs;
  whale::api::layout_precomputations prepared;
  configs.put(config->vendor().slug, version, config);
  return whale::api::render_layout(configs, prepared, request, static_cast<int64_t>(std::time(nullptr)));
}

// {"config", "version"?, page, attributes, now, ...}: the config inline, the rest as the ABI's request.
whale::result<std::string> layout_call(const std::string& request) {
  WHALE_TRY(whale::json::value doc, whale::json::parse(request));
  whale::json::value* config = doc.find("config");
  if (config == nullptr || !config->is_object()) return whale::fail(whale::error_code::wrong_type, "config: expected an object");
  const std::string config_json = whale::json::to_string(*config);
  const whale::json::value* v = doc.find("version");
  const uint64_t version = v && v->is_number() && v->as_number() >= 0 ? static_cast<uint64_t>(v->as_number()) : 1;
  const whale::json::value* vendor = config->find("vendor");
  const whale::json::value* slug = vendor ? vendor->find("slug") : nullptr;
  doc.set("slug", slug && slug->is_string() ? *slug : whale::json::value::string(""));
  doc.set("version", whale::json::value::number(static_cast<double>(version)));
  doc.set("config", whale::json::value());
  return layout(config_json, version, whale::json::to_string(doc));
}

whale::result<std::string> call(const std::string& op, const std::string& request) {
  if (op == "hash") return whale::api::hash(request);
  if (op == "evalCondition") return whale::api::eval_condition(request);
  if (op == "getBucketRanges") return whale::api::bucket_ranges(request);
  if (op == "chooseVariation") return whale::api::choose_variation(request);
  if (op == "getEqualWeights") return whale::api::equal_weights(request);
  if (op == "inNamespace") return whale::api::in_namespace(request);
  if (op == "getQueryStringOverride") return whale::api::query_string_override(request);
  if (op == "run") return whale::api::run(request);
  if (op == "evalFeature") return whale::api::eval_feature(request);
  if (op == "urlRedirect") return whale::api::url_redirect(request);
  if (op == "sampleBeta") return whale::api::sample_beta(request);
  if (op == "thompsonChoose") return whale::api::thompson_choose(request);
  if (op == "banditWeights") return whale::api::bandit_weights(request);
  if (op == "evalAll") {
    WHALE_TRY(whale::json::value doc, whale::json::parse(request));
    const whale::json::value* payload = doc.find("payload");
    const whale::json::value* req = doc.find("request");
    if (!payload || !req) return whale::fail(whale::error_code::wrong_type, "evalAll: expected {payload, request}");
    return eval_all(whale::json::to_string(*payload), whale::json::to_string(*req));
  }
  if (op == "layout") return layout_call(request);
  return whale::fail(whale::error_code::not_found, "unknown operation: " + op);
}

// One JSON line per request, {"op": NAME, "request": {...}}; one line out per request:
// {"ok": RESULT} or {"error": {"code", "message"}}. The cross-target tests compare these bytes.
int batch(const std::string& lines) {
  size_t start = 0;
  while (start < lines.size()) {
    size_t end = lines.find('\n', start);
    if (end == std::string::npos) end = lines.size();
    const std::string line = lines.substr(start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    whale::result<std::string> r = [&]() -> whale::result<std::string> {
      WHALE_TRY(whale::json::value doc, whale::json::parse(line));
      const whale::json::value* op = doc.find("op");
      const whale::json::value* req = doc.find("request");
      if (!op || !op->is_string() || !req) return whale::fail(whale::error_code::wrong_type, "batch: expected {op, request}");
      return call(op->as_string(), req->is_string() ? req->as_string() : whale::json::to_string(*req));
    }();
    std::string out;
    if (r.ok()) {
      out = "{\"ok\":" + r.value() + "}";
    } else {
      out = std::string("{\"error\":{\"code\":\"") + whale::error_name(r.code()) + "\",\"message\":";
      whale::json::write_string(r.message(), out);
      out += "}}";
    }
    out.push_back('\n');
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  return 0;
}

int write_error(const char* path) {
  std::string msg;
  whale::json::write_string(std::string("cannot write ") + path + ": " + std::strerror(errno), msg);
  std::fprintf(stderr, "{\"error\":{\"code\":\"io\",\"message\":%s}}\n", msg.c_str());
  return exit_io;
}

// whale image <options> <input> [<output>] [--accept webp[,avif]] [--slow] [--size-class <class>]
// --slow and --size-class say what a request's client hints would (slow-connection-quality,
// width=auto).
int image(const std::vector<std::string>& args) {
  static constexpr const char* size_classes[] = {"mobile", "tablet", "desktop", "large"};
  std::vector<std::pair<std::string, std::string>> draws;  // overlay file, its options
  std::vector<std::string> positional;
  uint32_t accept = 0;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--accept") {
      if (i + 1 == args.size()) return usage("--accept takes a list such as webp,avif");
      const std::string& list = args[++i];
      if (list.find("webp") != std::string::npos) accept |= whale::image::accept_webp;
      if (list.find("avif") != std::string::npos) accept |= whale::image::accept_avif;
    } else if (args[i] == "--draw") {
      if (i + 2 >= args.size()) return usage("--draw takes an overlay file and its options");
      draws.emplace_back(args[i + 1], args[i + 2]);
      i += 2;
    } else if (args[i] == "--slow") {
      accept |= whale::image::client_slow;
    } else if (args[i] == "--size-class") {
      uint32_t size_class = 0;
      for (uint32_t c = 0; c < 4 && i + 1 < args.size(); ++c) {
        if (args[i + 1] == size_classes[c]) size_class = c + 1;
      }
      if (size_class == 0) return usage("--size-class takes mobile, tablet, desktop or large");
      ++i;
      accept |= size_class << whale::image::client_width_shift;
    } else {
      positional.push_back(args[i]);
    }
  }
  if (positional.size() != 2 && positional.size() != 3) return usage("image takes <options> <input> [<output>]");
  auto parsed = whale::image::parse_options(positional[0]);
  if (!parsed.ok()) return emit(parsed.error());
  const whale::image::limits limits;
  whale::image::set_avif_encoder(whale::avif::encode_handoff);
  std::string input;
  if (!read_bytes(positional[1].c_str(), limits.max_input_bytes, input)) return io_error(positional[1].c_str());
  std::vector<std::string> overlay_bytes(draws.size());
  std::vector<whale::image::overlay> overlays;
  for (size_t d = 0; d < draws.size(); ++d) {
    if (!read_bytes(draws[d].first.c_str(), limits.max_input_bytes, overlay_bytes[d])) return io_error(draws[d].first.c_str());
    auto ov = whale::image::parse_overlay(draws[d].second);
    if (!ov.ok()) return emit(ov.error());
    ov->data = reinterpret_cast<const uint8_t*>(overlay_bytes[d].data());
    ov->size = overlay_bytes[d].size();
    overlays.push_back(ov.value());
  }
  auto done = overlays.empty()
                  ? whale::image::process_in_place(reinterpret_cast<uint8_t*>(input.data()), input.size(), parsed.value(),
                                                   accept, limits)
                  : whale::image::process_with_overlays(reinterpret_cast<const uint8_t*>(input.data()), input.size(),
                                                        parsed.value(), accept, limits, overlays);
  if (!done.ok()) return emit(done.error());
  const whale::image::output& out = done.value();
  if (positional.size() == 2) {
    std::fwrite(out.bytes.data(), 1, out.bytes.size(), stdout);
    return 0;
  }
  const char* path = positional[2].c_str();
  std::FILE* f = std::fopen(path, "wb");
  if (!f) return write_error(path);
  const bool written = std::fwrite(out.bytes.data(), 1, out.bytes.size(), f) == out.bytes.size();
  if (std::fclose(f) != 0 || !written) return write_error(path);
  std::printf("{\"width\":%u,\"height\":%u,\"type\":\"%s\",\"bytes\":%zu}\n", out.width, out.height, out.content_type,
              out.bytes.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage("no command");
  const std::string& cmd = args[0];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(usage_text, stdout);
    return 0;
  }
  const auto files = [&](size_t first, size_t count, std::vector<std::string>& out) -> int {
    for (size_t i = first; i < first + count; ++i) {
      out.emplace_back();
      if (!read_file(args[i].c_str(), out.back())) return io_error(args[i].c_str());
    }
    return 0;
  };
  std::vector<std::string> docs;
  if (cmd == "hash") {
    if (args.size() < 3 || args.size() > 4) return usage("hash takes <seed> <value> [version]");
    std::string seed, value;
    whale::json::write_string(args[1], seed);
    whale::json::write_string(args[2], value);
    const std::string version = args.size() == 4 ? args[3] : "1";
    for (char c : version) {
      if (c < '0' || c > '9') return usage("version must be a number");
    }
    return emit(whale::api::hash("{\"seed\":" + seed + ",\"value\":" + value + ",\"version\":" + version + "}"));
  }
  if (cmd == "run" || cmd == "condition" || cmd == "eval") {
    if (args.size() != 3) return usage((cmd + " takes two JSON files").c_str());
    if (int rc = files(1, 2, docs)) return rc;
    if (cmd == "run") return emit(whale::api::run(pair_request("experiment", docs[0], "context", docs[1])));
    if (cmd == "condition") {
      return emit(whale::api::eval_condition(pair_request("condition", docs[0], "attributes", docs[1])));
    }
    return emit(eval_all(docs[0], pair_request("attributes", docs[1], "stickyBucketAssignmentDocs", "{}")));
  }
  if (cmd == "feature") {
    if (args.size() != 3) return usage("feature takes <key> <context.json>");
    if (int rc = files(2, 1, docs)) return rc;
    std::string key;
    whale::json::write_string(args[1], key);
    return emit(whale::api::eval_feature("{\"key\":" + key + ",\"context\":" + docs[0] + "}"));
  }
  if (cmd == "layout") {
    if (args.size() != 4 && args.size() != 5) return usage("layout takes <config.json> <page> <attributes.json> [now]");
    docs.resize(2);
    if (!read_file(args[1].c_str(), docs[0])) return io_error(args[1].c_str());
    if (!read_file(args[3].c_str(), docs[1])) return io_error(args[3].c_str());
    std::string page;
    whale::json::write_string(args[2], page);
    std::string request = "{\"page\":" + page + ",\"attributes\":" + docs[1];
    if (args.size() == 5) {
      for (char c : args[4]) {
        if ((c < '0' || c > '9') && c != '-') return usage("now must be Unix seconds");
      }
      request += ",\"now\":" + args[4];
    }
    auto parsed = whale::config::parse(docs[0]);
    if (!parsed.ok()) return emit(parsed.error());
    std::string slug;
    whale::json::write_string(parsed.value()->vendor().slug, slug);
    request += ",\"slug\":" + slug + ",\"version\":1}";
    return emit(layout(docs[0], 1, request));
  }
  if (cmd == "bandit") {
    if (args.size() != 2) return usage("bandit takes <arms.json>");
    if (int rc = files(1, 1, docs)) return rc;
    return emit(whale::api::bandit_weights(docs[0]));
  }
  if (cmd == "call") {
    if (args.size() != 3) return usage("call takes <operation> <request.json>");
    if (int rc = files(2, 1, docs)) return rc;
    return emit(call(args[1], docs[0]));
  }
  if (cmd == "batch") {
    if (args.size() != 2) return usage("batch takes <requests.jsonl>");
    if (int rc = files(1, 1, docs)) return rc;
    return batch(docs[0]);
  }
  if (cmd == "image") return image(args);
  return usage(("unknown command: " + cmd).c_str());
}
