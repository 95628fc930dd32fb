// Vendor config parsing: one pass of simdjson On-Demand over the document builds the raw
// sections (JSON trees) and the catalog (typed, straight from the parser: it is most of the
// bytes); a second pass checks the sections, resolves references and builds the indexes.
#include <cmath>
#include <cstring>
#include <iterator>
#include <string>
#include <unordered_set>

#include "config_util.h"
#include "json_syntax.h"
#include "whale/behaviour.h"
#include "simdjson.h"
#include "whale/config.h"

namespace whale::config {

using json::value;
namespace od = simdjson::ondemand;

// The second pass (config_model.cpp).
result<void> read_vendor(const value& v, vendor_info& out);
result<void> read_components(const value& v, vendor_config::impl& config);
result<void> read_media(const value& v, media_settings& out);
result<void> read_consent(const value& v, consent_settings& out);
result<void> read_segments(const value& v, std::vector<segment>& out);
result<void> read_theme(const value& v, theme_settings& out);
result<void> read_inventory(const value& v, product_catalog& out);
result<void> read_pages(value& v, vendor_config::impl& config);
result<void> finish_catalog(vendor_config::impl& config);
bool parse_date(std::string_view s, int32_t& days);
size_t estimate_bytes(const vendor_config::impl& config);

namespace {

#if defined(__wasm__)
#define WHALE_PARSER_STORAGE static  // one thread per instance; no TLS runtime needed
#else
#define WHALE_PARSER_STORAGE thread_local
#endif

// The parser and a padded copy of the input, reused across calls (simdjson reads up to
// SIMDJSON_PADDING bytes past the end).
struct parse_state {
  od::parser parser{max_config_bytes};
  std::unique_ptr<char[]> buffer;
  size_t capacity = 0;
  // Children of the containers being built, so that each container is allocated once at its
  // final size (kept between parses: they only hold moved-from values once a parse is done).
  std::vector<json::member> members;
  std::vector<value> items;

  const char* pad(std::string_view text) {
    const size_t need = text.size() + simdjson::SIMDJSON_PADDING;
    if (need > capacity) {
      buffer = std::make_unique<char[]>(need);
      capacity = need;
    }
    std::memcpy(buffer.get(), text.data(), text.size());
    std::memset(buffer.get() + text.size(), 0, simdjson::SIMDJSON_PADDING);
    return buffer.get();
  }
};

parse_state& state() {
  WHALE_PARSER_STORAGE parse_state s;
  return s;
}

// Remembers the keys of one object to reject duplicates; small objects need no allocation.
class key_set {
 public:
  bool insert(std::string_view key) {
    if (many_.empty()) {
      for (size_t i = 0; i < count_; ++i) {
        if (few_[i] == key) return false;
      }
      if (count_ < kFew) {
        few_[count_++] = key;
        return true;
      }
      many_.insert(few_, few_ + count_);
    }
    return many_.insert(key).second;
  }

 private:
  static constexpr size_t kFew = 16;
  std::string_view few_[kFew];
  size_t count_ = 0;
  std::unordered_set<std::string_view> many_;
};

// Keys are short: a loop beats a call to memchr.
bool has_escape(std::string_view key) {
  for (char c : key) {
    if (c == '\\') return true;
  }
  return false;
}

// The JSON path of the value being read, as segments: a message spells it out only when
// something is wrong. Keys are views of the input or of the parser's string buffer, which
// outlive the parse.
class json_path {
 public:
  void push(std::string_view key) { segments_.push_back({key.data(), key.size(), false}); }
  void push(size_t index) { segments_.push_back({nullptr, index, true}); }
  void pop() { segments_.pop_back(); }
  bool empty() const noexcept { return segments_.empty(); }
  // The path without its last `drop` segments.
  std::string str(size_t drop = 0) const {
    std::string out;
    for (size_t i = 0; i + drop < segments_.size(); ++i) {
      const segment& s = segments_[i];
      if (s.index) {
        append_index(out, s.size);
      } else {
        if (!out.empty()) out.push_back('.');
        out.append(s.key, s.size);
      }
    }
    return out;
  }

 private:
  struct segment {
    const char* key;
    size_t size;  // the key's length, or the index
    bool index;
  };
  std::vector<segment> segments_;
};

class segment_scope {
 public:
  template <typename Segment>
  segment_scope(json_path& path, Segment s) : path_(path) { path.push(s); }
  ~segment_scope() { path_.pop(); }
  segment_scope(const segment_scope&) = delete;
  segment_scope& operator=(const segment_scope&) = delete;

 private:
  json_path& path_;
};

// Walks On-Demand values, keeping the JSON path of the value being read for messages.
class reader {
 public:
  reader(vendor_config::impl& config, parse_state& state) : config_(config), state_(state) {}

  json_path path;

  failure error(error_code code, std::string_view rule) const {
    std::string message = path.empty() ? std::string("config") : path.str();
    message += ": ";
    message.append(rule);
    return fail(code, std::move(message));
  }

  failure json_error(simdjson::error_code e) const {
    switch (e) {
      case simdjson::UTF8_ERROR: return error(error_code::invalid_utf8, "invalid UTF-8");
      case simdjson::DEPTH_ERROR: return error(error_code::too_deep, "nested deeper than " + std::to_string(max_depth));
      case simdjson::CAPACITY: return error(error_code::too_large, "document too large");
      case simdjson::MEMALLOC: return error(error_code::out_of_memory, "out of memory");
      case simdjson::EMPTY: return error(error_code::invalid_json, "empty document");
      default: return error(error_code::invalid_json, "invalid JSON (" + json::syntax_message(e) + ")");
    }
  }

  // INCORRECT_TYPE is the vendor's mistake in a well-formed document; the rest is syntax.
  failure type_error(simdjson::error_code e, std::string_view expected) const {
    return e == simdjson::INCORRECT_TYPE ? error(error_code::wrong_type, expected) : json_error(e);
  }

  // Calls on_field(key, value) for each member, with the path pointing at the member. With
  // check_duplicates false the caller rejects duplicate keys itself (see duplicate()).
  template <bool check_duplicates = true, typename F>
  result<void> each_field(od::value v, F&& on_field) {
    od::object object;
    if (auto e = v.get_object().get(object)) return type_error(e, "expected object");
    if (++depth_ > max_depth) return error(error_code::too_deep, "nested deeper than " + std::to_string(max_depth));
    key_set seen;
    for (auto member : object) {
      od::field field;
      if (auto e = std::move(member).get(field)) return json_error(e);
      // Keys are read in place; only one with an escape is unescaped (into the parser's buffer).
      std::string_view key = field.escaped_key();
      if (has_escape(key)) {
        if (auto e = field.unescaped_key(false).get(key)) return json_error(e);
      }
      if (check_duplicates && !seen.insert(key)) {
        return error(error_code::invalid_json, "duplicate key \"" + std::string(key) + "\"");
      }
      segment_scope scope(path, key);
      WHALE_TRY_VOID(on_field(key, field.value()));
    }
    --depth_;
    return {};
  }

  // Calls on_item(index, value) for each item, with the path pointing at the item.
  template <typename F>
  result<void> each_item(od::value v, F&& on_item) {
    od::array array;
    if (auto e = v.get_array().get(array)) return type_error(e, "expected array");
    if (++depth_ > max_depth) return error(error_code::too_deep, "nested deeper than " + std::to_string(max_depth));
    size_t i = 0;
    for (auto item : array) {
      od::value element;
      if (auto e = std::move(item).get(element)) return json_error(e);
      segment_scope scope(path, i);
      WHALE_TRY_VOID(on_item(i, element));
      ++i;
    }
    --depth_;
    return {};
  }

  // Any JSON value as a tree.
  result<value> any(od::value v) {
    od::json_type type;
    if (auto e = v.type().get(type)) return json_error(e);
    switch (type) {
      case od::json_type::object: {
        std::vector<json::member>& stack = state_.members;
        const size_t mark = stack.size();
        WHALE_TRY_VOID(each_field(v, [&](std::string_view key, od::value child) -> result<void> {
          WHALE_TRY(value x, any(child));
          stack.emplace_back(std::string(key), std::move(x));
          return {};
        }));
        std::vector<json::member> members(std::make_move_iterator(stack.begin() + static_cast<ptrdiff_t>(mark)),
                                          std::make_move_iterator(stack.end()));
        stack.erase(stack.begin() + static_cast<ptrdiff_t>(mark), stack.end());
        return value::object(std::move(members));
      }
      case od::json_type::array: {
        std::vector<value>& stack = state_.items;
        const size_t mark = stack.size();
        WHALE_TRY_VOID(each_item(v, [&](size_t, od::value child) -> result<void> {
          WHALE_TRY(value x, any(child));
          stack.push_back(std::move(x));
          return {};
        }));
        std::vector<value> items(std::make_move_iterator(stack.begin() + static_cast<ptrdiff_t>(mark)),
                                 std::make_move_iterator(stack.end()));
        stack.erase(stack.begin() + static_cast<ptrdiff_t>(mark), stack.end());
        return value::array(std::move(items));
      }
      case od::json_type::number: {
        od::number n;
        if (auto e = v.get_number().get(n)) return json_error(e);
        return value::number(n.as_double());
      }
      case od::json_type::string: {
        std::string_view s;
        if (auto e = v.get_string().get(s)) return json_error(e);
        return value::string(std::string(s));
      }
      case od::json_type::boolean: {
        bool b;
        if (auto e = v.get_bool().get(b)) return json_error(e);
        return value::boolean(b);
      }
      case od::json_type::null: {
        bool is_null = false;
        if (auto e = v.is_null().get(is_null)) return json_error(e);
        if (!is_null) return error(error_code::invalid_json, "invalid JSON (expected null)");
        return value();
      }
    }
    return error(error_code::invalid_json, "invalid JSON (unknown value)");
  }

  // Checks any JSON value without keeping it (for members that are ignored).
  result<void> check(od::value v) {
    od::json_type type;
    if (auto e = v.type().get(type)) return json_error(e);
    switch (type) {
      case od::json_type::object:
        return each_field(v, [&](std::string_view, od::value child) { return check(child); });
      case od::json_type::array:
        return each_item(v, [&](size_t, od::value child) { return check(child); });
      case od::json_type::number: {
        od::number n;
        if (auto e = v.get_number().get(n)) return json_error(e);
        return {};
      }
      case od::json_type::string: {
        std::string_view s;
        if (auto e = v.get_string().get(s)) return json_error(e);
        return {};
      }
      case od::json_type::boolean: {
        bool b;
        if (auto e = v.get_bool().get(b)) return json_error(e);
        return {};
      }
      case od::json_type::null: {
        bool is_null = false;
        if (auto e = v.is_null().get(is_null)) return json_error(e);
        if (!is_null) return error(error_code::invalid_json, "invalid JSON (expected null)");
        return {};
      }
    }
    return error(error_code::invalid_json, "invalid JSON (unknown value)");
  }

  result<std::string_view> string(od::value v) {
    std::string_view s;
    if (auto e = v.get_string().get(s)) return type_error(e, "expected string");
    return s;
  }

  // Numbers are read as the DOM parser reads them (get_double would also take integers beyond
  // 64 bits, which the core's other JSON inputs refuse).
  result<double> number(od::value v) {
    od::number n;
    if (auto e = v.get_number().get(n)) return type_error(e, "expected number");
    return n.as_double();
  }

  result<double> non_negative(od::value v) {
    WHALE_TRY(double n, number(v));
    if (!(n >= 0) || !std::isfinite(n)) return error(error_code::invalid_value, "expected a non-negative number");
    return n;
  }

  // ---- the catalog: typed, straight from the parser ----

  result<void> catalog(od::value v) {
    product_catalog& out = config_.catalog;
    return each_field(v, [&](std::string_view key, od::value field) -> result<void> {
      if (key == "products") return each_item(field, [&](size_t, od::value p) { return product(p); });
      if (key == "currency") {
        WHALE_TRY(std::string_view currency, string(field));
        if (currency.size() != 3 || !upper(currency[0]) || !upper(currency[1]) || !upper(currency[2])) {
          return error(error_code::invalid_value, "expected an ISO 4217 code such as \"USD\"");
        }
        out.currency = std::string(currency);
        return {};
      }
      if (key == "salesThrough") {
        WHALE_TRY(std::string_view date, string(field));
        int32_t days = 0;
        if (!parse_date(date, days)) return error(error_code::invalid_value, "expected a date such as \"2025-01-31\"");
        out.sales_through = days;
        return {};
      }
      if (key == "inventory") {
        WHALE_TRY(value inventory, any(field));
        return read_inventory(inventory, out);
      }
      return extension(key, field);
    });
  }

  // A product's members, looked up by position; `seen` has one bit per member.
  static constexpr std::string_view product_fields[] = {"sku", "name", "price", "onHand", "dailySales",
                                                        "category", "image", "url", "attributes"};

  result<void> product(od::value v) {
    whale::config::product p;
    uint32_t seen = 0;
    key_set extensions;
    const size_t sales_start = config_.sales.size();
    WHALE_TRY_VOID(each_field<false>(v, [&](std::string_view key, od::value field) -> result<void> {
      size_t f = 0;
      while (f < std::size(product_fields) && product_fields[f] != key) ++f;
      if (f == std::size(product_fields)) {
        if (!extensions.insert(key)) return duplicate(key);
        return extension(key, field);
      }
      if (seen & (1u << f)) return duplicate(key);
      seen |= 1u << f;
      switch (f) {
        case 0: {
          WHALE_TRY(std::string_view sku, string(field));
          if (!valid_sku(sku)) return error(error_code::invalid_value, "expected 1-64 characters without spaces");
          p.sku = config_.strings.store(sku);
          return {};
        }
        case 1: {
          WHALE_TRY(std::string_view name, string(field));
          if (name.empty()) return error(error_code::invalid_value, "expected a non-empty string");
          p.name = config_.strings.store(name);
          return {};
        }
        case 2: {
          WHALE_TRY(p.price, non_negative(field));
          return {};
        }
        case 3: {
          WHALE_TRY(p.on_hand, non_negative(field));
          return {};
        }
        case 4: return daily_sales(field);
        case 8: {
          WHALE_TRY(p.attributes, any(field));
          if (!p.attributes.is_object()) return error(error_code::wrong_type, "expected object");
          return {};
        }
        default: {
          WHALE_TRY(std::string_view text, string(field));
          (f == 5 ? p.category : f == 6 ? p.image : p.url) = config_.strings.store(text);
          return {};
        }
      }
    }));
    for (size_t required = 0; required < 3; ++required) {
      if ((seen & (1u << required)) == 0) return missing(product_fields[required]);
    }
    // The pointer is set once every product is read (the vector may still grow).
    p.daily_sales.size = config_.sales.size() - sales_start;
    sales_starts.push_back(sales_start);
    config_.catalog.products.push_back(std::move(p));
    return {};
  }

  // A duplicate key, reported at the object that holds it (the path points at the member).
  failure duplicate(std::string_view key) {
    const std::string object = path.str(1);
    return fail(error_code::invalid_json,
                (object.empty() ? std::string("config") : object) + ": duplicate key \"" + std::string(key) + "\"");
  }

  // Daily sales are most of a catalog's values: the array's text (already delimited by the
  // structural index) is scanned here instead of value by value. Strict JSON number grammar;
  // the path is built only for an error.
  result<void> daily_sales(od::value v) {
    std::string_view raw;
    if (auto e = v.raw_json().get(raw)) return json_error(e);
    // The view runs up to the next structural character: drop the whitespace before it.
    while (!raw.empty() && is_space(raw.back())) raw.remove_suffix(1);
    if (raw.size() < 2 || raw.front() != '[' || raw.back() != ']') return error(error_code::wrong_type, "expected array");
    // The closing bracket ends every loop below: no other bounds checks are needed.
    const char* const end = raw.data() + raw.size() - 1;
    const char* p = skip_space(raw.data() + 1);
    if (p == end) return {};
    // Written through a pointer into room made up front: every number takes at least a
    // character and a separator, so the array holds at most raw.size() / 2 of them.
    std::vector<double>& sales = config_.sales;
    const size_t base = sales.size();
    sales.resize(base + raw.size() / 2);
    double* const out = sales.data() + base;
    for (size_t index = 0;; ++index) {
      double n = 0;
      const char* next = scan_number(p, n);
      if (next == nullptr) {
        segment_scope scope(path, index);
        const char c = *p;
        const bool value_start = c == '"' || c == '{' || c == '[' || c == 't' || c == 'f' || c == 'n';
        return value_start ? error(error_code::wrong_type, "expected number")
                           : error(error_code::invalid_json, "invalid JSON (bad number)");
      }
      if (n < 0) {
        segment_scope scope(path, index);
        return error(error_code::invalid_value, "expected a non-negative number");
      }
      out[index] = n;
      p = skip_space(next);
      if (p == end) {
        sales.resize(base + index + 1);
        return {};
      }
      if (*p != ',' || p + 1 == end) {
        segment_scope scope(path, index);
        return error(error_code::invalid_json, "invalid JSON (expected ',' or ']')");
      }
      p = skip_space(p + 1);
    }
  }

  static bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
  static const char* skip_space(const char* p) {
    while (is_space(*p)) ++p;
    return p;
  }
  static bool digit(char c) { return c >= '0' && c <= '9'; }

  // One JSON number at p, which must be followed by a non-number character: its value in out
  // and the position after it, or nullptr when the text is not a JSON number or is out of range
  // (the limits of simdjson's own number parsing). Integers convert directly (correctly
  // rounded, as the DOM parser does); anything else goes through simdjson's conversion.
  static const char* scan_number(const char* p, double& out) {
    const char* const start = p;
    if (*p == '-') ++p;
    if (!digit(*p)) return nullptr;
    const char* const first_digit = p;
    uint64_t integer = static_cast<uint64_t>(*p++ - '0');
    if (integer != 0) {
      while (digit(*p)) integer = integer * 10 + static_cast<uint64_t>(*p++ - '0');  // wraps past 19 digits
    }
    // Up to 19 digits always fit 64 bits; 20 fit up to 2^64 - 1 (compared as text: no 128-bit
    // arithmetic, which wasm32 does in a library call).
    const size_t digits = static_cast<size_t>(p - first_digit);
    const bool overflow =
        digits > 20 || (digits == 20 && std::string_view(first_digit, 20) > std::string_view("18446744073709551615"));
    bool is_integer = true;
    if (*p == '.') {
      is_integer = false;
      if (!digit(*++p)) return nullptr;
      while (digit(*p)) ++p;
    }
    if (*p == 'e' || *p == 'E') {
      is_integer = false;
      ++p;
      if (*p == '+' || *p == '-') ++p;
      if (!digit(*p)) return nullptr;
      while (digit(*p)) ++p;
    }
    if (is_integer) {
      // As the core's other JSON inputs: integers must fit 64 bits (int64 when negative).
      const bool negative = *start == '-';
      if (overflow || (negative && integer > (uint64_t{1} << 63))) return nullptr;
      out = negative ? -static_cast<double>(integer) : static_cast<double>(integer);
    } else {
      out = simdjson::internal::from_chars(start, p);
      if (!std::isfinite(out)) return nullptr;
    }
    return p;
  }

  // "x-..." members are the vendor's own: checked as JSON, then ignored. Anything else is a typo.
  result<void> extension(std::string_view key, od::value v) {
    if (!is_extension(key)) return error(error_code::invalid_value, "unknown field");
    return check(v);
  }

  failure missing(std::string_view field) {
    segment_scope scope(path, field);
    return error(error_code::wrong_type, "missing required field");
  }

  std::vector<size_t> sales_starts;  // per product, where its daily sales begin in config.sales

 private:
  static bool upper(char c) { return c >= 'A' && c <= 'Z'; }
  static bool valid_sku(std::string_view s) {
    if (s.empty() || s.size() > 64) return false;
    for (char c : s) {
      if (static_cast<unsigned char>(c) <= ' ') return false;
    }
    return true;
  }

  vendor_config::impl& config_;
  parse_state& state_;
  size_t depth_ = 0;
};

// The top-level members, as read in the first pass.
struct raw_sections {
  std::optional<value> vendor;
  std::optional<value> features;
  std::optional<value> saved_groups;
  std::optional<value> bandits;
  std::optional<value> components;
  std::optional<value> pages;
  std::optional<value> media;
  std::optional<value> consent;
  std::optional<value> theme;
  std::optional<value> segments;
  std::optional<value> behaviour;  // "x-behaviour": the vendor's behaviour rules
};

result<void> read_document(reader& r, od::value root, raw_sections& raw) {
  return r.each_field(root, [&](std::string_view key, od::value v) -> result<void> {
    std::optional<value>* slot = nullptr;
    if (key == "vendor") slot = &raw.vendor;
    else if (key == "features") slot = &raw.features;
    else if (key == "savedGroups") slot = &raw.saved_groups;
    else if (key == "contextualBandits") slot = &raw.bandits;
    else if (key == "components") slot = &raw.components;
    else if (key == "pages") slot = &raw.pages;
    else if (key == "media") slot = &raw.media;
    else if (key == "consent") slot = &raw.consent;
    else if (key == "theme") slot = &raw.theme;
    else if (key == "segments") slot = &raw.segments;
    else if (key == "x-behaviour") slot = &raw.behaviour;
    else if (key == "catalog") return r.catalog(v);
    else if (key == "$schema") return r.string(v).ok() ? result<void>() : r.error(error_code::wrong_type, "expected string");
    if (slot == nullptr) return r.extension(key, v);
    WHALE_TRY(*slot, r.any(v));
    return {};
  });
}

result<void> build(raw_sections& raw, vendor_config::impl& config) {
  if (!raw.vendor) return fail(error_code::wrong_type, "vendor: missing required field");
  WHALE_TRY_VOID(read_vendor(*raw.vendor, config.vendor));
  value payload = value::object();
  if (raw.features) payload.members().emplace_back("features", std::move(*raw.features));
  if (raw.saved_groups) payload.members().emplace_back("savedGroups", std::move(*raw.saved_groups));
  if (raw.bandits) payload.members().emplace_back("contextualBandits", std::move(*raw.bandits));
  WHALE_TRY(config.assignments, assign::load_payload(payload));
  if (raw.components) WHALE_TRY_VOID(read_components(*raw.components, config));
  if (raw.media) WHALE_TRY_VOID(read_media(*raw.media, config.media));
  if (raw.consent) WHALE_TRY_VOID(read_consent(*raw.consent, config.consent));
  if (raw.theme) WHALE_TRY_VOID(read_theme(*raw.theme, config.theme));
  if (raw.segments) WHALE_TRY_VOID(read_segments(*raw.segments, config.segments));
  WHALE_TRY_VOID(finish_catalog(config));
  if (raw.pages) WHALE_TRY_VOID(read_pages(*raw.pages, config));
  if (raw.behaviour) {
    auto rules = behaviour::rules::from_json(*raw.behaviour);
    if (!rules) return fail(rules.code(), "x-behaviour: " + rules.message());
    config.behaviour = std::make_unique<behaviour::rules>(std::move(rules).value());
  }
  config.memory_bytes = estimate_bytes(config);
  return {};
}

}  // namespace

result<std::shared_ptr<const vendor_config>> parse(std::string_view text) {
  if (text.size() > max_config_bytes) {
    return fail(error_code::too_large, "config: " + std::to_string(text.size()) + " bytes is over the limit of " +
                                           std::to_string(max_config_bytes));
  }
  parse_state& s = state();
  const char* padded = s.pad(text);
  auto config = std::make_unique<vendor_config::impl>();
  s.members.clear();
  s.items.clear();
  reader r(*config, s);
  raw_sections raw;
  {
    od::document doc;
    if (auto e = s.parser.iterate(padded, text.size(), s.capacity).get(doc)) return r.json_error(e);
    od::value root;
    if (auto e = doc.get_value().get(root)) {
      return e == simdjson::SCALAR_DOCUMENT_AS_VALUE ? r.error(error_code::wrong_type, "expected object")
                                                     : r.json_error(e);
    }
    WHALE_TRY_VOID(read_document(r, root, raw));
    if (!doc.at_end()) return r.error(error_code::invalid_json, "invalid JSON (content after the document)");
  }
  // Room for the longest possible arrays was made while reading: give back what is unused.
  if (config->sales.capacity() > config->sales.size() + config->sales.size() / 4) config->sales.shrink_to_fit();
  for (size_t i = 0; i < config->catalog.products.size(); ++i) {
    config->catalog.products[i].daily_sales.data = config->sales.data() + r.sales_starts[i];
  }
  WHALE_TRY_VOID(build(raw, *config));
  return std::shared_ptr<const vendor_config>(std::make_shared<vendor_config>(std::move(config)));
}

}  // namespace whale::config
