#include "keyring.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <system_error>

namespace whale::origin {

namespace fs = std::filesystem;

namespace {

long long mtime_ns(const struct stat& st) {
  return static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
}

// Makes the directory's entries (a rename, a removal) durable.
result<void> sync_dir(const fs::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return fail(error_code::internal, "cannot open directory " + dir.string());
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return fail(error_code::internal, "cannot sync directory " + dir.string());
  return {};
}

result<void> rename_durably(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) return fail(error_code::internal, "cannot rename " + from.string() + " to " + to.string() + ": " + ec.message());
  return sync_dir(to.parent_path());
}

// The next key's file name in the ring's directory (the others are named by their key id).
constexpr const char* next_file = "next.pem";

// Key ids are 16 lowercase hex digits (crypto.h): anything else names no file of the ring.
bool valid_key_id(const std::string& id) {
  return id.size() == 16 &&
         std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

std::string keyring::previous_dir(const std::string& active_path) {
  fs::path p(active_path);
  p.replace_extension("");  // whale.key.pem -> whale.key
  p.replace_extension(".keys");  // whale.key -> whale.keys
  return p.string();
}

result<std::unique_ptr<keyring>> keyring::open(const std::string& active_path) {
  WHALE_TRY_VOID(signer::load_or_create(active_path));
  std::unique_ptr<keyring> ring(new keyring(active_path));
  ring->read_at_ = ring->current_stamp();
  WHALE_TRY_VOID(ring->reload());
  return ring;
}

keyring::stamp keyring::current_stamp() const {
  stamp s;
  struct stat st {};
  if (::stat(active_path_.c_str(), &st) == 0) {
    s.active_inode = st.st_ino;
    s.active_mtime_ns = mtime_ns(st);
  }
  if (::stat(previous_dir(active_path_).c_str(), &st) == 0) s.dir_mtime_ns = mtime_ns(st);
  return s;
}

// Reads every key of the ring; on a failure nothing changes.
result<void> keyring::reload() {
  WHALE_TRY(std::unique_ptr<signer> active, signer::load(active_path_));
  std::shared_ptr<const signer> next;
  std::vector<std::shared_ptr<const signer>> previous;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(previous_dir(active_path_), ec)) {
    if (entry.path().extension() != ".pem") continue;  // skips the .pem.tmp of a command under way
    WHALE_TRY(std::unique_ptr<signer> key, signer::load(entry.path().string()));
    // A rotate that stopped between keeping the old key and installing the new one leaves the
    // active key in both places.
    if (key->key_id() == active->key_id()) continue;
    if (entry.path().filename() == next_file) {
      next = std::move(key);
    } else {
      previous.push_back(std::move(key));
    }
  }
  std::sort(previous.begin(), previous.end(), [](const auto& a, const auto& b) { return a->key_id() < b->key_id(); });
  active_ = std::move(active);
  next_ = std::move(next);
  previous_ = std::move(previous);
  return {};
}

void keyring::refresh() {
  const stamp now = current_stamp();
  if (now == read_at_) return;
  if (result<void> read = reload(); !read) {
    // Keeps signing with the keys it has; tried again on the next call.
    std::fprintf(stderr, "whale-origin: cannot re-read the signing keys: %s\n", read.message().c_str());
    return;
  }
  read_at_ = now;
}

std::shared_ptr<const signer> keyring::active() {
  std::lock_guard<std::mutex> lock(mutex_);
  refresh();
  return active_;
}

std::vector<announced_key> keyring::announced() {
  std::lock_guard<std::mutex> lock(mutex_);
  refresh();
  std::vector<announced_key> keys{{active_->key_id(), active_->public_key(), true, false}};
  if (next_) keys.push_back({next_->key_id(), next_->public_key(), false, true});
  for (const auto& key : previous_) keys.push_back({key->key_id(), key->public_key(), false, false});
  return keys;
}

result<std::string> keyring::add_next(const std::string& active_path) {
  const fs::path dir = previous_dir(active_path);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(error_code::internal, "cannot create " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, ec);
  const fs::path next = dir / next_file;
  if (result<std::unique_ptr<signer>> waiting = signer::load(next.string()); waiting) {
    return fail(error_code::invalid_value, "the next key " + (*waiting)->key_id() + " already waits for `key rotate`");
  }
  const fs::path partial = next.string() + ".tmp";
  fs::remove(partial, ec);
  WHALE_TRY(std::unique_ptr<signer> fresh, signer::generate(partial.string()));
  WHALE_TRY_VOID(rename_durably(partial, next));
  return fresh->key_id();
}

result<std::string> keyring::rotate(const std::string& active_path) {
  result<std::unique_ptr<signer>> current = signer::load(active_path);
  if (!current) {
    if (current.code() != error_code::not_found) return current.error();
    return fail(error_code::not_found, "no signing key at " + active_path + " to rotate (serve creates it)");
  }
  const fs::path dir = previous_dir(active_path);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(error_code::internal, "cannot create " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, ec);

  // First the current key joins the previous ones, then the new key replaces it in one rename:
  // a crash at any point leaves every key that may have signed a snapshot on disk.
  const fs::path kept = dir / ((*current)->key_id() + ".pem");
  if (!fs::exists(kept)) {
    const fs::path partial = kept.string() + ".tmp";
    fs::remove(partial, ec);
    WHALE_TRY_VOID((*current)->save(partial.string()));
    WHALE_TRY_VOID(rename_durably(partial, kept));
  }
  const fs::path waiting = dir / next_file;
  if (result<std::unique_ptr<signer>> next = signer::load(waiting.string()); next) {
    WHALE_TRY_VOID(rename_durably(waiting, active_path));
    WHALE_TRY_VOID(sync_dir(dir));
    return (*next)->key_id();
  }
  const fs::path fresh_path = active_path + ".next";
  fs::remove(fresh_path, ec);
  WHALE_TRY(std::unique_ptr<signer> fresh, signer::generate(fresh_path.string()));
  WHALE_TRY_VOID(rename_durably(fresh_path, active_path));
  return fresh->key_id();
}

result<void> keyring::retire(const std::string& active_path, const std::string& key_id) {
  if (!valid_key_id(key_id)) return fail(error_code::invalid_value, "key id \"" + key_id + "\": expected 16 hex digits");
  WHALE_TRY(std::unique_ptr<signer> active, signer::load(active_path));
  if (active->key_id() == key_id) {
    return fail(error_code::invalid_value, "key " + key_id + " is the active signing key: rotate first");
  }
  const fs::path dir = previous_dir(active_path);
  fs::path file = dir / (key_id + ".pem");
  if (result<std::unique_ptr<signer>> next = signer::load((dir / next_file).string()); next && (*next)->key_id() == key_id) {
    file = dir / next_file;
  }
  std::error_code ec;
  if (!fs::remove(file, ec)) {
    if (ec) return fail(error_code::internal, "cannot remove " + file.string() + ": " + ec.message());
    return fail(error_code::not_found, "no previous key " + key_id + " in " + dir.string());
  }
  return sync_dir(dir);
}

}  // namespace whale::origin
