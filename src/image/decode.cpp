// Decoders: libjpeg-turbo for JPEG (DCT-domain shrink-on-load, read row by row), stb_image for
// PNG, GIF (first frame) and BMP. libjpeg reports errors through a longjmp; every libjpeg call
// sits in a small function of its own that set the jump point and owns no C++ object.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "pixels.h"
#include "sjlj.h"

extern "C" {
#include "jpeglib.h"
#include "jerror.h"
}

#include "stb_image.h"
#include "zlib.h"

extern "C" {
// stb_impl.c: the largest block stb_image may allocate (set around one decode), and whether it
// refused one.
extern size_t whale_stbi_max_block;
extern int whale_stbi_refused;
}

namespace whale::image::detail {

// A pixel buffer is at most 4 x 2^31 bytes: w, h and channels are checked against it first.
constexpr uint64_t max_pixel_bytes = uint64_t{1} << 31;

result<pixels> make_pixels(uint32_t w, uint32_t h, uint32_t channels) {
  const uint64_t bytes = uint64_t{w} * h * channels;
  if (w == 0 || h == 0 || channels == 0 || channels > 4 || bytes > max_pixel_bytes) {
    return fail(error_code::too_large, "image buffer of " + std::to_string(w) + "x" + std::to_string(h) + " is too large");
  }
  const size_t capacity = static_cast<size_t>(png_room(bytes + h));  // see pixels.h
  pixels p;
  p.bytes.reset(static_cast<uint8_t*>(std::calloc(capacity, 1)));
  if (!p.bytes) return fail(error_code::out_of_memory, "out of memory for a " + std::to_string(w) + "x" + std::to_string(h) + " image");
  p.w = w;
  p.h = h;
  p.channels = channels;
  p.capacity = capacity;
  return p;
}

namespace {

// libjpeg's allocations are bounded by the job's memory budget (the estimate refused anything it
// expects past it first): past it libjpeg asks for a backing store, which we report as too_large.
// libjpeg counts in a long, 32 bits in wasm.
long libjpeg_memory(uint64_t max_memory) {
  return static_cast<long>(max_memory < (uint64_t{1} << 30) ? max_memory : (uint64_t{1} << 30));
}

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
bool jpeg_open(jstate& s, const uint8_t* data, size_t size, uint64_t max_memory) {
  if (setjmp(s.err.jump)) {
    s.fail_from_libjpeg();
    return false;
  }
  jpeg_create_decompress(&s.cinfo);
  s.created = true;
  s.cinfo.mem->max_memory_to_use = libjpeg_memory(max_memory);
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

result<void> jpeg_rows::start(const uint8_t* data, size_t size, uint32_t denom, uint64_t max_pixels, uint64_t max_memory) {
  state& s = *s_;
  if (!jpeg_open(s, data, size, max_memory)) return s.error;
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

result<pixels> decode_jpeg(const uint8_t* data, size_t size, uint32_t denom, uint64_t max_pixels, uint64_t max_memory) {
  jpeg_rows rows;
  WHALE_TRY_VOID(rows.start(data, size, denom, max_pixels, max_memory));
  WHALE_TRY(pixels p, make_pixels(rows.width(), rows.height(), rows.channels()));
  for (uint32_t y = 0; y < p.h; ++y) {
    const uint8_t* r = rows.row(y);
    if (rows.failed()) return rows.error();
    std::memcpy(p.row(y), r, p.stride());
  }
  return p;
}

result<pixels> decode_stb(const uint8_t* data, size_t size, const char* name, size_t max_block) {
  if (size > 0x7FFFFFFF) return fail(error_code::too_large, "input larger than 2 GB");
  int w = 0, h = 0, n = 0;
  whale_stbi_max_block = max_block;
  whale_stbi_refused = 0;
  stbi_uc* decoded = stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &n, 0);
  whale_stbi_max_block = SIZE_MAX;
  if (decoded == nullptr) {
    if (whale_stbi_refused) {
      return fail(error_code::too_large, std::string(name) + ": decoding needs a block of more than " +
                                             std::to_string(max_block) + " bytes (more image data than its size says?)");
    }
    const char* reason = stbi_failure_reason();
    return fail(error_code::corrupt_input, std::string(name) + ": cannot decode (" + (reason ? reason : "unknown error") + ")");
  }
  pixels p;
  p.bytes.reset(decoded);  // stb_image allocates with calloc (src/image/stb_impl.c): free() releases it
  p.w = static_cast<uint32_t>(w);
  p.h = static_cast<uint32_t>(h);
  p.channels = static_cast<uint32_t>(n);
  p.capacity = p.size();
  if (w <= 0 || h <= 0 || n < 1 || n > 4) return fail(error_code::internal, "stb_image answered a bad image shape");
  return p;
}

// ---- PNG, inflated by stb_image and unfiltered here ----

namespace {

uint32_t png_be32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }

// Channels of a PNG colour type without palette or tRNS: grey, RGB, grey+alpha, RGBA.
uint32_t png_channels(uint32_t colour_type) {
  switch (colour_type) {
    case 0: return 1;
    case 2: return 3;
    case 4: return 2;
    default: return 4;
  }
}

uint8_t paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return static_cast<uint8_t>(a);
  return static_cast<uint8_t>(pb <= pc ? b : c);
}

// Undoes one row's filter: the filtered bytes at `in`, the result to `out`, which may overlap
// `in` from below (out <= in: each byte is read before a write reaches it). prior: the row above,
// unfiltered (nullptr for the first row, which has zeros above it). bpp: bytes of a whole pixel.
bool unfilter_row(uint8_t type, const uint8_t* in, uint8_t* out, const uint8_t* prior, size_t length, size_t bpp) {
  const size_t lead = bpp < length ? bpp : length;  // the first pixel has nothing to its left
  switch (type) {
    case 0:
      std::memmove(out, in, length);
      return true;
    case 1:
      for (size_t i = 0; i < lead; ++i) out[i] = in[i];
      for (size_t i = bpp; i < length; ++i) out[i] = static_cast<uint8_t>(in[i] + out[i - bpp]);
      return true;
    case 2:
      if (prior == nullptr) return unfilter_row(0, in, out, prior, length, bpp);
      for (size_t i = 0; i < length; ++i) out[i] = static_cast<uint8_t>(in[i] + prior[i]);
      return true;
    case 3:
      if (prior == nullptr) {
        for (size_t i = 0; i < lead; ++i) out[i] = in[i];
        for (size_t i = bpp; i < length; ++i) out[i] = static_cast<uint8_t>(in[i] + (out[i - bpp] >> 1));
        return true;
      }
      for (size_t i = 0; i < lead; ++i) out[i] = static_cast<uint8_t>(in[i] + (prior[i] >> 1));
      for (size_t i = bpp; i < length; ++i) out[i] = static_cast<uint8_t>(in[i] + ((out[i - bpp] + prior[i]) >> 1));
      return true;
    case 4:  // with zeros above, Paeth picks the left neighbour
      if (prior == nullptr) return unfilter_row(1, in, out, prior, length, bpp);
      for (size_t i = 0; i < lead; ++i) out[i] = static_cast<uint8_t>(in[i] + prior[i]);
      for (size_t i = bpp; i < length; ++i) {
        out[i] = static_cast<uint8_t>(in[i] + paeth(out[i - bpp], prior[i], prior[i - bpp]));
      }
      return true;
    default:
      return false;
  }
}

failure png_corrupt(const std::string& why) { return fail(error_code::corrupt_input, "PNG: " + why); }

}  // namespace

bool png_decodes_directly(const source_layout& l) {
  const uint32_t t = l.png_colour_type;
  const bool colour_type = t == 0 || t == 2 || t == 4 || t == 6;  // not palette
  return colour_type && (l.png_depth == 8 || l.png_depth == 16) && !l.png_interlaced && !l.png_transparency;
}

result<pixels> decode_png(const uint8_t* data, size_t size, uint8_t* writable) {
  if (size < 8 + 25 || size > 0x7FFFFFFF) return png_corrupt("bad size");
  const uint8_t* ihdr = data + 16;
  const uint32_t w = png_be32(ihdr), h = png_be32(ihdr + 4), depth = ihdr[8], colour_type = ihdr[9];
  if (ihdr[10] != 0 || ihdr[11] != 0) return png_corrupt("bad compression or filter method");
  const uint32_t n = png_channels(colour_type), bytes = depth / 8;
  const uint64_t row = uint64_t{w} * n * bytes;  // unfiltered bytes of a row
  const uint64_t raw_bytes = (row + 1) * h;
  if (raw_bytes > 0x7FFFFFFF) return fail(error_code::too_large, "PNG: image data of more than 2 GB");
  // The IDAT chunks: where the first one's data starts, how many, how long together.
  size_t first = 0, chunks = 0;
  uint64_t compressed = 0;
  for (uint64_t pos = 8; pos + 12 <= size;) {
    const uint64_t length = png_be32(data + pos);
    if (std::memcmp(data + pos + 4, "IEND", 4) == 0) break;
    if (pos + 12 + length > size) return png_corrupt("truncated chunk");
    if (std::memcmp(data + pos + 4, "IDAT", 4) == 0) {
      if (chunks++ == 0) first = static_cast<size_t>(pos + 8);
      if (writable != nullptr && chunks > 1) {  // moved down, over the chunk headers: every source byte is read before
        std::memmove(writable + first + compressed, writable + pos + 8, static_cast<size_t>(length));
      }
      compressed += length;
    }
    pos += 12 + length;
  }
  if (chunks == 0) return png_corrupt("no image data");
  // The image buffer first, so that a copy of the compressed data lies above it and its release
  // gives the top of the heap back.
  pixels p;
  p.bytes.reset(static_cast<uint8_t*>(std::calloc(static_cast<size_t>(raw_bytes), 1)));
  if (!p.bytes) return fail(error_code::out_of_memory, "PNG: out of memory for the image");
  std::unique_ptr<uint8_t, free_deleter> copy;
  const uint8_t* stream = (writable != nullptr ? writable : data) + first;
  if (chunks > 1 && writable == nullptr) {
    copy.reset(static_cast<uint8_t*>(std::malloc(static_cast<size_t>(compressed))));
    if (!copy) return fail(error_code::out_of_memory, "out of memory for a PNG's compressed data");
    uint8_t* at = copy.get();
    for (uint64_t pos = 8; pos + 12 <= size;) {
      const uint64_t length = png_be32(data + pos);
      if (std::memcmp(data + pos + 4, "IEND", 4) == 0) break;
      if (std::memcmp(data + pos + 4, "IDAT", 4) == 0) {
        std::memcpy(at, data + pos + 8, static_cast<size_t>(length));
        at += length;
      }
      pos += 12 + length;
    }
    stream = copy.get();
  }
  const int inflated = stbi_zlib_decode_buffer(reinterpret_cast<char*>(p.data()), static_cast<int>(raw_bytes),
                                               reinterpret_cast<const char*>(stream), static_cast<int>(compressed));
  copy.reset();
  if (inflated < 0) {
    const char* reason = stbi_failure_reason();
    return png_corrupt(std::string("cannot decode (") + (reason ? reason : "unknown error") + ")");
  }
  if (static_cast<uint64_t>(inflated) < raw_bytes) return png_corrupt("not enough pixels");
  // Row y's filtered bytes are at y * (row + 1) + 1; its unfiltered bytes go to y * row.
  uint8_t* buffer = p.data();
  const size_t stride = static_cast<size_t>(row);
  for (uint32_t y = 0; y < h; ++y) {
    const uint8_t* in = buffer + y * (stride + 1);
    uint8_t* out = buffer + size_t{y} * stride;
    if (!unfilter_row(in[0], in + 1, out, y == 0 ? nullptr : out - stride, stride, size_t{n} * bytes)) {
      return png_corrupt("invalid filter");
    }
  }
  const size_t pixel_bytes = size_t{w} * h * n;
  if (bytes == 2) {  // 16 bits to 8: the high byte of each (big-endian) sample, as stb_image does
    for (size_t i = 0; i < pixel_bytes; ++i) buffer[i] = buffer[2 * i];
  }
  // Give the inflated rows' extra bytes back (a shrinking realloc stays in place).
  if (uint8_t* shrunk = static_cast<uint8_t*>(std::realloc(p.bytes.get(), pixel_bytes))) {
    static_cast<void>(p.bytes.release());
    p.bytes.reset(shrunk);
  }
  p.w = w;
  p.h = h;
  p.channels = n;
  p.capacity = pixel_bytes;
  return p;
}

// ---- PNG, row by row ----

struct png_rows::state {
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t chunk_end = 0;   // the end of the IDAT chunk being read (0: none yet)
  size_t next_chunk = 8;  // where the search for the next IDAT goes on
  uint32_t w = 0, h = 0, n = 0, bytes = 1;
  size_t stride = 0;      // unfiltered bytes of a row
  z_stream z{};
  bool z_open = false;
  std::vector<uint8_t> filtered;  // the filter byte and the row as it came
  std::vector<uint8_t> prior;     // the row above, unfiltered
  std::vector<uint8_t> current;   // the row being answered, unfiltered
  std::vector<uint8_t> out;       // 16-bit rows: their high bytes
  uint32_t next_row = 0;          // rows unfiltered so far
  bool failed = false;
  failure error{error_code::ok, ""};

  ~state() {
    if (z_open) inflateEnd(&z);
  }
  void fail_with(error_code code, std::string why) {
    if (failed) return;
    failed = true;
    error = fail(code, std::move(why));
  }
  // Points the inflater at the next IDAT chunk's data; false when there is none.
  bool next_idat() {
    for (size_t pos = next_chunk; pos + 12 <= size;) {
      const uint64_t length = png_be32(data + pos);
      if (std::memcmp(data + pos + 4, "IEND", 4) == 0) break;
      if (pos + 12 + length > size) break;
      next_chunk = static_cast<size_t>(pos + 12 + length);
      if (std::memcmp(data + pos + 4, "IDAT", 4) == 0 && length > 0) {
        z.next_in = const_cast<Bytef*>(data + pos + 8);
        z.avail_in = static_cast<uInt>(length);
        return true;
      }
      pos = next_chunk;
    }
    return false;
  }
  // Inflates the next row's filter byte and bytes into `filtered`.
  bool inflate_row() {
    z.next_out = filtered.data();
    z.avail_out = static_cast<uInt>(filtered.size());
    while (z.avail_out > 0) {
      if (z.avail_in == 0 && !next_idat()) {
        fail_with(error_code::corrupt_input, "PNG: not enough pixels");
        return false;
      }
      const int status = inflate(&z, Z_NO_FLUSH);
      if (status == Z_STREAM_END && z.avail_out > 0) {
        fail_with(error_code::corrupt_input, "PNG: not enough pixels");
        return false;
      }
      if (status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR) {
        fail_with(error_code::corrupt_input, std::string("PNG: cannot decode (") + (z.msg ? z.msg : "inflate error") + ")");
        return false;
      }
    }
    return true;
  }
};

png_rows::png_rows() : s_(std::make_unique<state>()) {}
png_rows::~png_rows() = default;

result<void> png_rows::start(const uint8_t* data, size_t size) {
  state& s = *s_;
  if (size < 8 + 25) return png_corrupt("bad size");
  const uint8_t* ihdr = data + 16;
  s.data = data;
  s.size = size;
  s.w = png_be32(ihdr);
  s.h = png_be32(ihdr + 4);
  const uint32_t depth = ihdr[8];
  s.n = png_channels(ihdr[9]);
  s.bytes = depth / 8;
  if (ihdr[10] != 0 || ihdr[11] != 0) return png_corrupt("bad compression or filter method");
  if (s.w == 0 || s.h == 0 || (s.bytes != 1 && s.bytes != 2)) return png_corrupt("bad header");
  const uint64_t stride = uint64_t{s.w} * s.n * s.bytes;
  if (stride > 0x3FFFFFFF) return fail(error_code::too_large, "PNG: rows of more than 1 GB");
  s.stride = static_cast<size_t>(stride);
  if (inflateInit(&s.z) != Z_OK) return fail(error_code::out_of_memory, "PNG: inflate could not start");
  s.z_open = true;
  s.filtered.resize(s.stride + 1);
  s.prior.resize(s.stride);
  s.current.resize(s.stride);
  if (s.bytes == 2) s.out.resize(size_t{s.w} * s.n);
  return {};
}

uint32_t png_rows::width() const { return s_->w; }
uint32_t png_rows::height() const { return s_->h; }
uint32_t png_rows::channels() const { return s_->n; }
bool png_rows::failed() const { return s_->failed; }
failure png_rows::error() const { return s_->error; }

const uint8_t* png_rows::row(uint32_t y) {
  state& s = *s_;
  const auto answer = [&s]() -> const uint8_t* {
    if (s.bytes == 1) return s.current.data();
    for (size_t i = 0; i < s.out.size(); ++i) s.out[i] = s.current[2 * i];
    return s.out.data();
  };
  if (!s.failed && (y + 1 < s.next_row || y >= s.h)) s.fail_with(error_code::internal, "rows asked for out of order");
  while (!s.failed && s.next_row <= y) {
    if (!s.inflate_row()) break;
    s.prior.swap(s.current);
    if (!unfilter_row(s.filtered[0], s.filtered.data() + 1, s.current.data(), s.next_row == 0 ? nullptr : s.prior.data(),
                      s.stride, size_t{s.n} * s.bytes)) {
      s.fail_with(error_code::corrupt_input, "PNG: invalid filter");
      break;
    }
    ++s.next_row;
  }
  if (s.failed) {
    std::fill(s.current.begin(), s.current.end(), uint8_t{0});
    std::fill(s.out.begin(), s.out.end(), uint8_t{0});
  }
  return answer();
}

// ---- the decoders' memory (the estimate's terms) ----

namespace {

uint64_t div_up(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
uint64_t round_up(uint64_t a, uint64_t b) { return div_up(a, b) * b; }

// stb_image allocates a small context and tables besides the pixels.
constexpr uint64_t stb_fixed_bytes = 64 << 10;

}  // namespace

uint64_t jpeg_decode_bytes(const source_layout& l, uint32_t w, uint32_t h, uint32_t denom) {
  const uint32_t listed = l.components < 4 ? l.components : 4;
  uint32_t h_max = 1, v_max = 1;
  for (uint32_t c = 0; c < listed; ++c) {
    h_max = l.h_samp[c] > h_max ? l.h_samp[c] : h_max;
    v_max = l.v_samp[c] > v_max ? l.v_samp[c] : v_max;
  }
  const uint64_t components = l.components == 0 ? 1 : l.components;
  uint64_t coefficients = 0;  // 64 coefficients of 2 bytes a block, rows and columns of blocks rounded to the sampling
  if (l.multi_scan) {
    for (uint32_t c = 0; c < components; ++c) {
      const uint32_t hs = c < listed ? l.h_samp[c] : h_max, vs = c < listed ? l.v_samp[c] : v_max;  // unlisted: full size
      const uint64_t columns = round_up(div_up(uint64_t{w} * hs, 8 * uint64_t{h_max}), hs);
      const uint64_t rows = round_up(div_up(uint64_t{h} * vs, 8 * uint64_t{v_max}), vs);
      coefficients += columns * rows * 128;
    }
  }
  // Row buffers: libjpeg's per component (up to 3 row groups of v_max x 8 rows at full width, for
  // fancy upsampling's context), and ours (a block of rows_per_block rows of 4 bytes a pixel).
  const uint64_t full_row = (div_up(w, 8) + 2) * 8;
  const uint64_t scaled_row = div_up(w, denom) + 1;
  const uint64_t rows = components * full_row * 3 * 8 * v_max / denom + scaled_row * 4 * (rows_per_block + 1);
  constexpr uint64_t fixed = 256 << 10;  // structures, Huffman and colour tables, pool slack
  return coefficients + rows + fixed;
}

uint64_t png_rows_bytes(const source_layout& l, uint32_t w) {
  const uint64_t row = uint64_t{w} * png_channels(l.png_colour_type) * (l.png_depth / 8);
  constexpr uint64_t inflater = (7 << 10) + (32 << 10) + (4 << 10);  // zlib's state, its 32 KB window, slack
  return 4 * row + inflater;
}

uint64_t png_decode_bytes(const source_layout& l, uint32_t w, uint32_t h, bool writable) {
  const uint64_t row = uint64_t{w} * png_channels(l.png_colour_type) * (l.png_depth / 8);
  const uint64_t copy = l.idat_chunks > 1 && !writable ? l.idat_bytes : 0;
  return (row + 1) * h + copy + stb_fixed_bytes;
}

namespace {

// The blocks stb_image allocates for a PNG (stbi__parse_png_file, stbi__create_png_image).
struct stb_png_blocks {
  uint64_t idata;      // the compressed data (a buffer that doubles from the first chunk's size)
  uint64_t guess;      // stb's guess of the inflated rows' size
  uint64_t inflated;   // the inflated rows: the guess, doubled until the data fits
  uint64_t image;      // at the file's depth, with tRNS's alpha
  uint64_t pass;       // interlaced: the largest pass's own image
  uint64_t expanded;   // palette: the image expanded to RGB(A)
  uint64_t to_8_bits;  // 16 bits: the 8-bit copy
};

stb_png_blocks stb_png(const info& source, const source_layout& l) {
  const uint64_t w = source.width, h = source.height, area = w * h;
  const bool palette = l.png_colour_type == 3;
  const uint64_t n = palette ? 1 : png_channels(l.png_colour_type);
  const uint64_t sample_bytes = l.png_depth == 16 ? 2 : 1;
  uint64_t inflated = 0;
  if (!l.png_interlaced) {
    inflated = (div_up(w * n * l.png_depth, 8) + 1) * h;
  } else {
    const uint32_t x0[7] = {0, 4, 0, 2, 0, 1, 0}, y0[7] = {0, 0, 4, 0, 2, 0, 1};
    const uint32_t dx[7] = {8, 8, 4, 4, 2, 2, 1}, dy[7] = {8, 8, 8, 4, 4, 2, 2};
    for (int p = 0; p < 7; ++p) {
      const uint64_t pw = w > x0[p] ? div_up(w - x0[p], dx[p]) : 0, ph = h > y0[p] ? div_up(h - y0[p], dy[p]) : 0;
      if (pw && ph) inflated += (div_up(pw * n * l.png_depth, 8) + 1) * ph;
    }
  }
  const uint64_t guess = div_up(w * l.png_depth, 8) * h * n + h;
  uint64_t zout = guess;
  while (zout < inflated) zout *= 2;
  const uint64_t out_n = palette ? 1 : n + (l.png_transparency ? 1 : 0);
  stb_png_blocks b{};
  b.idata = l.stb_idata_bytes;
  b.guess = guess;
  b.inflated = zout;
  b.image = area * out_n * sample_bytes;
  b.pass = l.png_interlaced ? w * div_up(h, 2) * out_n * sample_bytes : 0;
  b.expanded = palette ? area * (l.png_transparency ? 4 : 3) : 0;
  b.to_8_bits = sample_bytes == 2 ? area * out_n : 0;
  return b;
}

}  // namespace

uint64_t stb_decode_bytes(const info& source, const source_layout& l) {
  const uint64_t area = uint64_t{source.width} * source.height;
  const std::string_view name = source.name;
  if (name == "gif") return 9 * area + stb_fixed_bytes;  // the frame, the background, the history
  if (name == "bmp") return 4 * area + stb_fixed_bytes;
  // PNG the long way. A buffer that stb grows by reallocating leaves its outgrown blocks behind,
  // freed but mostly too small for what comes next: counted as twice its size (the compressed
  // data always; the inflated rows when stb's guess was short, as for interlaced images). And
  // nothing after is counted as fitting where they were.
  const stb_png_blocks b = stb_png(source, l);
  const uint64_t guess = b.inflated == b.guess ? b.inflated : 2 * b.inflated;
  return 2 * b.idata + guess + b.image + std::max({b.pass, b.expanded, b.to_8_bits}) + stb_fixed_bytes;
}

uint64_t stb_largest_block(const info& source, const source_layout& l) {
  const uint64_t area = uint64_t{source.width} * source.height;
  const std::string_view name = source.name;
  if (name == "gif" || name == "bmp") return 4 * area + stb_fixed_bytes;
  const stb_png_blocks b = stb_png(source, l);
  return std::max({b.idata, b.inflated, b.image, b.expanded, b.to_8_bits}) + stb_fixed_bytes;
}

uint32_t decoded_channels(const uint8_t* data, size_t size, const info& source, const source_layout& l) {
  const std::string_view name = source.name;
  if (name == "jpeg") return l.components == 1 ? 1 : 3;
  if (name == "png") {
    if (l.png_colour_type == 3) return l.png_transparency ? 4 : 3;
    return png_channels(l.png_colour_type) + (l.png_transparency ? 1 : 0);
  }
  if (name == "webp") return webp_has_alpha(data, size) ? 4 : 3;
  int w = 0, h = 0, n = 4;  // BMP: 3, or 4 with an alpha mask, as stb_image's header reading says
  if (name == "bmp" && size <= 0x7FFFFFFF && stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &n)) return n;
  return 4;  // GIF
}

}  // namespace whale::image::detail
