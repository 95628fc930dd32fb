// GrowthBook's encrypted payloads (its SDK's encryptedFeatures / encryptedSavedGroups), natively:
// "<base64 IV>.<base64 ciphertext>", AES-CBC with PKCS#7 padding under a base64 key of 128, 192
// or 256 bits, opened with OpenSSL. Native builds only (whale::crypto, src/crypto): in the wasm
// builds the JS glue opens them with WebCrypto (js-glue/decrypt.js), with the same rules.
#pragma once

#include <string>
#include <string_view>

#include "whale/result.h"

namespace whale::crypto {

// The plaintext. Errors: invalid_value (not of that form, a key or IV of the wrong size, or a key
// that does not open it: "decrypt_failed: ..."), invalid_utf8 (the plaintext is not text).
result<std::string> decrypt(std::string_view encrypted, std::string_view key);

}  // namespace whale::crypto
