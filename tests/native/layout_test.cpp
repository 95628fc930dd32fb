// Layouts: golden pages of the fixtures byte for byte, visibility, section variants, the
// component graph (dependencies, conflicts, cycles, synergies), schedules across time zones and
// DST changes, product grids, behaviour adaptations and bad requests.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "test_util.h"
#include "whale/api.h"
#include "whale/config.h"
#include "whale/layout.h"
#include "whale/tz.h"

namespace whale {
namespace {

using json::value;

std::shared_ptr<const config::vendor_config> vendor(const std::string& slug) {
  auto parsed = config::parse(testing::read_fixture("vendors/" + slug + "/config.json"));
  EXPECT_TRUE(parsed.ok()) << parsed.message();
  return parsed.value();
}

value parse(std::string_view text) {
  auto v = json::parse(text);
  EXPECT_TRUE(v.ok()) << v.message() << " in " << text;
  return v.ok() ? v.value() : value();
}

std::string render(const config::vendor_config& c, std::string_view page, std::string_view attributes, int64_t now,
                   const layout::options& opts = {}) {
  std::string out;
  auto r = layout::render_layout(c, 7, page, parse(attributes), now, opts, out);
  EXPECT_TRUE(r.ok()) << r.message();
  return out;
}

value render_json(const config::vendor_config& c, std::string_view page, std::string_view attributes, int64_t now,
                  const layout::options& opts = {}) {
  return parse(render(c, page, attributes, now, opts));
}

const value* section(const value& layout, std::string_view id) {
  for (const value& s : layout.find("sections")->items()) {
    if (s.find("id")->as_string() == id) return &s;
  }
  return nullptr;
}

std::string ids(const value& layout, std::string_view section_id) {
  std::string out;
  for (const value& c : section(layout, section_id)->find("components")->items()) {
    if (!out.empty()) out += ",";
    out += c.find("id")->as_string();
  }
  return out;
}

std::string dropped(const value& layout) {
  std::string out;
  for (const value& d : layout.find("dropped")->items()) {
    if (!out.empty()) out += ",";
    out += d.find("id")->as_string() + ":" + d.find("reason")->as_string();
    if (const value* by = d.find("by")) out += ">" + by->as_string();
    if (const value* needs = d.find("needs")) out += "<" + needs->as_string();
  }
  return out;
}

int64_t utc(int y, int mo, int d, int h, int mi = 0, int s = 0) {
  return tz::days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

// ---- golden layouts (fixtures/layouts; WHALE_UPDATE_GOLDENS=1 rewrites them) ----

TEST(LayoutGolden, FixturePagesMatchByteForByte) {
  const value cases = parse(testing::read_fixture("layouts/cases.json"));
  ASSERT_TRUE(cases.is_array());
  std::map<std::string, std::shared_ptr<const config::vendor_config>> configs;
  const bool update = std::getenv("WHALE_UPDATE_GOLDENS") != nullptr;
  for (const value& c : cases.items()) {
    const std::string name = c.find("name")->as_string();
    const std::string slug = c.find("vendor")->as_string();
    if (!configs.count(slug)) configs[slug] = vendor(slug);
    std::string out;
    auto r = layout::render_layout(*configs[slug], 7, c.find("page")->as_string(), *c.find("attributes"),
                                   static_cast<int64_t>(c.find("now")->as_number()), {}, out);
    ASSERT_TRUE(r.ok()) << name << ": " << r.message();
    out += "\n";
    const std::string path = "layouts/" + name + ".json";
    if (update) {
      std::ofstream(std::string(WHALE_FIXTURES_DIR) + "/" + path, std::ios::binary) << out;
      continue;
    }
    EXPECT_EQ(out, testing::read_fixture(path)) << name << " differs from fixtures/" << path;
  }
}

TEST(LayoutGolden, SameInputsSameBytes) {
  auto c = vendor("green-harbor");
  const std::string attrs = R"({"id":"u9","device":"desktop","loggedIn":true})";
  EXPECT_EQ(render(*c, "home", attrs, 1751000000), render(*c, "home", attrs, 1751000000));
  layout::prepared prep(*c);
  layout::options opts;
  opts.precomputed = &prep;
  EXPECT_EQ(render(*c, "home", attrs, 1751000000, opts), render(*c, "home", attrs, 1751000000));
}

// ---- visibility, variants, cacheKey, vary ----

TEST(Layout, VisibilityFollowsAttributes) {
  auto c = vendor("flora-distro");
  const value in = render_json(*c, "home", R"({"loggedIn":true,"country":"US","device":"mobile"})", 1751000000);
  const value out = render_json(*c, "home", R"({"loggedIn":false,"device":"desktop","ageVerified":true})", 1751000000);
  EXPECT_EQ(ids(in, "personal"), "recs,recs-trending,recently-viewed,loyalty,cart,bundle,delivery");
  EXPECT_EQ(ids(out, "personal"), "recs-trending,cart,bundle");
  EXPECT_EQ(ids(in, "top"), "announce,header,nav,nav-mobile,age-gate");
  EXPECT_EQ(ids(out, "top"), "announce,header,nav");
  EXPECT_NE(dropped(out).find("age-gate:hidden"), std::string::npos);
  // vary: every attribute the page's conditions and features read, sorted.
  EXPECT_EQ(json::to_string(*in.find("vary")), R"(["ageVerified","country","device","id","loggedIn","segment"])");
  EXPECT_NE(in.find("cacheKey")->as_string(), out.find("cacheKey")->as_string());
  EXPECT_EQ(in.find("cacheKey")->as_string().size(), 16u);
}

TEST(Layout, AttributesOutsideVaryDoNotChangeTheLayout) {
  auto c = vendor("flora-distro");
  const std::string a = render(*c, "home", R"({"country":"US","browser":"chrome"})", 1751000000);
  const std::string b = render(*c, "home", R"({"country":"US","browser":"safari","url":"/x"})", 1751000000);
  EXPECT_EQ(a, b);
}

TEST(Layout, SectionVariantsReplaceOrPatch) {
  auto c = vendor("green-harbor");
  bool saw_patch = false, saw_replace = false, saw_control = false;
  for (int n = 0; n < 40; ++n) {
    const std::string attrs = R"({"id":"user-)" + std::to_string(n) + R"(","device":"desktop"})";
    const value l = render_json(*c, "home", attrs, 1751000000);
    int variation = -1;
    for (const value& a : l.find("assignments")->items()) {
      if (a.find("experiment")->as_string() == "gh-home-hero") variation = static_cast<int>(a.find("variation")->as_number());
    }
    const value& hero_components = *section(l, "hero")->find("components");
    if (variation == 1) {
      saw_patch = true;
      ASSERT_EQ(hero_components.items()[0].find("id")->as_string(), "hero");
      EXPECT_EQ(hero_components.items()[0].find("props")->find("title")->as_string(), "Dinner in 20 minutes");
    } else if (variation == 2) {
      saw_replace = true;
      EXPECT_EQ(ids(l, "hero"), "hero-video");
      // Defaults of the replacement's schema are filled in.
      EXPECT_NE(hero_components.items()[0].find("props")->find("autoplay"), nullptr);
    } else if (variation == 0) {
      saw_control = true;
      EXPECT_EQ(hero_components.items()[0].find("id")->as_string(), "hero");
      EXPECT_NE(hero_components.items()[0].find("props")->find("title")->as_string(), "Dinner in 20 minutes");
    }
  }
  EXPECT_TRUE(saw_patch && saw_replace && saw_control);
}

TEST(Layout, StickyBucketDocsAreWrittenAndReported) {
  auto c = vendor("green-harbor");
  const value docs = value::object();
  layout::options opts;
  opts.sticky_docs = &docs;
  const value l = render_json(*c, "home", R"({"id":"u1","device":"desktop"})", 1751000000, opts);
  const value* written = l.find("stickyBucketAssignmentDocs");
  ASSERT_NE(written, nullptr);
  EXPECT_NE(written->find("id||u1"), nullptr);
}

// ---- multi-variant pages (candidates) ----

value candidates(const config::vendor_config& c, std::string_view page, std::string_view attributes, size_t count,
                 const layout::options& opts = {}) {
  std::string out;
  auto r = layout::decide_candidates(c, 7, page, parse(attributes), 1751000000, opts, count, out);
  EXPECT_TRUE(r.ok()) << r.message();
  return parse(out);
}

value choose(const config::vendor_config& c, std::string_view page, std::string_view attributes, size_t count,
             std::string_view behaviour, int kept = -1) {
  layout::options opts;
  opts.behaviour = behaviour;
  opts.behaviour_rules = c.behaviour_rules();
  std::string out;
  auto r = layout::choose_candidate(c, 7, page, parse(attributes), 1751000000, opts, count, kept, out);
  EXPECT_TRUE(r.ok()) << r.message();
  return parse(out);
}

std::string names(const value& doc) {
  std::string out;
  for (const value& c : doc.find("candidates")->items()) out += (out.empty() ? "" : ",") + c.find("name")->as_string();
  return out;
}

TEST(LayoutCandidates, ArmsComeWithTheVisitorsOwnFirstAndForceEachArm) {
  auto c = vendor("flora-distro");
  // Visitors in each arm: their own arm leads, then the others in variation order.
  std::map<std::string, std::string> seen;
  for (int i = 0; i < 40 && seen.size() < 3; ++i) {
    const std::string attrs = R"({"id":"visitor-)" + std::to_string(i) + R"("})";
    const value plain = parse([&] {
      std::string out;
      EXPECT_TRUE(layout::decide_layout(*c, 7, "home", parse(attrs), 1751000000, {}, out).ok());
      return out;
    }());
    int own = -1;
    for (const value& a : plain.find("assignments")->items()) {
      if (a.find("experiment")->as_string() == "home-hero") own = static_cast<int>(a.find("variation")->as_number());
    }
    ASSERT_GE(own, 0);
    const value doc = candidates(*c, "home", attrs, 3);
    EXPECT_EQ(doc.find("watchMs")->as_number(), 10000);
    const char* arm_names[] = {"control", "headline", "video"};
    std::string expected = arm_names[own];
    for (int v = 0; v < 3; ++v) {
      if (v != own) expected += std::string(",") + arm_names[v];
    }
    EXPECT_EQ(names(doc), expected) << attrs;
    seen[arm_names[own]] = attrs;
    // Each candidate forces its arm: the decision shows that variation, not in the experiment
    // (the exposure waits for the choice), and the decisions differ.
    std::set<std::string> keys;
    for (const value& cand : doc.find("candidates")->items()) {
      const double forced = cand.find("forcedVariations")->find("home-hero")->as_number();
      const value& a = cand.find("decision")->find("assignments")->items()[0];
      EXPECT_EQ(a.find("experiment")->as_string(), "home-hero");
      EXPECT_EQ(a.find("variation")->as_number(), forced);
      EXPECT_FALSE(a.find("inExperiment")->as_bool());
      keys.insert(cand.find("decision")->find("cacheKey")->as_string());
    }
    EXPECT_EQ(keys.size(), 3u);
    // Two candidates: the visitor's own and the next.
    EXPECT_EQ(names(candidates(*c, "home", attrs, 2)), expected.substr(0, expected.rfind(',')));
  }
  EXPECT_EQ(seen.size(), 3u) << "40 visitors should cover the three arms";
}

TEST(LayoutCandidates, RenderingWithACandidatesForcingShowsItsArm) {
  auto c = vendor("flora-distro");
  const value forced = parse(R"({"home-hero":2})");
  layout::options opts;
  opts.forced_variations = &forced;
  const value l = render_json(*c, "home", R"({"id":"visitor-1","device":"mobile"})", 1751000000, opts);
  EXPECT_NE(ids(l, "hero").find("hero-video"), std::string::npos);
  EXPECT_EQ(ids(l, "hero").find("hero,"), std::string::npos);
}

TEST(LayoutCandidates, StrategiesComeInDeclaredOrder) {
  auto c = vendor("green-harbor");
  const value doc = candidates(*c, "home", R"({"id":"u1","device":"desktop"})", 8);
  EXPECT_EQ(names(doc), "conservative,balanced,aggressive");
  const value& aggressive = doc.find("candidates")->items()[2];
  EXPECT_EQ(json::to_string(*aggressive.find("states")), R"(["engaged","ready_to_buy","price_sensitive"])");
  EXPECT_EQ(json::to_string(*aggressive.find("forcedVariations")), R"({"gh-home-hero":2,"gh-home-grid-sort":1})");
  EXPECT_EQ(names(candidates(*c, "home", R"({"id":"u1"})", 1)), "conservative");
}

TEST(LayoutCandidates, KeptOutVisitorsAndPlainPagesGetOneDefault) {
  auto c = vendor("flora-distro");
  layout::options off;
  off.experiments = false;
  const value kept_out = candidates(*c, "home", R"({"id":"u1"})", 3, off);
  EXPECT_EQ(names(kept_out), "default");
  EXPECT_EQ(kept_out.find("watchMs")->as_number(), 0);
  EXPECT_EQ(json::to_string(*kept_out.find("candidates")->items()[0].find("forcedVariations")), "{}");
  EXPECT_EQ(names(candidates(*c, "shop", R"({"id":"u1"})", 3)), "default");
  std::string out;
  EXPECT_EQ(layout::decide_candidates(*c, 7, "nope", parse("{}"), 0, {}, 3, out).code(), error_code::not_found);
  EXPECT_EQ(layout::decide_candidates(*c, 7, "home", parse("{}"), 0, {}, 0, out).code(), error_code::invalid_value);
  EXPECT_EQ(layout::decide_candidates(*c, 7, "home", parse("{}"), 0, {}, 9, out).code(), error_code::invalid_value);
}

TEST(LayoutCandidates, TheVisitsBehaviourChooses) {
  auto c = vendor("green-harbor");
  const std::string attrs = R"({"id":"u1"})";
  // No summary, or states no strategy lists: the first candidate stays.
  EXPECT_EQ(choose(*c, "home", attrs, 3, "").find("chosen")->as_number(), 0);
  EXPECT_EQ(choose(*c, "home", attrs, 3, "v1;sd=10").find("chosen")->as_number(), 0);
  // engaged -> aggressive; confused (first in state order) beats ready_to_buy.
  const value engaged = choose(*c, "home", attrs, 3, "v1;sd=60;dw=60");
  EXPECT_EQ(engaged.find("chosen")->as_number(), 2);
  EXPECT_EQ(engaged.find("candidate")->find("name")->as_string(), "aggressive");
  EXPECT_EQ(json::to_string(*engaged.find("visit")), R"(["engaged"])");
  EXPECT_EQ(choose(*c, "home", attrs, 3, "v1;rc=5;ca=1").find("candidate")->find("name")->as_string(), "conservative");
  // Only the candidates served count: with two, aggressive is not among them.
  EXPECT_EQ(choose(*c, "home", attrs, 2, "v1;sd=60;dw=60").find("chosen")->as_number(), 0);
  // An invalid summary chooses nothing.
  EXPECT_EQ(choose(*c, "home", attrs, 3, "v2;zz=1").find("chosen")->as_number(), 0);
  // kept: the one the browser kept showing.
  EXPECT_EQ(choose(*c, "home", attrs, 3, "v1;sd=60;dw=60", 1).find("candidate")->find("name")->as_string(), "balanced");
  std::string out;
  layout::options opts;
  EXPECT_EQ(layout::choose_candidate(*c, 7, "home", parse(attrs), 0, opts, 2, 2, out).code(), error_code::invalid_value);
}

TEST(LayoutCandidates, ArmsFollowPreferAndTheVisitorsOrder) {
  auto c = vendor("flora-distro");
  for (int i = 0; i < 12; ++i) {
    const std::string attrs = R"({"id":"visitor-)" + std::to_string(i) + R"("})";
    const value doc = candidates(*c, "home", attrs, 3);
    const value engaged = choose(*c, "home", attrs, 3, "v1;sd=60;dw=60");
    EXPECT_EQ(engaged.find("candidate")->find("name")->as_string(), "video");
    const size_t at = static_cast<size_t>(engaged.find("chosen")->as_number());
    EXPECT_EQ(doc.find("candidates")->items()[at].find("name")->as_string(), "video");
    EXPECT_EQ(choose(*c, "home", attrs, 3, "v1;ca=1").find("candidate")->find("name")->as_string(), "headline");
  }
}

// ---- the component graph ----

// A small registry: nav depends on header, grid on cart, promo-a conflicts with promo-b.
std::string graph_config(const std::string& components, const std::string& pages) {
  return R"({"vendor":{"id":"v","slug":"graph","name":"G","vertical":"demo","timezone":"UTC","region":"r"},
    "components":{
      "header":{"priority":90},
      "nav":{"priority":80,"dependencies":["header"]},
      "cart":{"priority":70,"props":{"type":"object","properties":{"style":{"type":"string","default":"drawer"}}}},
      "grid":{"priority":60,"dependencies":["cart"]},
      "needy":{"dependencies":["strict"]},
      "strict":{"props":{"type":"object","required":["title"],"properties":{"title":{"type":"string"}}}},
      "promo-a":{"priority":5,"conflicts":["promo-b"]},
      "promo-b":{"priority":9},
      "promo-c":{"priority":9,"conflicts":["promo-b"]},
      "hero":{"synergies":["strip"]},
      "strip":{},
      "text":{})" + components + R"(},
    "pages":[)" + pages + "]}";
}

std::shared_ptr<const config::vendor_config> graph(const std::string& pages, const std::string& components = "") {
  auto parsed = config::parse(graph_config(components, pages));
  EXPECT_TRUE(parsed.ok()) << parsed.message();
  return parsed.ok() ? parsed.value() : nullptr;
}

TEST(LayoutGraph, DependenciesAreOrderedFirstInTheirSection) {
  auto c = graph(R"({"id":"p","path":"/","sections":[{"id":"s","components":[
      {"id":"n","key":"nav"},{"id":"t","key":"text"},{"id":"h","key":"header"}]}]})");
  const value l = render_json(*c, "p", "{}", 0);
  EXPECT_EQ(ids(l, "s"), "t,h,n");
  EXPECT_EQ(dropped(l), "");
}

TEST(LayoutGraph, AbsentDependencyIsPulledInWithDefaults) {
  auto c = graph(R"({"id":"p","path":"/","sections":[{"id":"s","components":[{"id":"g","key":"grid"}]}]})");
  const value l = render_json(*c, "p", "{}", 0);
  EXPECT_EQ(ids(l, "s"), "auto:cart,g");
  EXPECT_EQ(json::to_string(*section(l, "s")->find("components")->items()[0].find("props")), R"({"style":"drawer"})");
}

TEST(LayoutGraph, DependencyThatCannotBePulledInDropsTheDependent) {
  auto c = graph(R"({"id":"p","path":"/","sections":[{"id":"s","components":[{"id":"x","key":"needy"}]}]})");
  const value l = render_json(*c, "p", "{}", 0);
  EXPECT_EQ(ids(l, "s"), "");
  EXPECT_EQ(dropped(l), "x:missing-dependency<strict");
}

TEST(LayoutGraph, HiddenDependencyDropsTheDependentInCascade) {
  auto c = graph(R"({"id":"p","path":"/","sections":[{"id":"s","components":[
      {"id":"h","key":"header","visibility":{"device":"desktop"}},{"id":"n","key":"nav"},{"id":"t","key":"text"}]}]})");
  EXPECT_EQ(dropped(render_json(*c, "p", R"({"device":"mobile"})", 0)), "h:hidden,n:missing-dependency<header");
  EXPECT_EQ(ids(render_json(*c, "p", R"({"device":"desktop"})", 0), "s"), "h,n,t");
}

TEST(LayoutGraph, ConflictsKeepTheHigherPriority) {
  auto c = graph(R"({"id":"p","path":"/","sections":[{"id":"s","components":[
      {"id":"a","key":"promo-a"},{"id":"b","key":"promo-b"},{"id":"t","key":"text"}]}]})");
  const value l = render_json(*c, "p", "{}", 0);
  EXPECT_EQ(ids(l, "s"), "b,t");
  EXPECT_EQ(dropped(l), "a:conflict>b");
}

TEST(LayoutGraph, EqualPrioritiesKeepThePageOrder) {
  auto c = graph(R"({"id":"p","path":"/","sections":[{"id":"s","components":[
      {"id":"c","key":"promo-c"},{"id":"b","key":"promo-b"}]}]})");
  EXPECT_EQ(dropped(render_json(*c, "p", "{}", 0)), "b:conflict>c");
}

TEST(LayoutGraph, ConflictsSpanSections) {
  auto c = graph(R"({"id":"p","path":"/","sections":[{"id":"s1","components":[{"id":"a","key":"promo-a"}]},
      {"id":"s2","components":[{"id":"b","key":"promo-b"}]}]})");
  const value l = render_json(*c, "p", "{}", 0);
  EXPECT_EQ(ids(l, "s1"), "");
  EXPECT_EQ(ids(l, "s2"), "b");
}

TEST(LayoutGraph, SynergyPartnersArePlacedTogether) {
  auto c = graph(R"({"id":"p","path":"/","sections":[{"id":"s","components":[
      {"id":"h","key":"hero"},{"id":"t","key":"text"},{"id":"st","key":"strip"}]}]})");
  EXPECT_EQ(ids(render_json(*c, "p", "{}", 0), "s"), "h,st,t");
}

TEST(LayoutGraph, DependencyCyclesAreRefusedByTheConfig) {
  auto parsed = config::parse(graph_config(R"(,"x":{"dependencies":["y"]},"y":{"dependencies":["x"]})", ""));
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.code(), error_code::invalid_value);
  EXPECT_NE(parsed.message().find("dependency cycle"), std::string::npos) << parsed.message();
}

TEST(LayoutGraph, PropsBreakingTheSchemaAreRefusedByTheConfig) {
  auto parsed = config::parse(graph_config("", R"({"id":"p","path":"/","sections":[{"id":"s","components":[
      {"id":"c","key":"cart","props":{"style":7}}]}]})"));
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.code(), error_code::wrong_type);
  EXPECT_EQ(parsed.message(), "pages[0].sections[0].components[0].props.style: expected string");
}

// ---- time zones ----

int32_t offset_at(std::string_view zone, int64_t t) {
  auto r = tz::zone_rule(zone);
  EXPECT_TRUE(r.ok()) << zone << ": " << r.message();
  return tz::utc_offset(r.value(), t);
}

TEST(TimeZones, LosAngelesChangesOnTheSecondSundayOfMarchAndFirstOfNovember) {
  EXPECT_EQ(offset_at("America/Los_Angeles", utc(2025, 3, 9, 9, 59, 59)), -8 * 3600);  // 01:59:59 PST
  EXPECT_EQ(offset_at("America/Los_Angeles", utc(2025, 3, 9, 10)), -7 * 3600);         // 03:00 PDT
  EXPECT_EQ(offset_at("America/Los_Angeles", utc(2025, 11, 2, 8, 59, 59)), -7 * 3600); // 01:59:59 PDT
  EXPECT_EQ(offset_at("America/Los_Angeles", utc(2025, 11, 2, 9)), -8 * 3600);         // 01:00 PST again
  EXPECT_EQ(offset_at("America/Los_Angeles", utc(2024, 3, 10, 10)), -7 * 3600);
  EXPECT_EQ(offset_at("America/Los_Angeles", utc(2024, 3, 10, 9, 59, 59)), -8 * 3600);
}

TEST(TimeZones, BerlinChangesOnTheLastSundays) {
  EXPECT_EQ(offset_at("Europe/Berlin", utc(2025, 3, 30, 0, 59, 59)), 3600);
  EXPECT_EQ(offset_at("Europe/Berlin", utc(2025, 3, 30, 1)), 7200);
  EXPECT_EQ(offset_at("Europe/Berlin", utc(2025, 10, 26, 0, 59, 59)), 7200);
  EXPECT_EQ(offset_at("Europe/Berlin", utc(2025, 10, 26, 1)), 3600);
}

TEST(TimeZones, SydneyHasSouthernHemisphereSummer) {
  EXPECT_EQ(offset_at("Australia/Sydney", utc(2025, 1, 15, 0)), 11 * 3600);
  EXPECT_EQ(offset_at("Australia/Sydney", utc(2025, 4, 5, 15, 59, 59)), 11 * 3600);  // 02:59:59 AEDT
  EXPECT_EQ(offset_at("Australia/Sydney", utc(2025, 4, 5, 16)), 10 * 3600);          // 02:00 AEST
  EXPECT_EQ(offset_at("Australia/Sydney", utc(2025, 7, 1, 0)), 10 * 3600);
  EXPECT_EQ(offset_at("Australia/Sydney", utc(2025, 10, 4, 15, 59, 59)), 10 * 3600);  // 01:59:59 AEST
  EXPECT_EQ(offset_at("Australia/Sydney", utc(2025, 10, 4, 16)), 11 * 3600);          // 03:00 AEDT
  EXPECT_EQ(offset_at("Australia/Sydney", utc(2025, 12, 31, 23)), 11 * 3600);
}

TEST(TimeZones, ZonesWithoutDstAndUnusualRules) {
  EXPECT_EQ(offset_at("Asia/Kolkata", utc(2025, 1, 1, 0)), 5 * 3600 + 1800);
  EXPECT_EQ(offset_at("Asia/Kolkata", utc(2025, 7, 1, 0)), 5 * 3600 + 1800);
  EXPECT_EQ(offset_at("UTC", utc(2025, 7, 1, 0)), 0);
  EXPECT_EQ(offset_at("Asia/Tehran", utc(2025, 7, 1, 0)), 3 * 3600 + 1800);
  // Dublin's "negative DST": standard time is summer's IST, winter's GMT is the "daylight" part.
  EXPECT_EQ(offset_at("Europe/Dublin", utc(2025, 1, 15, 12)), 0);
  EXPECT_EQ(offset_at("Europe/Dublin", utc(2025, 7, 15, 12)), 3600);
  EXPECT_EQ(offset_at("Europe/Dublin", utc(2025, 3, 30, 0, 59, 59)), 0);
  EXPECT_EQ(offset_at("Europe/Dublin", utc(2025, 3, 30, 1)), 3600);
  // Nuuk changes at -01:00 local time of the last Sunday, i.e. on the Saturday evening.
  EXPECT_EQ(offset_at("America/Nuuk", utc(2025, 3, 30, 0, 59, 59)), -2 * 3600);
  EXPECT_EQ(offset_at("America/Nuuk", utc(2025, 3, 30, 1)), -1 * 3600);
  EXPECT_EQ(offset_at("America/Nuuk", utc(2025, 10, 25, 23, 59, 59)), -1 * 3600);
  EXPECT_EQ(offset_at("America/Nuuk", utc(2025, 10, 26, 1)), -2 * 3600);
}

TEST(TimeZones, UnknownZonesAndBadRules) {
  EXPECT_EQ(tz::zone_rule("Mars/Olympus_Mons").code(), error_code::not_found);
  EXPECT_TRUE(tz::find_zone("America/Los_Angeles") == "PST8PDT,M3.2.0,M11.1.0");
  for (const char* bad : {"", "PS8", "PST", "PST8PDT,M13.1.0,M11.1.0", "PST8PDT,M3.2.0", "<+03", "EST5EDT,M3.2.0/200,M11.1.0",
                          "PST8PDT,M3.2.0,M11.1.0x", "PST25"}) {
    EXPECT_EQ(tz::parse_rule(bad).code(), error_code::invalid_value) << bad;
  }
  EXPECT_EQ(tz::parse_rule(std::string(200, 'A')).code(), error_code::too_large);
  auto us = tz::parse_rule("EST5EDT");
  ASSERT_TRUE(us.ok());
  EXPECT_EQ(tz::utc_offset(us.value(), utc(2025, 7, 1, 0)), -4 * 3600);
}

TEST(TimeZones, CivilCalendar) {
  EXPECT_EQ(tz::days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(tz::days_from_civil(2000, 3, 1), 11017);
  const tz::civil c = tz::to_civil(utc(2024, 2, 29, 23, 59, 59));
  EXPECT_EQ(c.year, 2024);
  EXPECT_EQ(c.month, 2);
  EXPECT_EQ(c.day, 29);
  EXPECT_EQ(c.weekday, 3);  // a Thursday
  EXPECT_EQ(c.seconds, 86399);
  EXPECT_EQ(tz::to_civil(-1).year, 1969);
  EXPECT_EQ(tz::to_civil(-1).weekday, 2);  // 1969-12-31 was a Wednesday
}

// ---- schedules ----

config::schedule dayparts(uint8_t parts, uint8_t days = 0) {
  config::schedule s;
  s.dayparts = parts;
  s.days = days;
  return s;
}

TEST(Schedules, MorningStartsAtFiveLocalOnBothSidesOfTheMarchChange) {
  const tz::rule la = tz::zone_rule("America/Los_Angeles").value();
  const config::schedule morning = dayparts(config::daypart_morning);
  // Saturday 8 March 2025, PST: 05:00 local is 13:00 UTC.
  EXPECT_FALSE(layout::in_schedule(morning, utc(2025, 3, 8, 12, 59, 59), la));
  EXPECT_TRUE(layout::in_schedule(morning, utc(2025, 3, 8, 13), la));
  // Sunday 9 March, PDT from 03:00: 05:00 local is 12:00 UTC.
  EXPECT_FALSE(layout::in_schedule(morning, utc(2025, 3, 9, 11, 59, 59), la));
  EXPECT_TRUE(layout::in_schedule(morning, utc(2025, 3, 9, 12), la));
  EXPECT_EQ(layout::seconds_until_change(morning, utc(2025, 3, 9, 11, 59, 59), la, 86400), 1);
}

TEST(Schedules, EveningOnTheNovemberChangeDay) {
  const tz::rule la = tz::zone_rule("America/Los_Angeles").value();
  const config::schedule evening = dayparts(config::daypart_evening);
  // Sunday 2 November 2025 is PST from 02:00 PDT: 17:00 local is 01:00 UTC the next day.
  EXPECT_FALSE(layout::in_schedule(evening, utc(2025, 11, 3, 0, 59, 59), la));
  EXPECT_TRUE(layout::in_schedule(evening, utc(2025, 11, 3, 1), la));
  // The day before, PDT: 17:00 local is 00:00 UTC.
  EXPECT_TRUE(layout::in_schedule(evening, utc(2025, 11, 2, 0), la));
  // Across the change: at 00:30 local PDT the next boundary (05:00 PST) is 5.5 h of real time away.
  EXPECT_EQ(layout::seconds_until_change(evening, utc(2025, 11, 2, 7, 30), la, 86400), 5 * 3600 + 1800);
}

TEST(Schedules, DaysAreLocal) {
  const tz::rule la = tz::zone_rule("America/Los_Angeles").value();
  const tz::rule sydney = tz::zone_rule("Australia/Sydney").value();
  const config::schedule friday = dayparts(0, 1u << 4);
  // Saturday 28 June 2025 03:00 UTC is Friday 20:00 in Los Angeles, Saturday 13:00 in Sydney.
  EXPECT_TRUE(layout::in_schedule(friday, utc(2025, 6, 28, 3), la));
  EXPECT_FALSE(layout::in_schedule(friday, utc(2025, 6, 28, 3), sydney));
  // Friday 3 January 2025 13:00 UTC is Saturday 00:00 AEDT in Sydney (summer time).
  EXPECT_TRUE(layout::in_schedule(friday, utc(2025, 1, 3, 12, 59, 59), sydney));
  EXPECT_FALSE(layout::in_schedule(friday, utc(2025, 1, 3, 13), sydney));
  // In winter (AEST) the same local midnight is 14:00 UTC.
  EXPECT_TRUE(layout::in_schedule(friday, utc(2025, 7, 4, 13, 59, 59), sydney));
  EXPECT_FALSE(layout::in_schedule(friday, utc(2025, 7, 4, 14), sydney));
}

TEST(Schedules, BerlinAndKolkataNights) {
  const tz::rule berlin = tz::zone_rule("Europe/Berlin").value();
  const tz::rule kolkata = tz::zone_rule("Asia/Kolkata").value();
  const config::schedule night = dayparts(config::daypart_night);
  EXPECT_TRUE(layout::in_schedule(night, utc(2025, 1, 10, 21), berlin));   // 22:00 CET
  EXPECT_FALSE(layout::in_schedule(night, utc(2025, 7, 10, 19, 59), berlin));  // 21:59 CEST
  EXPECT_TRUE(layout::in_schedule(night, utc(2025, 7, 10, 20), berlin));   // 22:00 CEST
  EXPECT_TRUE(layout::in_schedule(night, utc(2025, 7, 10, 16, 30), kolkata));  // 22:00 IST
  EXPECT_FALSE(layout::in_schedule(night, utc(2025, 7, 10, 16, 29, 59), kolkata));
}

TEST(Schedules, UtcWindowsAreHalfOpen) {
  config::schedule w;
  w.start = 1000;
  w.end = 2000;
  const tz::rule u;
  EXPECT_FALSE(layout::in_schedule(w, 999, u));
  EXPECT_TRUE(layout::in_schedule(w, 1000, u));
  EXPECT_FALSE(layout::in_schedule(w, 2000, u));
  EXPECT_EQ(layout::seconds_until_change(w, 500, u, 86400), 500);
  EXPECT_EQ(layout::seconds_until_change(w, 1500, u, 86400), 500);
}

TEST(Schedules, FixturePageFollowsTheVendorsZone) {
  auto c = vendor("flora-distro");
  // Friday 27 June 2025, 23:30 UTC = 16:30 PDT: promo (fri-sun) on, happy hour (evening) off.
  const value afternoon = render_json(*c, "home", "{}", utc(2025, 6, 27, 23, 30));
  EXPECT_EQ(ids(afternoon, "hero"), "hero,promo,sale-countdown");
  EXPECT_EQ(afternoon.find("maxAge")->as_number(), 1800);  // evening starts at 17:00 local
  const value evening = render_json(*c, "home", "{}", utc(2025, 6, 28, 0, 0));
  EXPECT_EQ(ids(evening, "hero"), "hero,promo,happy-hour,sale-countdown");
}

// ---- product grids ----

TEST(LayoutProducts, SoldOutIsMarkedAndLastOrHidden) {
  auto flora = vendor("flora-distro");  // inventory.soldOut: mark
  const value l = render_json(*flora, "home", "{}", 1751000000);
  bool marked = false;
  for (const value& c : section(l, "discover")->find("components")->items()) {
    const value* products = c.find("props")->find("products");
    if (!products) continue;
    bool sold_out_seen = false;
    for (const value& p : products->items()) {
      const bool sold_out = p.find("soldOut") != nullptr;
      EXPECT_TRUE(sold_out || !sold_out_seen) << "sold-out products go last";
      sold_out_seen = sold_out_seen || sold_out;
      if (sold_out) {
        marked = true;
        EXPECT_EQ(p.find("sku")->as_string(), "FD-EDB-1027");
        EXPECT_EQ(p.find("urgency")->as_string(), "soldOut");
      }
    }
  }
  EXPECT_TRUE(marked);
  auto harbor = vendor("green-harbor");  // soldOut: hide, orderByUrgency
  const value produce = render_json(*harbor, "shop-produce", "{}", 1751000000);
  for (const value& c : section(produce, "grid")->find("components")->items()) {
    const value* products = c.find("props")->find("products");
    ASSERT_NE(products, nullptr);
    for (const value& p : products->items()) {
      EXPECT_NE(p.find("sku")->as_string(), "GH-PRD-1025");
      EXPECT_EQ(p.find("soldOut"), nullptr);
    }
  }
}

TEST(LayoutProducts, UrgencyOrderAndLimit) {
  auto c = vendor("flora-distro");
  layout::prepared prep(*c);
  const value l = render_json(*c, "home", "{}", 1751000000);
  const value& grid = section(l, "discover")->find("components")->items()[2];  // grid-flower, sort urgency
  ASSERT_EQ(grid.find("id")->as_string(), "grid-flower");
  const value& products = *grid.find("props")->find("products");
  EXPECT_EQ(products.items().size(), 8u);
  double last = 1e300;
  for (const value& p : products.items()) {
    const config::product* product = c->find_product(p.find("sku")->as_string());
    const double score = prep.forecast(static_cast<size_t>(product - c->catalog().products.data())).score;
    EXPECT_LE(score, last);
    last = score;
  }
}

// ---- behaviour ----

TEST(LayoutBehaviour, AdaptationsApplyForActiveStates) {
  auto c = vendor("flora-distro");
  auto rules = behaviour::rules::from_json(parse(R"({
    "states": {"confused": {"rapidClicks": {"$gte": 3}}},
    "adaptations": [
      {"state": "confused", "action": "add", "page": "home", "section": "assist", "position": "start",
       "component": {"key": "live-chat", "id": "chat-help", "props": {"greeting": "Need a hand?"}}},
      {"state": "confused", "action": "props", "section": "top", "target": "nav", "props": {"variant": "drawer"}}
    ]})"));
  ASSERT_TRUE(rules.ok()) << rules.message();
  layout::options opts;
  opts.behaviour_rules = &rules.value();
  opts.behaviour = "v1;rc=4";
  const value adapted = render_json(*c, "home", "{}", 1751000000, opts);
  EXPECT_EQ(json::to_string(*adapted.find("behaviour")), R"(["confused"])");
  EXPECT_EQ(ids(adapted, "assist"), "chat-help,spacer-4,footer");
  EXPECT_EQ(section(adapted, "top")->find("components")->items()[2].find("props")->find("variant")->as_string(), "drawer");
  opts.behaviour = "v1;rc=0";
  const value calm = render_json(*c, "home", "{}", 1751000000, opts);
  EXPECT_EQ(ids(calm, "assist"), "spacer-4,footer");
  EXPECT_NE(calm.find("cacheKey")->as_string(), adapted.find("cacheKey")->as_string());
}

TEST(LayoutBehaviour, TheConfigsOwnRulesReachTheRenderer) {
  // The same rules as above, declared by the vendor in the config's "x-behaviour" member.
  value doc = parse(testing::read_fixture("vendors/flora-distro/config.json"));
  doc.set("x-behaviour", parse(R"({
    "states": {"confused": {"rapidClicks": {"$gte": 3}}},
    "adaptations": [{"state": "confused", "action": "add", "page": "home", "section": "assist", "position": "start",
                     "component": {"key": "live-chat", "id": "chat-help", "props": {"greeting": "Need a hand?"}}}]})"));
  auto parsed = config::parse(json::to_string(doc));
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  ASSERT_NE(parsed.value()->behaviour_rules(), nullptr);
  config::cache configs;
  api::layout_precomputations prepared;
  configs.put("flora-distro", 1, parsed.value());
  auto r = api::render_layout(configs, prepared,
                              R"({"slug":"flora-distro","version":1,"page":"home","behaviour":"v1;rc=4"})", 1751000000);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(ids(parse(r.value()), "assist"), "chat-help,spacer-4,footer");
  EXPECT_EQ(vendor("flora-distro")->behaviour_rules(), nullptr);

  doc.set("x-behaviour", parse(R"({"states": {"sleepy": {}}})"));
  auto bad = config::parse(json::to_string(doc));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.message().rfind("x-behaviour: ", 0), 0u) << bad.message();
}

// ---- requests through the API ----

TEST(LayoutApi, RendersCachedConfigsAndRefusesBadRequests) {
  config::cache configs;
  api::layout_precomputations prepared;
  configs.put("flora-distro", 3, vendor("flora-distro"));
  const auto call = [&](const std::string& request) { return api::render_layout(configs, prepared, request, 1751000000); };
  auto ok = call(R"({"slug":"flora-distro","version":3,"page":"cart","attributes":{"id":"u"}})");
  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(ok.value().rfind(R"({"vendor":"flora-distro","version":3,"page":"cart",)", 0), 0u);
  EXPECT_EQ(prepared.size(), 1u);
  EXPECT_EQ(call(R"({"slug":"flora-distro","version":3,"page":"cart","now":1751000000})").value(),
            call(R"({"slug":"flora-distro","version":3,"page":"cart","attributes":{}})").value());
  EXPECT_EQ(call(R"({"slug":"flora-distro","version":4,"page":"cart"})").code(), error_code::not_found);
  EXPECT_EQ(call(R"({"slug":"nobody","version":3,"page":"cart"})").code(), error_code::not_found);
  auto no_page = call(R"({"slug":"flora-distro","version":3,"page":"nope"})");
  EXPECT_EQ(no_page.code(), error_code::not_found);
  EXPECT_EQ(no_page.message(), "page: no page \"nope\" in flora-distro v3");
  EXPECT_EQ(call(R"({"slug":"flora-distro","version":3,"page":"cart","attributes":[]})").code(), error_code::wrong_type);
  EXPECT_EQ(call(R"({"version":3,"page":"cart"})").code(), error_code::wrong_type);
  EXPECT_EQ(call(R"({"slug":"flora-distro","version":-1,"page":"cart"})").code(), error_code::wrong_type);
  EXPECT_EQ(call(R"({"slug":"flora-distro","version":3,"page":"cart","now":1.5})").code(), error_code::wrong_type);
  EXPECT_EQ(call(R"({"slug":"flora-distro","version":3,"page":"cart","behaviour":7})").code(), error_code::wrong_type);
  EXPECT_EQ(call(R"({"slug":"flora-distro")").code(), error_code::invalid_json);
  EXPECT_EQ(call("[]").code(), error_code::wrong_type);
  // A replaced config gets a fresh precomputation; an evicted one's entry goes.
  configs.put("flora-distro", 3, vendor("flora-distro"));
  ASSERT_TRUE(call(R"({"slug":"flora-distro","version":3,"page":"cart"})").ok());
  EXPECT_EQ(prepared.size(), 1u);
}


// ---- decisions: what a shared layout cache keys on ----

value decide_json(const config::vendor_config& c, std::string_view page, std::string_view attributes, int64_t now,
                  const layout::options& opts = {}) {
  std::string out;
  auto r = layout::decide_layout(c, 7, page, parse(attributes), now, opts, out);
  EXPECT_TRUE(r.ok()) << r.message();
  return parse(out);
}

// The home page's hero experiment buckets by id: the first ids found in each variation.
std::map<double, std::string> visitors_by_variation(const config::vendor_config& c, int64_t now) {
  std::map<double, std::string> found;
  for (int n = 0; n < 200 && found.size() < 3; ++n) {
    const std::string id = "visitor-" + std::to_string(n);
    const value d = decide_json(c, "home", "{\"id\":\"" + id + "\",\"country\":\"US\"}", now);
    const value& a = d.find("assignments")->items().at(0);
    EXPECT_TRUE(a.find("inExperiment")->as_bool());
    found.emplace(a.find("variation")->as_number(), id);
  }
  return found;
}

TEST(LayoutDecisions, AgreeWithTheRenderedLayout) {
  auto c = vendor("flora-distro");
  const int64_t now = utc(2025, 7, 4, 19);
  for (const char* attributes : {"{}", "{\"id\":\"u-1\",\"device\":\"mobile\"}", "{\"id\":\"u-2\",\"loggedIn\":true}",
                                 "{\"country\":\"US\",\"segment\":\"confused\"}"}) {
    for (const char* page : {"home", "shop", "cart"}) {
      const value decided = decide_json(*c, page, attributes, now);
      const value rendered = render_json(*c, page, attributes, now);
      for (const char* member : {"cacheKey", "maxAge", "assignments", "vary"}) {
        EXPECT_TRUE(json::equal(*decided.find(member), *rendered.find(member))) << member << " " << page << " " << attributes;
      }
      EXPECT_EQ(decided.find("sections"), nullptr);
    }
  }
}

TEST(LayoutDecisions, EqualKeysMeanEqualLayoutsAcrossVisitors) {
  auto c = vendor("flora-distro");
  const int64_t now = utc(2025, 7, 4, 19);
  const auto by_variation = visitors_by_variation(*c, now);
  ASSERT_EQ(by_variation.size(), 3u);
  std::map<std::string, std::string> layouts_by_key;  // cacheKey -> layout without the visitor
  for (int n = 0; n < 60; ++n) {
    const std::string attributes = "{\"id\":\"visitor-" + std::to_string(n) + "\",\"country\":\"US\"}";
    const std::string key = decide_json(*c, "home", attributes, now).find("cacheKey")->as_string();
    const std::string layout = render(*c, "home", attributes, now);
    auto [at, fresh] = layouts_by_key.emplace(key, layout);
    if (!fresh) {
      EXPECT_EQ(at->second, layout) << "two layouts under cacheKey " << key;
    }
  }
  // One layout per variation (and nothing else about the visitor reaches the key).
  EXPECT_EQ(layouts_by_key.size(), 3u);
}

TEST(LayoutDecisions, KeysFollowVisibilitySchedulesAndBehaviour) {
  auto c = vendor("flora-distro");
  const int64_t evening = utc(2025, 7, 5, 3);  // 20:00 in Los Angeles
  const int64_t morning = utc(2025, 7, 5, 16);
  const auto key = [&](std::string_view attributes, int64_t now, std::string_view behaviour = {}) {
    layout::options opts;
    opts.behaviour = behaviour;
    return decide_json(*c, "home", attributes, now, opts).find("cacheKey")->as_string();
  };
  // A condition's inputs change the key only when they change its answer.
  EXPECT_EQ(key("{\"country\":\"US\"}", evening), key("{\"country\":\"US\",\"plan\":\"gold\"}", evening));
  EXPECT_NE(key("{\"country\":\"US\"}", evening), key("{\"country\":\"CA\"}", evening));
  EXPECT_EQ(key("{\"country\":\"CA\"}", evening), key("{\"country\":\"FR\"}", evening));
  EXPECT_NE(key("{}", evening), key("{}", morning));  // happy hour's daypart
  EXPECT_NE(key("{}", evening), key("{}", evening, "v1;rc=0;bo=0;sd=0;dw=0;ph=0;ca=0"));
}

TEST(LayoutDecisions, ExperimentsOffGiveTheControlLayout) {
  auto c = vendor("flora-distro");
  const int64_t now = utc(2025, 7, 4, 19);
  layout::options off;
  off.experiments = false;
  for (const auto& [variation, id] : visitors_by_variation(*c, now)) {
    const std::string attributes = "{\"id\":\"" + id + "\"}";
    const value layout = render_json(*c, "home", attributes, now, off);
    EXPECT_EQ(layout.find("assignments")->items().size(), 0u) << variation;
    EXPECT_EQ(ids(layout, "hero"), ids(render_json(*c, "home", "{}", now), "hero"));
  }
}

TEST(LayoutDecisions, StickyDocumentsStayOutWhenAsked) {
  auto c = vendor("flora-distro");
  const value docs = value::object();
  layout::options opts;
  opts.sticky_docs = &docs;
  const int64_t now = utc(2025, 7, 4, 19);
  const value with = render_json(*c, "home", "{\"id\":\"visitor-1\"}", now, opts);
  ASSERT_NE(with.find("stickyBucketAssignmentDocs"), nullptr);
  EXPECT_EQ(with.find("stickyBucketAssignmentDocs")->members().size(), 1u);
  opts.write_sticky_docs = false;
  const value without = render_json(*c, "home", "{\"id\":\"visitor-1\"}", now, opts);
  EXPECT_EQ(without.find("stickyBucketAssignmentDocs"), nullptr);
  EXPECT_EQ(with.find("cacheKey")->as_string(), without.find("cacheKey")->as_string());
  opts.write_sticky_docs = true;
  const value decided = decide_json(*c, "home", "{\"id\":\"visitor-1\"}", now, opts);
  EXPECT_TRUE(json::equal(*decided.find("stickyBucketAssignmentDocs"), *with.find("stickyBucketAssignmentDocs")));
}
}  // namespace
}  // namespace whale
