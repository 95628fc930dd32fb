// The JSON API on bad input: a numbered error with a message naming the problem, never a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "whale/api.h"
#include "whale_core.h"

namespace whale {
namespace {

void expect_error(const result<std::string>& r, error_code code, const char* mentions) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), code) << r.message();
  EXPECT_NE(r.message().find(mentions), std::string::npos) << r.message();
}

TEST(Api, MalformedJson) {
  expect_error(api::run(R"({"experiment": )"), error_code::invalid_json, "json");
  expect_error(api::eval_condition("[1,2"), error_code::invalid_json, "json");
  expect_error(api::eval_condition(""), error_code::invalid_json, "json");
}

TEST(Api, InvalidUtf8) {
  expect_error(api::eval_condition("{\"condition\":{\"a\":\"\xff\xfe\"}}"), error_code::invalid_utf8, "UTF-8");
}

TEST(Api, WrongTypes) {
  expect_error(api::run(R"({"experiment": 5})"), error_code::wrong_type, "experiment");
  expect_error(api::eval_condition(R"({"condition": []})"), error_code::wrong_type, "condition");
  expect_error(api::eval_feature(R"({"key": {}})"), error_code::wrong_type, "key");
  expect_error(api::bandit_weights(R"({"arms": {}, "seed": "s"})"), error_code::wrong_type, "arms");
}

TEST(Api, BadWeightsAndDepth) {
  auto loaded = api::load_features(R"({"features":{"f":{"rules":[{"variations":[1,2],"weights":[-1,2]}]}}})");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.code(), error_code::invalid_value);
  EXPECT_NE(loaded.message().find("features.f.rules[0].weights"), std::string::npos) << loaded.message();
  std::string deep = "{\"condition\":";
  for (int i = 0; i < 70; ++i) deep += "{\"$not\":";
  deep += "{\"a\":1}";
  for (int i = 0; i < 70; ++i) deep += "}";
  deep += "}";
  expect_error(api::eval_condition(deep), error_code::too_deep, "64");
  const std::string very_deep = "{\"condition\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  expect_error(api::eval_condition(very_deep), error_code::too_deep, "nested");
}

TEST(Api, InvalidRegexInAPayloadNamesIt) {
  auto loaded = api::load_features(R"({"features":{"f":{"rules":[{"condition":{"url":{"$regex":"(unclosed"}},"force":1}]}}})");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.code(), error_code::invalid_regex);
  EXPECT_NE(loaded.message().find("features.f.rules[0].condition"), std::string::npos) << loaded.message();
  // evalCondition keeps GrowthBook's answer: a bad pattern matches nothing.
  auto r = api::eval_condition(R"({"condition":{"u":{"$regex":"(unclosed"}},"attributes":{"u":"x"}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), "false");
}

TEST(Api, TooLarge) {
  std::string big = "{\"condition\":{},\"attributes\":{\"x\":\"" + std::string(api::max_input_bytes, 'a') + "\"}}";
  expect_error(api::eval_condition(big), error_code::too_large, "larger");
}

TEST(Api, HugeArraysAreFine) {
  std::string in = "{\"condition\":{\"v\":{\"$in\":[";
  for (int i = 0; i < 200000; ++i) in += (i ? "," : "") + std::to_string(i);
  in += "]}},\"attributes\":{\"v\":199999}}";
  auto r = api::eval_condition(in);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.value(), "true");
}

TEST(Abi, HandlesAndErrors) {
  EXPECT_EQ(whale_abi_version() >> 16, 1u);
  const std::string payload = R"({"features":{"a":{"defaultValue":1},"b":{"defaultValue":"x"}}})";
  ASSERT_EQ(whale_features_load(payload.data(), payload.size()), 0u);
  const uint32_t handle = whale_last_handle();
  EXPECT_EQ(std::string(whale_last_ptr(), whale_last_len()), R"(["a","b"])");
  const std::string request = R"({"attributes":{"id":"1"}})";
  ASSERT_EQ(whale_eval_all(handle, request.data(), request.size()), 0u);
  EXPECT_EQ(std::string(whale_last_ptr(), whale_last_len()),
            R"({"features":{"a":{"value":1,"on":true,"off":false,"source":"defaultValue","ruleId":""},)"
            R"("b":{"value":"x","on":true,"off":false,"source":"defaultValue","ruleId":""}},"experiments":[],)"
            R"("stickyBucketAssignmentDocs":{}})");
  EXPECT_EQ(whale_features_free(handle), 0u);
  EXPECT_EQ(whale_features_free(handle), static_cast<uint32_t>(error_code::invalid_handle));
  EXPECT_EQ(whale_eval_all(handle, request.data(), request.size()), static_cast<uint32_t>(error_code::invalid_handle));
  EXPECT_NE(std::string(whale_last_ptr(), whale_last_len()).find("not live"), std::string::npos);
}

std::string word(uint32_t w) { return std::string(reinterpret_cast<const char*>(&w), 4); }

// An encoded attribute record (api::attribute_tag): head, then a length and bytes for text.
std::string record(uint32_t slot, api::attribute_tag tag, std::string_view text = {}) {
  std::string out = word((slot << 8) | static_cast<uint32_t>(tag));
  if (tag == api::attribute_tag::string) out += word(static_cast<uint32_t>(text.size())) + std::string(text);
  return out;
}

TEST(Abi, EncodedAttributes) {
  const std::string payload =
      R"({"features":{"f":{"defaultValue":0,"rules":[{"condition":{"plan":"pro","cart.0.sku":"A"},"force":1}]},)"
      R"("g":{"defaultValue":0,"rules":[{"coverage":0.5,"hashAttribute":"user","force":1}]}}})";
  auto set = api::load_features(payload);
  ASSERT_TRUE(set.ok()) << set.message();
  // What the rules may read: the condition's fields (a path by its first name) and each rule's hash
  // attribute ("id" when the rule names none, even where it hashes nothing).
  EXPECT_EQ(set.value()->attributes_json(), R"(["plan","cart","id","user"])");
  // cart: an array of one object {"sku": "A"}.
  const std::string cart = record(1, api::attribute_tag::array) + word(1) + record(0, api::attribute_tag::object) +
                           word(1) + word(3) + "sku" + record(0, api::attribute_tag::string, "A");
  const std::string attributes = record(0, api::attribute_tag::string, "pro") + cart +
                                 record(3, api::attribute_tag::string, "u-7");
  const auto encoded = set.value()->eval_all_encoded(attributes);
  const auto json = set.value()->eval_all_compact(R"({"attributes":{"plan":"pro","cart":[{"sku":"A"}],"user":"u-7"}})");
  ASSERT_TRUE(encoded.ok()) << encoded.message();
  ASSERT_TRUE(json.ok()) << json.message();
  EXPECT_EQ(encoded.value(), json.value());

  const api::feature_set& s = *set.value();
  expect_error(s.eval_all_encoded(record(4, api::attribute_tag::null_value)), error_code::invalid_value, "slot 4");
  expect_error(s.eval_all_encoded(record(0, static_cast<api::attribute_tag>(9))), error_code::invalid_value, "tag 9");
  expect_error(s.eval_all_encoded(record(0, api::attribute_tag::string, "pro").substr(0, 9)), error_code::invalid_value,
               "truncated");
  expect_error(s.eval_all_encoded(record(0, api::attribute_tag::number)), error_code::invalid_value, "truncated");
  expect_error(s.eval_all_encoded(record(0, api::attribute_tag::string, "\xff")), error_code::invalid_utf8, "UTF-8");
  expect_error(s.eval_all_encoded(record(1, api::attribute_tag::array) + word(2) + record(0, api::attribute_tag::null_value)),
               error_code::invalid_value, "truncated");
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += record(0, api::attribute_tag::array) + word(1);
  expect_error(s.eval_all_encoded(deep + record(0, api::attribute_tag::null_value)), error_code::too_deep, "deeper");
}

}  // namespace
}  // namespace whale
