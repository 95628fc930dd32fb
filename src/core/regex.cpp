// A JS-compatible regex engine: an iterative parser builds a node tree, a compiler turns it into
// bytecode (recursing once per group level, at most max_nesting), and a backtracking VM runs it
// with an explicit stack of frames and a step budget. See include/whale/regex.h for the supported syntax.
#include "whale/regex.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace whale::regex {

namespace {

constexpr char32_t max_code_point = 0x10FFFF;
constexpr char32_t replacement_char = 0xFFFD;
constexpr char32_t end_of_input = 0xFFFFFFFF;  // not a code point: what peek() sees past the end
constexpr uint32_t infinite = UINT32_MAX;       // upper bound of * + {n,}
constexpr uint32_t no_register = UINT32_MAX;
constexpr size_t max_frames = size_t{1} << 18;  // 4 MB of backtracking frames

using range = std::pair<char32_t, char32_t>;  // inclusive

// Decodes the code point at s[i]; returns its byte length, or 0 for invalid UTF-8.
size_t decode_utf8(std::string_view s, size_t i, char32_t& out) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    out = b0;
    return 1;
  }
  const size_t len = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC2 ? 2 : 0;
  if (len == 0 || b0 > 0xF4 || i + len > s.size()) return 0;
  char32_t cp = b0 & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  static constexpr char32_t min_for_length[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_for_length[len] || cp > max_code_point || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  out = cp;
  return len;
}

// Subjects never fail to decode: each invalid byte reads as U+FFFD.
void decode_lossy(std::string_view s, std::vector<char32_t>& out) {
  out.clear();
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    char32_t cp = replacement_char;
    const size_t len = decode_utf8(s, i, cp);
    out.push_back(len ? cp : replacement_char);
    i += len ? len : 1;
  }
}

// Latin Extended-A pairs alternate upper/lower; the lone letters (İ ı ĸ ŉ Ÿ ſ) have no
// simple non-ASCII upper case.
char32_t latin_extended_a_upper(char32_t c) {
  const bool odd = c & 1;
  if (c <= 0x12F || (c >= 0x132 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return odd ? c - 1 : c;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return odd ? c : c - 1;
  return c;
}

// JS Canonicalize without the u flag: simple upper case, never mapping non-ASCII to ASCII.
// Everything this maps stays below cased_limit.
char32_t canonicalize(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 0x20 : c;
  if (c == 0xB5) return 0x39C;  // micro sign upper-cases to Greek capital mu
  if (c == 0xFF) return 0x178;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 0x20;
  if (c >= 0x100 && c <= 0x17E) return latin_extended_a_upper(c);
  if (c == 0x3AC) return 0x386;
  if (c >= 0x3AD && c <= 0x3AF) return c - 0x25;
  if (c == 0x3C2) return 0x3A3;  // final sigma
  if (c >= 0x3B1 && c <= 0x3CB) return c - 0x20;
  if (c == 0x3CC) return 0x38C;
  if (c == 0x3CD || c == 0x3CE) return c - 0x3F;
  if (c >= 0x430 && c <= 0x44F) return c - 0x20;
  if (c >= 0x450 && c <= 0x45F) return c - 0x50;
  return c;
}
constexpr char32_t cased_limit = 0x460;

bool is_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool is_hex(char32_t c) { return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }
bool is_ascii_letter(char32_t c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
bool is_word(char32_t c) { return is_ascii_letter(c) || is_digit(c) || c == '_'; }
bool is_line_terminator(char32_t c) { return c == '\n' || c == '\r' || c == 0x2028 || c == 0x2029; }
uint32_t hex_value(char32_t c) { return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10; }

// The ranges of \d, \w or \s (lower-case escape letter), sorted.
std::vector<range> escape_ranges(char32_t letter) {
  if (letter == 'd') return {{'0', '9'}};
  if (letter == 'w') return {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
  return {{0x09, 0x0D}, {' ', ' '}, {0xA0, 0xA0}, {0x1680, 0x1680}, {0x2000, 0x200A},
          {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
}

// Appends \d \D \w \W \s or \S to out; upper case is the complement.
void add_escape_set(std::vector<range>& out, char32_t escape) {
  const bool complement = escape < 'a';
  const std::vector<range> base = escape_ranges(escape | 0x20);
  if (!complement) {
    out.insert(out.end(), base.begin(), base.end());
    return;
  }
  char32_t next = 0;
  for (const range& r : base) {
    if (r.first > next) out.push_back({next, r.first - 1});
    next = r.second + 1;
  }
  out.push_back({next, max_code_point});
}

void normalize(std::vector<range>& ranges) {
  std::sort(ranges.begin(), ranges.end());
  std::vector<range> merged;
  for (const range& r : ranges) {
    if (!merged.empty() && r.first <= merged.back().second + 1) {
      merged.back().second = std::max(merged.back().second, r.second);
    } else {
      merged.push_back(r);
    }
  }
  ranges = std::move(merged);
}

bool in_ranges(const std::vector<range>& ranges, char32_t c) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), range{c, max_code_point});
  return it != ranges.begin() && std::prev(it)->second >= c;
}

// For ignore-case, adds every cased code point whose canonical form some member shares, so that
// matching needs no folding (JS: a class matches if any member canonicalizes like the input).
void close_over_case(std::vector<range>& ranges) {
  std::vector<bool> present(cased_limit, false);
  for (char32_t c = 0; c < cased_limit; ++c) {
    if (in_ranges(ranges, c)) present[canonicalize(c)] = true;
  }
  for (char32_t c = 0; c < cased_limit; ++c) {
    if (present[canonicalize(c)]) ranges.push_back({c, c});
  }
  normalize(ranges);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Bytecode

enum class op : uint8_t {
  chr,          // a: code point (canonical when ignoring case)
  any,          // any but a line terminator
  cls,          // a: class index
  bol, eol, word_boundary, not_word_boundary,
  split,        // try a, on failure b
  jmp,          // a: target
  star,         // greedy a..b repeats of the single-character instruction that follows
  set_zero,     // a: register
  set_pos,      // a: register := position
  loop_greedy,  // a: loop index, b: exit
  loop_lazy,    // a: loop index, b: exit
  loop_end,     // a: loop index, b: loop head
  reset_caps,   // captures [a, b) become undefined
  open,         // a: capture number
  close,        // a: capture number
  backref,      // a: capture number
  look,         // a: continuation (after look_end)
  look_neg,     // a: continuation
  look_end,
  match,
};

struct inst {
  op code;
  uint32_t a = 0;
  uint32_t b = 0;
};

struct char_class {
  std::vector<range> ranges;  // sorted, disjoint, closed over case when ignoring case
  bool negated = false;
};

// A counted loop: its iteration counter, and for bodies that can match empty, the register
// holding where the iteration started (JS rejects empty iterations beyond the minimum).
struct loop_info {
  uint32_t counter;
  uint32_t start_pos;
  uint32_t min;
  uint32_t max;
};

struct program {
  std::vector<inst> code;
  std::vector<char_class> classes;
  std::vector<loop_info> loops;
  uint32_t registers = 0;  // 3 per capture (pending start, start, end), then loop registers
  bool ignore_case = false;
  // The literal every match starts with (the leading chr instructions, after ^ if anchored),
  // in UTF-8: a subject without it needs no decoding and no VM. Empty when ignoring case or
  // when a code point of it could also match an invalid byte (U+FFFD) or never match (a lone
  // surrogate). literal_only: the pattern is that literal and nothing more.
  std::string prefix;
  bool anchored = false;
  bool literal_only = false;
};

namespace {

uint32_t pending_reg(uint32_t capture) { return 3 * (capture - 1); }
uint32_t start_reg(uint32_t capture) { return 3 * (capture - 1) + 1; }
uint32_t end_reg(uint32_t capture) { return 3 * (capture - 1) + 2; }

// ---------------------------------------------------------------------------------------------
// Syntax tree

enum class kind : uint8_t {
  empty, chr, any, cls, bol, eol, word_boundary, not_word_boundary, backref,
  group, look, look_neg, seq, alt, repeat,
};

struct node {
  kind k = kind::empty;
  bool nullable = true;  // can match the empty string
  bool greedy = true;
  uint32_t value = 0;  // code point, class index, capture number (0: none) or backref number
  uint32_t min = 1;
  uint32_t max = 1;
  uint32_t caps_begin = 0;  // captures [caps_begin, caps_end) inside a repeat
  uint32_t caps_end = 0;
  std::vector<uint32_t> kids;
};

node make(kind k, bool nullable) {
  node n;
  n.k = k;
  n.nullable = nullable;
  return n;
}

bool is_assertion(kind k) {
  return k == kind::bol || k == kind::eol || k == kind::word_boundary || k == kind::not_word_boundary;
}

class parser {
 public:
  parser(std::vector<char32_t> source, std::vector<uint32_t> offsets, program& out)
      : src_(std::move(source)), offsets_(std::move(offsets)), prog_(out) {}

  // Iterative over group nesting: open groups live on an explicit stack, not the call stack.
  result<uint32_t> parse() {
    prescan();
    std::vector<open_group> stack(1);
    while (!at_end()) {
      const char32_t c = src_[i_];
      if (c == '|') {
        ++i_;
        end_alternative(stack.back());
        continue;
      }
      if (c == '(') {
        ++i_;
        WHALE_TRY_VOID(open_group_at(stack));
        continue;
      }
      uint32_t caps_before = captures_;
      uint32_t atom_index = 0;
      if (c == ')') {
        if (stack.size() == 1) return error("unmatched ')'");
        ++i_;
        caps_before = stack.back().caps_before;
        atom_index = close_group(stack);
      } else {
        WHALE_TRY(atom_index, atom());
      }
      WHALE_TRY(uint32_t term, quantify(atom_index, caps_before));
      node& seq = stack.back().seq;
      seq.nullable = seq.nullable && nodes_[term].nullable;
      seq.kids.push_back(term);
    }
    if (stack.size() > 1) return error("missing )");
    return finish_disjunction(stack.back());
  }
  const std::vector<node>& nodes() const { return nodes_; }
  uint32_t captures() const { return captures_; }
  bool has_backrefs() const { return has_backrefs_; }

 private:
  // One member of a [...] class: a code point, or a class escape letter (d D s S w W).
  struct class_atom {
    char32_t cp = 0;
    char32_t set = 0;
  };

  // A group being parsed: its alternatives so far and the sequence being built.
  struct open_group {
    kind k = kind::group;
    uint32_t capture = 0;      // 0 when not capturing
    uint32_t caps_before = 0;  // captures opened before this group
    node alt = make(kind::alt, false);
    node seq = make(kind::seq, true);
  };

  bool at_end() const { return i_ >= src_.size(); }
  char32_t at(size_t j) const { return j < src_.size() ? src_[j] : end_of_input; }
  char32_t peek(size_t ahead = 0) const { return at(i_ + ahead); }

  failure error(const std::string& what) const {
    const uint32_t offset = offsets_[std::min(i_, src_.size())];
    return fail(error_code::invalid_regex, "invalid regex at offset " + std::to_string(offset) + ": " + what);
  }

  uint32_t add(node n) {
    nodes_.push_back(std::move(n));
    return static_cast<uint32_t>(nodes_.size() - 1);
  }

  // Counts captures and records their names before parsing: \N and \k<name> may refer forward.
  void prescan() {
    for (size_t j = 0; j < src_.size(); ++j) {
      if (src_[j] == '\\') {
        ++j;
      } else if (src_[j] == '[') {
        for (++j; j < src_.size() && src_[j] != ']'; ++j) j += src_[j] == '\\';
      } else if (src_[j] == '(' && at(j + 1) != '?') {
        names_.emplace_back();
      } else if (src_[j] == '(' && at(j + 2) == '<' && at(j + 3) != '=' && at(j + 3) != '!') {
        names_.push_back(read_name(j + 3));
        has_names_ = true;
      }
    }
  }

  std::u32string read_name(size_t j) const {
    std::u32string name;
    for (; j < src_.size() && src_[j] != '>'; ++j) name.push_back(src_[j]);
    return name;
  }

  void end_alternative(open_group& g) {
    const uint32_t seq = g.seq.kids.size() == 1 ? g.seq.kids[0] : add(std::move(g.seq));
    g.alt.nullable = g.alt.nullable || nodes_[seq].nullable;
    g.alt.kids.push_back(seq);
    g.seq = make(kind::seq, true);
  }

  uint32_t finish_disjunction(open_group& g) {
    end_alternative(g);
    return g.alt.kids.size() == 1 ? g.alt.kids[0] : add(std::move(g.alt));
  }

  // Wraps atom_index in a repeat if a quantifier follows; captures_ - caps_before are inside it.
  result<uint32_t> quantify(uint32_t atom_index, uint32_t caps_before) {
    uint64_t min = 0;
    uint64_t max = 0;
    if (!quantifier(min, max)) return atom_index;
    if (is_assertion(nodes_[atom_index].k)) return error("nothing to repeat");
    if (min > max) return error("numbers out of order in {} quantifier");
    node rep = make(kind::repeat, min == 0 || nodes_[atom_index].nullable);
    rep.greedy = peek() != '?';
    i_ += !rep.greedy;
    rep.min = static_cast<uint32_t>(std::min<uint64_t>(min, infinite - 1));
    rep.max = static_cast<uint32_t>(std::min<uint64_t>(max, infinite));
    rep.caps_begin = caps_before + 1;
    rep.caps_end = captures_ + 1;
    rep.kids.push_back(atom_index);
    return add(std::move(rep));
  }

  bool quantifier(uint64_t& min, uint64_t& max) {
    const char32_t c = peek();
    if (c == '{') return braced_quantifier(min, max);
    if (c != '*' && c != '+' && c != '?') return false;
    ++i_;
    min = c == '+' ? 1 : 0;
    max = c == '?' ? 1 : infinite;
    return true;
  }

  // {n} {n,} {n,m}; anything else leaves `{` a literal (Annex B) and returns false.
  bool braced_quantifier(uint64_t& min, uint64_t& max) {
    size_t j = i_ + 1;
    if (!read_number(j, min)) return false;
    max = min;
    if (at(j) == ',') {
      ++j;
      max = infinite;
      if (is_digit(at(j))) read_number(j, max);
    }
    if (at(j) != '}') return false;
    i_ = j + 1;
    return true;
  }

  // Decimal digits at j, saturating at 2^53 (beyond any useful count).
  bool read_number(size_t& j, uint64_t& out) const {
    if (!is_digit(at(j))) return false;
    out = 0;
    for (; is_digit(at(j)); ++j) out = std::min<uint64_t>(out * 10 + (at(j) - '0'), uint64_t{1} << 53);
    return true;
  }

  // Any atom but a group; c is not '(' ')' or '|'.
  result<uint32_t> atom() {
    const char32_t c = src_[i_++];
    switch (c) {
      case '^': return add(make(kind::bol, true));
      case '$': return add(make(kind::eol, true));
      case '.': return add(make(kind::any, false));
      case '[': return bracket();
      case '\\': return escape();
      case '*': case '+': case '?':
        --i_;
        return error("nothing to repeat");
      case '{': {
        --i_;
        uint64_t min = 0;
        uint64_t max = 0;
        if (braced_quantifier(min, max)) return error("nothing to repeat");
        ++i_;
        return literal('{');
      }
      default: return literal(c);
    }
  }

  uint32_t literal(char32_t c) {
    node n = make(kind::chr, false);
    n.value = prog_.ignore_case ? canonicalize(c) : c;
    return add(std::move(n));
  }

  // Reads the group kind after '(' and opens it.
  result<void> open_group_at(std::vector<open_group>& stack) {
    if (stack.size() > max_nesting) {
      return fail(error_code::too_deep, "regex nests groups deeper than " + std::to_string(max_nesting));
    }
    open_group g;
    g.caps_before = captures_;
    if (peek() != '?') {
      g.capture = ++captures_;
    } else if (peek(1) == ':') {
      i_ += 2;
    } else if (peek(1) == '=' || peek(1) == '!') {
      g.k = peek(1) == '=' ? kind::look : kind::look_neg;
      i_ += 2;
    } else if (peek(1) == '<' && (peek(2) == '=' || peek(2) == '!')) {
      return error("lookbehind is not supported");
    } else if (peek(1) == '<') {
      i_ += 2;
      WHALE_TRY_VOID(group_name());
      g.capture = ++captures_;
    } else {
      return error("invalid group");
    }
    stack.push_back(std::move(g));
    return {};
  }

  uint32_t close_group(std::vector<open_group>& stack) {
    open_group g = std::move(stack.back());
    stack.pop_back();
    const uint32_t body = finish_disjunction(g);
    node n = make(g.k, g.k != kind::group || nodes_[body].nullable);
    n.value = g.capture;
    n.kids.push_back(body);
    return add(std::move(n));
  }

  // Validates the <name> of capture captures_ + 1 (i_ just past '<') and skips it.
  result<void> group_name() {
    const std::u32string name = read_name(i_);
    if (i_ + name.size() >= src_.size()) return error("unterminated group name");
    if (name.empty() || is_digit(name[0])) return error("invalid group name");
    for (char32_t c : name) {
      if (c < 0x80 && !is_word(c) && c != '$') return error("invalid group name");
    }
    for (size_t k = 0; k < captures_ && k < names_.size(); ++k) {
      if (names_[k] == name) return error("duplicate group name");
    }
    i_ += name.size() + 1;
    return {};
  }

  result<uint32_t> escape() {
    if (at_end()) return error("\\ at end of pattern");
    const char32_t c = src_[i_++];
    if (c == 'b') return add(make(kind::word_boundary, true));
    if (c == 'B') return add(make(kind::not_word_boundary, true));
    if (c == 'd' || c == 'D' || c == 's' || c == 'S' || c == 'w' || c == 'W') {
      char_class cls;
      add_escape_set(cls.ranges, c);
      return add_class(std::move(cls));
    }
    if (c == 'k' && has_names_) return named_backref();
    if (c == 'c') {
      if (is_ascii_letter(peek())) return literal(src_[i_++] % 32);
      --i_;  // a lone \c is a backslash followed by "c"
      return literal('\\');
    }
    if (is_digit(c) && c != '0') {
      size_t j = i_ - 1;
      uint64_t number = 0;
      read_number(j, number);
      if (number <= names_.size()) {
        i_ = j;
        return backref(static_cast<uint32_t>(number));
      }
    }
    return literal(character_escape(c));
  }

  result<uint32_t> named_backref() {
    if (peek() != '<') return error("invalid named reference");
    const std::u32string name = read_name(i_ + 1);
    if (at(i_ + 1 + name.size()) != '>') return error("invalid named reference");
    for (size_t k = 0; k < names_.size(); ++k) {
      if (!name.empty() && names_[k] == name) {
        i_ += name.size() + 2;
        return backref(static_cast<uint32_t>(k + 1));
      }
    }
    return error("invalid named reference");
  }

  uint32_t backref(uint32_t capture) {
    has_backrefs_ = true;
    node n = make(kind::backref, true);
    n.value = capture;
    return add(std::move(n));
  }

  // Escapes that stand for one character, c being the letter after the backslash.
  char32_t character_escape(char32_t c) {
    switch (c) {
      case 'f': return '\f';
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case 'v': return '\v';
      case 'x': return hex_escape(2, 'x');
      case 'u': return unicode_escape();
      default: return c >= '0' && c <= '7' ? legacy_octal(c) : c;  // identity escape
    }
  }

  // \0 to \377 (Annex B): up to three octal digits, c being the first.
  char32_t legacy_octal(char32_t c) {
    char32_t value = c - '0';
    for (int more = c <= '3' ? 2 : 1; more > 0 && peek() >= '0' && peek() <= '7'; --more) {
      value = value * 8 + (src_[i_++] - '0');
    }
    return value;
  }

  // `digits` hex digits after \x or \u, or the letter itself when they are missing.
  char32_t hex_escape(size_t digits, char32_t letter) {
    for (size_t k = 0; k < digits; ++k) {
      if (!is_hex(peek(k))) return letter;
    }
    char32_t value = 0;
    for (size_t k = 0; k < digits; ++k) value = value * 16 + hex_value(src_[i_++]);
    return value;
  }

  // \uHHHH, combining an escaped surrogate pair into one code point.
  char32_t unicode_escape() {
    const char32_t unit = hex_escape(4, 'u');
    if (unit < 0xD800 || unit > 0xDBFF || peek() != '\\' || peek(1) != 'u') return unit;
    const size_t saved = i_;
    i_ += 2;
    const char32_t low = hex_escape(4, 'u');
    if (low >= 0xDC00 && low <= 0xDFFF) return 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
    i_ = saved;
    return unit;
  }

  result<uint32_t> bracket() {
    char_class cls;
    if (peek() == '^') {
      cls.negated = true;
      ++i_;
    }
    for (;;) {
      if (at_end()) return error("missing ]");
      if (peek() == ']') break;
      WHALE_TRY(class_atom low, class_member());
      if (peek() != '-' || peek(1) == ']' || peek(1) == end_of_input) {
        add_member(cls.ranges, low);
        continue;
      }
      ++i_;
      WHALE_TRY(class_atom high, class_member());
      if (low.set || high.set) {  // Annex B: [\d-z] is \d, '-' and 'z'
        add_member(cls.ranges, low);
        add_member(cls.ranges, class_atom{'-', 0});
        add_member(cls.ranges, high);
      } else if (low.cp > high.cp) {
        return error("range out of order in character class");
      } else {
        cls.ranges.push_back({low.cp, high.cp});
      }
    }
    ++i_;
    return add_class(std::move(cls));
  }

  static void add_member(std::vector<range>& ranges, class_atom member) {
    if (member.set) {
      add_escape_set(ranges, member.set);
    } else {
      ranges.push_back({member.cp, member.cp});
    }
  }

  result<class_atom> class_member() {
    char32_t c = src_[i_++];
    if (c != '\\') return class_atom{c, 0};
    if (at_end()) return error("\\ at end of pattern");
    c = src_[i_++];
    if (c == 'd' || c == 'D' || c == 's' || c == 'S' || c == 'w' || c == 'W') return class_atom{0, c};
    if (c == 'b') return class_atom{'\b', 0};
    if (c == 'k' && has_names_) return error("invalid escape in class");
    if (c == 'c') {
      if (is_word(peek())) return class_atom{src_[i_++] % 32, 0};
      --i_;  // a lone \c in a class is a backslash; the "c" is read next
      return class_atom{'\\', 0};
    }
    return class_atom{character_escape(c), 0};
  }

  uint32_t add_class(char_class cls) {
    normalize(cls.ranges);
    if (prog_.ignore_case) close_over_case(cls.ranges);
    prog_.classes.push_back(std::move(cls));
    node n = make(kind::cls, false);
    n.value = static_cast<uint32_t>(prog_.classes.size() - 1);
    return add(std::move(n));
  }

  std::vector<char32_t> src_;
  std::vector<uint32_t> offsets_;  // byte offset of each code point, then the pattern length
  size_t i_ = 0;
  program& prog_;
  std::vector<node> nodes_;
  std::vector<std::u32string> names_;  // one per capture, empty when unnamed (from prescan)
  bool has_names_ = false;
  uint32_t captures_ = 0;  // captures opened so far
  bool has_backrefs_ = false;
};

// ---------------------------------------------------------------------------------------------
// Compiler: node tree to bytecode. Recursion depth follows group nesting (at most max_nesting).

class compiler {
 public:
  compiler(const std::vector<node>& nodes, program& prog, bool track_captures)
      : nodes_(nodes), prog_(prog), track_captures_(track_captures) {}

  void emit(uint32_t index) {
    const node& n = nodes_[index];
    switch (n.k) {
      case kind::empty: return;
      case kind::chr: emit_op(op::chr, n.value); return;
      case kind::any: emit_op(op::any); return;
      case kind::cls: emit_op(op::cls, n.value); return;
      case kind::bol: emit_op(op::bol); return;
      case kind::eol: emit_op(op::eol); return;
      case kind::word_boundary: emit_op(op::word_boundary); return;
      case kind::not_word_boundary: emit_op(op::not_word_boundary); return;
      case kind::backref: emit_op(op::backref, n.value); return;
      case kind::group: emit_group(n); return;
      case kind::look: case kind::look_neg: emit_look(n); return;
      case kind::seq:
        for (uint32_t kid : n.kids) emit(kid);
        return;
      case kind::alt: emit_alt(n); return;
      case kind::repeat: emit_repeat(n); return;
    }
  }

  uint32_t emit_op(op code, uint32_t a = 0, uint32_t b = 0) {
    prog_.code.push_back(inst{code, a, b});
    return here() - 1;
  }

 private:
  uint32_t here() const { return static_cast<uint32_t>(prog_.code.size()); }

  void patch_split(uint32_t at, uint32_t first, uint32_t second) {
    prog_.code[at].a = first;
    prog_.code[at].b = second;
  }

  void emit_group(const node& n) {
    const bool capture = track_captures_ && n.value != 0;
    if (capture) emit_op(op::open, n.value);
    emit(n.kids[0]);
    if (capture) emit_op(op::close, n.value);
  }

  void emit_look(const node& n) {
    const uint32_t at = emit_op(n.k == kind::look ? op::look : op::look_neg);
    emit(n.kids[0]);
    emit_op(op::look_end);
    prog_.code[at].a = here();
  }

  void emit_alt(const node& n) {
    std::vector<uint32_t> exits;
    for (size_t k = 0; k < n.kids.size(); ++k) {
      const bool last = k + 1 == n.kids.size();
      const uint32_t split = last ? 0 : emit_op(op::split);
      emit(n.kids[k]);
      if (last) break;
      exits.push_back(emit_op(op::jmp));
      patch_split(split, split + 1, here());
    }
    for (uint32_t j : exits) prog_.code[j].a = here();
  }

  // One iteration: captures inside restart undefined each time (JS RepeatMatcher step 4).
  void emit_body(const node& rep) {
    if (track_captures_ && rep.caps_end > rep.caps_begin) emit_op(op::reset_caps, rep.caps_begin, rep.caps_end);
    emit(rep.kids[0]);
  }

  void emit_repeat(const node& rep) {
    const node& body = nodes_[rep.kids[0]];
    const bool single = body.k == kind::chr || body.k == kind::any || body.k == kind::cls;
    if (rep.max == 0) return;
    if (rep.min == 1 && rep.max == 1) return emit_body(rep);
    if (single && rep.greedy) {
      emit_op(op::star, rep.min, rep.max);
      return emit(rep.kids[0]);
    }
    if (body.nullable || rep.min > 1 || (rep.max != infinite && rep.max != 1)) return emit_counted(rep);
    if (rep.max == 1) return emit_optional(rep);  // ?
    if (rep.min == 0) return emit_kleene(rep);    // *
    emit_plus(rep);                               // +
  }

  void emit_optional(const node& rep) {
    const uint32_t split = emit_op(op::split);
    emit_body(rep);
    rep.greedy ? patch_split(split, split + 1, here()) : patch_split(split, here(), split + 1);
  }

  void emit_kleene(const node& rep) {
    const uint32_t split = emit_op(op::split);
    emit_body(rep);
    emit_op(op::jmp, split);
    rep.greedy ? patch_split(split, split + 1, here()) : patch_split(split, here(), split + 1);
  }

  void emit_plus(const node& rep) {
    const uint32_t head = here();
    emit_body(rep);
    const uint32_t split = emit_op(op::split);
    rep.greedy ? patch_split(split, head, split + 1) : patch_split(split, split + 1, head);
  }

  void emit_counted(const node& rep) {
    const uint32_t index = static_cast<uint32_t>(prog_.loops.size());
    const uint32_t counter = prog_.registers++;
    const uint32_t start_pos = nodes_[rep.kids[0]].nullable ? prog_.registers++ : no_register;
    prog_.loops.push_back(loop_info{counter, start_pos, rep.min, rep.max});
    emit_op(op::set_zero, counter);
    const uint32_t head = emit_op(rep.greedy ? op::loop_greedy : op::loop_lazy, index);
    if (start_pos != no_register) emit_op(op::set_pos, start_pos);
    emit_body(rep);
    emit_op(op::loop_end, index, head);
    prog_.code[head].b = here();
  }

  const std::vector<node>& nodes_;
  program& prog_;
  bool track_captures_;  // only backreferences read captures, so without them none are kept
};

// ---------------------------------------------------------------------------------------------
// Matcher: a backtracking VM. Frames record alternatives to resume, register values to restore,
// lookahead entries and give-back points of `star`.

enum class frame_kind : uint8_t { branch, undo, look, look_neg, star };

struct frame {
  frame_kind kind;
  uint32_t a;  // branch, look, star: pc to resume; undo: register
  int32_t b;   // branch, look: position; undo: old value; star: lowest position to give back to
  int32_t c;   // star: current position
};

class matcher {
 public:
  // The vectors are the caller's, kept across calls so that a test() allocates nothing once
  // they have grown: text holds the decoded subject, regs and frames are cleared here.
  matcher(const program& prog, const std::vector<char32_t>& text, std::vector<int32_t>& regs, std::vector<frame>& frames)
      : prog_(prog), text_(text), size_(static_cast<int32_t>(text.size())), regs_(regs), frames_(frames) {
    regs_.assign(prog.registers, -1);
    frames_.clear();
  }

  result<bool> search() {
    const bool anchored = prog_.code[0].code == op::bol;  // every path starts with ^
    // A pattern that starts with a literal can only match where that literal stands.
    const bool literal_first = prog_.code[0].code == op::chr && !prog_.ignore_case;
    for (int32_t start = 0; start <= (anchored ? 0 : size_); ++start) {
      if (literal_first && (start == size_ || char_at(start) != prog_.code[0].a)) continue;
      if (run(start)) return true;
      if (over_budget_) return fail(error_code::regex_budget, "regex match exceeded its step budget");
    }
    return false;
  }

 private:
  bool run(int32_t start) {
    pc_ = 0;
    pos_ = start;
    frames_.clear();  // registers need no reset: a failed run has undone every write
    while (charge(1)) {
      const inst& in = prog_.code[pc_];
      if (in.code == op::match) return true;
      if (!exec(in) && !backtrack()) return false;
    }
    return false;
  }

  char32_t char_at(int32_t pos) const { return text_[static_cast<size_t>(pos)]; }

  bool charge(uint64_t steps) {
    steps_ += steps;
    over_budget_ = over_budget_ || steps_ > step_budget;
    return !over_budget_;
  }

  bool next() {
    ++pc_;
    return true;
  }

  // Runs one instruction; false means this path failed.
  bool exec(const inst& in) {
    switch (in.code) {
      case op::chr: case op::any: case op::cls:
        if (pos_ >= size_ || !matches(in, char_at(pos_))) return false;
        ++pos_;
        return next();
      case op::bol: return pos_ == 0 && next();
      case op::eol: return pos_ == size_ && next();
      case op::word_boundary: return at_word_boundary() && next();
      case op::not_word_boundary: return !at_word_boundary() && next();
      case op::split:
        pc_ = in.a;
        return push(frame{frame_kind::branch, in.b, pos_, 0});
      case op::jmp:
        pc_ = in.a;
        return true;
      case op::star: return star(in);
      case op::set_zero: return set_reg(in.a, 0) && next();
      case op::set_pos: return set_reg(in.a, pos_) && next();
      case op::loop_greedy: case op::loop_lazy: return loop(in);
      case op::loop_end: return loop_end(in);
      case op::reset_caps: return reset_captures(in.a, in.b) && next();
      case op::open: return set_reg(pending_reg(in.a), pos_) && next();
      case op::close:
        return set_reg(start_reg(in.a), regs_[pending_reg(in.a)]) && set_reg(end_reg(in.a), pos_) && next();
      case op::backref: return backref(in.a);
      case op::look: case op::look_neg: {
        const frame_kind k = in.code == op::look ? frame_kind::look : frame_kind::look_neg;
        return push(frame{k, in.a, pos_, 0}) && next();
      }
      case op::look_end: return look_end();
      case op::match: return true;
    }
    return false;
  }

  bool matches(const inst& in, char32_t c) const {
    if (in.code == op::chr) return (prog_.ignore_case ? canonicalize(c) : c) == in.a;
    if (in.code == op::any) return !is_line_terminator(c);
    const char_class& cls = prog_.classes[in.a];
    return in_ranges(cls.ranges, c) != cls.negated;
  }

  bool same_char(char32_t x, char32_t y) const {
    return x == y || (prog_.ignore_case && canonicalize(x) == canonicalize(y));
  }

  bool at_word_boundary() const {
    const bool before = pos_ > 0 && is_word(char_at(pos_ - 1));
    const bool after = pos_ < size_ && is_word(char_at(pos_));
    return before != after;
  }

  bool push(frame f) {
    if (frames_.size() >= max_frames) {
      over_budget_ = true;
      return false;
    }
    frames_.push_back(f);
    return true;
  }

  bool set_reg(uint32_t reg, int32_t value) {
    if (regs_[reg] == value) return true;
    if (!push(frame{frame_kind::undo, reg, regs_[reg], 0})) return false;
    regs_[reg] = value;
    return true;
  }

  bool reset_captures(uint32_t begin, uint32_t end) {
    if (!charge(end - begin)) return false;
    for (uint32_t capture = begin; capture < end; ++capture) {
      if (!set_reg(start_reg(capture), -1) || !set_reg(end_reg(capture), -1)) return false;
    }
    return true;
  }

  // Consumes as many matches of the next instruction as allowed and leaves one frame that
  // gives them back one at a time.
  bool star(const inst& in) {
    const inst& one = prog_.code[pc_ + 1];
    const int32_t start = pos_;
    uint32_t count = 0;
    while (count < in.b && pos_ < size_ && matches(one, char_at(pos_))) {
      ++pos_;
      ++count;
    }
    if (!charge(count) || count < in.a) return false;
    pc_ += 2;
    if (count == in.a) return true;
    return push(frame{frame_kind::star, pc_, start + static_cast<int32_t>(in.a), pos_});
  }

  bool loop(const inst& in) {
    const loop_info& info = prog_.loops[in.a];
    const auto count = static_cast<uint32_t>(regs_[info.counter]);
    if (count < info.min) return next();
    if (count >= info.max) {
      pc_ = in.b;
      return true;
    }
    if (in.code == op::loop_greedy) return push(frame{frame_kind::branch, in.b, pos_, 0}) && next();
    const uint32_t body = pc_ + 1;
    pc_ = in.b;
    return push(frame{frame_kind::branch, body, pos_, 0});
  }

  bool loop_end(const inst& in) {
    const loop_info& info = prog_.loops[in.a];
    const int32_t count = regs_[info.counter];
    const bool empty = info.start_pos != no_register && regs_[info.start_pos] == pos_;
    if (empty && static_cast<uint32_t>(count) >= info.min) return false;
    pc_ = in.b;
    return set_reg(info.counter, count + 1);
  }

  // An undefined capture matches the empty string (JS).
  bool backref(uint32_t capture) {
    const int32_t start = regs_[start_reg(capture)];
    const int32_t end = regs_[end_reg(capture)];
    const int32_t length = start < 0 || end < start ? 0 : end - start;
    if (length > size_ - pos_ || !charge(static_cast<uint64_t>(length))) return false;
    for (int32_t k = 0; k < length; ++k) {
      if (!same_char(char_at(start + k), char_at(pos_ + k))) return false;
    }
    pos_ += length;
    return next();
  }

  // The lookahead body matched. JS lookaheads are atomic: drop the body's alternatives but keep
  // its register undos, so that backtracking past the lookahead still restores captures.
  bool look_end() {
    size_t marker = frames_.size();
    while (marker > 0 && frames_[marker - 1].kind != frame_kind::look &&
           frames_[marker - 1].kind != frame_kind::look_neg) {
      --marker;
    }
    if (marker == 0 || !charge(frames_.size() - marker)) return false;
    const frame entry = frames_[--marker];
    if (entry.kind == frame_kind::look_neg) {
      unwind_to(marker);
      return false;
    }
    size_t kept = marker;
    for (size_t k = marker + 1; k < frames_.size(); ++k) {
      if (frames_[k].kind == frame_kind::undo) frames_[kept++] = frames_[k];
    }
    frames_.resize(kept);
    pc_ = entry.a;
    pos_ = entry.b;
    return true;
  }

  void unwind_to(size_t size) {
    while (frames_.size() > size) {
      const frame& f = frames_.back();
      if (f.kind == frame_kind::undo) regs_[f.a] = f.b;
      frames_.pop_back();
    }
  }

  // Pops frames until one resumes a path; false when none is left or the budget is spent.
  bool backtrack() {
    while (!frames_.empty() && charge(1)) {
      frame& f = frames_.back();
      switch (f.kind) {
        case frame_kind::undo: regs_[f.a] = f.b; break;
        case frame_kind::look: break;  // the body of a positive lookahead failed: keep failing
        case frame_kind::branch: case frame_kind::look_neg:
          pc_ = f.a;
          pos_ = f.b;
          frames_.pop_back();
          return true;
        case frame_kind::star:
          pc_ = f.a;
          pos_ = --f.c;
          if (f.c == f.b) frames_.pop_back();
          return true;
      }
      frames_.pop_back();
    }
    return false;
  }

  const program& prog_;
  const std::vector<char32_t>& text_;
  int32_t size_;
  std::vector<int32_t>& regs_;
  std::vector<frame>& frames_;
  uint32_t pc_ = 0;
  int32_t pos_ = 0;
  uint64_t steps_ = 0;
  bool over_budget_ = false;
};

}  // namespace

namespace {

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Every path of the program runs its leading chr instructions in order before anything else,
// so a match starts with their code points.
void find_prefix(program& prog) {
  if (prog.ignore_case) return;
  size_t pc = 0;
  prog.anchored = prog.code[0].code == op::bol;
  if (prog.anchored) ++pc;
  std::string prefix;
  for (; prog.code[pc].code == op::chr; ++pc) {
    const auto cp = static_cast<char32_t>(prog.code[pc].a);
    if (cp == replacement_char || (cp >= 0xD800 && cp <= 0xDFFF) || cp > max_code_point) return;
    append_utf8(prefix, cp);
  }
  prog.literal_only = prog.code[pc].code == op::match;
  prog.prefix = std::move(prefix);
}

}  // namespace

result<pattern> compile(std::string_view source, bool ignore_case) {
  if (source.size() > max_pattern_bytes) {
    return fail(error_code::too_large, "regex longer than " + std::to_string(max_pattern_bytes) + " bytes");
  }
  std::vector<char32_t> code_points;
  std::vector<uint32_t> offsets;
  for (size_t i = 0; i < source.size();) {
    char32_t cp = 0;
    const size_t len = decode_utf8(source, i, cp);
    if (len == 0) return fail(error_code::invalid_regex, "invalid UTF-8 in regex at offset " + std::to_string(i));
    code_points.push_back(cp);
    offsets.push_back(static_cast<uint32_t>(i));
    i += len;
  }
  offsets.push_back(static_cast<uint32_t>(source.size()));

  auto prog = std::make_shared<program>();
  prog->ignore_case = ignore_case;
  parser p(std::move(code_points), std::move(offsets), *prog);
  WHALE_TRY(uint32_t root, p.parse());
  prog->registers = 3 * p.captures();
  compiler c(p.nodes(), *prog, p.has_backrefs());
  c.emit(root);
  c.emit_op(op::match);
  find_prefix(*prog);
  return pattern(std::move(prog));
}

result<bool> pattern::test(std::string_view subject) const {
  if (!program_) return fail(error_code::internal, "regex::pattern::test on a pattern that was never compiled");
  if (subject.size() > static_cast<size_t>(INT32_MAX)) return fail(error_code::too_large, "regex subject too large");
  // Searching the UTF-8 bytes finds the prefix exactly where the code points hold it: a valid
  // sequence starts with a byte that is never a continuation byte, and the decoder starts a
  // code point at every such byte.
  const program& prog = *program_;
  if (!prog.prefix.empty()) {
    const bool found = prog.anchored ? subject.substr(0, prog.prefix.size()) == prog.prefix : subject.find(prog.prefix) != std::string_view::npos;
    if (!found || prog.literal_only) return found;
  }
  // One set of buffers per thread (test() never runs inside another test()); what a long subject
  // or a deep backtrack grew is given back rather than held.
  struct buffers {
    std::vector<char32_t> text;
    std::vector<int32_t> regs;
    std::vector<frame> frames;
  };
#if defined(__wasi__) || defined(__EMSCRIPTEN__)
  static buffers b;  // one thread; and a thread_local with a destructor needs __cxa_thread_atexit
#else
  static thread_local buffers b;
#endif
  decode_lossy(subject, b.text);
  result<bool> found = matcher(prog, b.text, b.regs, b.frames).search();
  if (b.text.capacity() > 16384) b.text = {};
  if (b.frames.capacity() > 4096) b.frames = {};
  return found;
}

}  // namespace whale::regex
