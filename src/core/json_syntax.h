// What a JSON syntax error from simdjson means, in words for the person who wrote the document
// (simdjson's own messages start with its internal names, e.g. "TAPE_ERROR: ...").
#pragma once

#include <string>

#include "simdjson.h"

namespace whale::json {

inline std::string syntax_message(simdjson::error_code e) {
  switch (e) {
    case simdjson::TAPE_ERROR: return "a comma, colon, brace or bracket is missing or out of place";
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT: return "the document ends inside an object or array";
    case simdjson::STRING_ERROR: return "a string has an invalid escape";
    case simdjson::UNCLOSED_STRING: return "a string is not closed";
    case simdjson::UNESCAPED_CHARS: return "a string holds an unescaped control character";
    case simdjson::T_ATOM_ERROR:
    case simdjson::F_ATOM_ERROR:
    case simdjson::N_ATOM_ERROR: return "a value is not true, false, null, a number, a string, an object or an array";
    case simdjson::NUMBER_ERROR: return "a number is malformed";
    case simdjson::BIGINT_ERROR:
    case simdjson::NUMBER_OUT_OF_RANGE: return "a number is too large";
    case simdjson::TRAILING_CONTENT: return "there is more after the end of the document";
    case simdjson::EMPTY: return "the document is empty";
    case simdjson::INCORRECT_TYPE: return "a value is malformed";
    default: {
      // Anything else: simdjson's sentence without its internal name.
      const std::string text = simdjson::error_message(e);
      const size_t colon = text.find(": ");
      return colon == std::string::npos ? text : text.substr(colon + 2);
    }
  }
}

}  // namespace whale::json
