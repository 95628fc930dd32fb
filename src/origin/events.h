// Events from the edges (docs/bandits.md): the two wire forms of POST /v1/events and the check
// that each event was minted by an edge that holds the events key.
//
// An event's id is HMAC-SHA256(vendor key, message) cut to 128 bits in hex, where the vendor key
// is HMAC-SHA256(events key, "whale-events-v1 vendor\n" slug) and the message is
// "whale-event-v1\n" type "\n" slug "\n" experiment "\n" variation "\n" unit "\n" day, day being
// floor(ts / 86400000). The edges compute the same (edge-workers/events.js): the same fact gets the
// same id everywhere, so ids deduplicate per vendor, and nobody without the key can make one.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "store.h"
#include "whale/json.h"

namespace whale::origin {

class event_verifier {
 public:
  // `secrets`: the events keys shared with the edges (each at least 32 bytes), the current one
  // first; during a rotation the previous one follows, and events made with either verify.
  // Empty: not configured.
  explicit event_verifier(std::vector<std::string> secrets);
  bool configured() const noexcept { return !secrets_.empty(); }
  // The id an edge with the `index`th key gives `e` (its event_id is not read).
  std::string event_id(const event_record& e, size_t index = 0);
  bool verify(const event_record& e);

 private:
  std::string vendor_key(const std::string& slug, size_t index);
  std::vector<std::string> secrets_;
  std::mutex mutex_;
  std::map<std::pair<size_t, std::string>, std::string> vendor_keys_;  // (key, slug) -> vendor key, at most a few thousand
};

// Why events of a batch were not stored, counted.
struct event_refusals {
  uint64_t malformed = 0;   // not an event of the documented shape
  uint64_t signature = 0;   // the id is not the MAC the events key gives
  uint64_t total() const noexcept { return malformed + signature; }
};

// The events keys of a text: secrets separated by commas or white space, the current one first.
std::vector<std::string> split_event_keys(const std::string& text);

// The events of a batch body, {"rows": [[type, slug, experiment, variation, unit, ts, id], ...]}
// or {"events": [{type, slug, experiment, variation, unit, ts, eventId}, ...]}; those that are
// malformed or not signed are counted and left out. False (with `problem`) when the body itself
// is not one of those forms or holds more than `max_events`.
bool read_event_batch(const json::value& body, size_t max_events, event_verifier& verifier,
                      std::vector<event_record>& out, event_refusals& refused, std::string& problem, bool& too_many);

}  // namespace whale::origin
