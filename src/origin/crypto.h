// Keys, hashes and tokens for the origin (OpenSSL): the Ed25519 key that signs snapshots, the
// SHA-256 under which tokens are stored, and random tokens.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "whale/result.h"

namespace whale::origin {

std::string base64(std::string_view bytes);      // standard alphabet, padded
std::string base64url(std::string_view bytes);   // URL alphabet, unpadded
std::string sha256_hex(std::string_view bytes);  // 64 lowercase hex digits

// A new secret token: `prefix` + base64url of 32 random bytes.
result<std::string> random_token(std::string_view prefix);

// An Ed25519 private key. Thread-safe: signing keeps no shared state.
class signer {
 public:
  // Loads the PEM (PKCS#8) private key at `path`, or generates one and saves it there (mode 0600)
  // when the file does not exist.
  static result<std::unique_ptr<signer>> load_or_create(const std::string& path);
  // Loads the key at `path`: not_found when there is no such file, invalid_value when it is not an
  // Ed25519 PEM private key.
  static result<std::unique_ptr<signer>> load(const std::string& path);
  // Generates a new key and saves it at `path`, which must not exist (mode 0600, fsync'd).
  static result<std::unique_ptr<signer>> generate(const std::string& path);
  // Writes this key to `path`, which must not exist (mode 0600, fsync'd).
  result<void> save(const std::string& path) const;
  ~signer();

  const std::string& public_key() const noexcept { return public_key_; }  // raw 32 bytes
  // The first 16 hex digits of SHA-256(public key): names the key in snapshots and /v1/keys.
  const std::string& key_id() const noexcept { return key_id_; }
  // The 64-byte Ed25519 signature of `message`.
  result<std::string> sign(std::string_view message) const;

 private:
  struct key_deleter {
    void operator()(void* key) const;
  };
  explicit signer(void* key);
  std::unique_ptr<void, key_deleter> key_;  // EVP_PKEY*
  std::string public_key_;
  std::string key_id_;
};

}  // namespace whale::origin
