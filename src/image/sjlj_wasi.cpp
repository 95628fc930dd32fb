// wasm32-wasi only: the runtime functions clang-14's wasm setjmp/longjmp lowering
// (-mllvm -wasm-enable-sjlj) calls, which emscripten supplies itself and wasi-libc does not.
//   saveSetjmp  a setjmp ran: give env a fresh id and record (id, label) in the calling
//               function's table (grown with realloc; its new size goes out through tempRet0)
//   testSetjmp  a longjmp arrived: the label recorded for the id in env, or 0 if not ours
//   __wasm_longjmp  throws the wasm tag __c_longjmp with (env, value) for the handler
#if defined(__wasi__)
#include <cstdint>
#include <cstdlib>

namespace {

struct setjmp_entry {
  uintptr_t id;   // 0 ends the table
  uint32_t label;
};

uint32_t temp_ret0 = 0;
uintptr_t last_id = 0;

struct longjmp_args {
  void* env;
  int value;
} pending;

}  // namespace

extern "C" {

uint32_t getTempRet0(void) { return temp_ret0; }
void setTempRet0(uint32_t value) { temp_ret0 = value; }

setjmp_entry* saveSetjmp(uintptr_t* env, uint32_t label, setjmp_entry* table, uint32_t size) {
  *env = ++last_id;
  uint32_t i = 0;
  while (i < size && table[i].id != 0) ++i;
  if (i == size) {  // full: the table has size + 1 entries (the last is the terminator)
    size *= 2;
    auto* grown = static_cast<setjmp_entry*>(std::realloc(table, sizeof(setjmp_entry) * (size + 1)));
    if (grown == nullptr) std::abort();
    table = grown;
  }
  table[i] = setjmp_entry{*env, label};
  table[i + 1].id = 0;
  temp_ret0 = size;
  return table;
}

uint32_t testSetjmp(uintptr_t id, const setjmp_entry* table, uint32_t size) {
  for (uint32_t i = 0; i < size && table[i].id != 0; ++i) {
    if (table[i].id == id) return table[i].label;
  }
  return 0;
}

[[noreturn]] void __wasm_longjmp(void* env, int value) {
  pending = longjmp_args{env, value};
  __builtin_wasm_throw(1, &pending);  // tag 1: __c_longjmp
  __builtin_unreachable();
}

}  // extern "C"
#endif
