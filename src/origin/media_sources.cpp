#include "media_sources.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "whale/config.h"

namespace whale::origin {

namespace {

constexpr std::string_view unreadable = "a host a URL parser refuses";

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (size_t at = 0;;) {
    const size_t next = text.find(separator, at);
    parts.push_back(text.substr(at, next == std::string_view::npos ? std::string_view::npos : next - at));
    if (next == std::string_view::npos) return parts;
    at = next + 1;
  }
}

int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 99;
}

// One part of a WHATWG IPv4 address: decimal, 0x hex or 0-prefixed octal ("0x" alone is 0).
// Values past 2^32 are clamped there (too large for any part either way).
std::optional<uint64_t> ipv4_number(std::string_view part) {
  if (part.empty()) return std::nullopt;
  int radix = 10;
  if (part.size() >= 2 && part[0] == '0' && (part[1] == 'x' || part[1] == 'X')) {
    radix = 16;
    part.remove_prefix(2);
  } else if (part.size() >= 2 && part[0] == '0') {
    radix = 8;
    part.remove_prefix(1);
  }
  uint64_t n = 0;
  for (char c : part) {
    const int d = digit_value(c);
    if (d >= radix) return std::nullopt;
    n = std::min<uint64_t>(n * radix + d, uint64_t{1} << 32);
  }
  return n;
}

// The labels of a host name, without the empty one a trailing dot leaves.
std::vector<std::string_view> labels(std::string_view host) {
  std::vector<std::string_view> parts = split(host, '.');
  if (parts.size() > 1 && parts.back().empty()) parts.pop_back();
  return parts;
}

// WHATWG's "ends in a number": such a host is parsed as IPv4 (or refused), never looked up.
bool ends_in_number(std::string_view host) {
  const std::string_view last = labels(host).back();
  if (last.empty()) return false;
  bool digits = true;
  for (char c : last) digits = digits && c >= '0' && c <= '9';
  return digits || ipv4_number(last).has_value();
}

// WHATWG's IPv4 parser: 1 to 4 parts, the last filling the remaining bytes.
std::optional<uint32_t> parse_ipv4(std::string_view host) {
  const std::vector<std::string_view> parts = labels(host);
  if (parts.size() > 4) return std::nullopt;
  uint64_t address = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::optional<uint64_t> n = ipv4_number(parts[i]);
    if (!n) return std::nullopt;
    const bool last = i + 1 == parts.size();
    if (!last) {
      if (*n > 255) return std::nullopt;
      address |= *n << (8 * (3 - i));
    } else {
      if (*n >= (uint64_t{1} << (8 * (4 - i)))) return std::nullopt;
      address |= *n;
    }
  }
  return static_cast<uint32_t>(address);
}

std::string_view ipv4_reason(uint32_t a) {
  const uint32_t first = a >> 24;
  const uint32_t second = (a >> 16) & 0xff;
  if (first == 0) return "an unspecified (0.0.0.0/8) address";
  if (first == 127) return "a loopback address";
  if (first == 169 && second == 254) return "a link-local address";
  if (first == 10 || (first == 172 && second >= 16 && second <= 31) || (first == 192 && second == 168) ||
      (first == 100 && second >= 64 && second <= 127)) {
    return "a private address";
  }
  return "";
}

// The dotted IPv4 tail an IPv6 address may end with: four decimal parts, no leading zeros.
std::optional<uint32_t> embedded_ipv4(std::string_view text) {
  const std::vector<std::string_view> parts = split(text, '.');
  if (parts.size() != 4) return std::nullopt;
  uint32_t address = 0;
  for (std::string_view part : parts) {
    if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0')) return std::nullopt;
    uint32_t n = 0;
    for (char c : part) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + (c - '0');
    }
    if (n > 255) return std::nullopt;
    address = (address << 8) | n;
  }
  return address;
}

// Appends the 16-bit pieces of a run of ':'-separated groups; false when one is malformed.
bool ipv6_pieces(std::string_view run, bool may_end_in_ipv4, std::vector<uint16_t>& out) {
  if (run.empty()) return true;
  const std::vector<std::string_view> groups = split(run, ':');
  for (size_t i = 0; i < groups.size(); ++i) {
    const std::string_view g = groups[i];
    if (may_end_in_ipv4 && i + 1 == groups.size() && g.find('.') != std::string_view::npos) {
      const std::optional<uint32_t> v4 = embedded_ipv4(g);
      if (!v4) return false;
      out.push_back(static_cast<uint16_t>(*v4 >> 16));
      out.push_back(static_cast<uint16_t>(*v4 & 0xffff));
      continue;
    }
    if (g.empty() || g.size() > 4) return false;
    uint16_t piece = 0;
    for (char c : g) {
      const int d = digit_value(c);
      if (d >= 16) return false;
      piece = static_cast<uint16_t>(piece * 16 + d);
    }
    out.push_back(piece);
  }
  return true;
}

// The 16 bytes of an IPv6 address written without brackets.
std::optional<std::array<uint8_t, 16>> parse_ipv6(std::string_view text) {
  const size_t gap = text.find("::");
  std::vector<uint16_t> head;
  std::vector<uint16_t> tail;
  if (gap == std::string_view::npos) {
    if (!ipv6_pieces(text, true, head) || head.size() != 8) return std::nullopt;
  } else {
    if (text.find("::", gap + 1) != std::string_view::npos) return std::nullopt;
    if (!ipv6_pieces(text.substr(0, gap), false, head) || !ipv6_pieces(text.substr(gap + 2), true, tail)) return std::nullopt;
    if (head.size() + tail.size() > 7) return std::nullopt;
  }
  std::array<uint8_t, 16> bytes{};
  const auto put = [&bytes](size_t piece, uint16_t value) {
    bytes[2 * piece] = static_cast<uint8_t>(value >> 8);
    bytes[2 * piece + 1] = static_cast<uint8_t>(value & 0xff);
  };
  for (size_t i = 0; i < head.size(); ++i) put(i, head[i]);
  for (size_t i = 0; i < tail.size(); ++i) put(8 - tail.size() + i, tail[i]);
  return bytes;
}

uint32_t ipv4_at(const std::array<uint8_t, 16>& b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) | b[at + 3];
}

std::string_view ipv6_reason(const std::array<uint8_t, 16>& b) {
  const auto zero = [&b](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      if (b[i] != 0) return false;
    }
    return true;
  };
  if (zero(0, 16)) return "the unspecified address";
  if (zero(0, 15) && b[15] == 1) return "a loopback address";
  if (zero(0, 10) && b[10] == 0xff && b[11] == 0xff) return ipv4_reason(ipv4_at(b, 12));  // ::ffff:a.b.c.d
  if (zero(0, 12)) return ipv4_reason(ipv4_at(b, 12));                                     // ::a.b.c.d
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && zero(4, 12)) {
    return ipv4_reason(ipv4_at(b, 12));  // NAT64 64:ff9b::/96
  }
  if (b[0] == 0x20 && b[1] == 0x02) return ipv4_reason(ipv4_at(b, 2));  // 6to4 2002::/16
  if ((b[0] & 0xfe) == 0xfc) return "a private (unique local, fc00::/7) address";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "a link-local address";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return "a site-local address";
  return "";
}

// The host of an http(s) URL prefix the core accepted (is_source_prefix): between "//" and the
// first '/', without the port.
std::string_view host_of(std::string_view source) {
  const size_t start = source.find("//");
  std::string_view authority = source.substr(start == std::string_view::npos ? 0 : start + 2);
  authority = authority.substr(0, authority.find('/'));
  if (!authority.empty() && authority.front() == '[') return authority.substr(0, authority.find(']') + 1);
  return authority.substr(0, authority.find(':'));
}

}  // namespace

std::string_view local_host_reason(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    const std::optional<std::array<uint8_t, 16>> bytes = parse_ipv6(host.substr(1, host.size() - 2));
    return bytes ? ipv6_reason(*bytes) : unreadable;
  }
  std::string name(host);
  for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty()) return unreadable;
  constexpr std::string_view localhost = "localhost";
  constexpr std::string_view dot_localhost = ".localhost";
  if (name == localhost ||
      (name.size() > dot_localhost.size() && name.compare(name.size() - dot_localhost.size(), std::string::npos, dot_localhost) == 0)) {
    return "this machine (localhost)";
  }
  if (!ends_in_number(name)) return "";
  const std::optional<uint32_t> v4 = parse_ipv4(name);
  return v4 ? ipv4_reason(*v4) : unreadable;
}

result<void> refuse_local_media_sources(std::string_view config) {
  WHALE_TRY(std::shared_ptr<const config::vendor_config> parsed, config::parse(config));
  const std::vector<std::string>& sources = parsed->media().allowed_sources;
  for (size_t i = 0; i < sources.size(); ++i) {
    const std::string_view reason = local_host_reason(host_of(sources[i]));
    if (reason.empty()) continue;
    return fail(error_code::invalid_value,
                "media.allowedSources[" + std::to_string(i) + "]: \"" + sources[i] + "\" names " + std::string(reason) +
                    "; image sources must be public hosts (whale-origin --allow-private-media-sources allows them, "
                    "for local tests)");
  }
  return {};
}

}  // namespace whale::origin
