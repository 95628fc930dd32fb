// POSIX TZ rules (include/whale/tz.h): a strict parser and an evaluator in integer arithmetic,
// so every target computes the same offsets.
#include "whale/tz.h"

#include <algorithm>
#include <iterator>
#include <string>

namespace whale::tz {
namespace {

struct zone_entry {
  const char* name;
  const char* rule;
};

constexpr zone_entry zones[] = {
#include "tz_zones.inc"
};

int64_t floor_div(int64_t a, int64_t b) noexcept { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

bool is_leap(int64_t y) noexcept { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int64_t y, int m) noexcept {
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

class reader {
 public:
  explicit reader(std::string_view text) : text_(text) {}
  bool done() const noexcept { return at_ == text_.size(); }
  char peek() const noexcept { return done() ? '\0' : text_[at_]; }
  bool accept(char c) noexcept {
    if (peek() != c) return false;
    ++at_;
    return true;
  }
  failure fail(std::string_view what) const {
    return fail_at(at_, what);
  }
  failure fail_at(size_t at, std::string_view what) const {
    return whale::fail(error_code::invalid_value,
                       "TZ rule \"" + std::string(text_) + "\" at " + std::to_string(at) + ": " + std::string(what));
  }

  // A zone abbreviation: 3+ letters, or <...> of letters, digits, '+' and '-'.
  result<void> name() {
    const size_t begin = at_;
    if (accept('<')) {
      while (!done() && peek() != '>') {
        const char c = peek();
        if (!(is_alpha(c) || is_digit(c) || c == '+' || c == '-')) return fail("bad character in <name>");
        ++at_;
      }
      if (at_ - begin < 4 || !accept('>')) return fail_at(begin, "expected <name> of 3 or more characters");
      return {};
    }
    while (is_alpha(peek())) ++at_;
    if (at_ - begin < 3) return fail_at(begin, "expected a name of 3 or more letters");
    return {};
  }

  // [+-]hh[:mm[:ss]] with hh <= max_hours; returns seconds.
  result<int32_t> clock(int max_hours) {
    const size_t begin = at_;
    int sign = 1;
    if (accept('-')) sign = -1;
    else accept('+');
    int32_t parts[3] = {0, 0, 0};
    for (int i = 0; i < 3; ++i) {
      if (i > 0 && !accept(':')) break;
      if (!is_digit(peek())) return fail("expected digits");
      int32_t n = 0;
      int digits = 0;
      while (is_digit(peek()) && digits < 3) {
        n = n * 10 + (peek() - '0');
        ++at_;
        ++digits;
      }
      if (is_digit(peek())) return fail("too many digits");
      if ((i == 0 && n > max_hours) || (i > 0 && n > 59)) return fail_at(begin, "time out of range");
      parts[i] = n;
    }
    return sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
  }

  result<int32_t> number(int32_t lo, int32_t hi) {
    const size_t begin = at_;
    if (!is_digit(peek())) return fail("expected a number");
    int32_t n = 0;
    while (is_digit(peek()) && n <= hi) {
      n = n * 10 + (peek() - '0');
      ++at_;
    }
    if (n < lo || n > hi) return fail_at(begin, "number out of range");
    return n;
  }

  result<transition> date() {
    transition t;
    if (accept('M')) {
      t.kind = transition::form::month_week_day;
      WHALE_TRY(const int32_t month, number(1, 12));
      if (!accept('.')) return fail("expected '.'");
      WHALE_TRY(const int32_t week, number(1, 5));
      if (!accept('.')) return fail("expected '.'");
      WHALE_TRY(const int32_t day, number(0, 6));
      t.month = static_cast<uint16_t>(month);
      t.week = static_cast<uint16_t>(week);
      t.day = static_cast<uint16_t>(day);
    } else if (accept('J')) {
      t.kind = transition::form::julian_1;
      WHALE_TRY(const int32_t day, number(1, 365));
      t.day = static_cast<uint16_t>(day);
    } else {
      t.kind = transition::form::julian_0;
      WHALE_TRY(const int32_t day, number(0, 365));
      t.day = static_cast<uint16_t>(day);
    }
    if (accept('/')) {
      WHALE_TRY(t.time, clock(167));
    }
    return t;
  }

 private:
  static bool is_alpha(char c) noexcept { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
  static bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

  std::string_view text_;
  size_t at_ = 0;
};

// Local midnight (as days since 1970-01-01) of a transition's day in `year`.
int64_t transition_day(const transition& t, int64_t year) noexcept {
  const int64_t jan1 = days_from_civil(year, 1, 1);
  switch (t.kind) {
    case transition::form::julian_1:
      return jan1 + t.day - 1 + (is_leap(year) && t.day >= 60 ? 1 : 0);
    case transition::form::julian_0:
      return jan1 + t.day;
    case transition::form::month_week_day:
      break;
  }
  const int64_t first = days_from_civil(year, t.month, 1);
  const int64_t first_weekday = ((first + 4) % 7 + 7) % 7;  // 0 = Sunday (1970-01-01 was a Thursday)
  int64_t day = 1 + (t.day - first_weekday + 7) % 7 + (t.week - 1) * 7;
  while (day > days_in_month(year, t.month)) day -= 7;
  return first + day - 1;
}

bool digits(std::string_view s, size_t at, size_t n, int& out) {
  if (at + n > s.size()) return false;
  out = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

bool valid_date(int y, int m, int d) {
  static const int days_in[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1) return false;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= days_in[m - 1] + (m == 2 && leap ? 1 : 0);
}

}  // namespace

int64_t days_from_civil(int64_t y, int m, int d) noexcept {
  // Howard Hinnant's algorithm: eras of 400 years starting in March.
  y -= m <= 2;
  const int64_t era = floor_div(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

civil to_civil(int64_t seconds) noexcept {
  civil out;
  const int64_t days = floor_div(seconds, 86400);
  out.seconds = static_cast<int>(seconds - days * 86400);
  out.weekday = static_cast<int>((days % 7 + 7 + 3) % 7);  // 1970-01-01 was a Thursday (3)
  const int64_t z = days + 719468;
  const int64_t era = floor_div(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  out.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  out.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  out.year = yoe + era * 400 + (out.month <= 2);
  return out;
}

result<rule> parse_rule(std::string_view text) {
  if (text.size() > max_rule_bytes) {
    return fail(error_code::too_large, "TZ rule of " + std::to_string(text.size()) + " bytes is over the limit of " +
                                           std::to_string(max_rule_bytes));
  }
  reader in(text);
  rule out;
  WHALE_TRY_VOID(in.name());
  WHALE_TRY(const int32_t std_west, in.clock(24));
  out.std_offset = -std_west;
  if (in.done()) return out;
  WHALE_TRY_VOID(in.name());
  out.has_dst = true;
  out.dst_offset = out.std_offset + 3600;
  if (in.peek() != ',' && !in.done()) {
    WHALE_TRY(const int32_t dst_west, in.clock(24));
    out.dst_offset = -dst_west;
  }
  if (in.done()) {  // no transitions: the US rule
    out.start = transition{transition::form::month_week_day, 3, 2, 0, 2 * 3600};
    out.end = transition{transition::form::month_week_day, 11, 1, 0, 2 * 3600};
    return out;
  }
  if (!in.accept(',')) return in.fail("expected ','");
  WHALE_TRY(out.start, in.date());
  if (!in.accept(',')) return in.fail("expected ','");
  WHALE_TRY(out.end, in.date());
  if (!in.done()) return in.fail("unexpected text after the rule");
  return out;
}

std::string_view find_zone(std::string_view name) noexcept {
  const auto* found = std::lower_bound(std::begin(zones), std::end(zones), name,
                                       [](const zone_entry& e, std::string_view n) { return std::string_view(e.name) < n; });
  if (found == std::end(zones) || std::string_view(found->name) != name) return {};
  return found->rule;
}

result<rule> zone_rule(std::string_view name) {
  const std::string_view text = find_zone(name);
  if (text.empty()) return fail(error_code::not_found, "unknown time zone \"" + std::string(name) + "\"");
  return parse_rule(text);
}

int32_t utc_offset(const rule& r, int64_t utc) noexcept {
  if (!r.has_dst) return r.std_offset;
  const int64_t year = to_civil(utc + r.std_offset).year;
  // Transition times are local: the start in standard time, the end in daylight time.
  const int64_t start = transition_day(r.start, year) * 86400 + r.start.time - r.std_offset;
  const int64_t end = transition_day(r.end, year) * 86400 + r.end.time - r.dst_offset;
  const bool dst = start < end ? (utc >= start && utc < end) : !(utc >= end && utc < start);
  return dst ? r.dst_offset : r.std_offset;
}

bool parse_ymd(std::string_view s, int& y, int& m, int& d) noexcept {
  return digits(s, 0, 4, y) && s.size() >= 10 && s[4] == '-' && digits(s, 5, 2, m) && s[7] == '-' &&
         digits(s, 8, 2, d) && valid_date(y, m, d);
}

// RFC 3339: 2025-11-28T08:00:00Z, with optional fractional seconds (dropped) and a Z or
// +hh:mm / -hh:mm offset. Unix seconds, UTC.
bool parse_rfc3339(std::string_view s, int64_t& out) noexcept {
  int y, mo, d, h, mi, sec;
  if (!parse_ymd(s, y, mo, d) || s.size() < 20 || (s[10] != 'T' && s[10] != 't')) return false;
  if (!digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec)) return false;
  if (h > 23 || mi > 59 || sec > 59) return false;
  size_t at = 19;
  if (at < s.size() && s[at] == '.') {
    const size_t start = ++at;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') ++at;
    if (at == start) return false;
  }
  int64_t offset = 0;
  if (at < s.size() && (s[at] == 'Z' || s[at] == 'z')) {
    ++at;
  } else if (at < s.size() && (s[at] == '+' || s[at] == '-')) {
    int oh, om;
    if (!digits(s, at + 1, 2, oh) || at + 3 >= s.size() || s[at + 3] != ':' || !digits(s, at + 4, 2, om)) return false;
    if (oh > 23 || om > 59) return false;
    offset = (s[at] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    at += 6;
  } else {
    return false;
  }
  if (at != s.size()) return false;
  out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
  return true;
}

}  // namespace whale::tz
