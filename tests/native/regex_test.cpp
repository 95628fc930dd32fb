// Tests for whale::regex. The JS behaviour table was checked row by row against Node's RegExp
// (`new RegExp(pattern, ignore_case ? "i" : "").test(subject)`).
#include "whale/regex.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace {

using namespace std::literals;
using whale::error_code;
using whale::regex::compile;

// test() of a pattern that must compile; a failure of either step shows up as a test failure.
::testing::AssertionResult matches(std::string_view pattern, std::string_view subject, bool ignore_case = false) {
  auto compiled = compile(pattern, ignore_case);
  if (!compiled) return ::testing::AssertionFailure() << "compile failed: " << compiled.message();
  auto tested = compiled->test(subject);
  if (!tested) return ::testing::AssertionFailure() << "test failed: " << tested.message();
  if (!*tested) return ::testing::AssertionFailure() << "no match";
  return ::testing::AssertionSuccess();
}

error_code compile_error(std::string_view pattern, bool ignore_case = false) {
  return compile(pattern, ignore_case).code();
}

error_code test_error(std::string_view pattern, std::string_view subject) {
  auto compiled = compile(pattern, false);
  EXPECT_TRUE(compiled.ok()) << compiled.message();
  if (!compiled) return compiled.code();
  return compiled->test(subject).code();
}

TEST(Regex, GrowthBookPatterns) {
  EXPECT_TRUE(matches("^hello", "hello world"));
  EXPECT_FALSE(matches("^hello", "say hello"));
  EXPECT_FALSE(matches("^hello", "Hello world"));
  EXPECT_TRUE(matches("^hello", "Hello world", true));
  EXPECT_TRUE(matches("(MOBILE|TABLET)", "device: TABLET"));
  EXPECT_FALSE(matches("(MOBILE|TABLET)", "device: tablet"));
  EXPECT_TRUE(matches("(MOBILE|TABLET)", "device: tablet", true));
  EXPECT_TRUE(matches("^ping", "ping pong"));
  EXPECT_FALSE(matches("^ping", "pong ping"));
  EXPECT_TRUE(matches("^ping", "PING", true));
  EXPECT_TRUE(matches("-12-25$", "2023-12-25"));
  EXPECT_FALSE(matches("-12-25$", "2023-12-25T00:00"));
  EXPECT_FALSE(matches("-12-25$", "2023-12-24"));
  EXPECT_TRUE(matches("(mobile|tablet)", "mobile"));
  EXPECT_FALSE(matches("(mobile|tablet)", "MOBILE"));
  EXPECT_TRUE(matches("(mobile|tablet)", "MOBILE", true));
  EXPECT_FALSE(matches("(mobile|tablet)", "desktop", true));
  EXPECT_TRUE(matches("(Mobile|Tablet)", "Tablet"));
  EXPECT_FALSE(matches("(Mobile|Tablet)", "tablet"));
  EXPECT_TRUE(matches("(Mobile|Tablet)", "tablet", true));
  EXPECT_TRUE(matches("(Mobile|Tablet)", "MoBiLe", true));
}

struct js_case {
  std::string_view pattern;
  bool ignore_case;
  std::string_view subject;
  bool expected;
};

TEST(Regex, BehavesLikeJavaScript) {
  static const js_case cases[] = {
    // Anchors: ^ and $ see only the ends of the subject (no m flag).
    {"^abc"sv, false, "abcdef"sv, true},
    {"^abc"sv, false, "xabc"sv, false},
    {"abc$"sv, false, "xxabc"sv, true},
    {"abc$"sv, false, "abcx"sv, false},
    {"^$"sv, false, ""sv, true},
    {"^$"sv, false, "\n"sv, false},
    {"^a$"sv, false, "a\n"sv, false},
    {"a$"sv, false, "ba"sv, true},
    // Literals, dot and Annex B literal braces and brackets.
    {""sv, false, ""sv, true},
    {""sv, false, "anything"sv, true},
    {"b"sv, false, "abc"sv, true},
    {"d"sv, false, "abc"sv, false},
    {"a.c"sv, false, "abc"sv, true},
    {"a.c"sv, false, "a\nc"sv, false},
    {"a.c"sv, false, "a\rc"sv, false},
    {"a.c"sv, false, "a\xe2\x80\xa8""c"sv, false},
    {"a.c"sv, false, "aéc"sv, true},
    {"a\\.c"sv, false, "abc"sv, false},
    {"a\\.c"sv, false, "a.c"sv, true},
    {"\\$\\^\\(\\)\\[\\]\\{\\}\\|\\?\\*\\+\\\\\\/"sv, false, "$^()[]{}|?*+\\/"sv, true},
    {"a]b"sv, false, "a]b"sv, true},
    {"a}b"sv, false, "a}b"sv, true},
    {"a{b"sv, false, "a{b"sv, true},
    {"a{1"sv, false, "a{1"sv, true},
    {"a{1,x}"sv, false, "a{1,x}"sv, true},
    {"x{,2}"sv, false, "x{,2}"sv, true},
    // Escapes, including Annex B: \u{2} is two u, \c1 is backslash c 1, \101 is octal.
    {"\\d+"sv, false, "abc123"sv, true},
    {"^\\d+$"sv, false, "12a"sv, false},
    {"\\D"sv, false, "123"sv, false},
    {"\\w"sv, false, "!@#"sv, false},
    {"\\W"sv, false, "ab_9"sv, false},
    {"\\s"sv, false, "a\tb"sv, true},
    {"\\s"sv, false, "a\xc2\xa0""b"sv, true},
    {"\\s"sv, false, "a\xef\xbb\xbf""b"sv, true},
    {"\\S"sv, false, " \t\n"sv, false},
    {"\\n"sv, false, "a\nb"sv, true},
    {"\\t"sv, false, "a\tb"sv, true},
    {"\\r\\n"sv, false, "a\r\nb"sv, true},
    {"\\v\\f"sv, false, "\013\014"sv, true},
    {"\\0"sv, false, "a\000b"sv, true},
    {"\\x41"sv, false, "A"sv, true},
    {"\\x4"sv, false, "x4"sv, true},
    {"\\u00e9"sv, false, "é"sv, true},
    {"\\u00e"sv, false, "u00e"sv, true},
    {"\\u{2}"sv, false, "uu"sv, true},
    {"\\u{2}"sv, false, "u{2}"sv, false},
    {"\\ud83d\\ude00"sv, false, "\xf0\x9f\x98\x80"sv, true},
    {"\\cJ"sv, false, "\n"sv, true},
    {"\\c1"sv, false, "\\c1"sv, true},
    {"\\q"sv, false, "q"sv, true},
    {"\\101"sv, false, "A"sv, true},
    {"\\8"sv, false, "8"sv, true},
    // Word boundaries (ASCII word characters only).
    {"\\bcat\\b"sv, false, "a cat sat"sv, true},
    {"\\bcat\\b"sv, false, "concatenate"sv, false},
    {"\\Bcat\\B"sv, false, "concatenate"sv, true},
    {"\\b"sv, false, ""sv, false},
    {"\\B"sv, false, ""sv, true},
    {"^\\b"sv, false, "é"sv, false},
    // Character classes.
    {"[abc]"sv, false, "xxb"sv, true},
    {"[abc]"sv, false, "xyz"sv, false},
    {"[^abc]"sv, false, "abc"sv, false},
    {"[^abc]"sv, false, "abcd"sv, true},
    {"[a-z]+\\d"sv, false, "abc1"sv, true},
    {"[-a]"sv, false, "-"sv, true},
    {"[a-]"sv, false, "-"sv, true},
    {"[\\d-z]"sv, false, "-"sv, true},
    {"[\\d-z]"sv, false, "m"sv, false},
    {"[\\w.]"sv, false, "."sv, true},
    {"[]"sv, false, "a"sv, false},
    {"[^]"sv, false, "\n"sv, true},
    {"[\\b]"sv, false, "\010"sv, true},
    {"[\\]]"sv, false, "]"sv, true},
    {"[^\\d\\s]"sv, false, "1 2"sv, false},
    {"[.]"sv, false, "a"sv, false},
    {"[\\u00e0-\\u00ff]"sv, false, "é"sv, true},
    {"[a-c-e]"sv, false, "-"sv, true},
    {"[a-c-e]"sv, false, "d"sv, false},
    // Groups and alternation.
    {"(MOBILE|TABLET)"sv, false, "iPad TABLET"sv, true},
    {"^(a|b)c$"sv, false, "bc"sv, true},
    {"^(a|b)c$"sv, false, "abc"sv, false},
    {"a|"sv, false, "zzz"sv, true},
    {"(?:ab)+$"sv, false, "xabab"sv, true},
    {"^(?:ab)+$"sv, false, "aba"sv, false},
    {"^(a(b(c)))$"sv, false, "abc"sv, true},
    {"()"sv, false, ""sv, true},
    // Quantifiers, greedy and lazy, including empty iterations.
    {"^a*$"sv, false, ""sv, true},
    {"^a+$"sv, false, ""sv, false},
    {"^a?b$"sv, false, "b"sv, true},
    {"^a{3}$"sv, false, "aaa"sv, true},
    {"^a{3}$"sv, false, "aaaa"sv, false},
    {"^a{2,}$"sv, false, "a"sv, false},
    {"^a{2,}$"sv, false, "aaaaa"sv, true},
    {"^a{2,3}$"sv, false, "aaaa"sv, false},
    {"^a{0}$"sv, false, ""sv, true},
    {"^(ab){2}$"sv, false, "abab"sv, true},
    {"^a+?$"sv, false, "aaa"sv, true},
    {"^a*?b"sv, false, "aab"sv, true},
    {"^a{2,3}?$"sv, false, "aaa"sv, true},
    {"^(a|ab)(c|bcd)(d*)$"sv, false, "abcd"sv, true},
    {"^(?:a*)*$"sv, false, "aaa"sv, true},
    {"^(?:a*)+b"sv, false, "aab"sv, true},
    {"^(a?){5}a{5}$"sv, false, "aaaaa"sv, true},
    // Lookahead (atomic, captures kept from positive lookahead only).
    {"foo(?=bar)"sv, false, "foobar"sv, true},
    {"foo(?=bar)"sv, false, "foobaz"sv, false},
    {"foo(?!bar)"sv, false, "foobar"sv, false},
    {"foo(?!bar)"sv, false, "foobaz"sv, true},
    {"^(?=.*\\d)(?=.*[a-z]).{6,}$"sv, false, "abc123"sv, true},
    {"^(?=.*\\d)(?=.*[a-z]).{6,}$"sv, false, "abcdef"sv, false},
    {"^(?!.*admin).*$"sv, false, "superadmin"sv, false},
    {"(?=a)*b"sv, false, "b"sv, true},
    {"^(?=(a+))a*b\\1"sv, false, "aaab"sv, false},
    {"^(?=(a+?))(\\1)b"sv, false, "ab"sv, true},
    {"(?!(a))\\1b"sv, false, "b"sv, true},
    // Backreferences: undefined groups match empty, captures reset per iteration; \N beyond the group count is octal.
    {"^(a+)\\1$"sv, false, "aaaa"sv, true},
    {"^(a+)\\1$"sv, false, "aaa"sv, false},
    {"(\\w)\\1"sv, false, "hello"sv, true},
    {"\\1(a)"sv, false, "a"sv, true},
    {"^(?:(a)|b)+\\1$"sv, false, "aba"sv, false},
    {"^(?:(a)|b)+\\1$"sv, false, "abb"sv, true},
    {"^(?<q>['\"]).*\\k<q>$"sv, false, "\"hi\""sv, true},
    {"^(?<q>['\"]).*\\k<q>$"sv, false, "\"hi'"sv, false},
    {"\\k"sv, false, "k"sv, true},
    {"\\2(a)"sv, false, "\002a"sv, true},
    {"\\12(a)"sv, false, "\na"sv, true},
    // Ignore case: JS Canonicalize (never non-ASCII to ASCII, so no ſ/s, ı/I, K/k).
    {"(mobile|tablet)"sv, true, "Android MOBILE"sv, true},
    {"(Mobile|Tablet)"sv, true, "TABLET"sv, true},
    {"[a-z]+"sv, true, "ABC"sv, true},
    {"[^a-z]"sv, true, "ABC"sv, false},
    {"été"sv, true, "ÉTÉ"sv, true},
    {"ÿ"sv, true, "Ÿ"sv, true},
    {"µ"sv, true, "Μ"sv, true},
    {"µ"sv, true, "μ"sv, true},
    {"ſ"sv, true, "s"sv, false},
    {"ı"sv, true, "I"sv, false},
    {"k"sv, true, "\xe2\x84\xaa"sv, false},
    {"ж"sv, true, "Ж"sv, true},
    {"σ"sv, true, "ς"sv, true},
    {"ą"sv, true, "Ą"sv, true},
    {"^(a)\\1$"sv, true, "aA"sv, true},
    {"\\w"sv, true, "ſ"sv, false},
    {"[\\W]"sv, true, "S"sv, false},
  };
  for (const js_case& c : cases) {
    auto compiled = compile(c.pattern, c.ignore_case);
    ASSERT_TRUE(compiled.ok()) << c.pattern << ": " << compiled.message();
    auto tested = compiled->test(c.subject);
    ASSERT_TRUE(tested.ok()) << c.pattern << ": " << tested.message();
    EXPECT_EQ(*tested, c.expected) << "/" << c.pattern << "/" << (c.ignore_case ? "i" : "") << ".test(\"" << c.subject << "\")";
  }
}

TEST(Regex, RejectsWhatJavaScriptRejects) {
  static const std::string_view invalid[] = {
      "/???***[)", "(", "(a", "a)", ")(", "(?:a", "[a", "[", "[a-", "[\\", "\\", "a\\",
      "*", "+a", "?", "a**", "a+*", "a???", "{1}", "a|*", "(*)", "{2,3}",
      "^*", "$+", "\\b*", "\\B{2}",
      "[z-a]", "[\\u0062-a]", "a{2,1}", "a{3,2}?",
      "(?", "(?a)", "(?<)", "(?<1a>x)", "(?<a>x)(?<a>y)", "(?<a", "(?<a>x)\\k<b>", "(?<a>x)\\k", "(?<a>x)[\\k]",
  };
  for (std::string_view pattern : invalid) {
    auto compiled = compile(pattern, false);
    ASSERT_FALSE(compiled.ok()) << pattern;
    EXPECT_EQ(compiled.code(), error_code::invalid_regex) << pattern;
    EXPECT_NE(compiled.message().find("offset"), std::string::npos) << compiled.message();
  }
}

// JS accepts lookbehind; this engine does not, and says so.
TEST(Regex, LookbehindIsRejectedAsUnsupported) {
  EXPECT_EQ(compile("(?<=a)b", false).message(), "invalid regex at offset 1: lookbehind is not supported");
  EXPECT_EQ(compile_error("x(?<!a)b"), error_code::invalid_regex);
}

TEST(Regex, ErrorMessageNamesOffsetAndProblem) {
  EXPECT_EQ(compile("ab[z-a]", false).message(), "invalid regex at offset 6: range out of order in character class");
  EXPECT_EQ(compile("(ab", false).message(), "invalid regex at offset 3: missing )");
  EXPECT_EQ(compile("ab)", false).message(), "invalid regex at offset 2: unmatched ')'");
  EXPECT_EQ(compile("a**", false).message(), "invalid regex at offset 2: nothing to repeat");
}

TEST(Regex, CatastrophicPatternsHitTheBudget) {
  const std::string as(30, 'a');
  EXPECT_EQ(test_error("(a+)+$", as + "!"), error_code::regex_budget);
  EXPECT_EQ(test_error("(a|aa)+$", as + "!"), error_code::regex_budget);
  EXPECT_EQ(test_error("(a*)*b", as), error_code::regex_budget);
  EXPECT_EQ(test_error("^(\\w+\\s?)*$", "a quick brown fox jumps over the lazy dog!"), error_code::regex_budget);
  EXPECT_EQ(test_error("(x+x+)+y", std::string(40, 'x')), error_code::regex_budget);
  EXPECT_EQ(test_error("(?:a{0,30}){0,30}b", as), error_code::regex_budget);
  // The same patterns answer normally when the subject lets them.
  EXPECT_TRUE(matches("(a+)+$", as));
  EXPECT_TRUE(matches("(x+x+)+y", "xxy"));
}

TEST(Regex, LongSubjectsStayLinear) {
  const std::string long_subject(50'000, 'a');
  EXPECT_TRUE(matches("^a*$", long_subject));
  EXPECT_TRUE(matches("a{50000}", long_subject));
  EXPECT_TRUE(matches("^.*a$", long_subject));
  EXPECT_FALSE(matches("^b", long_subject));
}

TEST(Regex, LimitsBoundPatternSizeAndNesting) {
  EXPECT_EQ(compile_error(std::string(4096, 'a')), error_code::ok);
  EXPECT_EQ(compile_error(std::string(4097, 'a')), error_code::too_large);
  const std::string deep64 = std::string(64, '(') + "a" + std::string(64, ')');
  const std::string deep65 = std::string(65, '(') + "a" + std::string(65, ')');
  EXPECT_TRUE(matches(deep64, "a"));
  EXPECT_EQ(compile_error(deep65), error_code::too_deep);
  EXPECT_EQ(compile_error(std::string(2000, '(')), error_code::too_deep);
  std::string lookaheads;
  for (int i = 0; i < 65; ++i) lookaheads += "(?=";
  EXPECT_EQ(compile_error(lookaheads + "a" + std::string(65, ')')), error_code::too_deep);
  // Long but flat patterns are fine.
  std::string alternatives = "x";
  for (int i = 0; i < 1000; ++i) alternatives += "|x";
  EXPECT_TRUE(matches(alternatives, "x"));
}

TEST(Regex, Utf8) {
  EXPECT_EQ(compile_error("caf\xc3"), error_code::invalid_regex);   // truncated sequence
  EXPECT_EQ(compile_error("\xc0\xaf"), error_code::invalid_regex);  // overlong '/'
  EXPECT_EQ(compile_error("\xed\xa0\x80"), error_code::invalid_regex);  // UTF-16 surrogate
  EXPECT_EQ(compile("ab\xff", false).message(), "invalid UTF-8 in regex at offset 2");
  // One code point is one character, astral ones too (JS would see two UTF-16 units).
  EXPECT_TRUE(matches("^.$", "\xf0\x9f\x98\x80"));
  EXPECT_TRUE(matches("^caf.$", "caf\xc3\xa9"));
  EXPECT_TRUE(matches("^[\xc3\xa0-\xc3\xbf]+$", "\xc3\xa9\xc3\xa8"));
  // Invalid subject bytes read as U+FFFD, one per byte.
  EXPECT_TRUE(matches("^a\\uFFFD\\uFFFDb$", "a\xff\xfe" "b"));
  EXPECT_TRUE(matches("^a.b$", "a\xc3" "b"));
}

// Patterns that start with a literal are first searched for it in the UTF-8 bytes; the answers
// must be those of the code-point matcher, invalid subject bytes included.
TEST(Regex, LiteralPrefixesAnswerAsTheMatcher) {
  EXPECT_TRUE(matches("^FLW-ROSE", "FLW-ROSE-RED-12"));
  EXPECT_FALSE(matches("^FLW-ROSE", "X-FLW-ROSE"));
  EXPECT_FALSE(matches("^FLW-ROSE", "FLW-ROS"));
  EXPECT_TRUE(matches("sale", "https://shop.example/sale?x"));
  EXPECT_FALSE(matches("sale", "https://shop.example/sal"));
  EXPECT_TRUE(matches("/sale(/|\\?|$)", "https://shop.example/sale?x"));
  EXPECT_TRUE(matches("/sale(/|\\?|$)", "https://shop.example/sale"));
  EXPECT_FALSE(matches("/sale(/|\\?|$)", "https://shop.example/salesman"));
  EXPECT_TRUE(matches("/sale(/|\\?|$)", "/salesman/sale/"));  // the second occurrence matches
  EXPECT_FALSE(matches("/sale(/|\\?|$)", "https://shop.example/shop"));
  // Captures and escapes that compile to plain characters.
  EXPECT_TRUE(matches("(ab)c\\.", "xxabc.yy"));
  EXPECT_FALSE(matches("(ab)c\\.", "xxabcdyy"));
  // Multi-byte literals next to invalid bytes, which read as U+FFFD one byte at a time.
  EXPECT_TRUE(matches("caf\xc3\xa9", "\xc3" "caf\xc3\xa9"));
  EXPECT_TRUE(matches("^\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9"));
  EXPECT_FALSE(matches("^\xc3\xa9", "\xc3\xc3\xa9"));
  EXPECT_TRUE(matches("\xc3\xa9", "\xe2\xc3\xa9"));
  EXPECT_TRUE(matches("\xf0\x9f\x98\x80!", "\xf0\x9f\xf0\x9f\x98\x80!"));
  // A literal U+FFFD also matches an invalid byte; a lone surrogate matches nothing.
  EXPECT_TRUE(matches("a\xef\xbf\xbd", "a\xff"));
  EXPECT_TRUE(matches("^a\\uFFFD", "a\xfe"));
  EXPECT_FALSE(matches("a\\uD800", "a\xed\xa0\x80"));
  // Ignoring case is left to the matcher.
  EXPECT_TRUE(matches("^flw", "FLW-1", true));
  // A pure literal is found in a subject of any length without spending the step budget.
  EXPECT_TRUE(matches("needle", std::string(2'000'000, 'a') + "needle"));
}

TEST(Regex, PatternsAreValuesThatCanBeReused) {
  auto compiled = compile("^(a|b)+$", false);
  ASSERT_TRUE(compiled.ok());
  const whale::regex::pattern copy = *compiled;
  EXPECT_TRUE(copy.test("abba").value());
  EXPECT_FALSE(copy.test("abc").value());
  EXPECT_TRUE(compiled->test("a").value());
  EXPECT_EQ(whale::regex::pattern{}.test("a").code(), error_code::internal);
}

}  // namespace
