// Vendor configs: the fixtures parse into the indexed form, every broken rule is refused with
// its code and the JSON path, and the LRU cache keeps its budget and counters.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "test_util.h"
#include "whale/config.h"

namespace whale {
namespace {

using config::vendor_config;
using json::value;

std::shared_ptr<const vendor_config> parse_ok(const std::string& text) {
  auto parsed = config::parse(text);
  EXPECT_TRUE(parsed.ok()) << parsed.message();
  return parsed.ok() ? parsed.value() : nullptr;
}

std::shared_ptr<const vendor_config> fixture(const std::string& slug) {
  return parse_ok(testing::read_fixture("vendors/" + slug + "/config.json"));
}

// ---- the fixtures ----

TEST(ConfigFixtures, FloraDistro) {
  auto c = fixture("flora-distro");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->vendor().slug, "flora-distro");
  EXPECT_EQ(c->vendor().timezone, "America/Los_Angeles");
  EXPECT_EQ(c->vendor().region, "us-west");
  EXPECT_EQ(c->assignments().index.size(), 21u);  // features.json's 20 and the home page's hero

  const config::page* home = c->find_page("home");
  ASSERT_NE(home, nullptr);
  EXPECT_EQ(c->find_page_by_path("/"), home);
  size_t instances = 0;
  for (const config::section& s : home->sections) instances += s.components.size();
  EXPECT_EQ(instances, 40u);  // the layout benchmark's 40-component page

  // Defaults are filled in; what the vendor wrote is kept.
  const config::instance& hero = home->sections[1].components[0];
  EXPECT_EQ(hero.id, "hero");
  EXPECT_EQ(c->components()[hero.component].key, "hero-banner");
  ASSERT_NE(hero.props.find("ctaLabel"), nullptr);
  EXPECT_EQ(hero.props.find("ctaLabel")->as_string(), "Shop now");
  EXPECT_EQ(hero.props.find("align")->as_string(), "center");

  // Visibility conditions and schedules are kept, typed.
  const config::instance& mobile_nav = home->sections[0].components[3];
  EXPECT_EQ(json::to_string(mobile_nav.visibility), R"({"device":"mobile"})");
  const config::instance& countdown = home->sections[1].components[4];
  ASSERT_TRUE(countdown.when.has_value());
  EXPECT_EQ(countdown.when->start, 1751007600);  // 2025-06-27T07:00:00Z
  EXPECT_EQ(countdown.when->end, 1751871600);    // 2025-07-07T07:00:00Z
  const config::instance& happy_hour = home->sections[1].components[3];
  EXPECT_EQ(happy_hour.when->dayparts, config::daypart_evening);
  EXPECT_EQ(home->sections[1].components[2].when->days, 0x70);  // fri, sat, sun

  // Registry references are resolved to indexes.
  const config::component* nav = c->find_component("navigation");
  ASSERT_NE(nav, nullptr);
  ASSERT_EQ(nav->dependencies.size(), 1u);
  EXPECT_EQ(c->components()[nav->dependencies[0]].key, "header");
  const config::component* banner = c->find_component("hero-banner");
  ASSERT_EQ(banner->conflicts.size(), 1u);
  EXPECT_EQ(c->components()[banner->conflicts[0]].key, "hero-video");
  EXPECT_EQ(banner->priority, 50);
  EXPECT_EQ(banner->kind, "banner");

  EXPECT_EQ(c->media().widths, (std::vector<uint32_t>{320, 480, 640, 960, 1280, 1920}));
  EXPECT_EQ(c->media().quality, 80u);
  EXPECT_EQ(c->media().formats, config::format_avif | config::format_jpeg | config::format_png | config::format_webp);
  EXPECT_EQ(c->theme().primary, "#1f3d2b");
  EXPECT_EQ(c->theme().font, "Georgia, 'Times New Roman', serif");
  EXPECT_EQ(c->theme().radius, 12);

  EXPECT_EQ(c->catalog().products.size(), 32u);
  const config::product* p = c->find_product("FD-PRE-1002");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->category, "pre-rolls");
  EXPECT_EQ(p->daily_sales.size, 60u);
  EXPECT_EQ(c->catalog().sold_out, config::sold_out_policy::mark);
  ASSERT_TRUE(c->catalog().sales_through.has_value());
  EXPECT_EQ(*c->catalog().sales_through, 20269);  // 2025-06-30
}

TEST(ConfigFixtures, FloraDistroFeaturesAreFeaturesJson) {
  auto c = fixture("flora-distro");
  ASSERT_NE(c, nullptr);
  auto payload = json::parse(testing::read_fixture("vendors/flora-distro/features.json"));
  ASSERT_TRUE(payload.ok());
  // The config's features are features.json's, plus the section variant "home-hero".
  json::value features = c->assignments().features;
  ASSERT_NE(features.find("home-hero"), nullptr);
  json::value expected = *payload->find("features");
  expected.set("home-hero", *features.find("home-hero"));
  EXPECT_TRUE(json::equal(features, expected));
  EXPECT_EQ(features.members().size(), payload->find("features")->members().size() + 1);
  EXPECT_TRUE(json::equal(c->assignments().saved_groups, *payload->find("savedGroups")));
}

// json::check is the floor the config benchmark measures: it must judge text as parse() does.
TEST(JsonCheck, AgreesWithParse) {
  for (const char* text : {"{}", "[1,2,{\"a\":null}]", "\"x\"", "{\"a\":", "[1,]", "nul", "{\"a\":\"\xff\"}", ""}) {
    const auto parsed = json::parse(text);
    const auto checked = json::check(text);
    EXPECT_EQ(checked.ok(), parsed.ok()) << text;
    if (!parsed.ok()) {
      EXPECT_EQ(checked.code(), parsed.code()) << text;
    }
  }
  std::string deep(300, '[');
  deep += std::string(300, ']');
  EXPECT_EQ(json::check(deep).code(), json::parse(deep).code());
  EXPECT_TRUE(json::check(testing::read_fixture("vendors/green-harbor/config.json")).ok());
}

TEST(ConfigConsent, DefaultsFixtureAndMistakes) {
  EXPECT_TRUE(fixture("minimal")->consent().global_privacy_control);
  EXPECT_TRUE(fixture("minimal")->consent().cookie.empty());
  const auto flora = fixture("flora-distro");
  EXPECT_EQ(flora->consent().cookie, "flora_consent");
  EXPECT_EQ(flora->consent().denied, (std::vector<std::string>{"essential", "none"}));
  EXPECT_TRUE(flora->consent().granted.empty());
  const std::string head = R"({"vendor":{"id":"v","slug":"s","name":"S","vertical":"x","timezone":"UTC","region":"r"},"consent":)";
  const std::pair<const char*, const char*> mistakes[] = {
      {R"({"cookie":"a b"})", "consent.cookie: expected a cookie name"},
      {R"({"granted":["yes"]})", "need \"cookie\""},
      {R"({"cookie":"c","granted":["yes"],"denied":["no"]})", "not both"},
      {R"({"cookie":"c","granted":[]})", "consent.granted: expected 1 to 16 values"},
      {R"({"cookie":"c","denied":[1]})", "consent.denied[0]: expected string"},
      {R"({"globalPrivacyControl":"yes"})", "consent.globalPrivacyControl"},
      {R"({"cookies":"c"})", "consent.cookies: unknown field"},
  };
  for (const auto& [consent, message] : mistakes) {
    auto parsed = config::parse(head + consent + "}");
    ASSERT_FALSE(parsed.ok()) << consent;
    EXPECT_NE(parsed.message().find(message), std::string::npos) << parsed.message();
  }
}

TEST(ConfigFixtures, GreenHarbor) {
  auto c = fixture("green-harbor");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->vendor().slug, "green-harbor");
  EXPECT_GE(c->catalog().products.size(), 200u);
  size_t experiments = 0;
  for (const auto& f : c->assignments().index) {
    for (const auto& r : f.rules) experiments += r.experiment;
  }
  EXPECT_EQ(experiments, 20u);
  EXPECT_EQ(c->pages().size(), 12u);
  const config::page* home = c->find_page("home");
  ASSERT_NE(home, nullptr);
  EXPECT_EQ(home->sections[1].feature, "gh-home-hero");
  for (const config::product& p : c->catalog().products) {
    ASSERT_EQ(p.daily_sales.size, 90u) << p.sku;
    EXPECT_EQ(c->find_product(p.sku), &p);
  }
  EXPECT_EQ(c->catalog().sold_out, config::sold_out_policy::hide);
  EXPECT_TRUE(c->catalog().order_by_urgency);
  const std::string summary = config::summary(*c);
  EXPECT_NE(summary.find(R"("vendor":"green-harbor")"), std::string::npos) << summary;
  EXPECT_NE(summary.find(R"("products":240)"), std::string::npos) << summary;
  EXPECT_NE(summary.find(R"("experiments":20)"), std::string::npos) << summary;
}

TEST(ConfigFixtures, Minimal) {
  auto c = fixture("minimal");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->vendor().slug, "minimal");
  EXPECT_TRUE(c->pages().empty());
  EXPECT_TRUE(c->components().empty());
  EXPECT_TRUE(c->catalog().products.empty());
  EXPECT_EQ(c->media().formats, config::format_jpeg | config::format_png | config::format_webp);
  auto payload = json::parse(testing::read_fixture("vendors/minimal/features.json"));
  ASSERT_TRUE(payload.ok());
  EXPECT_TRUE(json::equal(c->assignments().features, *payload->find("features")));
}

TEST(ConfigFixtures, MemoryEstimateIsPlausible) {
  for (const char* slug : {"flora-distro", "green-harbor", "minimal"}) {
    const std::string text = testing::read_fixture(std::string("vendors/") + slug + "/config.json");
    auto c = parse_ok(text);
    ASSERT_NE(c, nullptr);
    // Pretty-printed input has plenty of whitespace; the parsed form is the same order of size.
    EXPECT_GT(c->memory_bytes(), text.size() / 4) << slug;
    EXPECT_LT(c->memory_bytes(), text.size() * 8 + 4096) << slug;
  }
}

TEST(ConfigFixtures, ParsesOnSeveralThreadsAtOnce) {
  const std::string text = testing::read_fixture("vendors/green-harbor/config.json");
  std::vector<std::string> summaries(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < summaries.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        auto c = config::parse(text);
        summaries[t] = c.ok() ? config::summary(*c.value()) : c.message();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const std::string& s : summaries) EXPECT_EQ(s, summaries[0]);
}

// ---- invalid configs ----

// A small config that uses every part of the format; each case below breaks one rule.
constexpr const char* kBase = R"({
  "$schema": "../../config.schema.json",
  "vendor": {"id": "v1", "slug": "test-shop", "name": "Test Shop", "vertical": "demo",
             "timezone": "Europe/Berlin", "region": "eu-central"},
  "features": {
    "f": {"defaultValue": 1, "rules": [{"id": "r1", "key": "f-exp", "variations": [1, 2], "weights": [0.5, 0.5]}]},
    "hero-test": {"defaultValue": null,
                  "rules": [{"key": "hero-test", "variations": [null, {"props": {"hero": {"title": "B"}}}]}]}
  },
  "savedGroups": {"sg": ["u1"]},
  "components": {
    "header": {"kind": "header"},
    "hero": {"priority": 50, "dependencies": ["header"], "conflicts": ["video"],
             "props": {"type": "object", "required": ["title"], "additionalProperties": false,
                       "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 40},
                                      "align": {"enum": ["left", "center"], "default": "left"},
                                      "cta": {"type": "string", "default": "Shop now", "pattern": "^[A-Z]"}}}},
    "video": {"conflicts": ["hero"], "props": {"properties": {"src": {"type": "string", "pattern": "^https://"}}}},
    "grid": {"kind": "product-grid",
             "props": {"type": "object", "properties": {
               "limit": {"type": "integer", "minimum": 1, "maximum": 48, "default": 12},
               "categories": {"type": "array", "items": {"type": "string"}, "maxItems": 3}}}}
  },
  "pages": [
    {"id": "home", "path": "/", "sections": [{"id": "main", "components": [
      {"id": "h", "key": "header"}, {"id": "hero", "key": "hero", "props": {"title": "A"}}]}]},
    {"id": "shop", "path": "/shop", "title": "Shop", "sections": [{"id": "main", "components": [{"id": "g", "key": "grid"}]}]},
    {"id": "deals", "path": "/deals", "sections": [{"id": "top", "feature": "hero-test", "components": [
      {"id": "h", "key": "header"},
      {"id": "g", "key": "grid", "props": {"limit": 4, "categories": ["a", "b"]}},
      {"id": "v", "key": "video", "visibility": {"device": "desktop"}},
      {"id": "hero", "key": "hero", "props": {"title": "Deals"},
       "schedule": {"start": "2025-01-01T00:00:00Z", "end": "2025-02-01T00:00:00+01:00",
                    "dayparts": ["evening"], "days": ["sat", "sun"]}}]}]}
  ],
  "media": {"allowedSources": ["https://img.test.example/", "http://[::1]:8080/img"], "quality": 80, "x-note": "ours"},
  "catalog": {"currency": "EUR", "salesThrough": "2025-06-30", "inventory": {"soldOut": "hide"}, "products": [
    {"sku": "A-1", "name": "Apple", "price": 1.5, "onHand": 10, "dailySales": [1, 2, 3]},
    {"sku": "B-2", "name": "Bread", "price": 3, "category": "bakery", "attributes": {"glutenFree": false}}]}
})";

value base() {
  auto v = json::parse(kBase);
  EXPECT_TRUE(v.ok()) << v.message();
  return std::move(v).value();
}

// A step into a JSON tree: a member name or an array index.
using step = std::variant<const char*, int>;
value& at(value& v, std::initializer_list<step> path) {
  value* node = &v;
  for (const step& s : path) {
    if (std::holds_alternative<int>(s)) {
      node = &node->items()[static_cast<size_t>(std::get<int>(s))];
    } else {
      node = node->find(std::get<const char*>(s));
      if (node == nullptr) {
        ADD_FAILURE() << "no member " << std::get<const char*>(s);
        static value dummy;
        return dummy;
      }
    }
  }
  return *node;
}
value parsed(const char* text) { return json::parse(text).value(); }

TEST(ConfigValidation, TheBaseIsValid) {
  auto c = parse_ok(kBase);
  ASSERT_NE(c, nullptr);
  const config::page* deals = c->find_page("deals");
  ASSERT_NE(deals, nullptr);
  const config::instance& hero = deals->sections[0].components[3];
  EXPECT_EQ(json::to_string(hero.props), R"({"title":"Deals","align":"left","cta":"Shop now"})");
  EXPECT_EQ(hero.when->start, 1735689600);
  EXPECT_EQ(hero.when->end, 1738364400);  // 2025-02-01T00:00:00+01:00
  EXPECT_EQ(json::to_string(deals->sections[0].components[1].props), R"({"limit":4,"categories":["a","b"]})");
  EXPECT_EQ(json::to_string(c->find_page("shop")->sections[0].components[0].props), R"({"limit":12})");
  EXPECT_EQ(c->find_product("A-1")->daily_sales[2], 3);
  EXPECT_EQ(json::to_string(c->find_product("B-2")->attributes), R"({"glutenFree":false})");
  EXPECT_EQ(c->media().allowed_sources.size(), 2u);
}

struct invalid_case {
  const char* name;
  std::function<void(value&)> mutate;
  error_code code;
  const char* message;  // the whole message
};

void check_case(const invalid_case& c) {
  value doc = base();
  c.mutate(doc);
  auto r = config::parse(json::to_string(doc));
  ASSERT_FALSE(r.ok()) << c.name;
  EXPECT_EQ(r.code(), c.code) << c.name << ": " << error_name(r.code()) << " " << r.message();
  EXPECT_EQ(r.message(), c.message) << c.name;
}

TEST(ConfigValidation, PathsNameTheBrokenRule) {
  const invalid_case cases[] = {
      {"the issue's example", [](value& d) { at(d, {"pages", 2, "sections", 0, "components", 3, "props", "title"}) = value::number(5); },
       error_code::wrong_type, "pages[2].sections[0].components[3].props.title: expected string"},
      {"missing vendor", [](value& d) { d.members().erase(d.members().begin() + 1); },
       error_code::wrong_type, "vendor: missing required field"},
      {"vendor not an object", [](value& d) { at(d, {"vendor"}) = value::array(); },
       error_code::wrong_type, "vendor: expected object"},
      {"missing slug", [](value& d) { at(d, {"vendor"}).members().erase(at(d, {"vendor"}).members().begin() + 1); },
       error_code::wrong_type, "vendor.slug: missing required field"},
      {"bad slug", [](value& d) { at(d, {"vendor", "slug"}) = value::string("Test Shop"); },
       error_code::invalid_value, "vendor.slug: expected lowercase letters, digits and '-' (1-64, no '-' at either end)"},
      {"slug ends with -", [](value& d) { at(d, {"vendor", "slug"}) = value::string("shop-"); },
       error_code::invalid_value, "vendor.slug: expected lowercase letters, digits and '-' (1-64, no '-' at either end)"},
      {"empty timezone", [](value& d) { at(d, {"vendor", "timezone"}) = value::string(""); },
       error_code::invalid_value, "vendor.timezone: expected a non-empty string"},
      {"odd timezone", [](value& d) { at(d, {"vendor", "timezone"}) = value::string("Mars Base/1"); },
       error_code::invalid_value, "vendor.timezone: expected an IANA time zone name such as \"America/Los_Angeles\""},
      {"unknown timezone", [](value& d) { at(d, {"vendor", "timezone"}) = value::string("Mars/Olympus_Mons"); },
       error_code::invalid_value, "vendor.timezone: expected an IANA time zone name such as \"America/Los_Angeles\""},
      {"name of wrong type", [](value& d) { at(d, {"vendor", "name"}) = value::number(5); },
       error_code::wrong_type, "vendor.name: expected string"},
      {"unknown vendor field", [](value& d) { at(d, {"vendor"}).set("color", value::string("red")); },
       error_code::invalid_value, "vendor.color: unknown field"},
      {"unknown top-level field", [](value& d) { d.set("pagess", value::array()); },
       error_code::invalid_value, "pagess: unknown field"},
      {"negative weight", [](value& d) { at(d, {"features", "f", "rules", 0, "weights", 1}) = value::number(-1); },
       error_code::invalid_value, "features.f.rules[0].weights: expected non-negative numbers"},
      {"bad regex in a feature", [](value& d) { at(d, {"features", "f", "rules", 0}).set("condition", parsed(R"({"url":{"$regex":"(x"}})")); },
       error_code::invalid_regex, "features.f.rules[0].condition: $regex (x: invalid regex at offset 2: missing )"},
      {"savedGroups not an object", [](value& d) { at(d, {"savedGroups"}) = value::array(); },
       error_code::wrong_type, "savedGroups: expected an object"},
      {"unknown component", [](value& d) { at(d, {"pages", 0, "sections", 0, "components", 0, "key"}) = value::string("nope"); },
       error_code::not_found, "pages[0].sections[0].components[0].key: unknown component \"nope\""},
      {"instance without key", [](value& d) { at(d, {"pages", 0, "sections", 0, "components", 0}).members().pop_back(); },
       error_code::wrong_type, "pages[0].sections[0].components[0].key: missing required field"},
      {"props not an object", [](value& d) { at(d, {"pages", 0, "sections", 0, "components", 1, "props"}) = value::string("x"); },
       error_code::wrong_type, "pages[0].sections[0].components[1].props: expected object"},
      {"missing required prop", [](value& d) { at(d, {"pages", 0, "sections", 0, "components", 1, "props"}) = value::object(); },
       error_code::wrong_type, "pages[0].sections[0].components[1].props.title: missing required property"},
      {"enum", [](value& d) { at(d, {"pages", 0, "sections", 0, "components", 1, "props"}).set("align", value::string("right")); },
       error_code::invalid_value, "pages[0].sections[0].components[1].props.align: expected one of [\"left\",\"center\"]"},
      {"maximum", [](value& d) { at(d, {"pages", 2, "sections", 0, "components", 1, "props", "limit"}) = value::number(49); },
       error_code::invalid_value, "pages[2].sections[0].components[1].props.limit: expected at most 48"},
      {"minimum", [](value& d) { at(d, {"pages", 2, "sections", 0, "components", 1, "props", "limit"}) = value::number(0); },
       error_code::invalid_value, "pages[2].sections[0].components[1].props.limit: expected at least 1"},
      {"integer", [](value& d) { at(d, {"pages", 2, "sections", 0, "components", 1, "props", "limit"}) = value::number(2.5); },
       error_code::wrong_type, "pages[2].sections[0].components[1].props.limit: expected integer"},
      {"minLength", [](value& d) { at(d, {"pages", 0, "sections", 0, "components", 1, "props", "title"}) = value::string(""); },
       error_code::invalid_value, "pages[0].sections[0].components[1].props.title: expected at least 1 characters"},
      {"maxLength counts characters", [](value& d) { at(d, {"pages", 0, "sections", 0, "components", 1, "props", "title"}) = value::string(std::string(41, 'x')); },
       error_code::invalid_value, "pages[0].sections[0].components[1].props.title: expected at most 40 characters"},
      {"pattern", [](value& d) { at(d, {"pages", 0, "sections", 0, "components", 1, "props"}).set("cta", value::string("buy")); },
       error_code::invalid_value, "pages[0].sections[0].components[1].props.cta: does not match the pattern ^[A-Z]"},
      {"items", [](value& d) { at(d, {"pages", 2, "sections", 0, "components", 1, "props", "categories", 1}) = value::boolean(true); },
       error_code::wrong_type, "pages[2].sections[0].components[1].props.categories[1]: expected string"},
      {"maxItems", [](value& d) { at(d, {"pages", 2, "sections", 0, "components", 1, "props", "categories"}) = parsed(R"(["a","b","c","d"])"); },
       error_code::invalid_value, "pages[2].sections[0].components[1].props.categories: expected at most 3 items"},
      {"additionalProperties", [](value& d) { at(d, {"pages", 0, "sections", 0, "components", 1, "props"}).set("colour", value::string("red")); },
       error_code::invalid_value, "pages[0].sections[0].components[1].props.colour: unknown property"},
      {"duplicate instance id", [](value& d) { at(d, {"pages", 2, "sections", 0, "components", 2, "id"}) = value::string("g"); },
       error_code::invalid_value, "pages[2].sections[0].components[2].id: duplicate id \"g\" (also at pages[2].sections[0].components[1])"},
      {"duplicate id across sections", [](value& d) {
         at(d, {"pages", 0, "sections"}).items().push_back(parsed(R"({"id":"more","components":[{"id":"h","key":"header"}]})"));
       }, error_code::invalid_value, "pages[0].sections[1].components[0].id: duplicate id \"h\" (also at pages[0].sections[0].components[0])"},
      {"duplicate section id", [](value& d) {
         at(d, {"pages", 0, "sections"}).items().push_back(parsed(R"({"id":"main","components":[]})"));
       }, error_code::invalid_value, "pages[0].sections[1].id: duplicate section id \"main\""},
      {"bad instance id", [](value& d) { at(d, {"pages", 0, "sections", 0, "components", 0, "id"}) = value::string("a b"); },
       error_code::invalid_value, "pages[0].sections[0].components[0].id: expected 1-128 letters, digits, '_', '-', '.' or ':'"},
      {"duplicate page id", [](value& d) { at(d, {"pages", 1, "id"}) = value::string("home"); },
       error_code::invalid_value, "pages[1].id: duplicate page id \"home\""},
      {"duplicate page path", [](value& d) { at(d, {"pages", 1, "path"}) = value::string("/"); },
       error_code::invalid_value, "pages[1].path: duplicate page path \"/\""},
      {"page path", [](value& d) { at(d, {"pages", 1, "path"}) = value::string("shop"); },
       error_code::invalid_value, "pages[1].path: expected a path starting with '/', without spaces, '?' or '#'"},
      {"page id", [](value& d) { at(d, {"pages", 1, "id"}) = value::string("Shop"); },
       error_code::invalid_value, "pages[1].id: expected lowercase letters, digits and '-' (1-64, no '-' at either end)"},
      {"sections missing", [](value& d) { at(d, {"pages", 1}).members().pop_back(); },
       error_code::wrong_type, "pages[1].sections: missing required field"},
      {"pages not an array", [](value& d) { at(d, {"pages"}) = value::object(); },
       error_code::wrong_type, "pages: expected array"},
      {"schedule time", [](value& d) { at(d, {"pages", 2, "sections", 0, "components", 3, "schedule", "start"}) = value::string("2025-02-30T00:00:00Z"); },
       error_code::invalid_value, "pages[2].sections[0].components[3].schedule.start: expected an RFC 3339 time such as \"2025-11-28T08:00:00Z\""},
      {"schedule order", [](value& d) { at(d, {"pages", 2, "sections", 0, "components", 3, "schedule", "end"}) = value::string("2024-12-31T23:00:00-01:00"); },
       error_code::invalid_value, "pages[2].sections[0].components[3].schedule.end: expected a time after start"},
      {"daypart", [](value& d) { at(d, {"pages", 2, "sections", 0, "components", 3, "schedule", "dayparts", 0}) = value::string("noon"); },
       error_code::invalid_value, "pages[2].sections[0].components[3].schedule.dayparts[0]: expected one of \"morning\", \"afternoon\", \"evening\", \"night\""},
      {"visibility type", [](value& d) { at(d, {"pages", 2, "sections", 0, "components", 2, "visibility"}) = value::array(); },
       error_code::wrong_type, "pages[2].sections[0].components[2].visibility: expected object or null"},
      {"visibility regex", [](value& d) { at(d, {"pages", 2, "sections", 0, "components", 2, "visibility"}) = parsed(R"({"ref":{"$regex":"[z-a]"}})"); },
       error_code::invalid_regex, "pages[2].sections[0].components[2].visibility: $regex [z-a]: invalid regex at offset 4: range out of order in character class"},
      {"unknown dependency", [](value& d) { at(d, {"components", "hero", "dependencies", 0}) = value::string("footer"); },
       error_code::not_found, "components.hero.dependencies[0]: unknown component \"footer\""},
      {"dependency cycle", [](value& d) { at(d, {"components", "header"}).set("dependencies", parsed(R"(["hero"])")); },
       error_code::invalid_value, "components.header.dependencies: dependency cycle header -> hero -> header"},
      {"self conflict", [](value& d) { at(d, {"components", "video", "conflicts", 0}) = value::string("video"); },
       error_code::invalid_value, "components.video.conflicts[0]: a component cannot conflict with itself"},
      {"priority", [](value& d) { at(d, {"components", "hero", "priority"}) = value::number(1.5); },
       error_code::invalid_value, "components.hero.priority: expected an integer from -1000000 to 1000000"},
      {"schema keyword typo", [](value& d) { at(d, {"components", "hero", "props", "properties", "title"}).set("maxlength", value::number(3)); },
       error_code::invalid_value, "components.hero.props.properties.title.maxlength: unknown schema keyword"},
      {"schema type", [](value& d) { at(d, {"components", "hero", "props", "properties", "title", "type"}) = value::string("text"); },
       error_code::invalid_value, "components.hero.props.properties.title.type: unknown type \"text\" (null, boolean, integer, number, string, array, object)"},
      {"schema pattern", [](value& d) { at(d, {"components", "hero", "props", "properties", "cta", "pattern"}) = value::string("(?<=a)b"); },
       error_code::invalid_regex, "components.hero.props.properties.cta.pattern: invalid regex at offset 1: lookbehind is not supported"},
      {"schema default breaks schema", [](value& d) { at(d, {"components", "hero", "props", "properties", "cta", "default"}) = value::number(3); },
       error_code::wrong_type, "components.hero.props.properties.cta.default: expected string"},
      {"props schema of a string", [](value& d) { at(d, {"components", "hero", "props", "type"}) = value::string("string"); },
       error_code::invalid_value, "components.hero.props.type: a props schema describes an object"},
      {"bad component key", [](value& d) { d.find("components")->members().emplace_back("a b", value::object()); },
       error_code::invalid_value, "components.a b: a component key is 1-128 letters, digits, '_', '-', '.' or ':'"},
      {"unknown section feature", [](value& d) { at(d, {"pages", 2, "sections", 0, "feature"}) = value::string("nope"); },
       error_code::not_found, "pages[2].sections[0].feature: unknown feature \"nope\""},
      {"variant props break the schema", [](value& d) { at(d, {"features", "hero-test", "rules", 0, "variations", 1, "props", "hero", "title"}) = value::number(7); },
       error_code::wrong_type, "features.hero-test.rules[0].variations[1].props.hero.title: expected string"},
      {"variant patches a missing instance", [](value& d) { at(d, {"features", "hero-test", "rules", 0, "variations", 1}) = parsed(R"({"props":{"zzz":{}}})"); },
       error_code::not_found, "features.hero-test.rules[0].variations[1].props.zzz: no instance \"zzz\" in pages[2].sections[0]"},
      {"variant of a wrong type", [](value& d) { at(d, {"features", "hero-test", "defaultValue"}) = value::string("B"); },
       error_code::wrong_type, "features.hero-test.defaultValue: expected object or null (a variant of pages[2].sections[0])"},
      {"variant components", [](value& d) {
         at(d, {"features", "hero-test", "rules", 0, "variations", 1}) = parsed(R"({"components":[{"id":"x","key":"hero","props":{}}]})");
       }, error_code::wrong_type, "features.hero-test.rules[0].variations[1].components[0].props.title: missing required property"},
      {"media source", [](value& d) { at(d, {"media", "allowedSources", 0}) = value::string("ftp://img.test.example/"); },
       error_code::invalid_value, "media.allowedSources[0]: expected an http(s) URL prefix such as \"https://cdn.example.com/images/\""},
      {"media source with user info", [](value& d) { at(d, {"media", "allowedSources", 0}) = value::string("https://me@img.test.example/"); },
       error_code::invalid_value, "media.allowedSources[0]: expected an http(s) URL prefix such as \"https://cdn.example.com/images/\""},
      {"media quality", [](value& d) { at(d, {"media", "quality"}) = value::number(0); },
       error_code::invalid_value, "media.quality: expected an integer from 1 to 100"},
      {"media format", [](value& d) { at(d, {"media"}).set("formats", parsed(R"(["gif"])")); },
       error_code::invalid_value, "media.formats[0]: expected one of \"jpeg\", \"png\", \"webp\", \"avif\""},
      {"media widths order", [](value& d) { at(d, {"media"}).set("widths", parsed("[640, 320]")); },
       error_code::invalid_value, "media.widths[1]: expected widths in ascending order"},
      {"theme colour", [](value& d) { d.set("theme", parsed(R"({"primary": "red"})")); },
       error_code::invalid_value, "theme.primary: expected a colour as #rgb or #rrggbb"},
      {"theme colour with CSS after it", [](value& d) { d.set("theme", parsed(R"j({"accent": "#fff;background:url(x)"})j")); },
       error_code::invalid_value, "theme.accent: expected a colour as #rgb or #rrggbb"},
      {"theme font", [](value& d) { d.set("theme", parsed(R"({"font": "serif;}body{display:none"})")); },
       error_code::invalid_value, "theme.font: expected a font stack of at most 120 letters, digits, spaces, commas, quotes and '-'"},
      {"theme radius", [](value& d) { d.set("theme", parsed(R"({"radius": 40})")); },
       error_code::invalid_value, "theme.radius: expected an integer from 0 to 32"},
      {"segment name", [](value& d) { d.set("segments", parsed(R"({"Big Spenders": {"condition": {"cart": {"$gt": 100}}}})")); },
       error_code::invalid_value, "segments.Big Spenders: a segment name is lowercase letters, digits and '-' (1-64)"},
      {"segment without a condition", [](value& d) { d.set("segments", parsed(R"({"mobile": {"description": "phones"}})")); },
       error_code::wrong_type, "segments.mobile.condition: missing required field"},
      {"segment with a bad pattern", [](value& d) { d.set("segments", parsed(R"({"mobile": {"condition": {"ua": {"$regex": "(?<=a)b"}}}})")); },
       error_code::invalid_regex, "segments.mobile.condition: $regex (?<=a)b: invalid regex at offset 1: lookbehind is not supported"},
      {"candidates of no experiment", [](value& d) { at(d, {"pages", 0}).set("candidates", parsed(R"({"experiment": "nope"})")); },
       error_code::not_found, "pages[0].candidates.experiment: no experiment with this key in features"},
      {"candidates both ways", [](value& d) { at(d, {"pages", 0}).set("candidates", parsed(R"({"experiment": "hero-test", "strategies": []})")); },
       error_code::invalid_value, "pages[0].candidates: expected \"experiment\" (its arms) or \"strategies\", one of them"},
      {"candidates prefer an unknown arm", [](value& d) { at(d, {"pages", 0}).set("candidates", parsed(R"({"experiment": "hero-test", "prefer": {"engaged": "video"}})")); },
       error_code::not_found, "pages[0].candidates.prefer.engaged: expected the name of one of the experiment's arms"},
      {"candidates prefer an unknown state", [](value& d) { at(d, {"pages", 0}).set("candidates", parsed(R"({"experiment": "hero-test", "prefer": {"bored": "variation-1"}})")); },
       error_code::invalid_value, "pages[0].candidates.prefer.bored: expected a behaviour state: confused, frustrated, engaged, ready_to_buy or price_sensitive"},
      {"candidates watch too long", [](value& d) { at(d, {"pages", 0}).set("candidates", parsed(R"({"experiment": "hero-test", "watchSeconds": 600})")); },
       error_code::invalid_value, "pages[0].candidates.watchSeconds: expected an integer from 1 to 60"},
      {"strategy forcing a missing variation", [](value& d) { at(d, {"pages", 0}).set("candidates", parsed(R"({"strategies": [{"name": "bold", "force": {"hero-test": 2}}]})")); },
       error_code::invalid_value, "pages[0].candidates.strategies[0].force.hero-test: expected a variation index from 0 to 1"},
      {"strategy forcing nothing", [](value& d) { at(d, {"pages", 0}).set("candidates", parsed(R"({"strategies": [{"name": "bold", "force": {}}]})")); },
       error_code::invalid_value, "pages[0].candidates.strategies[0].force: expected 1 to 8 experiments"},
      {"strategy names twice", [](value& d) { at(d, {"pages", 0}).set("candidates", parsed(R"({"strategies": [{"name": "a", "force": {"hero-test": 0}}, {"name": "a", "force": {"hero-test": 1}}]})")); },
       error_code::invalid_value, "pages[0].candidates.strategies[1].name: duplicate strategy name \"a\""},
      {"strategy state", [](value& d) { at(d, {"pages", 0}).set("candidates", parsed(R"({"strategies": [{"name": "a", "force": {"hero-test": 0}, "states": ["calm"]}]})")); },
       error_code::invalid_value, "pages[0].candidates.strategies[0].states[0]: expected a behaviour state: confused, frustrated, engaged, ready_to_buy or price_sensitive"},
      {"product without sku", [](value& d) { at(d, {"catalog", "products", 0}).members().erase(at(d, {"catalog", "products", 0}).members().begin()); },
       error_code::wrong_type, "catalog.products[0].sku: missing required field"},
      {"negative price", [](value& d) { at(d, {"catalog", "products", 1, "price"}) = value::number(-3); },
       error_code::invalid_value, "catalog.products[1].price: expected a non-negative number"},
      {"sales of a wrong type", [](value& d) { at(d, {"catalog", "products", 0, "dailySales", 2}) = value::string("3"); },
       error_code::wrong_type, "catalog.products[0].dailySales[2]: expected number"},
      {"duplicate sku", [](value& d) { at(d, {"catalog", "products", 1, "sku"}) = value::string("A-1"); },
       error_code::invalid_value, "catalog.products[1].sku: duplicate sku \"A-1\""},
      {"sales without a date", [](value& d) { at(d, {"catalog"}).members().erase(at(d, {"catalog"}).members().begin() + 1); },
       error_code::wrong_type, "catalog.salesThrough: missing required field (products have dailySales)"},
      {"currency", [](value& d) { at(d, {"catalog", "currency"}) = value::string("eur"); },
       error_code::invalid_value, "catalog.currency: expected an ISO 4217 code such as \"USD\""},
      {"sold-out policy", [](value& d) { at(d, {"catalog", "inventory", "soldOut"}) = value::string("maybe"); },
       error_code::invalid_value, "catalog.inventory.soldOut: expected one of \"mark\", \"hide\", \"show\""},
      {"unknown product field", [](value& d) { at(d, {"catalog", "products", 0}).set("colour", value::string("red")); },
       error_code::invalid_value, "catalog.products[0].colour: unknown field"},
  };
  for (const invalid_case& c : cases) check_case(c);
}

// Inputs that cannot be written as a JSON tree first.
TEST(ConfigValidation, BadBytes) {
  struct raw_case {
    std::string text;
    error_code code;
    std::string message;
  };
  const std::string vendor =
      R"("vendor":{"id":"v","slug":"s","name":"n","vertical":"v","timezone":"UTC","region":"r"})";
  std::string deep = "{" + vendor + R"(,"x-deep":)";
  for (int i = 0; i < 200; ++i) deep += "[";
  for (int i = 0; i < 200; ++i) deep += "]";
  deep += "}";
  // The root object and 127 arrays fit in 128 levels; the 128th array does not.
  std::string deep_path = "x-deep";
  for (int i = 0; i < 127; ++i) deep_path += "[0]";
  std::string too_large = "{" + vendor + R"(,"x-pad":")" + std::string(config::max_config_bytes, 'a') + "\"}";
  const raw_case cases[] = {
      {"", error_code::invalid_json, "config: empty document"},
      {"[]", error_code::wrong_type, "config: expected object"},
      {"42", error_code::wrong_type, "config: expected object"},
      {"{" + vendor + ",}", error_code::invalid_json, "config: invalid JSON (a comma, colon, brace or bracket is missing or out of place)"},
      {"{" + vendor + "} {}", error_code::invalid_json, "config: invalid JSON (content after the document)"},
      {"{" + vendor + "," + vendor + "}", error_code::invalid_json, "config: duplicate key \"vendor\""},
      {R"({"vendor":{"id":"v","id":"w"}})", error_code::invalid_json, "vendor: duplicate key \"id\""},
      {"{" + vendor + R"(,"x-a":{"b":{"c":1,"c":2}}})", error_code::invalid_json, "x-a.b: duplicate key \"c\""},
      {"{" + vendor + ",\"x-a\":\"\xff\"}", error_code::invalid_utf8, "config: invalid UTF-8"},
      {"{" + vendor + ",\"x-a\":\"\xc3\x28\"}", error_code::invalid_utf8, "config: invalid UTF-8"},
      {"{" + vendor + R"(,"x-a":[1,tru]})", error_code::invalid_json, "x-a[1]: invalid JSON (a value is malformed)"},
      {"{" + vendor + R"(,"x-a":1e999})", error_code::invalid_json, "x-a: invalid JSON (a number is malformed)"},
      {"{" + vendor + R"(,"x-a":"\ud800"})", error_code::invalid_json, "x-a: invalid JSON (a string has an invalid escape)"},
      {deep, error_code::too_deep, deep_path + ": nested deeper than 128"},
      {"{" + vendor + R"(,"catalog":{"products":[{"sku":"a","name":"n","sku":"b","price":1}]}})", error_code::invalid_json,
       "catalog.products[0]: duplicate key \"sku\""},
      {"{" + vendor + R"(,"catalog":{"products":[{"sku":"a","name":"n","price":1,"x-a":1,"x-a":2}]}})",
       error_code::invalid_json, "catalog.products[0]: duplicate key \"x-a\""},
      {"{" + vendor + R"(,"catalog":{"salesThrough":"2025-01-01","products":[{"sku":"a","name":"n","price":1,"dailySales":[1,,2]}]}})",
       error_code::invalid_json, "catalog.products[0].dailySales[1]: invalid JSON (bad number)"},
      {"{" + vendor + R"(,"catalog":{"salesThrough":"2025-01-01","products":[{"sku":"a","name":"n","price":1,"dailySales":[1 2]}]}})",
       error_code::invalid_json, "catalog.products[0].dailySales[0]: invalid JSON (expected ',' or ']')"},
      {"{" + vendor + R"(,"catalog":{"salesThrough":"2025-01-01","products":[{"sku":"a","name":"n","price":1,"dailySales":[1,]}]}})",
       error_code::invalid_json, "catalog.products[0].dailySales[0]: invalid JSON (expected ',' or ']')"},
      {"{" + vendor + R"(,"catalog":{"salesThrough":"2025-01-01","products":[{"sku":"a","name":"n","price":1,"dailySales":[01]}]}})",
       error_code::invalid_json, "catalog.products[0].dailySales[0]: invalid JSON (expected ',' or ']')"},
      {"{" + vendor + R"(,"catalog":{"salesThrough":"2025-01-01","products":[{"sku":"a","name":"n","price":1,"dailySales":[1e999]}]}})",
       error_code::invalid_json, "catalog.products[0].dailySales[0]: invalid JSON (bad number)"},
      {"{" + vendor + R"(,"catalog":{"salesThrough":"2025-01-01","products":[{"sku":"a","name":"n","price":1,"dailySales":[18446744073709551616]}]}})",
       error_code::invalid_json, "catalog.products[0].dailySales[0]: invalid JSON (bad number)"},
      {"{" + vendor + R"(,"x-n":[-9223372036854775809]})", error_code::invalid_json,
       "x-n[0]: invalid JSON (a number is too large)"},
      {"{" + vendor + R"(,"catalog":{"products":[{"sku":"a","name":"n","price":27446744073709551615}]}})", error_code::invalid_json,
       "catalog.products[0].price: invalid JSON (a number is malformed)"},
      {"{" + vendor + R"(,"catalog":{"salesThrough":"2025-01-01","products":[{"sku":"a","name":"n","price":1,"dailySales":[3,-1]}]}})",
       error_code::invalid_value, "catalog.products[0].dailySales[1]: expected a non-negative number"},
      {"{" + vendor + R"(,"catalog":{"salesThrough":"2025-01-01","products":[{"sku":"a","name":"n","price":1,"dailySales":{}}]}})",
       error_code::wrong_type, "catalog.products[0].dailySales: expected array"},
      {too_large, error_code::too_large, "config: " + std::to_string(too_large.size()) + " bytes is over the limit of 4194304"},
  };
  for (const raw_case& c : cases) {
    auto r = config::parse(c.text);
    ASSERT_FALSE(r.ok()) << c.message;
    EXPECT_EQ(r.code(), c.code) << c.message << " / got " << r.message();
    EXPECT_EQ(r.message(), c.message);
  }
}

// Syntax errors are told in words, never by simdjson's internal names (TAPE_ERROR, ...).
TEST(ConfigValidation, SyntaxErrorsInWords) {
  const std::string vendor = R"("vendor":{"slug":"a","name":"A"})";
  const std::string broken[] = {"{" + vendor + ",}", "{" + vendor, "{" + vendor + R"(,"x-a":"abc)", "{" + vendor + R"(,"x-a":nul})",
                                "{" + vendor + R"(,"x-a":-})", "{" + vendor + R"(,"x-a":"\q"})", "{" + vendor + R"(,"x-a" 1})",
                                "{" + vendor + "}]", "{" + vendor + R"(,"x-a":[1 2]})"};
  for (const std::string& text : broken) {
    for (const std::string& message : {config::parse(text).message(), json::parse(text).message()}) {
      EXPECT_FALSE(message.empty()) << text;
      bool internal_name = false;
      for (size_t i = 0, run = 0; i < message.size(); ++i) {
        run = (message[i] >= 'A' && message[i] <= 'Z') || message[i] == '_' ? run + 1 : 0;
        internal_name |= run >= 5;
      }
      EXPECT_FALSE(internal_name) << text << " -> " << message;
    }
  }
}

TEST(ConfigValidation, DailySalesReadAsJsonNumbers) {
  const char* numbers[] = {"0", "7", "-0", "1.5", "2e1", "0.1", "123456789012345", "1234567890123456789",
                           "18446744073709551615", "4.9e-324", "1E+2", "0.30000000000000004", "1e-400"};
  std::string list;
  for (const char* n : numbers) list += std::string(list.empty() ? "" : " ,\n ") + n;
  auto c = parse_ok(R"({"vendor":{"id":"v","slug":"s","name":"n","vertical":"v","timezone":"UTC","region":"r"},)"
                    R"("catalog":{"salesThrough":"2025-01-01","products":[{"sku":"a","name":"n","price":1,"dailySales":[ )" +
                    list + " ]}]}}");
  ASSERT_NE(c, nullptr);
  const config::series sales = c->find_product("a")->daily_sales;
  ASSERT_EQ(sales.size, std::size(numbers));
  for (size_t i = 0; i < sales.size; ++i) {
    auto expected = json::parse(numbers[i]);  // the DOM parser's reading
    ASSERT_TRUE(expected.ok()) << numbers[i];
    EXPECT_EQ(sales[i], expected->as_number()) << numbers[i];
  }
}

TEST(ConfigValidation, ExtensionsAndTheSchemaKeyAreAllowed) {
  value doc = base();
  doc.set("x-owner", parsed(R"({"team":"web"})"));
  at(doc, {"vendor"}).set("x-crm", value::string("42"));
  at(doc, {"catalog", "products", 0}).set("x-margin", value::number(0.3));
  EXPECT_NE(parse_ok(json::to_string(doc)), nullptr);
}

TEST(ConfigValidation, KeysWithEscapesAreCompared) {
  // "\u0076endor" is "vendor": a duplicate once unescaped.
  const std::string text = R"({"vendor":{},"\u0076endor":{}})";
  auto r = config::parse(text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "config: duplicate key \"vendor\"");
}

// ---- the cache ----

std::shared_ptr<const vendor_config> small_config(const char* slug) {
  return parse_ok(std::string(R"({"vendor":{"id":"v","slug":")") + slug +
                  R"(","name":"n","vertical":"v","timezone":"UTC","region":"r"}})");
}

// What one entry of `c` under a one-letter slug costs, measured through a scratch cache.
size_t entry_cost(const std::shared_ptr<const vendor_config>& c) {
  config::cache scratch;
  scratch.put("a", 1, c);
  return scratch.counters().bytes;
}

TEST(ConfigCache, MissThenHit) {
  config::cache cache;
  auto c = small_config("a");
  EXPECT_EQ(cache.get("a", 1), nullptr);
  cache.put("a", 1, c);
  EXPECT_EQ(cache.get("a", 1), c);
  EXPECT_EQ(cache.get("a", 2), nullptr);  // another version is another entry
  EXPECT_EQ(cache.get("b", 1), nullptr);
  const auto s = cache.counters();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 3u);
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.budget, config::cache::default_budget);
  EXPECT_GT(s.bytes, c->memory_bytes());
}

TEST(ConfigCache, EvictsTheLeastRecentlyUsed) {
  auto c = small_config("a");
  const size_t cost = entry_cost(c);
  config::cache cache(3 * cost);
  cache.put("a", 1, c);
  cache.put("b", 1, c);
  cache.put("c", 1, c);
  EXPECT_EQ(cache.counters().bytes, 3 * cost);
  ASSERT_NE(cache.get("a", 1), nullptr);  // a is now the most recent; b the least
  cache.put("d", 1, c);
  EXPECT_EQ(cache.counters().evictions, 1u);
  EXPECT_EQ(cache.get("b", 1), nullptr);
  EXPECT_NE(cache.get("a", 1), nullptr);
  EXPECT_NE(cache.get("c", 1), nullptr);
  EXPECT_NE(cache.get("d", 1), nullptr);
  // Now a, c, d were used in that order: e evicts a, then f evicts c.
  cache.put("e", 1, c);
  cache.put("f", 1, c);
  EXPECT_EQ(cache.get("a", 1), nullptr);
  EXPECT_EQ(cache.get("c", 1), nullptr);
  EXPECT_NE(cache.get("d", 1), nullptr);
  const auto s = cache.counters();
  EXPECT_EQ(s.evictions, 3u);
  EXPECT_EQ(s.entries, 3u);
  EXPECT_LE(s.bytes, s.budget);
}

TEST(ConfigCache, StaysWithinItsBudget) {
  auto small = small_config("a");
  auto big = fixture("green-harbor");
  ASSERT_NE(big, nullptr);
  const size_t small_cost = entry_cost(small);
  const size_t big_cost = entry_cost(big);
  config::cache cache(big_cost + 2 * small_cost);
  cache.put("a", 1, small);
  cache.put("b", 1, small);
  cache.put("big", 1, big);  // needs room for itself: both small entries go
  EXPECT_LE(cache.counters().bytes, cache.counters().budget);
  EXPECT_EQ(cache.counters().entries, 2u);
  EXPECT_EQ(cache.counters().evictions, 1u);
  EXPECT_EQ(cache.get("a", 1), nullptr);
  EXPECT_NE(cache.get("b", 1), nullptr);
  EXPECT_NE(cache.get("big", 1), nullptr);
  for (int v = 0; v < 50; ++v) {
    cache.put("v", static_cast<uint64_t>(v), small);
    EXPECT_LE(cache.counters().bytes, cache.counters().budget);
  }
}

TEST(ConfigCache, PutReplaces) {
  auto first = small_config("a");
  auto second = fixture("minimal");
  config::cache cache;
  cache.put("a", 7, first);
  cache.put("a", 7, second);
  EXPECT_EQ(cache.get("a", 7), second);
  const auto s = cache.counters();
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_EQ(s.bytes, entry_cost(second));
}

TEST(ConfigCache, AnEntryOverTheBudgetIsNotKept) {
  auto small = small_config("a");
  auto big = fixture("green-harbor");
  config::cache cache(entry_cost(small) * 2);
  cache.put("a", 1, small);
  cache.put("big", 1, big);
  EXPECT_EQ(cache.get("big", 1), nullptr);
  EXPECT_NE(cache.get("a", 1), nullptr);  // nothing was evicted for it
  EXPECT_EQ(cache.counters().evictions, 0u);
  // Replacing a key with an oversize config drops what the key held.
  cache.put("a", 1, big);
  EXPECT_EQ(cache.get("a", 1), nullptr);
  EXPECT_EQ(cache.counters().entries, 0u);
  EXPECT_EQ(cache.counters().bytes, 0u);
}

TEST(ConfigCache, Erase) {
  auto c = small_config("a");
  config::cache cache;
  cache.put("a", 1, c);
  cache.put("a", 2, c);
  EXPECT_TRUE(cache.erase("a", 1));
  EXPECT_FALSE(cache.erase("a", 1));
  EXPECT_EQ(cache.get("a", 1), nullptr);
  EXPECT_NE(cache.get("a", 2), nullptr);
  EXPECT_EQ(cache.counters().entries, 1u);
  EXPECT_EQ(cache.counters().evictions, 0u);
  EXPECT_EQ(cache.counters().bytes, entry_cost(c));
}

TEST(ConfigCache, EntriesOutliveEviction) {
  auto c = small_config("a");
  config::cache cache(entry_cost(c));
  cache.put("a", 1, c);
  auto held = cache.get("a", 1);
  cache.put("b", 1, small_config("b"));  // evicts a while a request still holds it
  EXPECT_EQ(cache.get("a", 1), nullptr);
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(held->vendor().slug, "a");
}

}  // namespace
}  // namespace whale
