// Decoders: libjpeg-turbo for JPEG (DCT-domain shrink-on-load, read row by row), stb_image for
// PNG, GIF (first frame) and BMP. libjpeg reports errors through a longjmp; every libjpeg call
// sits in a small function of its own that set the jump point and owns no C++ object.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "pixels.h"
#include "sjlj.h"

extern "C" {
#include "jpeglib.h"
#include "jerror.h"
}

#include "stb_image.h"

namespace whale::image::detail {

// A pixel buffer is at most 4 x 2^31 bytes: w, h and channels are checked against it first.
constexpr uint64_t max_pixel_bytes = uint64_t{1} << 31;

result<pixels> make_pixels(uint32_t w, uint32_t h, uint32_t channels) {
  const uint64_t bytes = uint64_t{w} * h * channels;
  if (w == 0 || h == 0 || channels == 0 || channels > 4 || bytes > max_pixel_bytes) {
    return fail(error_code::too_large, "image buffer of " + std::to_string(w) + "x" + std::to_string(h) + " is too large");
  }
  pixels p;
  p.bytes.reset(static_cast<uint8_t*>(std::calloc(static_cast<size_t>(bytes), 1)));
  if (!p.bytes) return fail(error_code::out_of_memory, "out of memory for a " + std::to_string(w) + "x" + std::to_string(h) + " image");
  p.w = w;
  p.h = h;
  p.channels = channels;
  return p;
}

namespace {

// libjpeg-turbo's progressive decoder keeps every DCT coefficient of the image: bound that memory
// (its "virtual arrays") to 4 bytes per allowed source pixel, enough for 4:2:0 and 4:2:2 at the
// full pixel limit. Past it libjpeg asks for a backing store, which we report as too_large.
constexpr uint64_t coefficient_bytes_per_pixel = 4;

// Rows are read from libjpeg in blocks: one setjmp-guarded call per block instead of per row (in
// wasm each such call also sets up an exception handler).
constexpr uint32_t rows_per_block = 16;

// A crafted progressive JPEG can carry thousands of tiny scans, each a full pass over the
// coefficients; libjpeg-turbo's own fuzzers stop at 500 (TJPARAM_SCANLIMIT), so do we.
constexpr int max_scans = 500;

struct error_manager {
  jpeg_error_mgr pub;
  jmp_buf jump;
  error_code code = error_code::corrupt_input;
  char message[JMSG_LENGTH_MAX] = {};
};

[[noreturn]] void on_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<error_manager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  err->code = cinfo->err->msg_code == JERR_NO_BACKING_STORE ? error_code::too_large : error_code::corrupt_input;
  longjmp(err->jump, 1);
}

// Warnings are silent, except a premature end of data: libjpeg would paint the rest grey, and a
// cut-off photo served as if whole is worse than a clear error.
void on_emit_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;
  if (cinfo->err->msg_code == JWRN_JPEG_EOF) on_error_exit(cinfo);
  cinfo->err->num_warnings++;
}

void on_output_message(j_common_ptr) {}

void on_progress(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  if (reinterpret_cast<j_decompress_ptr>(cinfo)->input_scan_number > max_scans) {
    auto* err = reinterpret_cast<error_manager*>(cinfo->err);
    std::snprintf(err->message, sizeof err->message, "progressive JPEG with more than %d scans", max_scans);
    err->code = error_code::corrupt_input;
    longjmp(err->jump, 1);
  }
}

uint8_t mul255(uint32_t a, uint32_t b) { return static_cast<uint8_t>((a * b + 127) / 255); }

}  // namespace

struct jpeg_rows::state {
  jpeg_decompress_struct cinfo{};
  error_manager err;
  jpeg_progress_mgr progress{};
  bool created = false;
  bool cmyk = false;      // libjpeg gives CMYK; we convert each row to RGB
  bool inverted = false;  // Adobe (Photoshop) CMYK: stored inverted
  uint32_t channels = 0;
  size_t row_bytes = 0;       // one row as libjpeg writes it
  uint32_t block_first = 0;   // image row of the block's first row
  uint32_t block_rows = 0;    // rows in the block
  std::vector<uint8_t> block;  // rows_per_block rows as libjpeg writes them
  std::vector<uint8_t> rgb;    // one CMYK row converted
  uint32_t rgb_row = UINT32_MAX;  // the image row rgb holds
  bool failed = false;
  failure error{error_code::ok, {}};

  void fail_with(error_code code, std::string message) {
    if (failed) return;
    failed = true;
    error = failure{code, "JPEG: " + std::move(message)};
  }
  void fail_from_libjpeg() { fail_with(err.code, err.message); }
};

namespace {

using jstate = jpeg_rows::state;

// Each of these holds a setjmp: locals are trivial, and nothing is used after a longjmp but the
// state, which lives on the heap.
bool jpeg_open(jstate& s, const uint8_t* data, size_t size, uint64_t max_pixels) {
  if (setjmp(s.err.jump)) {
    s.fail_from_libjpeg();
    return false;
  }
  jpeg_create_decompress(&s.cinfo);
  s.created = true;
  const uint64_t budget = max_pixels * coefficient_bytes_per_pixel;
  s.cinfo.mem->max_memory_to_use = static_cast<long>(budget < (uint64_t{1} << 30) ? budget : (uint64_t{1} << 30));
  s.cinfo.progress = &s.progress;
  jpeg_mem_src(&s.cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&s.cinfo, TRUE);
  return true;
}

bool jpeg_begin(jstate& s) {
  if (setjmp(s.err.jump)) {
    s.fail_from_libjpeg();
    return false;
  }
  jpeg_start_decompress(&s.cinfo);
  return true;
}

// Reads the next block of rows (up to rows_per_block) after the current one.
bool jpeg_read_block(jstate& s) {
  if (setjmp(s.err.jump)) {
    s.fail_from_libjpeg();
    return false;
  }
  s.block_first += s.block_rows;
  s.block_rows = 0;
  const uint32_t want = std::min(rows_per_block, s.cinfo.output_height - s.block_first);
  while (s.block_rows < want) {
    JSAMPROW rows[rows_per_block];
    for (uint32_t i = 0; i < want - s.block_rows; ++i) rows[i] = s.block.data() + (s.block_rows + i) * s.row_bytes;
    const JDIMENSION got = jpeg_read_scanlines(&s.cinfo, rows, want - s.block_rows);
    if (got == 0) {
      s.fail_with(error_code::corrupt_input, "no more scanlines");
      return false;
    }
    s.block_rows += got;
  }
  return true;
}

// Adobe-inverted CMYK stores 255 - ink: then R = C * K / 255 on the stored values; plain CMYK
// is R = (255 - C) * (255 - K) / 255. No ICC profile is applied.
void cmyk_to_rgb(const uint8_t* in, uint8_t* out, uint32_t w, bool inverted) {
  for (uint32_t x = 0; x < w; ++x, in += 4, out += 3) {
    const uint32_t k = inverted ? in[3] : 255u - in[3];
    for (int c = 0; c < 3; ++c) out[c] = mul255(inverted ? in[c] : 255u - in[c], k);
  }
}

}  // namespace

jpeg_rows::jpeg_rows() : s_(std::make_unique<state>()) {
  s_->cinfo.err = jpeg_std_error(&s_->err.pub);
  s_->err.pub.error_exit = on_error_exit;
  s_->err.pub.emit_message = on_emit_message;
  s_->err.pub.output_message = on_output_message;
  s_->progress.progress_monitor = on_progress;
}

jpeg_rows::~jpeg_rows() {
  if (s_->created) jpeg_destroy_decompress(&s_->cinfo);
}

result<void> jpeg_rows::start(const uint8_t* data, size_t size, uint32_t denom, uint64_t max_pixels) {
  state& s = *s_;
  if (!jpeg_open(s, data, size, max_pixels)) return s.error;
  jpeg_decompress_struct& c = s.cinfo;
  // The frame header libjpeg read must be the one probe() checked; recheck the area regardless.
  if (uint64_t{c.image_width} * c.image_height > max_pixels) {
    return fail(error_code::too_large, "JPEG: " + std::to_string(c.image_width) + "x" + std::to_string(c.image_height) +
                                           " is more pixels than allowed");
  }
  c.scale_num = 1;
  c.scale_denom = denom;
  c.dct_method = JDCT_ISLOW;  // integer IDCT: the same bytes on every target
  c.do_fancy_upsampling = TRUE;
  switch (c.jpeg_color_space) {
    case JCS_GRAYSCALE:
      c.out_color_space = JCS_GRAYSCALE;
      break;
    case JCS_CMYK:
    case JCS_YCCK:
      c.out_color_space = JCS_CMYK;
      s.cmyk = true;
      s.inverted = c.saw_Adobe_marker;
      break;
    default:
      c.out_color_space = JCS_RGB;
      break;
  }
  if (!jpeg_begin(s)) return s.error;
  s.channels = s.cmyk ? 3 : static_cast<uint32_t>(c.output_components);
  s.row_bytes = size_t{c.output_width} * static_cast<uint32_t>(c.output_components);
  s.block.assign(s.row_bytes * rows_per_block, 0);
  if (s.cmyk) s.rgb.assign(size_t{c.output_width} * 3, 0);
  return {};
}

uint32_t jpeg_rows::width() const { return s_->cinfo.output_width; }
uint32_t jpeg_rows::height() const { return s_->cinfo.output_height; }
uint32_t jpeg_rows::channels() const { return s_->channels; }
bool jpeg_rows::failed() const { return s_->failed; }
failure jpeg_rows::error() const { return s_->error; }

const uint8_t* jpeg_rows::row(uint32_t y) {
  state& s = *s_;
  const auto zero_row = [&s]() -> const uint8_t* {
    std::fill(s.block.begin(), s.block.begin() + static_cast<std::ptrdiff_t>(s.row_bytes), uint8_t{0});
    std::fill(s.rgb.begin(), s.rgb.end(), uint8_t{0});
    return s.cmyk ? s.rgb.data() : s.block.data();
  };
  if (s.failed) return zero_row();
  if (y < s.block_first || y >= height()) {
    s.fail_with(error_code::internal, "rows asked for out of order");
    return zero_row();
  }
  while (y >= s.block_first + s.block_rows) {
    if (!jpeg_read_block(s)) return zero_row();
  }
  const uint8_t* raw = s.block.data() + (y - s.block_first) * s.row_bytes;
  if (!s.cmyk) return raw;
  if (s.rgb_row != y) cmyk_to_rgb(raw, s.rgb.data(), width(), s.inverted);
  s.rgb_row = y;
  return s.rgb.data();
}

result<pixels> decode_jpeg(const uint8_t* data, size_t size, uint32_t denom, uint64_t max_pixels) {
  jpeg_rows rows;
  WHALE_TRY_VOID(rows.start(data, size, denom, max_pixels));
  WHALE_TRY(pixels p, make_pixels(rows.width(), rows.height(), rows.channels()));
  for (uint32_t y = 0; y < p.h; ++y) {
    const uint8_t* r = rows.row(y);
    if (rows.failed()) return rows.error();
    std::memcpy(p.row(y), r, p.stride());
  }
  return p;
}

result<pixels> decode_stb(const uint8_t* data, size_t size, const char* name) {
  if (size > 0x7FFFFFFF) return fail(error_code::too_large, "input larger than 2 GB");
  int w = 0, h = 0, n = 0;
  stbi_uc* decoded = stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &n, 0);
  if (decoded == nullptr) {
    const char* reason = stbi_failure_reason();
    return fail(error_code::corrupt_input, std::string(name) + ": cannot decode (" + (reason ? reason : "unknown error") + ")");
  }
  pixels p;
  p.bytes.reset(decoded);  // stb_image allocates with calloc (src/image/stb_impl.c): free() releases it
  p.w = static_cast<uint32_t>(w);
  p.h = static_cast<uint32_t>(h);
  p.channels = static_cast<uint32_t>(n);
  if (w <= 0 || h <= 0 || n < 1 || n > 4) return fail(error_code::internal, "stb_image answered a bad image shape");
  return p;
}

}  // namespace whale::image::detail
