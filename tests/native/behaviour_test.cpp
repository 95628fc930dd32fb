// Behaviour summaries, the default classification table (docs/behaviour.md), vendor rules and
// adaptations.
#include "whale/behaviour.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

namespace bh = whale::behaviour;
using whale::error_code;

bh::state_set classify_default(const char* summary) {
  auto s = bh::parse_summary(summary);
  EXPECT_TRUE(s.ok()) << summary << ": " << s.message();
  return bh::rules::defaults().classify(*s);
}

std::string names(bh::state_set set) {
  std::string out;
  for (const auto& n : bh::state_names(set)) out += (out.empty() ? "" : ",") + n;
  return out;
}

bh::rules rules_from(const char* text) {
  auto v = whale::json::parse(text);
  EXPECT_TRUE(v.ok()) << text;
  auto r = bh::rules::from_json(*v);
  EXPECT_TRUE(r.ok()) << r.message();
  return std::move(r).value();
}

whale::failure rules_error(const char* text) {
  auto v = whale::json::parse(text);
  EXPECT_TRUE(v.ok()) << text;
  auto r = bh::rules::from_json(*v);
  EXPECT_FALSE(r.ok()) << text;
  return r.error();
}

TEST(BehaviourSummary, ParsesAndFormats) {
  auto s = bh::parse_summary("v1;rc=3;bo=1;sd=45;dw=120;ph=2;ca=0");
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s->rapid_clicks, 3u);
  EXPECT_EQ(s->back_outs, 1u);
  EXPECT_EQ(s->scroll_depth, 45u);
  EXPECT_EQ(s->dwell_seconds, 120u);
  EXPECT_EQ(s->price_hovers, 2u);
  EXPECT_EQ(s->cart_adds, 0u);
  EXPECT_EQ(bh::format_summary(*s), "v1;rc=3;bo=1;sd=45;dw=120;ph=2;ca=0");

  auto reordered = bh::parse_summary("v1;ca=2;sd=100;rc=1000000");
  ASSERT_TRUE(reordered.ok()) << reordered.message();
  EXPECT_EQ(bh::format_summary(*reordered), "v1;rc=1000000;bo=0;sd=100;dw=0;ph=0;ca=2");
  auto empty = bh::parse_summary("v1");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(bh::format_summary(*empty), "v1;rc=0;bo=0;sd=0;dw=0;ph=0;ca=0");
  EXPECT_EQ(whale::json::to_string(bh::to_attributes(*s)),
            R"({"rapidClicks":3,"backOuts":1,"scrollDepth":45,"dwellSeconds":120,"priceHovers":2,"cartAdds":0})");
}

TEST(BehaviourSummary, RejectsMalformed) {
  const char* bad[] = {"",          "v2",          "V1",          " v1",        "v1 ",         "v1;",
                       "v1;;rc=1",  "v1;rc",       "v1;rc=",      "v1;rc=01",   "v1;rc=-1",    "v1;rc=+1",
                       "v1;rc=1.0", "v1;rc=1;rc=2", "v1;xx=1",    "v1;RC=1",    "v1;sd=101",   "v1;rc=1000001",
                       "v1;rc=99999999", "v1;rc=1 ", "v1 ;rc=1",  "v1;rc==1",   "v1;rc=1;",    "v1,rc=1",
                       "v1;=1",     "v1;rc=0x1"};
  for (const char* text : bad) {
    auto s = bh::parse_summary(text);
    EXPECT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.code(), error_code::invalid_value) << text;
  }
  auto nul = bh::parse_summary(std::string_view("v1;rc=1\0", 8));
  EXPECT_EQ(nul.code(), error_code::invalid_value);
  std::string long_text = "v1;rc=1" + std::string(bh::max_summary_bytes, ';');
  EXPECT_EQ(bh::parse_summary(long_text).code(), error_code::too_large);
  EXPECT_EQ(bh::parse_summary("v1;xx=1").message(), "behaviour summary: unknown key \"xx\"");
}

// The classification table of docs/behaviour.md, row by row (default rules).
struct row {
  const char* summary;
  const char* states;
};
const row default_table[] = {
    {"v1", ""},
    {"v1;rc=5", "frustrated"},
    {"v1;rc=3;bo=1", "frustrated"},
    {"v1;rc=2;bo=1", ""},
    {"v1;rc=3;bo=2", "confused,frustrated"},
    {"v1;bo=2", "confused"},
    {"v1;bo=2;ca=1", ""},
    {"v1;dw=120;sd=10", "confused"},
    {"v1;dw=89;sd=10", ""},
    {"v1;dw=120;sd=10;ca=1", "ready_to_buy"},
    {"v1;sd=60;dw=60", "engaged"},
    {"v1;sd=49;dw=60", ""},
    {"v1;sd=60;dw=60;rc=3", ""},
    {"v1;ca=1", "ready_to_buy"},
    {"v1;ca=2;sd=80;dw=300", "engaged,ready_to_buy"},
    {"v1;ph=3", "price_sensitive"},
    {"v1;ph=2", ""},
    {"v1;ph=4;ca=1;sd=55;dw=70", "engaged,ready_to_buy,price_sensitive"},
    {"v1;rc=6;bo=3;sd=5;dw=200;ph=5;ca=0", "confused,frustrated,price_sensitive"},
};

TEST(BehaviourClassify, DefaultTable) {
  for (const auto& r : default_table) EXPECT_EQ(names(classify_default(r.summary)), r.states) << r.summary;
}

TEST(BehaviourRules, NullOrEmptyMeansDefaults) {
  auto r = bh::rules::from_json(whale::json::value());
  ASSERT_TRUE(r.ok());
  auto e = rules_from("{}");
  for (auto s : bh::all_states) {
    EXPECT_TRUE(whale::json::equal(r->condition(s), bh::rules::defaults().condition(s)));
    EXPECT_TRUE(whale::json::equal(e.condition(s), bh::rules::defaults().condition(s)));
    EXPECT_FALSE(bh::rules::defaults().condition(s).is_null()) << bh::state_name(s);
  }
  EXPECT_TRUE(r->adaptations().empty());
}

TEST(BehaviourRules, VendorStatesOverrideDefaults) {
  auto r = rules_from(R"({"states": {
      "frustrated": {"rapidClicks": {"$gte": 2}},
      "engaged": null,
      "price_sensitive": {"$or": [{"priceHovers": {"$gte": 1}}, {"backOuts": {"$gte": 4}}]}}})");
  auto classify = [&](const char* text) { return names(r.classify(*bh::parse_summary(text))); };
  EXPECT_EQ(classify("v1;rc=2"), "frustrated");
  EXPECT_EQ(classify("v1;sd=60;dw=60"), "");  // engaged disabled
  EXPECT_EQ(classify("v1;ph=1"), "price_sensitive");
  EXPECT_EQ(classify("v1;bo=4"), "confused,price_sensitive");  // confused keeps its default
  EXPECT_EQ(classify("v1;ca=1"), "ready_to_buy");
  EXPECT_TRUE(r.condition(bh::engaged).is_null());
}

const char* adaptations_json = R"({"adaptations": [
  {"state": "confused", "action": "add", "section": "hero", "position": "start",
   "component": {"key": "help-banner", "id": "bh-help", "props": {"text": "Need a hand?"}}},
  {"state": "frustrated", "action": "replace", "page": "home", "section": "nav", "target": "nav-main",
   "component": {"key": "nav-simple", "id": "nav-simple"}},
  {"state": "frustrated", "action": "add", "section": "footer", "component": {"key": "live-chat", "id": "bh-chat"}},
  {"state": "price_sensitive", "action": "props", "section": "grid", "target": "grid-1",
   "props": {"showDiscounts": true}, "x-note": "kept out"}
]})";

TEST(BehaviourRules, ReadsAdaptations) {
  auto r = rules_from(adaptations_json);
  ASSERT_EQ(r.adaptations().size(), 4u);
  const auto& add = r.adaptations()[0];
  EXPECT_EQ(add.when, bh::confused);
  EXPECT_EQ(add.act, bh::action::add);
  EXPECT_EQ(add.at, bh::position::start);
  EXPECT_EQ(add.section, "hero");
  EXPECT_EQ(add.component, "help-banner");
  EXPECT_EQ(add.id, "bh-help");
  EXPECT_EQ(whale::json::to_string(add.props), R"({"text":"Need a hand?"})");
  const auto& replace = r.adaptations()[1];
  EXPECT_EQ(replace.act, bh::action::replace);
  EXPECT_EQ(replace.page, "home");
  EXPECT_EQ(replace.target, "nav-main");
  EXPECT_EQ(whale::json::to_string(replace.props), "{}");
  EXPECT_EQ(r.adaptations()[2].at, bh::position::end);
  const auto& patch = r.adaptations()[3];
  EXPECT_EQ(patch.act, bh::action::props);
  EXPECT_EQ(whale::json::to_string(patch.props), R"({"showDiscounts":true})");
  EXPECT_STREQ(bh::action_name(patch.act), "props");
}

TEST(BehaviourRules, SelectsAdaptationsByStateAndPage) {
  auto r = rules_from(adaptations_json);
  auto ids = [](const std::vector<const bh::adaptation*>& list) {
    std::string out;
    for (const auto* a : list) out += (out.empty() ? "" : ",") + (a->id.empty() ? a->target : a->id);
    return out;
  };
  EXPECT_EQ(ids(r.adaptations_for(bh::frustrated, "home")), "nav-simple,bh-chat");
  EXPECT_EQ(ids(r.adaptations_for(bh::frustrated, "shop")), "bh-chat");
  EXPECT_EQ(ids(r.adaptations_for(bh::confused | bh::price_sensitive, "shop")), "bh-help,grid-1");
  EXPECT_EQ(ids(r.adaptations_for(bh::engaged | bh::ready_to_buy, "home")), "");

  auto d = bh::decide(r, "v1;rc=3;bo=2;ph=3", "home");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(names(d->states), "confused,frustrated,price_sensitive");
  EXPECT_EQ(ids(d->adaptations), "bh-help,nav-simple,bh-chat,grid-1");
  auto none = bh::decide(r, "", "home");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->states, 0);
  EXPECT_TRUE(none->adaptations.empty());
  EXPECT_EQ(bh::decide(r, "v1;rc=x", "home").code(), error_code::invalid_value);
}

TEST(BehaviourRules, RejectsBadRulesWithPaths) {
  struct bad_case {
    const char* json;
    error_code code;
    const char* message;
  };
  const bad_case cases[] = {
      {"[]", error_code::wrong_type, "x-behaviour: expected object"},
      {R"({"rules": {}})", error_code::invalid_value, "x-behaviour: unknown field \"rules\""},
      {R"({"states": []})", error_code::wrong_type, "x-behaviour.states: expected object"},
      {R"({"states": {"sleepy": {}}})", error_code::invalid_value, "x-behaviour.states: unknown state \"sleepy\""},
      {R"({"states": {"engaged": 3}})", error_code::wrong_type, "x-behaviour.states.engaged: expected object or null"},
      {R"({"states": {"engaged": {"a": {"$regex": "("}}}})", error_code::invalid_regex, nullptr},
      {R"({"adaptations": {}})", error_code::wrong_type, "x-behaviour.adaptations: expected array"},
      {R"({"adaptations": [3]})", error_code::wrong_type, "x-behaviour.adaptations[0]: expected object"},
      {R"({"adaptations": [{"state": "engaged", "action": "move", "section": "s"}]})", error_code::invalid_value,
       "x-behaviour.adaptations[0].action: expected one of add, replace, props"},
      {R"({"adaptations": [{"state": "bored", "action": "add", "section": "s"}]})", error_code::invalid_value,
       "x-behaviour.adaptations[0].state: unknown state \"bored\""},
      {R"({"adaptations": [{"state": "engaged", "action": "add", "component": {"key": "k", "id": "i"}}]})",
       error_code::wrong_type, "x-behaviour.adaptations[0].section: missing required field"},
      {R"({"adaptations": [{"state": "engaged", "action": "add", "section": "s"}]})", error_code::wrong_type,
       "x-behaviour.adaptations[0].component: missing required field"},
      {R"({"adaptations": [{"state": "engaged", "action": "add", "section": "s", "component": {"key": "k"}}]})",
       error_code::wrong_type, "x-behaviour.adaptations[0].component.id: missing required field"},
      {R"({"adaptations": [{"state": "engaged", "action": "add", "section": "s", "target": "t", "component": {"key": "k", "id": "i"}}]})",
       error_code::invalid_value, "x-behaviour.adaptations[0].target: not allowed for action add"},
      {R"({"adaptations": [{"state": "engaged", "action": "replace", "section": "s", "component": {"key": "k", "id": "i"}}]})",
       error_code::wrong_type, "x-behaviour.adaptations[0].target: missing required field"},
      {R"({"adaptations": [{"state": "engaged", "action": "props", "section": "s", "target": "t"}]})",
       error_code::wrong_type, "x-behaviour.adaptations[0].props: missing required field"},
      {R"({"adaptations": [{"state": "engaged", "action": "props", "section": "s", "target": "t", "props": [1]}]})",
       error_code::wrong_type, "x-behaviour.adaptations[0].props: expected object"},
      {R"({"adaptations": [{"state": "engaged", "action": "props", "section": "s", "target": "t", "props": {}, "position": "end"}]})",
       error_code::invalid_value, "x-behaviour.adaptations[0].position: only for action add"},
      {R"({"adaptations": [{"state": "engaged", "action": "add", "section": "s", "position": "middle", "component": {"key": "k", "id": "i"}}]})",
       error_code::invalid_value, "x-behaviour.adaptations[0].position: expected start or end"},
      {R"({"adaptations": [{"state": "engaged", "action": "add", "section": "", "component": {"key": "k", "id": "i"}}]})",
       error_code::invalid_value, "x-behaviour.adaptations[0].section: expected a non-empty string"},
      {R"({"adaptations": [{"state": "engaged", "action": "add", "section": "s", "component": {"key": "k", "id": "i", "extra": 1}}]})",
       error_code::invalid_value, "x-behaviour.adaptations[0].component: unknown field \"extra\""},
  };
  for (const auto& c : cases) {
    auto e = rules_error(c.json);
    EXPECT_EQ(e.code, c.code) << c.json << ": " << e.message;
    if (c.message != nullptr) {
      EXPECT_EQ(e.message, c.message) << c.json;
    }
  }
  std::string many = R"({"adaptations": [)";
  for (size_t i = 0; i <= bh::max_adaptations; ++i) {
    many += std::string(i ? "," : "") +
            R"({"state": "engaged", "action": "props", "section": "s", "target": "t", "props": {}})";
  }
  many += "]}";
  EXPECT_EQ(rules_error(many.c_str()).code, error_code::too_large);
}

TEST(BehaviourStates, Names) {
  EXPECT_STREQ(bh::state_name(bh::ready_to_buy), "ready_to_buy");
  EXPECT_EQ(bh::state_name(static_cast<bh::state>(3)), nullptr);
  EXPECT_EQ(names(0x1f), "confused,frustrated,engaged,ready_to_buy,price_sensitive");
}

}  // namespace
