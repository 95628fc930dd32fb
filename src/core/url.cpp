// The WHATWG URL parser (url.spec.whatwg.org) as include/whale/url.h scopes it: the basic URL
// parser's states written as functions over the cleaned input.
#include "whale/url.h"

#include <array>
#include <cstring>

#include "jsops.h"

namespace whale::url {

namespace {

using std::string;
using std::string_view;

constexpr size_t npos = string_view::npos;

// Percent-encode sets (url.spec.whatwg.org#percent-encoded-bytes), over UTF-8 bytes.
enum class encode_set { c0, fragment, query, special_query, path, userinfo };

bool in_set(unsigned char b, encode_set set) {
  if (b < 0x20 || b > 0x7E) return true;
  const auto one_of = [b](const char* chars) { return b != 0 && std::strchr(chars, b) != nullptr; };
  switch (set) {
    case encode_set::c0: return false;
    case encode_set::fragment: return one_of(" \"<>`");
    case encode_set::query: return one_of(" \"#<>");
    case encode_set::special_query: return one_of(" \"#<>'");
    case encode_set::path: return one_of(" \"#<>?`{}");
    case encode_set::userinfo: return one_of(" \"#<>?`{}/:;=@[\\]^|");
  }
  return false;
}

void percent_encode(string_view in, encode_set set, string& out) {
  static const char hex[] = "0123456789ABCDEF";
  for (char ch : in) {
    const auto b = static_cast<unsigned char>(ch);
    if (in_set(b, set)) {
      out.push_back('%');
      out.push_back(hex[b >> 4]);
      out.push_back(hex[b & 15]);
    } else {
      out.push_back(ch);
    }
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

string percent_decode(string_view in) {
  string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2])));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

// UTF-8 decode with replacement: invalid bytes become U+FFFD.
string utf8_clean(string_view in) {
  string out;
  for (size_t i = 0; i < in.size();) js::append_utf8(js::next_code_point(in, i), out);
  return out;
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool iequals(string_view a, string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

std::optional<uint16_t> default_port(string_view scheme) {
  if (scheme == "http" || scheme == "ws") return 80;
  if (scheme == "https" || scheme == "wss") return 443;
  if (scheme == "ftp") return 21;
  return std::nullopt;
}

bool special_scheme(string_view scheme) { return default_port(scheme) || scheme == "file"; }

// ---- hosts ----------------------------------------------------------------------------------

// An IPv4 number ("0x" hex, leading-zero octal, decimal); nullopt when it is none.
std::optional<uint64_t> ipv4_number(string_view s) {
  if (s.empty()) return std::nullopt;
  int radix = 10;
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    radix = 16;
  } else if (s.size() >= 2 && s[0] == '0') {
    s.remove_prefix(1);
    radix = 8;
  }
  uint64_t n = 0;
  for (char c : s) {
    const int d = hex_value(c);
    if (d < 0 || d >= radix) return std::nullopt;
    n = n * static_cast<uint64_t>(radix) + static_cast<uint64_t>(d);
    if (n > (uint64_t{1} << 40)) n = uint64_t{1} << 40;  // saturate: anything this large fails later
  }
  return n;
}

std::vector<string_view> split(string_view s, char sep) {
  std::vector<string_view> out;
  size_t start = 0;
  while (true) {
    const size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == npos ? npos : at - start));
    if (at == npos) return out;
    start = at + 1;
  }
}

bool ends_in_number(string_view host) {
  auto parts = split(host, '.');
  if (parts.back().empty()) {
    if (parts.size() == 1) return false;
    parts.pop_back();
  }
  const string_view last = parts.back();
  if (!last.empty() && last.find_first_not_of("0123456789") == npos) return true;
  return ipv4_number(last).has_value();
}

std::optional<string> parse_ipv4(string_view host) {
  auto parts = split(host, '.');
  if (parts.back().empty() && parts.size() > 1) parts.pop_back();
  if (parts.size() > 4) return std::nullopt;
  std::vector<uint64_t> numbers;
  for (string_view p : parts) {
    const auto n = ipv4_number(p);
    if (!n) return std::nullopt;
    numbers.push_back(*n);
  }
  for (size_t i = 0; i + 1 < numbers.size(); ++i) {
    if (numbers[i] > 255) return std::nullopt;
  }
  if (numbers.back() >= (uint64_t{1} << (8 * (5 - numbers.size())))) return std::nullopt;
  uint64_t address = numbers.back();
  for (size_t i = 0; i + 1 < numbers.size(); ++i) address += numbers[i] << (8 * (3 - i));
  return std::to_string((address >> 24) & 255) + "." + std::to_string((address >> 16) & 255) + "." +
         std::to_string((address >> 8) & 255) + "." + std::to_string(address & 255);
}

std::optional<std::array<uint16_t, 8>> ipv6_pieces(string_view in) {
  std::array<uint16_t, 8> address{};
  int piece = 0;
  int compress = -1;
  size_t p = 0;
  const auto at = [&](size_t i) { return i < in.size() ? in[i] : '\0'; };
  if (at(p) == ':') {
    if (at(p + 1) != ':') return std::nullopt;
    p += 2;
    compress = ++piece;
  }
  while (p < in.size()) {
    if (piece == 8) return std::nullopt;
    if (at(p) == ':') {
      if (compress != -1) return std::nullopt;
      ++p;
      compress = ++piece;
      continue;
    }
    int value = 0;
    int length = 0;
    while (length < 4 && hex_value(at(p)) >= 0) {
      value = value * 16 + hex_value(at(p));
      ++p;
      ++length;
    }
    if (at(p) == '.') {
      if (length == 0 || piece > 6) return std::nullopt;
      p -= static_cast<size_t>(length);
      int seen = 0;
      while (p < in.size()) {
        int octet = -1;
        if (seen > 0) {
          if (at(p) != '.' || seen >= 4) return std::nullopt;
          ++p;
        }
        if (!is_digit(at(p))) return std::nullopt;
        while (is_digit(at(p))) {
          const int n = at(p) - '0';
          if (octet == -1) octet = n;
          else if (octet == 0) return std::nullopt;
          else octet = octet * 10 + n;
          if (octet > 255) return std::nullopt;
          ++p;
        }
        address[static_cast<size_t>(piece)] = static_cast<uint16_t>(address[static_cast<size_t>(piece)] * 0x100 + octet);
        ++seen;
        if (seen == 2 || seen == 4) ++piece;
      }
      if (seen != 4) return std::nullopt;
      break;
    }
    if (at(p) == ':') {
      ++p;
      if (p >= in.size()) return std::nullopt;
    } else if (p < in.size()) {
      return std::nullopt;
    }
    address[static_cast<size_t>(piece++)] = static_cast<uint16_t>(value);
  }
  if (compress != -1) {
    int swaps = piece - compress;
    piece = 7;
    while (piece != 0 && swaps > 0) {
      std::swap(address[static_cast<size_t>(piece)], address[static_cast<size_t>(compress + swaps - 1)]);
      --piece;
      --swaps;
    }
  } else if (piece != 8) {
    return std::nullopt;
  }
  return address;
}

std::optional<string> parse_ipv6(string_view in) {
  const auto address = ipv6_pieces(in);
  if (!address) return std::nullopt;
  // The first longest run of two or more zero pieces is written "::".
  int compress = -1;
  int best = 1;
  for (int i = 0; i < 8;) {
    int j = i;
    while (j < 8 && (*address)[static_cast<size_t>(j)] == 0) ++j;
    if (j - i > best) {
      best = j - i;
      compress = i;
    }
    i = j == i ? i + 1 : j;
  }
  static const char hex[] = "0123456789abcdef";
  string out = "[";
  for (int i = 0; i < 8; ++i) {
    if (i == compress) {
      out += i == 0 ? "::" : ":";
      i += best - 1;
      continue;
    }
    const uint16_t v = (*address)[static_cast<size_t>(i)];
    string digits;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const int d = (v >> shift) & 15;
      if (d != 0 || !digits.empty() || shift == 0) digits.push_back(hex[d]);
    }
    out += digits;
    if (i != 7) out.push_back(':');
  }
  out.push_back(']');
  return out;
}

// RFC 3492 Punycode of one label's code points.
string punycode(const std::vector<uint32_t>& cps) {
  constexpr uint32_t base = 36, tmin = 1, tmax = 26, skew = 38, damp = 700;
  const auto digit = [](uint32_t d) { return static_cast<char>(d < 26 ? 'a' + d : '0' + d - 26); };
  const auto adapt = [&](uint32_t delta, uint32_t points, bool first) {
    delta = first ? delta / damp : delta / 2;
    delta += delta / points;
    uint32_t k = 0;
    while (delta > ((base - tmin) * tmax) / 2) {
      delta /= base - tmin;
      k += base;
    }
    return k + (base - tmin + 1) * delta / (delta + skew);
  };
  string out;
  for (uint32_t c : cps) {
    if (c < 0x80) out.push_back(static_cast<char>(c));
  }
  const uint32_t basic = static_cast<uint32_t>(out.size());
  uint32_t handled = basic;
  if (basic > 0) out.push_back('-');
  uint32_t n = 0x80, delta = 0, bias = 72;
  while (handled < cps.size()) {
    uint32_t m = 0x10FFFF;
    for (uint32_t c : cps) {
      if (c >= n && c < m) m = c;
    }
    delta += (m - n) * (handled + 1);
    n = m;
    for (uint32_t c : cps) {
      if (c < n) ++delta;
      if (c != n) continue;
      uint32_t q = delta;
      for (uint32_t k = base;; k += base) {
        const uint32_t t = k <= bias ? tmin : (k >= bias + tmax ? tmax : k - bias);
        if (q < t) break;
        out.push_back(digit(t + (q - t) % (base - t)));
        q = (q - t) / (base - t);
      }
      out.push_back(digit(q));
      bias = adapt(delta, handled + 1, handled == basic);
      delta = 0;
      ++handled;
    }
    ++delta;
    ++n;
  }
  return out;
}

// RFC 3492 decoding of a label's Punycode part; nullopt when it is not Punycode.
std::optional<std::vector<uint32_t>> punycode_decode(string_view in) {
  constexpr uint32_t base = 36, tmin = 1, tmax = 26, skew = 38, damp = 700, limit = 0x10FFFF;
  std::vector<uint32_t> out;
  const size_t dash = in.rfind('-');
  size_t at = 0;
  if (dash != npos) {
    for (size_t k = 0; k < dash; ++k) out.push_back(static_cast<unsigned char>(in[k]));
    at = dash + 1;
  }
  uint32_t n = 0x80, i = 0, bias = 72;
  while (at < in.size()) {
    const uint32_t old = i;
    uint32_t w = 1;
    for (uint32_t k = base;; k += base) {
      if (at >= in.size()) return std::nullopt;
      const char c = in[at++];
      uint32_t digit = 0;
      if (c >= 'a' && c <= 'z') digit = static_cast<uint32_t>(c - 'a');
      else if (c >= 'A' && c <= 'Z') digit = static_cast<uint32_t>(c - 'A');
      else if (c >= '0' && c <= '9') digit = static_cast<uint32_t>(c - '0' + 26);
      else return std::nullopt;
      if (digit > (limit * 64 - i) / w) return std::nullopt;
      i += digit * w;
      const uint32_t t = k <= bias ? tmin : (k >= bias + tmax ? tmax : k - bias);
      if (digit < t) break;
      if (w > limit * 64 / (base - t)) return std::nullopt;
      w *= base - t;
    }
    const uint32_t count = static_cast<uint32_t>(out.size()) + 1;
    uint32_t delta = old == 0 ? (i - old) / damp : (i - old) / 2;
    delta += delta / count;
    uint32_t k = 0;
    while (delta > ((base - tmin) * tmax) / 2) {
      delta /= base - tmin;
      k += base;
    }
    bias = k + (base - tmin + 1) * delta / (delta + skew);
    n += i / count;
    if (n > limit) return std::nullopt;
    i %= count;
    out.insert(out.begin() + i, n);
    ++i;
  }
  return out;
}

// An "xn--" label must hold Punycode of a lowercase label with non-ASCII characters and no C1
// controls (the part of UTS #46's validity check an ASCII label can fail).
bool valid_ace_label(string_view label) {
  if (label.size() < 4 || label.compare(0, 4, "xn--") != 0) return true;
  const auto decoded = punycode_decode(label.substr(4));
  if (!decoded || decoded->empty()) return false;
  bool non_ascii = false;
  string text;
  for (uint32_t cp : *decoded) {
    if (cp >= 0x80 && cp < 0xA0) return false;
    if (cp >= 0xD800 && cp < 0xE000) return false;
    non_ascii = non_ascii || cp >= 0x80;
    js::append_utf8(cp, text);
  }
  return non_ascii && js::to_lower(text) == text;
}

// Domain to ASCII, without UTS #46's mapping beyond lowercase (see url.h).
string domain_to_ascii(string_view domain) {
  const string lower = js::to_lower(domain);
  string out;
  bool first = true;
  for (string_view label : split(lower, '.')) {
    if (!first) out.push_back('.');
    first = false;
    std::vector<uint32_t> cps;
    bool ascii = true;
    for (size_t i = 0; i < label.size();) {
      const uint32_t cp = js::next_code_point(label, i);
      ascii = ascii && cp < 0x80;
      cps.push_back(cp);
    }
    if (ascii ? !valid_ace_label(label) : label.compare(0, 4, "xn--") == 0) return string();
    out += ascii ? string(label) : "xn--" + punycode(cps);
  }
  return out;
}

bool forbidden_host_byte(unsigned char b) {
  return b == 0 || (std::strchr("\t\n\r #/:<>?@[\\]^|", b) != nullptr);
}
bool forbidden_domain_byte(unsigned char b) { return forbidden_host_byte(b) || b < 0x20 || b == '%' || b == 0x7F; }

std::optional<string> parse_host(string_view in, bool special) {
  if (!in.empty() && in[0] == '[') {
    if (in.back() != ']') return std::nullopt;
    return parse_ipv6(in.substr(1, in.size() - 2));
  }
  if (!special) {
    for (char c : in) {
      if (forbidden_host_byte(static_cast<unsigned char>(c))) return std::nullopt;
    }
    string out;
    percent_encode(in, encode_set::c0, out);
    return out;
  }
  const string decoded = utf8_clean(percent_decode(in));
  if (decoded.find("\xEF\xBF\xBD") != npos) return std::nullopt;  // U+FFFD: disallowed by UTS #46
  const string ascii = domain_to_ascii(decoded);
  if (ascii.empty()) return std::nullopt;
  for (char c : ascii) {
    if (forbidden_domain_byte(static_cast<unsigned char>(c))) return std::nullopt;
  }
  if (ends_in_number(ascii)) return parse_ipv4(ascii);
  return ascii;
}

// ---- the parser -----------------------------------------------------------------------------

bool is_single_dot(string_view s) { return s == "." || iequals(s, "%2e"); }
bool is_double_dot(string_view s) {
  return s == ".." || iequals(s, ".%2e") || iequals(s, "%2e.") || iequals(s, "%2e%2e");
}

class parser {
 public:
  explicit parser(record& u) : u_(u) {}

  bool slash(char c) const { return c == '/' || (u_.special() && c == '\\'); }

  // Query and fragment after a path: `rest` starts at "?", "#" or its end.
  void query_and_fragment(string_view rest) {
    if (!rest.empty() && rest[0] == '?') {
      const size_t hash = rest.find('#');
      u_.query.emplace();
      percent_encode(rest.substr(1, hash == npos ? npos : hash - 1),
                     u_.special() ? encode_set::special_query : encode_set::query, *u_.query);
      rest = hash == npos ? string_view() : rest.substr(hash);
    }
    if (!rest.empty() && rest[0] == '#') {
      u_.fragment.emplace();
      percent_encode(rest.substr(1), encode_set::fragment, *u_.fragment);
    }
  }

  void shorten() {
    if (!u_.path.empty()) u_.path.pop_back();
  }

  // Path state: segments until "?", "#" or the end; `rest` follows a slash already consumed.
  void path(string_view rest) {
    size_t i = 0;
    string buffer;
    while (true) {
      const char c = i < rest.size() ? rest[i] : '\0';
      const bool end = i >= rest.size() || c == '?' || c == '#';
      if (end || slash(c)) {
        const bool last = !slash(c) || end;
        if (is_double_dot(buffer)) {
          shorten();
          if (last) u_.path.emplace_back();
        } else if (is_single_dot(buffer)) {
          if (last) u_.path.emplace_back();
        } else {
          u_.path.push_back(buffer);
        }
        buffer.clear();
        if (end) break;
      } else {
        percent_encode(rest.substr(i, 1), encode_set::path, buffer);
      }
      ++i;
    }
    query_and_fragment(rest.substr(i));
  }

  // Path start state, after the host.
  void path_start(string_view rest) {
    if (u_.special()) {
      if (!rest.empty() && slash(rest[0])) rest.remove_prefix(1);
      path(rest);
      return;
    }
    if (rest.empty() || rest[0] == '?' || rest[0] == '#') {
      query_and_fragment(rest);
      return;
    }
    if (rest[0] == '/') rest.remove_prefix(1);
    path(rest);
  }

  void opaque_path(string_view rest) {
    u_.opaque_path = true;
    const size_t end = rest.find_first_of("?#");
    percent_encode(rest.substr(0, end), encode_set::c0, u_.opaque);
    query_and_fragment(end == npos ? string_view() : rest.substr(end));
  }

  // Authority state: userinfo, host and port, then the path.
  bool authority(string_view rest) {
    size_t end = 0;
    while (end < rest.size() && !slash(rest[end]) && rest[end] != '?' && rest[end] != '#') ++end;
    string_view auth = rest.substr(0, end);
    const size_t at = auth.rfind('@');
    if (at != npos) {
      const string_view info = auth.substr(0, at);
      const size_t colon = info.find(':');
      percent_encode(info.substr(0, colon), encode_set::userinfo, u_.username);
      if (colon != npos) percent_encode(info.substr(colon + 1), encode_set::userinfo, u_.password);
      auth = auth.substr(at + 1);
      if (auth.empty()) return false;
    }
    size_t colon = npos;
    bool bracket = false;
    for (size_t i = 0; i < auth.size(); ++i) {
      if (auth[i] == '[') bracket = true;
      if (auth[i] == ']') bracket = false;
      if (auth[i] == ':' && !bracket) {
        colon = i;
        break;
      }
    }
    const string_view host = auth.substr(0, colon);
    const bool file = u_.scheme == "file";
    if (file && (colon != npos || at != npos)) return false;
    if (file && host.empty()) {
      u_.host = "";
      path_start(rest.substr(end));
      return true;
    }
    if (host.empty() && (u_.special() || colon != npos || at != npos)) return false;
    auto parsed = parse_host(host, u_.special());
    if (!parsed) return false;
    u_.host = std::move(*parsed);
    if (file && *u_.host == "localhost") u_.host = "";
    if (colon != npos) {
      const string_view digits = auth.substr(colon + 1);
      if (digits.find_first_not_of("0123456789") != npos) return false;
      if (!digits.empty()) {
        uint32_t port = 0;
        for (char d : digits) {
          port = port * 10 + static_cast<uint32_t>(d - '0');
          if (port > 65535) return false;
        }
        if (default_port(u_.scheme) != port) u_.port = static_cast<uint16_t>(port);
      }
    }
    path_start(rest.substr(end));
    return true;
  }

  // Relative state: `rest` resolved against base (same scheme, not an opaque path).
  bool relative(string_view rest, const record& base) {
    if (!rest.empty() && slash(rest[0])) {
      if (rest.size() > 1 && slash(rest[1])) {
        rest.remove_prefix(2);
        while (u_.special() && !rest.empty() && slash(rest[0])) rest.remove_prefix(1);
        return authority(rest);
      }
      copy_authority(base);
      path(rest.substr(1));
      return true;
    }
    copy_authority(base);
    u_.path = base.path;
    if (rest.empty() || rest[0] == '?' || rest[0] == '#') {
      if (rest.empty() || rest[0] == '#') u_.query = base.query;
      query_and_fragment(rest);
      return true;
    }
    shorten();
    path(rest);
    return true;
  }

  void copy_authority(const record& base) {
    u_.username = base.username;
    u_.password = base.password;
    u_.host = base.host;
    u_.port = base.port;
  }

 private:
  record& u_;
};

// Leading and trailing C0 controls and spaces go, and every tab and newline.
string clean(string_view in) {
  while (!in.empty() && static_cast<unsigned char>(in.front()) <= 0x20) in.remove_prefix(1);
  while (!in.empty() && static_cast<unsigned char>(in.back()) <= 0x20) in.remove_suffix(1);
  string out;
  for (char c : in) {
    if (c != '\t' && c != '\n' && c != '\r') out.push_back(c);
  }
  return out;
}

// The scheme's end (the ":"), or npos when the input has no scheme.
size_t scheme_end(string_view in) {
  if (in.empty() || !is_alpha(in[0])) return npos;
  for (size_t i = 1; i < in.size(); ++i) {
    const char c = in[i];
    if (c == ':') return i;
    if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return npos;
  }
  return npos;
}

}  // namespace

bool record::special() const { return special_scheme(scheme); }

string record::host_port() const {
  if (!host) return "";
  return port ? *host + ":" + std::to_string(*port) : *host;
}

string record::pathname() const {
  if (opaque_path) return opaque;
  string out;
  for (const string& segment : path) {
    out.push_back('/');
    out += segment;
  }
  return out;
}

string record::search() const { return query && !query->empty() ? "?" + *query : ""; }
string record::hash() const { return fragment && !fragment->empty() ? "#" + *fragment : ""; }

string record::href() const {
  string out = scheme + ":";
  if (host) {
    out += "//";
    if (!username.empty() || !password.empty()) {
      out += username;
      if (!password.empty()) out += ":" + password;
      out.push_back('@');
    }
    out += host_port();
  } else if (!opaque_path && path.size() > 1 && path[0].empty()) {
    out += "/.";
  }
  out += pathname();
  if (query) out += "?" + *query;
  if (fragment) out += "#" + *fragment;
  return out;
}

string record::origin() const {
  if (!default_port(scheme)) return "null";
  return scheme + "://" + host_port();
}

std::optional<record> parse(string_view raw, const record* base) {
  const string in = clean(raw);
  record u;
  parser p(u);
  const size_t colon = scheme_end(in);
  if (colon == npos) {
    if (base == nullptr) return std::nullopt;
    if (base->opaque_path) {
      if (in.empty() || in[0] != '#') return std::nullopt;
      u = *base;
      u.fragment.reset();
      p.query_and_fragment(in);
      return u;
    }
    u.scheme = base->scheme;
    if (!p.relative(in, *base)) return std::nullopt;
    return u;
  }
  for (size_t i = 0; i < colon; ++i) u.scheme.push_back(ascii_lower(in[i]));
  const string_view rest = string_view(in).substr(colon + 1);
  if (u.special()) {
    const bool two_slashes = rest.size() >= 2 && rest[0] == '/' && rest[1] == '/';
    if (base && base->scheme == u.scheme && !two_slashes && u.scheme != "file") {
      if (!p.relative(rest, *base)) return std::nullopt;
      return u;
    }
    string_view after = rest;
    if (u.scheme == "file") {
      const bool host_follows = after.size() >= 2 && p.slash(after[0]) && p.slash(after[1]);
      if (!host_follows) {
        u.host = "";
        p.path_start(after);
        return u;
      }
      after.remove_prefix(2);
      return p.authority(after) ? std::optional<record>(u) : std::nullopt;
    }
    while (!after.empty() && p.slash(after[0])) after.remove_prefix(1);
    if (!p.authority(after)) return std::nullopt;
    return u;
  }
  if (rest.size() >= 2 && rest[0] == '/' && rest[1] == '/') {
    if (!p.authority(rest.substr(2))) return std::nullopt;
    return u;
  }
  if (!rest.empty() && rest[0] == '/') {
    p.path(rest.substr(1));
    return u;
  }
  p.opaque_path(rest);
  return u;
}

param_list parse_params(string_view query) {
  param_list out;
  for (string_view pair : split(query, '&')) {
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const auto decode = [](string_view s) {
      string plus(s);
      for (char& c : plus) {
        if (c == '+') c = ' ';
      }
      return utf8_clean(percent_decode(plus));
    };
    out.emplace_back(decode(pair.substr(0, eq)), eq == npos ? string() : decode(pair.substr(eq + 1)));
  }
  return out;
}

string serialize_params(const param_list& params) {
  static const char hex[] = "0123456789ABCDEF";
  string out;
  const auto encode = [&out](const string& s) {
    for (char ch : s) {
      const auto b = static_cast<unsigned char>(ch);
      if (b == ' ') {
        out.push_back('+');
      } else if (is_alpha(ch) || is_digit(ch) || ch == '*' || ch == '-' || ch == '.' || ch == '_') {
        out.push_back(ch);
      } else {
        out.push_back('%');
        out.push_back(hex[b >> 4]);
        out.push_back(hex[b & 15]);
      }
    }
  };
  for (const auto& [name, value] : params) {
    if (!out.empty()) out.push_back('&');
    encode(name);
    out.push_back('=');
    encode(value);
  }
  return out;
}

}  // namespace whale::url
