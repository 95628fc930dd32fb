// GrowthBook's cross-SDK cases (fixtures/growthbook/cases.json), every supported section.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>

#include "test_util.h"
#include "whale/assign.h"
#include "whale/decrypt.h"

namespace whale {
namespace {

using json::value;
using testing::same_json;

const value& cases() {
  static const value doc = [] {
    auto parsed = json::parse(testing::read_fixture("growthbook/cases.json"));
    return parsed.ok() ? parsed.value() : value();
  }();
  return doc;
}

// A section of cases.json; a missing or empty one fails the test that reads it (rather than
// passing over no cases).
const value& section(const char* name) {
  static const value empty = value::array();
  const value* s = cases().find(name);
  if (s == nullptr || !s->is_array() || s->items().empty()) {
    ADD_FAILURE() << "cases.json has no cases in section " << name;
    return empty;
  }
  return *s;
}

std::map<std::string, std::pair<int, int>>& tally() {
  static std::map<std::string, std::pair<int, int>> counts;
  return counts;
}

void count(const char* name, bool passed) {
  auto& t = tally()[name];
  t.second++;
  if (passed) t.first++;
}

struct conformance_printer : ::testing::Environment {
  void TearDown() override {
    int pass = 0;
    int total = 0;
    for (const auto& [name, t] : tally()) {
      std::printf("growthbook conformance: %-24s %d/%d\n", name.c_str(), t.first, t.second);
      pass += t.first;
      total += t.second;
    }
    std::printf("growthbook conformance: %d/%d\n", pass, total);
  }
};
const auto* const printer = ::testing::AddGlobalTestEnvironment(new conformance_printer);

value number_array(const std::vector<double>& xs) {
  std::vector<value> items;
  for (double x : xs) items.push_back(value::number(x));
  return value::array(std::move(items));
}

TEST(Conformance, FixtureLoads) {
  ASSERT_TRUE(cases().is_object());
  // GrowthBook's spec 0.8.0 counts, so that a truncated or swapped file cannot pass by having fewer.
  const std::pair<const char*, size_t> expected[] = {
      {"hash", 15},        {"getBucketRange", 13},         {"chooseVariation", 13}, {"getEqualWeights", 6},
      {"inNamespace", 16}, {"getQueryStringOverride", 16}, {"evalCondition", 248},  {"run", 73},
      {"feature", 55},     {"stickyBucket", 13},           {"contextualBandit", 35}, {"decrypt", 10},
      {"urlRedirect", 4}};
  for (const auto& [name, n] : expected) EXPECT_EQ(section(name).items().size(), n) << name;
}

TEST(Conformance, Hash) {
  for (const value& c : section("hash").items()) {
    const auto got = assign::hash(c.items()[0].as_string(), c.items()[1].as_string(),
                                  static_cast<int>(c.items()[2].as_number()));
    const value& want = c.items()[3];
    const bool ok = want.is_null() ? !got.has_value() : (got && *got == want.as_number());
    count("hash", ok);
    EXPECT_TRUE(ok) << json::to_string(c);
  }
}

TEST(Conformance, GetBucketRange) {
  for (const value& c : section("getBucketRange").items()) {
    const value& args = c.items()[1];
    std::vector<double> weights;
    const bool has_weights = args.items()[2].is_array();
    for (const value& w : args.items()[2].items()) weights.push_back(w.as_number());
    const auto ranges = assign::bucket_ranges(static_cast<int>(args.items()[0].as_number()),
                                              args.items()[1].as_number(), has_weights ? &weights : nullptr);
    std::vector<value> got;
    for (const auto& r : ranges) got.push_back(number_array({r.first, r.second}));
    // The SDK's expected ranges are rounded to 6 places in its own test.
    bool ok = got.size() == c.items()[2].items().size();
    for (size_t i = 0; ok && i < got.size(); ++i) {
      for (size_t k = 0; k < 2; ++k) {
        ok = ok && std::abs(got[i].items()[k].as_number() - c.items()[2].items()[i].items()[k].as_number()) < 1e-6;
      }
    }
    count("getBucketRange", ok);
    EXPECT_TRUE(ok) << json::to_string(c);
  }
}

TEST(Conformance, ChooseVariation) {
  for (const value& c : section("chooseVariation").items()) {
    std::vector<assign::range> ranges;
    for (const value& r : c.items()[2].items()) ranges.emplace_back(r.items()[0].as_number(), r.items()[1].as_number());
    const bool ok = assign::choose_variation(c.items()[1].as_number(), ranges) == c.items()[3].as_number();
    count("chooseVariation", ok);
    EXPECT_TRUE(ok) << json::to_string(c);
  }
}

TEST(Conformance, GetEqualWeights) {
  for (const value& c : section("getEqualWeights").items()) {
    const auto got = assign::equal_weights(static_cast<int>(c.items()[0].as_number()));
    bool ok = got.size() == c.items()[1].items().size();
    for (size_t i = 0; ok && i < got.size(); ++i) ok = std::abs(got[i] - c.items()[1].items()[i].as_number()) < 1e-8;
    count("getEqualWeights", ok);
    EXPECT_TRUE(ok) << json::to_string(c);
  }
}

TEST(Conformance, InNamespace) {
  for (const value& c : section("inNamespace").items()) {
    const value& ns = c.items()[2];
    const bool got = assign::in_namespace(c.items()[1].as_string(), ns.items()[0].as_string(),
                                          ns.items()[1].as_number(), ns.items()[2].as_number());
    const bool ok = got == c.items()[3].as_bool();
    count("inNamespace", ok);
    EXPECT_TRUE(ok) << json::to_string(c);
  }
}

TEST(Conformance, GetQueryStringOverride) {
  for (const value& c : section("getQueryStringOverride").items()) {
    const auto got = assign::query_string_override(c.items()[1].as_string(), c.items()[2].as_string(),
                                                   static_cast<int>(c.items()[3].as_number()));
    const value& want = c.items()[4];
    const bool ok = want.is_null() ? !got.has_value() : (got && *got == want.as_number());
    count("getQueryStringOverride", ok);
    EXPECT_TRUE(ok) << json::to_string(c);
  }
}

TEST(Conformance, EvalCondition) {
  for (const value& c : section("evalCondition").items()) {
    static const value empty = value::object();
    const value& groups = c.items().size() > 4 ? c.items()[4] : empty;
    const bool got = assign::eval_condition(c.items()[2], c.items()[1], groups);
    const bool ok = got == c.items()[3].as_bool();
    count("evalCondition", ok);
    EXPECT_TRUE(ok) << json::to_string(c);
  }
}

TEST(Conformance, Run) {
  for (const value& c : section("run").items()) {
    assign::payload data;
    auto ctx = assign::context_from_json(c.items()[1], data);
    ASSERT_TRUE(ctx.ok()) << ctx.message();
    ctx->data = &data;
    const value result = assign::run(c.items()[2], *ctx);
    const bool ok = same_json(*result.find("value"), c.items()[3]) &&
                    result.find("inExperiment")->as_bool() == c.items()[4].as_bool() &&
                    result.find("hashUsed")->as_bool() == c.items()[5].as_bool();
    count("run", ok);
    EXPECT_TRUE(ok) << json::to_string(c) << "\n got " << json::to_string(result);
  }
}

// [name, context, feature key, expected evalFeature result]: the feature and contextualBandit
// sections.
void feature_cases(const char* name) {
  for (const value& c : section(name).items()) {
    assign::payload data;
    auto ctx = assign::context_from_json(c.items()[1], data);
    ASSERT_TRUE(ctx.ok()) << ctx.message();
    ctx->data = &data;
    const value result = assign::eval_feature(c.items()[2].as_string(), *ctx);
    const bool ok = same_json(result, c.items()[3]);
    count(name, ok);
    EXPECT_TRUE(ok) << json::to_string(c) << "\n got " << json::to_string(result);
  }
}

TEST(Conformance, Feature) { feature_cases("feature"); }

// Features whose experiment rules route through a contextual bandit's leaves (the first leaf
// whose condition matches buckets with its weights; leafId, variationWeights and banditVersion
// are reported): the same shape as the feature cases.
TEST(Conformance, ContextualBandit) { feature_cases("contextualBandit"); }

// GrowthBook's SDK answers null where decrypting fails; whale::crypto::decrypt an error.
TEST(Conformance, Decrypt) {
  for (const value& c : section("decrypt").items()) {
    const auto got = crypto::decrypt(c.items()[1].as_string(), c.items()[2].as_string());
    const value& want = c.items()[3];
    const bool ok = want.is_null() ? !got.ok() : got.ok() && got.value() == want.as_string();
    count("decrypt", ok);
    EXPECT_TRUE(ok) << json::to_string(c) << "\n got " << (got.ok() ? got.value() : got.message());
  }
}

// The JS suite runs these with an in-memory sticky bucket service holding the given docs.
TEST(Conformance, StickyBucket) {
  for (const value& c : section("stickyBucket").items()) {
    value ctx_json = c.items()[1];
    value service = value::object();
    for (const value& doc : c.items()[2].items()) {
      const std::string key = doc.find("attributeName")->as_string() + "||" + doc.find("attributeValue")->as_string();
      service.set(key, doc);
    }
    assign::payload data;
    auto ctx = assign::context_from_json(ctx_json, data);
    ASSERT_TRUE(ctx.ok()) << ctx.message();
    ctx->data = &data;
    // The service hands the SDK the documents of the user's sticky attributes only.
    ctx->sticky_bucketing = true;
    for (const std::string& attr : assign::sticky_attributes(data)) {
      const value* v = ctx->attributes.find(attr);
      const std::string key = attr + "||" + (v == nullptr ? "" : v->is_string() ? v->as_string() : json::to_string(*v));
      if (const value* doc = service.find(key)) ctx->sticky_docs.set(key, *doc);
    }
    const value result = assign::eval_feature(c.items()[3].as_string(), *ctx);
    const value* exp_result = result.find("experimentResult");
    const value& want = c.items()[4];
    bool ok = want.is_null() ? exp_result == nullptr : (exp_result && same_json(*exp_result, want));
    ok = ok && same_json(ctx->sticky_docs, c.items()[5]);
    count("stickyBucket", ok);
    EXPECT_TRUE(ok) << json::to_string(c) << "\n got " << json::to_string(result) << "\n docs "
                    << json::to_string(ctx->sticky_docs);
  }
}

// Redirect experiments (context.experiments) for the page at context.url: each expected entry
// is {inExperiment, urlRedirect, urlWithParams} of the redirect experiment the user lands in.
TEST(Conformance, UrlRedirect) {
  for (const value& c : section("urlRedirect").items()) {
    assign::payload data;
    auto ctx = assign::context_from_json(c.items()[1], data);
    ASSERT_TRUE(ctx.ok()) << ctx.message();
    ctx->data = &data;
    const value* experiments = c.items()[1].find("experiments");
    ASSERT_NE(experiments, nullptr);
    std::string text;
    assign::url_redirect(*experiments, *ctx, {}, text);
    auto answer = json::parse(text);
    ASSERT_TRUE(answer.ok()) << text;
    std::vector<value> got;
    for (const value& r : answer->find("results")->items()) {
      value entry = value::object();
      for (const char* field : {"inExperiment", "urlRedirect", "urlWithParams"}) entry.set(field, *r.find(field));
      got.push_back(std::move(entry));
    }
    const bool ok = same_json(value::array(std::move(got)), c.items()[2]);
    count("urlRedirect", ok);
    EXPECT_TRUE(ok) << json::to_string(c) << "\n got " << text;
  }
}

// The comparison operators at their boundaries (GrowthBook's suite has one case that tells $gte
// from $gt): equal values, each side of them, numbers, strings and versions.
TEST(Conditions, ComparisonBoundaries) {
  struct boundary {
    const char* attributes;
    const char* condition;
    bool want;
  };
  const boundary cases[] = {
      {R"({"n":5})", R"({"n":{"$gte":5}})", true},         {R"({"n":5})", R"({"n":{"$gt":5}})", false},
      {R"({"n":5})", R"({"n":{"$lte":5}})", true},         {R"({"n":5})", R"({"n":{"$lt":5}})", false},
      {R"({"n":4.999})", R"({"n":{"$gte":5}})", false},    {R"({"n":5.001})", R"({"n":{"$gt":5}})", true},
      {R"({"n":4.999})", R"({"n":{"$lt":5}})", true},      {R"({"n":5.001})", R"({"n":{"$lte":5}})", false},
      {R"({"s":"b"})", R"({"s":{"$gte":"b"}})", true},     {R"({"s":"b"})", R"({"s":{"$gt":"b"}})", false},
      {R"({"s":"b"})", R"({"s":{"$lte":"b"}})", true},     {R"({"s":"b"})", R"({"s":{"$lt":"b"}})", false},
      {R"({"v":"1.2.3"})", R"({"v":{"$vgte":"1.2.3"}})", true}, {R"({"v":"1.2.3"})", R"({"v":{"$vgt":"1.2.3"}})", false},
      {R"({"v":"1.2.3"})", R"({"v":{"$vlte":"1.2.3"}})", true}, {R"({"v":"1.2.3"})", R"({"v":{"$vlt":"1.2.3"}})", false},
      {R"({"v":"1.2.4"})", R"({"v":{"$vgt":"1.2.3"}})", true},  {R"({"v":"1.2.2"})", R"({"v":{"$vlt":"1.2.3"}})", true},
  };
  const value groups = value::object();
  for (const boundary& b : cases) {
    auto attributes = json::parse(b.attributes);
    auto condition = json::parse(b.condition);
    ASSERT_TRUE(attributes.ok() && condition.ok());
    EXPECT_EQ(assign::eval_condition(attributes.value(), condition.value(), groups), b.want)
        << b.attributes << " " << b.condition;
  }
}

}  // namespace
}  // namespace whale
