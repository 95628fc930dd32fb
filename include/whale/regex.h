// whale::regex: a small, bounded regular-expression engine with JavaScript RegExp semantics,
// used for GrowthBook's $regex / $regexi operators (`new RegExp(p).test(v)`, flag "i" for $regexi).
//
// Syntax is that of a JS RegExp without the u, m, s, y or g flags, Annex B quirks included
// (a lone `{` or `]` is a literal, `\8` is "8", `\12` is an octal escape when there are fewer
// than 12 groups, `\u{41}` means 41 "u"s). Supported: literals; escapes \d \D \w \W \s \S \b \B
// \n \r \t \v \f \0 \cX \xHH \uHHHH (surrogate pairs combine), octal, identity escapes;
// `.` (no line terminators); ^ and $ (whole subject); classes with ranges, negation and class
// escapes; ( ) (?: ) (?<name> ); (?= ) (?! ); alternation; * + ? {n} {n,} {n,m} and their
// lazy forms (counts need no cap: loops count in registers instead of copying the atom);
// backreferences \1.. and \k<name>.
// Not supported (compile fails with invalid_regex): lookbehind (?<= ) (?<! ).
//
// Differences from JS:
// - Patterns and subjects are UTF-8 and are matched per Unicode code point, so only astral
//   characters (U+10000 and up, two UTF-16 units in JS) behave differently: `.` matches the
//   whole character, and a lone surrogate escape never matches.
// - An invalid UTF-8 byte in a subject reads as U+FFFD; invalid UTF-8 in a pattern fails.
// - Ignore-case folds ASCII, Latin-1, Latin Extended-A (U+0100-017F), Greek U+0386-03CE and
//   Cyrillic U+0400-045F the way JS Canonicalize does (simple upper case, never non-ASCII to
//   ASCII, so ſ/s, ı/I and K/k stay apart); other code points match only themselves.
// - Group names accept ASCII identifier characters and any non-ASCII character.
// - A match that runs past step_budget returns regex_budget instead of an answer. An unanchored
//   search spends steps at every start position, so subjects of several hundred thousand
//   characters can exhaust it even for simple patterns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "whale/result.h"

namespace whale::regex {

inline constexpr size_t max_pattern_bytes = 4096;  // longer patterns fail with too_large
inline constexpr uint32_t max_nesting = 64;        // deeper ( ) nesting fails with too_deep
inline constexpr uint64_t step_budget = 1'000'000;  // VM steps per test() call, all start positions

struct program;  // compiled bytecode, defined in src/core/regex.cpp

class pattern {
 public:
  pattern() = default;  // empty: test() fails with internal

  // JS RegExp.prototype.test: true if the pattern matches anywhere in subject.
  // Fails with regex_budget when the match needs more than step_budget steps.
  result<bool> test(std::string_view subject) const;

 private:
  friend result<pattern> compile(std::string_view source, bool ignore_case);
  explicit pattern(std::shared_ptr<const program> program) : program_(std::move(program)) {}

  std::shared_ptr<const program> program_;  // immutable, so copies share it safely
};

// Compiles a pattern; invalid_regex (with the byte offset and the problem), too_large or
// too_deep for anything JS would reject or that exceeds the limits above.
result<pattern> compile(std::string_view source, bool ignore_case);

}  // namespace whale::regex
