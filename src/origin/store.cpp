#include "store.h"

#include "sqlite_store.h"

namespace whale::origin {

result<std::unique_ptr<store>> store::open(const std::string& db) {
  return sqlite_store::open(db);
}

}  // namespace whale::origin
