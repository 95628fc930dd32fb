// Generated components' templates (whale::tmpl): what a template may say, and the layout that
// carries it to the storefront.
#include <gtest/gtest.h>

#include <string>

#include "test_util.h"
#include "whale/config.h"
#include "whale/layout.h"
#include "whale/template.h"

namespace whale {
namespace {

using json::value;

value parsed(std::string_view text) {
  auto v = json::parse(text);
  EXPECT_TRUE(v.ok()) << v.message();
  return v.ok() ? v.value() : value();
}

const char* kProps = R"({"type":"object","properties":{
  "headline":{"type":"string","default":"Picked for you"},
  "link":{"type":"string","default":"/deals"},
  "show":{"type":"boolean","default":true},
  "items":{"type":"array","default":[],"items":{"type":"object","properties":{"name":{"type":"string"},"image":{"type":"string"}}}},
  "tags":{"type":"array","default":[],"items":{"type":"string"}}}})";

std::string problem(std::string_view tmpl) {
  const value props = parsed(kProps);
  auto r = tmpl::check(parsed(tmpl), &props, "t");
  return r.ok() ? "ok" : r.message();
}

TEST(Template, AcceptsNodesThatReadDeclaredProps) {
  EXPECT_EQ(problem(R"({"tag":"div","class":"wt-panel","children":[
    {"tag":"h2","class":"wt-h2","text":"{{headline}}!"},
    {"tag":"a","class":"wt-button","href":"{{link}}","text":"Shop now","if":"show"},
    {"tag":"ul","children":[{"tag":"li","each":"items","children":[
      {"tag":"img","src":"{{item.image}}","alt":"{{item.name}}"},{"tag":"span","text":"{{item.name}}"}]}]},
    {"tag":"p","children":[{"tag":"span","each":"tags","class":"wt-badge","text":"{{item}}"}]},
    {"tag":"a","href":"https://example.com/x","text":"out"}]})"), "ok");
}

TEST(Template, RefusesWhatIsNotData) {
  EXPECT_EQ(problem(R"({"tag":"script","text":"x"})"),
            "t.tag: expected one of div, section, h2, h3, p, span, strong, em, small, a, img, ul, ol, li, button");
  EXPECT_EQ(problem(R"j({"tag":"div","onclick":"alert(1)"})j"), "t.onclick: not allowed: the theme styles templates, and they run no code");
  EXPECT_EQ(problem(R"({"tag":"div","style":"color:red"})"), "t.style: not allowed: the theme styles templates, and they run no code");
  EXPECT_EQ(problem(R"({"tag":"div","class":"wt-panel big-red"})"), "t.class: \"big-red\" is not one of the storefront's classes");
  EXPECT_EQ(problem(R"j({"tag":"a","href":"javascript:alert(1)","text":"x"})j"), "t.href: expected {{prop}}, a path on the site or an https URL");
  EXPECT_EQ(problem(R"({"tag":"a","href":"//evil.example/x"})"), "t.href: expected {{prop}}, a path on the site or an https URL");
  EXPECT_EQ(problem(R"({"tag":"img","src":"/x.png"})"), "t: an img needs src and alt");
  EXPECT_EQ(problem(R"({"tag":"p","href":"/x"})"), "t.href: only on a");
}

TEST(Template, ReadsOnlyDeclaredProps) {
  EXPECT_EQ(problem(R"({"tag":"p","text":"{{price}}"})"), "t.text: {{price}} is not a declared prop");
  EXPECT_EQ(problem(R"({"tag":"p","children":[{"tag":"span","text":"{{headline"}]})"), "t.children[0].text: a {{ without its }}");
  EXPECT_EQ(problem(R"({"tag":"li","each":"headline"})"), "t.each: \"headline\" is not an array prop with items");
  EXPECT_EQ(problem(R"({"tag":"li","each":"items","text":"{{item.price}}"})"), "t.text: {{item.price}} is not a declared field of the items");
  EXPECT_EQ(problem(R"({"tag":"p","text":"{{item}}"})"), "t.text: {{item}} is not a declared prop");
  EXPECT_EQ(problem(R"({"tag":"p","if":"hidden"})"), "t.if: {{hidden}} is not a declared prop");
}

TEST(Template, IsBounded) {
  std::string deep = R"({"tag":"span"})";
  for (int i = 0; i < 8; ++i) deep = R"({"tag":"div","children":[)" + deep + "]}";
  EXPECT_EQ(problem(deep), "t.children[0].children[0].children[0].children[0].children[0].children[0].children[0].children[0]: nested deeper than 8");
  std::string wide = R"({"tag":"div","children":[)";
  for (int i = 0; i < 64; ++i) wide += std::string(i ? "," : "") + R"({"tag":"br"})";
  EXPECT_NE(problem(wide + "]}").find("t.children[0].tag: expected one of"), std::string::npos);
  wide = R"({"tag":"div","children":[)";
  for (int i = 0; i < 64; ++i) wide += std::string(i ? "," : "") + R"({"tag":"p"})";
  EXPECT_EQ(problem(wide + "]}"), "t.children[63]: more than 64 nodes");
  EXPECT_EQ(problem(R"({"tag":"p","text":")" + std::string(501, 'a') + R"("})"), "t.text: longer than 500 bytes");
  value big = parsed(R"({"tag":"div","children":[]})");
  for (int i = 0; i < 40; ++i) big.find("children")->items().push_back(parsed(R"({"tag":"p","text":")" + std::string(300, 'b') + R"("})"));
  const value props = parsed(kProps);
  auto r = tmpl::check(big, &props, "t");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), error_code::too_large);
}

std::string config_with(const std::string& component) {
  return R"({"vendor":{"id":"v","slug":"gen","name":"G","vertical":"demo","timezone":"UTC","region":"r"},
    "components":{"text":{},"promo-gen":)" + component + R"(},
    "pages":[{"id":"home","path":"/","sections":[{"id":"s","components":[
      {"id":"t","key":"text"},{"id":"g1","key":"promo-gen"},{"id":"g2","key":"promo-gen"}]}]}]})";
}

TEST(Template, ConfigsCarryThemAndLayoutsHandThemOn) {
  auto parsed_config = config::parse(config_with(
      R"({"version":3,"status":"experimental","props":)" + std::string(kProps) +
      R"(,"template":{"tag":"div","class":"wt-promo","text":"{{headline}}"}})"));
  ASSERT_TRUE(parsed_config.ok()) << parsed_config.message();
  const config::vendor_config& c = *parsed_config.value();
  const config::component* gen = c.find_component("promo-gen");
  EXPECT_EQ(gen->version, 3u);
  EXPECT_TRUE(gen->experimental);
  std::string out;
  ASSERT_TRUE(layout::render_layout(c, 1, "home", parsed("{}"), 0, {}, out).ok());
  const value l = parsed(out);
  const value* templates = l.find("templates");
  ASSERT_NE(templates, nullptr) << out;
  EXPECT_EQ(templates->members().size(), 1u) << "once per component, however many instances";
  EXPECT_EQ(json::to_string(*templates->find("promo-gen")), R"({"version":3,"template":{"tag":"div","class":"wt-promo","text":"{{headline}}"}})");
  // A config whose template breaks the rules does not load.
  auto bad = config::parse(config_with(R"({"props":)" + std::string(kProps) + R"(,"template":{"tag":"p","text":"{{price}}"}})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.message(), "components.promo-gen.template.text: {{price}} is not a declared prop");
  auto status = config::parse(config_with(R"({"status":"beta"})"));
  EXPECT_EQ(status.message(), "components.promo-gen.status: expected \"stable\" or \"experimental\"");
  // Components without templates add nothing to layouts.
  auto plain = config::parse(config_with("{}"));
  ASSERT_TRUE(plain.ok());
  out.clear();
  ASSERT_TRUE(layout::render_layout(*plain.value(), 1, "home", parsed("{}"), 0, {}, out).ok());
  EXPECT_EQ(out.find("templates"), std::string::npos);
}

}  // namespace
}  // namespace whale
