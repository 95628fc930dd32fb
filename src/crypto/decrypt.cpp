#include "whale/decrypt.h"

#include <openssl/evp.h>

#include <memory>
#include <optional>
#include <vector>

#include "whale/json.h"

namespace whale::crypto {

namespace {

constexpr size_t iv_bytes = 16;
constexpr size_t block_bytes = 16;

bool base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// Strict base64 (the standard alphabet, '=' padding to a multiple of 4); nullopt otherwise.
std::optional<std::vector<unsigned char>> base64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  size_t padding = 0;
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] == '=') {
      if (i + 2 < text.size()) return std::nullopt;  // '=' only in the last two places
      padding++;
    } else if (padding > 0 || !base64_char(text[i])) {
      return std::nullopt;
    }
  }
  std::vector<unsigned char> out(text.size() / 4 * 3);
  if (text.empty()) return out;
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

const EVP_CIPHER* cipher_for(size_t key_bytes) {
  switch (key_bytes) {
    case 16: return EVP_aes_128_cbc();
    case 24: return EVP_aes_192_cbc();
    case 32: return EVP_aes_256_cbc();
    default: return nullptr;
  }
}

}  // namespace

result<std::string> decrypt(std::string_view encrypted, std::string_view key) {
  const size_t dot = encrypted.find('.');
  if (dot == std::string_view::npos || encrypted.find('.', dot + 1) != std::string_view::npos) {
    return fail(error_code::invalid_value, "decrypt: expected \"<iv>.<ciphertext>\"");
  }
  const auto iv = base64(encrypted.substr(0, dot));
  if (!iv) return fail(error_code::invalid_value, "decrypt: iv: not base64");
  const auto data = base64(encrypted.substr(dot + 1));
  if (!data) return fail(error_code::invalid_value, "decrypt: ciphertext: not base64");
  const auto raw = base64(key);
  if (!raw) return fail(error_code::invalid_value, "decrypt: key: not base64");
  if (iv->size() != iv_bytes) return fail(error_code::invalid_value, "decrypt: iv is not 16 bytes");
  const EVP_CIPHER* cipher = cipher_for(raw->size());
  if (cipher == nullptr) return fail(error_code::invalid_value, "decrypt: key is not 16, 24 or 32 bytes");
  if (data->empty() || data->size() % block_bytes != 0) {
    return fail(error_code::invalid_value, "decrypt: ciphertext is not whole AES blocks");
  }
  const std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  if (!ctx) return fail(error_code::out_of_memory, "decrypt: no cipher context");
  std::string plain(data->size() + block_bytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(plain.data());
  int written = 0;
  int last = 0;
  const bool opened = EVP_DecryptInit_ex(ctx.get(), cipher, nullptr, raw->data(), iv->data()) == 1 &&
                      EVP_DecryptUpdate(ctx.get(), out, &written, data->data(), static_cast<int>(data->size())) == 1 &&
                      EVP_DecryptFinal_ex(ctx.get(), out + written, &last) == 1;
  if (!opened) return fail(error_code::invalid_value, "decrypt_failed: the key does not open it");
  plain.resize(static_cast<size_t>(written + last));
  if (!json::valid_utf8(plain)) return fail(error_code::invalid_utf8, "decrypt: the plaintext is not UTF-8");
  return plain;
}

}  // namespace whale::crypto
