#include "events.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "http_util.h"

namespace whale::origin {

namespace {

constexpr size_t max_event_text = 128;
constexpr uint64_t day_ms = 86400000;
constexpr size_t max_vendor_keys = 4096;

std::string hmac_sha256(std::string_view key, std::string_view message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), digest, &size);
  return std::string(reinterpret_cast<const char*>(digest), size);
}

std::string hex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

bool short_text(const json::value* v) {
  return v != nullptr && v->is_string() && !v->as_string().empty() && v->as_string().size() <= max_event_text;
}

bool whole_number(const json::value* v, double max) {
  return v != nullptr && v->is_number() && v->as_number() >= 0 && v->as_number() <= max &&
         v->as_number() == static_cast<double>(static_cast<uint64_t>(v->as_number()));
}

// One event from its members; false when it does not have the documented shape.
bool read_fields(const json::value* type, const json::value* slug, const json::value* experiment,
                 const json::value* variation, const json::value* unit, const json::value* ts, const json::value* id,
                 event_record& e) {
  if (!short_text(id) || !short_text(type) || !short_text(slug) || !short_text(experiment) || !short_text(unit)) {
    return false;
  }
  if (type->as_string() != "exposure" && type->as_string() != "conversion") return false;
  if (!valid_slug(slug->as_string())) return false;
  if (!whole_number(ts, 9007199254740991.0) || ts->as_number() <= 0) return false;
  if (short_text(variation)) {
    e.variation = variation->as_string();
  } else if (whole_number(variation, 999999)) {
    e.variation = std::to_string(static_cast<uint64_t>(variation->as_number()));
  } else {
    return false;
  }
  e.event_id = id->as_string();
  e.type = type->as_string();
  e.slug = slug->as_string();
  e.experiment = experiment->as_string();
  e.unit = unit->as_string();
  e.ts = static_cast<uint64_t>(ts->as_number());
  return true;
}

const json::value* item(const json::value& row, size_t i) {
  return i < row.items().size() ? &row.items()[i] : nullptr;
}

}  // namespace

event_verifier::event_verifier(std::vector<std::string> secrets) : secrets_(std::move(secrets)) {}

std::vector<std::string> split_event_keys(const std::string& text) {
  std::vector<std::string> keys;
  std::string key;
  for (char c : text + ",") {
    if (c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      if (!key.empty()) keys.push_back(key);
      key.clear();
    } else {
      key.push_back(c);
    }
  }
  return keys;
}

std::string event_verifier::vendor_key(const std::string& slug, size_t index) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = vendor_keys_.find({index, slug});
  if (found != vendor_keys_.end()) return found->second;
  std::string key = hmac_sha256(secrets_[index], "whale-events-v1 vendor\n" + slug);
  if (vendor_keys_.size() >= max_vendor_keys) vendor_keys_.clear();
  vendor_keys_.emplace(std::make_pair(index, slug), key);
  return key;
}

std::string event_verifier::event_id(const event_record& e, size_t index) {
  const std::string message = "whale-event-v1\n" + e.type + "\n" + e.slug + "\n" + e.experiment + "\n" + e.variation +
                              "\n" + e.unit + "\n" + std::to_string(e.ts / day_ms);
  return hex(hmac_sha256(vendor_key(e.slug, index), message).substr(0, 16));
}

bool event_verifier::verify(const event_record& e) {
  bool ok = false;
  for (size_t i = 0; i < secrets_.size(); ++i) ok |= constant_time_equal(event_id(e, i), e.event_id);
  return ok;
}

bool read_event_batch(const json::value& body, size_t max_events, event_verifier& verifier,
                      std::vector<event_record>& out, event_refusals& refused, std::string& problem, bool& too_many) {
  too_many = false;
  const json::value* rows = body.is_object() ? body.find("rows") : nullptr;
  const json::value* events = body.is_object() ? body.find("events") : nullptr;
  const json::value* list = rows != nullptr ? rows : events;
  if (list == nullptr || !list->is_array()) {
    problem = "expected {\"rows\": [[type, slug, experiment, variation, unit, ts, id], ...]} or {\"events\": [...]}";
    return false;
  }
  if (list->items().size() > max_events) {
    too_many = true;
    problem = "more than " + std::to_string(max_events) + " events in a batch";
    return false;
  }
  out.reserve(list->items().size());
  for (const json::value& v : list->items()) {
    event_record e;
    bool shaped = false;
    if (rows != nullptr) {
      shaped = v.is_array() && v.items().size() == 7 &&
               read_fields(item(v, 0), item(v, 1), item(v, 2), item(v, 3), item(v, 4), item(v, 5), item(v, 6), e);
    } else if (v.is_object()) {
      shaped = read_fields(v.find("type"), v.find("slug"), v.find("experiment"), v.find("variation"), v.find("unit"),
                           v.find("ts"), v.find("eventId"), e);
    }
    if (!shaped) {
      ++refused.malformed;
    } else if (!verifier.verify(e)) {
      ++refused.signature;
    } else {
      out.push_back(std::move(e));
    }
  }
  return true;
}

}  // namespace whale::origin
