// The snapshot signing keys (docs/origin.md, "Rotating the signing key"): the active key's PEM
// file (`whale.key.pem`) and, in a directory beside it, the keys it replaced that /v1/keys still
// announces until they are retired (`whale.keys/<key_id>.pem`) and the next key, announced
// before it signs so that edges can pin it first (`whale.keys/next.pem`). Every file is written
// with mode 0600 and fsync'd, then renamed into place, so a reader never sees half a key.
//
// The serving origin re-reads the files when they change (checked with two stat calls per
// publish or /v1/keys), so `key rotate` and `key retire`, run as other processes, count from the
// next publish without a restart.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "crypto.h"
#include "whale/result.h"

namespace whale::origin {

struct announced_key {
  std::string key_id;
  std::string public_key;  // raw 32 bytes
  bool active = false;     // signs new snapshots
  bool next = false;       // waits for `key rotate` to sign
};

class keyring {
 public:
  // Opens the ring whose active key is at `active_path`, generating that key when the file does
  // not exist (as the origin always has).
  static result<std::unique_ptr<keyring>> open(const std::string& active_path);

  // The key that signs now, re-read first when the files changed. Never null.
  std::shared_ptr<const signer> active();
  // The active key first, then the next one if any, then the previous ones in key id order.
  std::vector<announced_key> announced();

  // `key add`: generates the next key, announced but not signing; its key id. invalid_value when
  // one is already waiting.
  static result<std::string> add_next(const std::string& active_path);
  // `key rotate`: keeps the active key as a previous one, then makes the next key (or, without
  // one, a new key) active; its key id.
  static result<std::string> rotate(const std::string& active_path);
  // `key retire`: drops a previous or the next key from the ring. not_found when it is not there,
  // invalid_value when it is the active key.
  static result<void> retire(const std::string& active_path, const std::string& key_id);
  // Where the previous keys of the ring of `active_path` are: `whale.keys/` for `whale.key.pem`.
  static std::string previous_dir(const std::string& active_path);

 private:
  // What stat said of the active file and the previous directory when last read.
  struct stamp {
    ino_t active_inode = 0;
    long long active_mtime_ns = 0;
    long long dir_mtime_ns = 0;
    bool operator==(const stamp& o) const {
      return active_inode == o.active_inode && active_mtime_ns == o.active_mtime_ns && dir_mtime_ns == o.dir_mtime_ns;
    }
  };
  explicit keyring(std::string active_path) : active_path_(std::move(active_path)) {}
  stamp current_stamp() const;
  result<void> reload();
  void refresh();

  std::string active_path_;
  std::mutex mutex_;
  stamp read_at_;
  std::shared_ptr<const signer> active_;
  std::shared_ptr<const signer> next_;  // null when no key waits
  std::vector<std::shared_ptr<const signer>> previous_;
};

}  // namespace whale::origin
