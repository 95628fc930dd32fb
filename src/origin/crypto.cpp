#include "crypto.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

namespace whale::origin {

namespace {

failure openssl_failure(const std::string& what) { return fail(error_code::internal, "openssl: " + what); }

EVP_PKEY* as_key(void* p) { return static_cast<EVP_PKEY*>(p); }

// Writes the key to a new file created with mode 0600, then fsyncs it, so that a key that signed
// a snapshot is never lost to a crash.
result<void> save_key(EVP_PKEY* key, const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return fail(error_code::internal, "cannot create key file " + path);
  FILE* f = ::fdopen(fd, "w");
  if (f == nullptr) {
    ::close(fd);
    return fail(error_code::internal, "cannot open key file " + path);
  }
  const bool written = PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1 &&
                       std::fflush(f) == 0 && ::fsync(fd) == 0;
  std::fclose(f);
  if (!written) return fail(error_code::internal, "cannot write key file " + path);
  return {};
}

result<EVP_PKEY*> generate_key() {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
  EVP_PKEY* key = nullptr;
  const bool ok = ctx != nullptr && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &key) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return openssl_failure("Ed25519 key generation failed");
  return key;
}

result<EVP_PKEY*> read_key(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return fail(error_code::not_found, "cannot read key file " + path);
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (key == nullptr) return fail(error_code::invalid_value, path + ": not a PEM private key");
  if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(key);
    return fail(error_code::invalid_value, path + ": not an Ed25519 key");
  }
  return key;
}

}  // namespace

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string base64url(std::string_view bytes) {
  std::string out = base64(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr);
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 15]);
  }
  return out;
}

result<std::string> random_token(std::string_view prefix) {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return openssl_failure("no randomness");
  return std::string(prefix) + base64url(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

void signer::key_deleter::operator()(void* key) const { EVP_PKEY_free(as_key(key)); }

signer::signer(void* key) : key_(key) {
  unsigned char raw[32];
  size_t size = sizeof raw;
  EVP_PKEY_get_raw_public_key(as_key(key), raw, &size);
  public_key_.assign(reinterpret_cast<const char*>(raw), size);
  key_id_ = sha256_hex(public_key_).substr(0, 16);
}

signer::~signer() = default;

result<std::unique_ptr<signer>> signer::load_or_create(const std::string& path) {
  if (!std::filesystem::exists(path)) return generate(path);
  return load(path);
}

result<std::unique_ptr<signer>> signer::load(const std::string& path) {
  WHALE_TRY(EVP_PKEY * key, read_key(path));
  return std::unique_ptr<signer>(new signer(key));
}

result<std::unique_ptr<signer>> signer::generate(const std::string& path) {
  WHALE_TRY(EVP_PKEY * fresh, generate_key());
  std::unique_ptr<signer> key(new signer(fresh));
  WHALE_TRY_VOID(key->save(path));
  return key;
}

result<void> signer::save(const std::string& path) const { return save_key(as_key(key_.get()), path); }

result<std::string> signer::sign(std::string_view message) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string signature(64, '\0');
  size_t size = signature.size();
  const bool ok = ctx != nullptr && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, as_key(key_.get())) == 1 &&
                  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &size,
                                 reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok || size != 64) return openssl_failure("Ed25519 signing failed");
  return signature;
}

}  // namespace whale::origin
