// Encoders: libjpeg-turbo (JPEG, fed row by row), PNG (adaptive filters and zlib's deflate, its
// memory bounded), libwebp (lossy WebP, its allocations metered). Every setting that could
// vary is pinned, so the three builds write the same bytes.
#include <array>
#include <cstdlib>
#include <cstring>
#include <string>

#include "pixels.h"
#include "sjlj.h"

extern "C" {
#include "jpeglib.h"
}

#include "webp/decode.h"
#include "webp/demux.h"
#include "webp/encode.h"
#include "webp/mux.h"
#include "zlib.h"

namespace whale::image::detail {
namespace {

// Chroma at half resolution both ways (4:2:0) below this quality, full (4:4:4) from it: what
// sharp and Cloudflare do.
constexpr uint32_t full_chroma_quality = 90;
// libwebp's effort, 0 (fast) to 6 (small); 4 is its default and cwebp's.
constexpr int webp_method = 4;
// Rows go to libjpeg in blocks: one setjmp-guarded call per block (in wasm each also sets up an
// exception handler).
constexpr uint32_t rows_per_block = 16;

std::string megabytes(size_t bytes) { return std::to_string((bytes + (1u << 19)) >> 20) + " MB"; }

// The encoded stream, written into blocks that never move (a buffer that doubles would leave its
// outgrown blocks behind, freed but too small for what comes next: twice its size in the heap),
// at most `limit` bytes of them, and joined into one vector at the end.
class stream_buffer {
 public:
  static constexpr size_t block_bytes = 64 << 10;

  explicit stream_buffer(size_t limit = 0) : limit_(limit) {}
  ~stream_buffer() { release(); }
  stream_buffer(const stream_buffer&) = delete;
  stream_buffer& operator=(const stream_buffer&) = delete;

  bool failed() const { return failed_; }
  size_t size() const { return blocks_.empty() ? 0 : (blocks_.size() - 1) * block_bytes + used_; }
  size_t limit() const { return limit_; }
  void set_limit(size_t limit) { limit_ = limit; }

  void put(uint8_t b) {
    if (used_ == block_bytes && !grow()) return;
    blocks_.back()[used_++] = b;
  }
  void put(const uint8_t* data, size_t n) {
    while (n > 0) {
      if (used_ == block_bytes && !grow()) return;
      const size_t part = n < block_bytes - used_ ? n : block_bytes - used_;
      std::memcpy(blocks_.back() + used_, data, part);
      used_ += part;
      data += part;
      n -= part;
    }
  }
  // The blocks that n more bytes would add.
  size_t blocks_for(size_t n) const {
    const size_t room = block_bytes - used_;
    return n <= room ? 0 : (n - room + block_bytes - 1) / block_bytes;
  }
  // The current block's free space, for a writer that fills it itself (libjpeg), and its use.
  uint8_t* space(size_t& n) {
    if (used_ == block_bytes && !grow()) {
      n = 0;
      return nullptr;
    }
    n = block_bytes - used_;
    return blocks_.back() + used_;
  }
  void filled(size_t n) { used_ += n; }
  // Back to the first n bytes (n within the first block).
  void truncate(size_t n) {
    while (blocks_.size() > 1) {
      std::free(blocks_.back());
      blocks_.pop_back();
    }
    used_ = blocks_.empty() ? 0 : n;
  }
  // prefix, the stream, suffix: one vector; the blocks are freed.
  std::vector<uint8_t> join(const std::vector<uint8_t>& prefix, const std::vector<uint8_t>& suffix) {
    std::vector<uint8_t> out;
    out.reserve(prefix.size() + size() + suffix.size());
    out.insert(out.end(), prefix.begin(), prefix.end());
    for (size_t i = 0; i < blocks_.size(); ++i) {
      out.insert(out.end(), blocks_[i], blocks_[i] + (i + 1 == blocks_.size() ? used_ : block_bytes));
    }
    out.insert(out.end(), suffix.begin(), suffix.end());
    release();
    return out;
  }

 private:
  bool grow() {
    if (failed_ || (blocks_.size() + 1) * block_bytes > limit_) {
      failed_ = true;
      return false;
    }
    auto* block = static_cast<uint8_t*>(std::malloc(block_bytes));
    if (block == nullptr) {
      failed_ = true;
      return false;
    }
    blocks_.push_back(block);
    used_ = 0;
    return true;
  }
  void release() {
    for (uint8_t* b : blocks_) std::free(b);
    blocks_.clear();
    used_ = block_bytes;
  }

  size_t limit_;
  std::vector<uint8_t*> blocks_;
  size_t used_ = block_bytes;  // of the last block; full when there is none
  bool failed_ = false;
};

// ---- JPEG ----

struct encode_error {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {};
  bool over_budget = false;  // the encoded stream outgrew max_output
};

[[noreturn]] void on_encode_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<encode_error*>(cinfo->err);
  if (!err->over_budget) (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

void on_encode_message(j_common_ptr, int) {}

// A libjpeg destination that fills a stream_buffer block by block.
struct block_destination {
  jpeg_destination_mgr pub;
  stream_buffer* out;
  size_t given = 0;  // the space handed to libjpeg last
};

void hand_space(j_compress_ptr cinfo) {
  auto* d = reinterpret_cast<block_destination*>(cinfo->dest);
  uint8_t* space = d->out->space(d->given);
  if (space == nullptr) {
    reinterpret_cast<encode_error*>(cinfo->err)->over_budget = true;
    (*cinfo->err->error_exit)(reinterpret_cast<j_common_ptr>(cinfo));
  }
  d->pub.next_output_byte = space;
  d->pub.free_in_buffer = d->given;
}

void destination_init(j_compress_ptr cinfo) { hand_space(cinfo); }

boolean destination_next(j_compress_ptr cinfo) {  // libjpeg filled all it was given
  auto* d = reinterpret_cast<block_destination*>(cinfo->dest);
  d->out->filled(d->given);
  hand_space(cinfo);
  return TRUE;
}

void destination_term(j_compress_ptr cinfo) {
  auto* d = reinterpret_cast<block_destination*>(cinfo->dest);
  d->out->filled(d->given - d->pub.free_in_buffer);
}

// A progressive script without successive approximation: every coefficient is sent once, so
// the encoder makes one pass per scan instead of refining bits (libjpeg's jpeg_simple_progression
// has 10 scans, half of them refinements, and costs twice as much here for 1-2% smaller files).
// DC of all components first, then luma's low frequencies, the chroma, and luma's rest.
void set_progressive_scans(jpeg_compress_struct& c, jpeg_scan_info (&scans)[5]) {
  const auto scan = [](int components, int c0, int c1, int c2, int ss, int se) {
    jpeg_scan_info s{};
    s.comps_in_scan = components;
    s.component_index[0] = c0;
    s.component_index[1] = c1;
    s.component_index[2] = c2;
    s.Ss = ss;
    s.Se = se;
    return s;
  };
  if (c.num_components == 1) {
    scans[0] = scan(1, 0, 0, 0, 0, 0);
    scans[1] = scan(1, 0, 0, 0, 1, 5);
    scans[2] = scan(1, 0, 0, 0, 6, 63);
    c.num_scans = 3;
  } else {
    scans[0] = scan(3, 0, 1, 2, 0, 0);
    scans[1] = scan(1, 0, 0, 0, 1, 5);
    scans[2] = scan(1, 1, 0, 0, 1, 63);
    scans[3] = scan(1, 2, 0, 0, 1, 63);
    scans[4] = scan(1, 0, 0, 0, 6, 63);
    c.num_scans = 5;
  }
  c.scan_info = scans;
}

// 4:2:0 for colour below full_chroma_quality; everything else at full resolution.
uint32_t luma_sampling(uint32_t channels, uint32_t quality) {
  return channels == 3 && quality < full_chroma_quality ? 2 : 1;
}

}  // namespace

struct jpeg_writer::state {
  jpeg_compress_struct cinfo{};
  encode_error err;
  block_destination dest{};
  jpeg_scan_info scans[5]{};
  stream_buffer out;
  std::vector<uint8_t> block;  // rows written one at a time wait here for a whole block
  uint32_t block_rows = 0;
  size_t row_bytes = 0;
  bool created = false;
  bool failed = false;
  failure error{error_code::ok, {}};

  void fail_from_libjpeg() {
    if (failed) return;
    failed = true;
    error = err.over_budget ? failure{error_code::too_large, "JPEG: the encoded image outgrew the " +
                                                                 megabytes(out.limit()) + " the memory budget leaves it"}
                            : failure{error_code::internal, std::string("JPEG encoder: ") + err.message};
  }
};

namespace {

using wstate = jpeg_writer::state;

// Each of these holds a setjmp: locals are trivial, the state lives on the heap.
bool jpeg_begin(wstate& s, uint32_t w, uint32_t h, uint32_t channels, uint32_t quality, bool progressive,
                uint64_t max_memory) {
  if (setjmp(s.err.jump)) {
    s.fail_from_libjpeg();
    return false;
  }
  jpeg_compress_struct& c = s.cinfo;
  jpeg_create_compress(&c);
  s.created = true;
  c.mem->max_memory_to_use = static_cast<long>(max_memory < (uint64_t{1} << 30) ? max_memory : (uint64_t{1} << 30));
  c.dest = &s.dest.pub;
  c.image_width = w;
  c.image_height = h;
  c.input_components = static_cast<int>(channels);
  c.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  c.dct_method = JDCT_ISLOW;  // integer forward DCT: the same bytes on every target
  jpeg_set_quality(&c, static_cast<int>(quality), TRUE);
  c.optimize_coding = TRUE;
  if (channels == 3) {
    const int sampling = static_cast<int>(luma_sampling(channels, quality));
    c.comp_info[0].h_samp_factor = sampling;
    c.comp_info[0].v_samp_factor = sampling;
  }
  if (progressive) set_progressive_scans(c, s.scans);
  jpeg_start_compress(&c, TRUE);
  return true;
}

bool jpeg_write(wstate& s, const uint8_t* const* rows, uint32_t count) {
  if (setjmp(s.err.jump)) {
    s.fail_from_libjpeg();
    return false;
  }
  for (uint32_t i = 0; i < count;) {
    i += jpeg_write_scanlines(&s.cinfo, const_cast<JSAMPARRAY>(rows + i), count - i);
  }
  return true;
}

bool jpeg_end(wstate& s) {
  if (setjmp(s.err.jump)) {
    s.fail_from_libjpeg();
    return false;
  }
  jpeg_finish_compress(&s.cinfo);
  return true;
}

void flush_block(wstate& s) {
  if (s.block_rows == 0 || s.failed) return;
  const uint8_t* rows[rows_per_block];
  for (uint32_t i = 0; i < s.block_rows; ++i) rows[i] = s.block.data() + i * s.row_bytes;
  jpeg_write(s, rows, s.block_rows);
  s.block_rows = 0;
}

}  // namespace

jpeg_writer::jpeg_writer() : s_(std::make_unique<state>()) {
  s_->cinfo.err = jpeg_std_error(&s_->err.pub);
  s_->err.pub.error_exit = on_encode_error;
  s_->err.pub.emit_message = on_encode_message;
  s_->dest.pub.init_destination = destination_init;
  s_->dest.pub.empty_output_buffer = destination_next;
  s_->dest.pub.term_destination = destination_term;
  s_->dest.out = &s_->out;
}

jpeg_writer::~jpeg_writer() {
  if (s_->created) jpeg_destroy_compress(&s_->cinfo);
}

result<void> jpeg_writer::start(uint32_t w, uint32_t h, uint32_t channels, uint32_t quality, bool progressive,
                                uint64_t max_memory, size_t max_output) {
  if (channels != 1 && channels != 3) return fail(error_code::internal, "JPEG takes grey or RGB");
  state& s = *s_;
  s.out.set_limit(max_output);
  s.row_bytes = size_t{w} * channels;
  if (!jpeg_begin(s, w, h, channels, quality, progressive, max_memory)) return s.error;
  return {};
}

void jpeg_writer::write_row(const uint8_t* row) {
  state& s = *s_;
  if (s.failed) return;
  if (s.block.empty()) s.block.resize(s.row_bytes * rows_per_block);
  std::memcpy(s.block.data() + s.block_rows * s.row_bytes, row, s.row_bytes);
  if (++s.block_rows == rows_per_block) flush_block(s);
}

result<std::vector<uint8_t>> jpeg_writer::finish() {
  state& s = *s_;
  flush_block(s);
  s.block = std::vector<uint8_t>();
  if (!s.failed && s.cinfo.next_scanline != s.cinfo.image_height) {
    return fail(error_code::internal, "JPEG encoder: fewer rows than the image has");
  }
  if (s.failed || !jpeg_end(s)) return s.error;
  jpeg_destroy_compress(&s.cinfo);  // the coefficients go before the stream is joined
  s.created = false;
  return s.out.join({}, {});
}

void jpeg_writer::write_rows(const uint8_t* const* rows, uint32_t count) {
  state& s = *s_;
  flush_block(s);
  if (!s.failed) jpeg_write(s, rows, count);
}

result<std::vector<uint8_t>> encode_jpeg(pixels p, uint32_t quality, bool progressive, uint64_t max_memory,
                                         size_t max_output) {
  jpeg_writer writer;
  WHALE_TRY_VOID(writer.start(p.w, p.h, p.channels, quality, progressive, max_memory, max_output));
  for (uint32_t y = 0; y < p.h; y += rows_per_block) {
    const uint8_t* rows[rows_per_block];
    const uint32_t count = p.h - y < rows_per_block ? p.h - y : rows_per_block;
    for (uint32_t i = 0; i < count; ++i) rows[i] = p.row(y + i);
    writer.write_rows(rows, count);
  }
  p = pixels{};  // every row is in libjpeg's coefficients: the image goes before the stream is written
  return writer.finish();
}

uint64_t jpeg_encode_bytes(uint32_t w, uint32_t h, uint32_t channels, uint32_t quality) {
  // Every DCT coefficient (2 bytes, 64 a block) until finish: luma blocks rounded to the sampling,
  // chroma at 1/sampling.
  const uint64_t s = luma_sampling(channels, quality);
  const uint64_t blocks_x = (w + 8 * s - 1) / (8 * s), blocks_y = (h + 8 * s - 1) / (8 * s);
  const uint64_t luma = blocks_x * s * blocks_y * s, chroma = channels == 1 ? 0 : 2 * blocks_x * blocks_y;
  // Row buffers: libjpeg's (colour conversion and downsampling, 2 x 8 x sampling rows a
  // component) and our block.
  const uint64_t row = (uint64_t{w} + 16) * (channels == 1 ? 1 : 3);
  constexpr uint64_t fixed = 256 << 10;  // structures, Huffman statistics and tables
  return (luma + chroma) * 128 + row * (32 * s + rows_per_block) + fixed;
}

// ---- PNG ----
//
// The rows are filtered as stb_image_write and libpng choose (per row, the filter whose bytes sum
// to the least as signed values), in place (the spare byte a row of make_pixels holds the filter
// types), then deflated by zlib with libpng's settings into the output, within max_output. (This
// writer was stb_image_write's, whose deflate has fixed Huffman codes only: its PNGs were 37%
// larger than sharp's.)

namespace {

// zlib's settings, as libpng's and libspng's defaults for filtered rows: level 6, a 32 KB window,
// memLevel 8, the filtered strategy.
constexpr int png_level = 6;
constexpr int png_window_bits = 15;
constexpr int png_mem_level = 8;
constexpr int png_strategy = Z_FILTERED;

// A chunk's CRC, by zlib.
uint32_t png_crc(const uint8_t* p, size_t n) { return static_cast<uint32_t>(::crc32(0L, p, static_cast<uInt>(n))); }

uint8_t png_paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return static_cast<uint8_t>(a);
  return static_cast<uint8_t>(pb <= pc ? b : c);
}

// stbiw__encode_png_line: row `z` filtered by `type` (the first row maps up to none, average to
// half the left, Paeth to left) into `line`.
void filter_row(const uint8_t* z, const uint8_t* above, size_t length, size_t n, int type, uint8_t* line) {
  static const int first_row[5] = {0, 1, 0, 5, 6};
  if (above == nullptr) type = first_row[type];
  const size_t lead = n < length ? n : length;
  switch (type) {
    case 0: std::memcpy(line, z, length); return;
    case 1: case 5: case 6: for (size_t i = 0; i < lead; ++i) line[i] = z[i]; break;
    case 2: for (size_t i = 0; i < lead; ++i) line[i] = static_cast<uint8_t>(z[i] - above[i]); break;
    case 3: for (size_t i = 0; i < lead; ++i) line[i] = static_cast<uint8_t>(z[i] - (above[i] >> 1)); break;
    default: for (size_t i = 0; i < lead; ++i) line[i] = static_cast<uint8_t>(z[i] - png_paeth(0, above[i], 0)); break;
  }
  switch (type) {
    case 1: for (size_t i = n; i < length; ++i) line[i] = static_cast<uint8_t>(z[i] - z[i - n]); break;
    case 2: for (size_t i = n; i < length; ++i) line[i] = static_cast<uint8_t>(z[i] - above[i]); break;
    case 3: for (size_t i = n; i < length; ++i) line[i] = static_cast<uint8_t>(z[i] - ((z[i - n] + above[i]) >> 1)); break;
    case 4:
      for (size_t i = n; i < length; ++i) line[i] = static_cast<uint8_t>(z[i] - png_paeth(z[i - n], above[i], above[i - n]));
      break;
    case 5: for (size_t i = n; i < length; ++i) line[i] = static_cast<uint8_t>(z[i] - (z[i - n] >> 1)); break;
    case 6: for (size_t i = n; i < length; ++i) line[i] = static_cast<uint8_t>(z[i] - png_paeth(z[i - n], 0, 0)); break;
    default: break;
  }
}

// stb's estimate of a filtered row's cost: the sum of its bytes as signed values.
uint32_t filter_cost(const uint8_t* line, size_t length) {
  uint32_t sum = 0;
  for (size_t i = 0; i < length; ++i) sum += static_cast<uint32_t>(std::abs(static_cast<int>(static_cast<int8_t>(line[i]))));
  return sum;
}

// Filters every row of p into the layout PNG compresses: per row a filter-type byte, then the
// filtered bytes. Bottom-up and in place: row y's result (at y * (stride + 1)) covers only rows y
// and y + 1 as they were, and row y + 1 was done already. p must have h spare bytes.
void filter_in_place(pixels& p, std::vector<uint8_t>& line, std::vector<uint8_t>& best) {
  const size_t stride = p.stride(), n = p.channels;
  for (uint32_t y = p.h; y-- > 0;) {
    const uint8_t* z = p.row(y);
    const uint8_t* above = y == 0 ? nullptr : p.row(y - 1);
    int best_type = 0;
    uint32_t best_cost = UINT32_MAX;
    for (int type = 0; type < 5; ++type) {  // stb's choice: the smallest cost, the first on ties
      filter_row(z, above, stride, n, type, line.data());
      const uint32_t cost = filter_cost(line.data(), stride);
      if (cost < best_cost) {
        best_cost = cost;
        best_type = type;
        best.swap(line);
      }
    }
    uint8_t* out = p.data() + y * (stride + 1);
    out[0] = static_cast<uint8_t>(best_type);
    std::memcpy(out + 1, best.data(), stride);
  }
}

// zlib's deflate of the filtered rows into the stream, within its limit.
result<void> deflate_into(const uint8_t* data, size_t length, stream_buffer& out, size_t max_output) {
  z_stream z{};
  if (deflateInit2(&z, png_level, Z_DEFLATED, png_window_bits, png_mem_level, png_strategy) != Z_OK) {
    return fail(error_code::out_of_memory, "PNG: deflate could not start");
  }
  z.next_in = const_cast<Bytef*>(data);
  int status = Z_OK;
  while (status == Z_OK) {
    if (z.avail_in == 0 && length > 0) {  // avail_in is 32 bits: the rows in parts
      const size_t part = length < (size_t{1} << 30) ? length : (size_t{1} << 30);
      z.avail_in = static_cast<uInt>(part);
      length -= part;
    }
    size_t room = 0;
    uint8_t* at = out.space(room);
    if (at == nullptr) break;
    z.next_out = at;
    z.avail_out = static_cast<uInt>(room);
    status = deflate(&z, length == 0 ? Z_FINISH : Z_NO_FLUSH);
    out.filled(room - z.avail_out);
  }
  deflateEnd(&z);
  if (status == Z_STREAM_END) return {};
  if (out.failed()) {
    return fail(error_code::too_large, "PNG: the encoded image outgrew the " + megabytes(max_output) +
                                           " the memory budget leaves it");
  }
  return fail(error_code::internal, "PNG: deflate failed (" + std::to_string(status) + ")");
}

void put32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

void set32(uint8_t* at, uint32_t v) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

}  // namespace

result<std::vector<uint8_t>> encode_png(pixels p, size_t max_output) {
  const size_t stride = p.stride();
  const uint64_t filtered = uint64_t{stride + 1} * p.h;
  if (filtered > 0x7FFFFFFF) return fail(error_code::too_large, "PNG: an image of more than 2 GB");
  if (p.capacity < filtered) {  // no spare bytes (a decoder's buffer): make room
    WHALE_TRY(pixels roomy, make_pixels(p.w, p.h, p.channels));
    std::memcpy(roomy.data(), p.data(), p.size());
    p = std::move(roomy);
  }
  {
    std::vector<uint8_t> line(stride), best(stride);
    filter_in_place(p, line, best);
  }
  static const uint8_t colour_type[5] = {0, 0, 4, 2, 6};
  std::vector<uint8_t> head = {137, 80, 78, 71, 13, 10, 26, 10};  // signature, IHDR, the IDAT's length and type
  put32(head, 13);
  head.insert(head.end(), {'I', 'H', 'D', 'R'});
  put32(head, p.w);
  put32(head, p.h);
  head.insert(head.end(), {8, colour_type[p.channels], 0, 0, 0});
  put32(head, png_crc(head.data() + 12, 17));
  const size_t idat = head.size();
  put32(head, 0);  // the length, once known
  head.insert(head.end(), {'I', 'D', 'A', 'T'});
  std::vector<uint8_t> tail;
  put32(tail, 0);  // the IDAT's CRC, once joined
  put32(tail, 0);
  tail.insert(tail.end(), {'I', 'E', 'N', 'D'});
  put32(tail, png_crc(tail.data() + 8, 4));
  stream_buffer stream(max_output);
  WHALE_TRY_VOID(deflate_into(p.data(), filtered, stream, max_output));
  p = pixels{};  // nothing is allocated before the join takes its place (it has room for the PNG)
  const size_t length = stream.size();
  std::vector<uint8_t> out = stream.join(head, tail);
  set32(out.data() + idat, static_cast<uint32_t>(length));
  set32(out.data() + idat + 8 + length, png_crc(out.data() + idat + 4, length + 4));
  return out;
}

uint64_t png_encode_bytes(uint32_t w, uint32_t, uint32_t channels) {
  // deflate's window and hash chains (zlib.h: (1 << (windowBits + 2)) + (1 << (memLevel + 9))),
  // its state, two candidate rows, small things.
  const uint64_t state = (uint64_t{1} << (png_window_bits + 2)) + (uint64_t{1} << (png_mem_level + 9)) + (8 << 10);
  return state + 2 * uint64_t{w} * channels + (64 << 10);
}

// ---- WebP ----

namespace {

// libwebp's allocations (utils/utils.c is compiled with malloc, calloc and free renamed to the
// functions below) and the encoded stream's buffer count against one meter; past its limit an
// allocation fails, which libwebp reports as out of memory. Each block carries its size in front.
// Global: image.wasm and the CLI are single-threaded; the limit is lifted between encodes.
struct webp_meter {
  size_t live = 0;
  size_t limit = SIZE_MAX;
  size_t stream = 0;  // of live: the encoded stream's buffer
  bool refused = false;
} meter;

constexpr size_t block_header = 16;  // keeps malloc's alignment

bool meter_take(size_t n) {
  if (n > meter.limit || meter.live > meter.limit - n) {
    meter.refused = true;
    return false;
  }
  meter.live += n;
  return true;
}

}  // namespace
}  // namespace whale::image::detail

extern "C" {

void* whale_webp_malloc(size_t n) {
  using whale::image::detail::block_header;
  if (n > SIZE_MAX - block_header || !whale::image::detail::meter_take(n)) return nullptr;
  auto* p = static_cast<unsigned char*>(std::malloc(n + block_header));
  if (p == nullptr) {
    whale::image::detail::meter.live -= n;
    return nullptr;
  }
  std::memcpy(p, &n, sizeof n);
  return p + block_header;
}

void* whale_webp_calloc(size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size) return nullptr;
  void* p = whale_webp_malloc(count * size);
  if (p != nullptr) std::memset(p, 0, count * size);
  return p;
}

void whale_webp_free(void* p) {
  if (p == nullptr) return;
  unsigned char* block = static_cast<unsigned char*>(p) - whale::image::detail::block_header;
  size_t n = 0;
  std::memcpy(&n, block, sizeof n);
  whale::image::detail::meter.live -= n;
  std::free(block);
}

}  // extern "C"

namespace whale::image::detail {
namespace {

// The encoded stream's blocks count against the meter too.
int webp_chunk(const uint8_t* data, size_t size, const WebPPicture* picture) {
  auto* out = static_cast<stream_buffer*>(picture->custom_ptr);
  const size_t added = out->blocks_for(size) * stream_buffer::block_bytes;
  if (!meter_take(added)) return 0;
  meter.stream += added;
  out->put(data, size);
  return out->failed() ? 0 : 1;
}

const char* webp_error_text(WebPEncodingError e) {
  switch (e) {
    case VP8_ENC_ERROR_OUT_OF_MEMORY:
    case VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY: return "out of memory";
    case VP8_ENC_ERROR_BAD_DIMENSION: return "bad dimension";
    case VP8_ENC_ERROR_PARTITION0_OVERFLOW:
    case VP8_ENC_ERROR_PARTITION_OVERFLOW: return "partition overflow";
    case VP8_ENC_ERROR_BAD_WRITE: return "out of memory for the output";
    default: return "encoder error";
  }
}

// Meters one encode with a limit, and lifts it when the encode is over, whichever way: by then
// libwebp has freed its blocks, and the stream's buffer leaves the meter with the caller.
struct metered {
  explicit metered(size_t limit) {
    meter.limit = limit;
    meter.refused = false;
    meter.stream = 0;
  }
  ~metered() {
    meter.live -= meter.stream;
    meter.stream = 0;
    meter.limit = SIZE_MAX;
  }
  metered(const metered&) = delete;
  metered& operator=(const metered&) = delete;
};

}  // namespace

result<std::vector<uint8_t>> encode_webp(pixels p, uint32_t quality, size_t max_working) {
  if (p.channels != 3 && p.channels != 4) return fail(error_code::internal, "WebP takes RGB or RGBA");
  WebPConfig config;
  if (!WebPConfigInit(&config)) return fail(error_code::internal, "libwebp version mismatch");
  config.quality = static_cast<float>(quality);
  config.method = webp_method;
  config.thread_level = 0;
  WebPPicture picture;
  if (!WebPPictureInit(&picture)) return fail(error_code::internal, "libwebp version mismatch");
  picture.width = static_cast<int>(p.w);
  picture.height = static_cast<int>(p.h);
  stream_buffer out(SIZE_MAX);  // bounded by the meter
  const metered scope(max_working);
  const int stride = static_cast<int>(p.stride());
  const int imported = p.channels == 4 ? WebPPictureImportRGBA(&picture, p.data(), stride)
                                       : WebPPictureImportRGB(&picture, p.data(), stride);
  p = pixels{};  // the picture holds its own YUV(A) planes now
  if (!imported) {
    WebPPictureFree(&picture);
    if (meter.refused) return fail(error_code::too_large, "WebP: no memory left in the budget for the picture");
    return fail(error_code::out_of_memory, "out of memory for the WebP picture");
  }
  picture.writer = webp_chunk;
  picture.custom_ptr = &out;
  const int ok = WebPEncode(&config, &picture);
  const WebPEncodingError e = picture.error_code;
  WebPPictureFree(&picture);
  if (!ok && meter.refused) {
    return fail(error_code::too_large, "WebP: the encoder needs more than the " + megabytes(max_working) +
                                           " the memory budget leaves it");
  }
  if (!ok) return fail(error_code::internal, std::string("WebP encoder: ") + webp_error_text(e));
  if (out.size() > max_working / 2) {  // joined beside its pieces
    return fail(error_code::too_large, "WebP: the encoded image outgrew the " + megabytes(max_working / 2) +
                                           " the memory budget leaves it");
  }
  return out.join({}, {});
}

// The decoder lives here, beside the meter that counts libwebp's blocks for both.
namespace {

// libwebp reports some refused allocations as a bad bitstream: the meter says which they were.
failure webp_decode_failure(VP8StatusCode status, size_t max_working) {
  if (meter.refused) {
    return fail(error_code::too_large, "WebP: the decoder needs more than the " + megabytes(max_working) +
                                           " the memory budget leaves it");
  }
  switch (status) {
    case VP8_STATUS_OUT_OF_MEMORY: return fail(error_code::out_of_memory, "WebP: out of memory");
    case VP8_STATUS_UNSUPPORTED_FEATURE: return fail(error_code::unsupported_format, "WebP: a feature this decoder lacks");
    case VP8_STATUS_NOT_ENOUGH_DATA: return fail(error_code::corrupt_input, "WebP: truncated");
    default: return fail(error_code::corrupt_input, "WebP: corrupt bitstream");
  }
}

}  // namespace

namespace {

// An animation's first frame as it shows: drawn on the canvas (transparent where the frame does
// not reach) by libwebp's animation decoder, RGBA.
result<pixels> decode_webp_first_frame(const uint8_t* data, size_t size, size_t max_working) {
  WebPAnimDecoderOptions options;
  if (!WebPAnimDecoderOptionsInit(&options)) return fail(error_code::internal, "libwebp version mismatch");
  options.color_mode = MODE_RGBA;
  options.use_threads = 0;
  const WebPData input{data, size};
  const metered scope(max_working);
  const std::unique_ptr<WebPAnimDecoder, void (*)(WebPAnimDecoder*)> decoder(WebPAnimDecoderNew(&input, &options),
                                                                              WebPAnimDecoderDelete);
  WebPAnimInfo info;
  if (decoder == nullptr || !WebPAnimDecoderGetInfo(decoder.get(), &info)) {
    return webp_decode_failure(VP8_STATUS_BITSTREAM_ERROR, max_working);
  }
  uint8_t* canvas = nullptr;
  int timestamp = 0;
  if (!WebPAnimDecoderGetNext(decoder.get(), &canvas, &timestamp)) {
    return webp_decode_failure(VP8_STATUS_BITSTREAM_ERROR, max_working);
  }
  WHALE_TRY(pixels image, make_pixels(info.canvas_width, info.canvas_height, 4));
  std::memcpy(image.data(), canvas, image.size());
  return image;
}

}  // namespace

}  // namespace whale::image::detail

extern "C" {
struct whale_gif;
whale_gif* whale_gif_open(const unsigned char* data, int size);
const unsigned char* whale_gif_next(whale_gif* gif, int* w, int* h, int* delay_ms, int* failed);
void whale_gif_close(whale_gif* gif);
const char* stbi_failure_reason(void);
}

namespace whale::image::detail {

namespace {

// A GIF's loop count as WebP's ANIM chunk says it (0: forever): the NETSCAPE2.0 extension before
// the first image holds the repeats after the first play (0: forever); without it, one play.
uint32_t gif_loop_count(const uint8_t* data, size_t size) {
  if (size < 13) return 1;
  size_t pos = 13;
  if (data[10] & 0x80) pos += 3u << ((data[10] & 7) + 1);  // global colour table
  while (pos + 2 < size && data[pos] == 0x21) {
    const uint8_t label = data[pos + 1];
    size_t at = pos + 2;
    if (label == 0xFF && at + 12 <= size && data[at] == 11 && std::memcmp(data + at + 1, "NETSCAPE2.0", 11) == 0 &&
        at + 16 <= size && data[at + 12] == 3 && data[at + 13] == 1) {
      const uint32_t repeats = data[at + 14] | uint32_t{data[at + 15]} << 8;
      return repeats == 0 ? 0 : repeats + 1;
    }
    while (at < size && data[at] != 0) at += size_t{data[at]} + 1;  // sub-blocks, then their terminator
    pos = at + 1;
  }
  return 1;
}

// The frames of a GIF (stb_image, one at a time) or an animated WebP (libwebp's animation
// decoder): each the whole canvas, RGBA, and how long it shows.
class frame_source {
 public:
  frame_source() = default;
  frame_source(const frame_source&) = delete;
  frame_source& operator=(const frame_source&) = delete;
  ~frame_source() {
    if (gif_ != nullptr) whale_gif_close(gif_);
    if (webp_ != nullptr) WebPAnimDecoderDelete(webp_);
  }

  result<void> start(const uint8_t* data, size_t size, bool webp) {
    if (!webp) {
      if (size > INT32_MAX) return fail(error_code::too_large, "GIF: more than 2 GB");
      gif_ = whale_gif_open(data, static_cast<int>(size));
      if (gif_ == nullptr) return fail(error_code::corrupt_input, "GIF: not a GIF");
      loop_count_ = gif_loop_count(data, size);
      return {};
    }
    WebPAnimDecoderOptions options;
    if (!WebPAnimDecoderOptionsInit(&options)) return fail(error_code::internal, "libwebp version mismatch");
    options.color_mode = MODE_RGBA;
    options.use_threads = 0;
    input_ = WebPData{data, size};
    webp_ = WebPAnimDecoderNew(&input_, &options);
    WebPAnimInfo info;
    if (webp_ == nullptr || !WebPAnimDecoderGetInfo(webp_, &info)) return fail(error_code::corrupt_input, "WebP: not an animation libwebp reads");
    w_ = info.canvas_width;
    h_ = info.canvas_height;
    loop_count_ = info.loop_count;
    return {};
  }

  // The next frame: its canvas (valid until the next call) and duration; nullptr at the end.
  result<const uint8_t*> next(uint32_t& duration_ms) {
    if (gif_ != nullptr) {
      int w = 0, h = 0, delay = 0, failed = 0;
      const unsigned char* canvas = whale_gif_next(gif_, &w, &h, &delay, &failed);
      if (failed) {
        const char* why = stbi_failure_reason();
        return fail(error_code::corrupt_input, std::string("GIF: cannot decode a frame (") + (why ? why : "unknown") + ")");
      }
      if (canvas == nullptr) return static_cast<const uint8_t*>(nullptr);
      w_ = static_cast<uint32_t>(w);
      h_ = static_cast<uint32_t>(h);
      duration_ms = delay < 20 ? 100 : static_cast<uint32_t>(delay);
      return canvas;
    }
    if (!WebPAnimDecoderHasMoreFrames(webp_)) return static_cast<const uint8_t*>(nullptr);
    uint8_t* canvas = nullptr;
    int timestamp = 0;
    if (!WebPAnimDecoderGetNext(webp_, &canvas, &timestamp)) {
      return fail(meter.refused ? error_code::too_large : error_code::corrupt_input, "WebP: cannot decode a frame");
    }
    duration_ms = static_cast<uint32_t>(timestamp > end_ms_ ? timestamp - end_ms_ : 0);
    end_ms_ = timestamp;
    return static_cast<const uint8_t*>(canvas);
  }

  uint32_t width() const { return w_; }
  uint32_t height() const { return h_; }
  uint32_t loop_count() const { return loop_count_; }

 private:
  whale_gif* gif_ = nullptr;
  WebPAnimDecoder* webp_ = nullptr;
  WebPData input_{nullptr, 0};
  uint32_t w_ = 0, h_ = 0, loop_count_ = 0;
  int end_ms_ = 0;
};

struct canvas_rows {
  const uint8_t* canvas;
  size_t stride;
  static const uint8_t* row(const void* context, uint32_t y) {
    const auto* self = static_cast<const canvas_rows*>(context);
    return self->canvas + y * self->stride;
  }
};

}  // namespace

result<std::vector<uint8_t>> encode_animation(const uint8_t* data, size_t size, bool webp_source, uint32_t quality,
                                              uint32_t max_frames, size_t max_working, animation_frame frame) {
  const metered scope(max_working);
  frame_source frames;
  WHALE_TRY_VOID(frames.start(data, size, webp_source));
  WebPConfig config;
  if (!WebPConfigInit(&config)) return fail(error_code::internal, "libwebp version mismatch");
  config.quality = static_cast<float>(quality);
  config.method = webp_method;
  config.thread_level = 0;
  std::unique_ptr<WebPAnimEncoder, void (*)(WebPAnimEncoder*)> encoder(nullptr, WebPAnimEncoderDelete);
  uint32_t at_ms = 0, count = 0;
  for (;;) {
    uint32_t duration = 0;
    WHALE_TRY(const uint8_t* canvas, frames.next(duration));
    if (canvas == nullptr) break;
    if (++count > max_frames) {
      return fail(error_code::too_large, "animation of more than " + std::to_string(max_frames) + " frames");
    }
    const canvas_rows rows{canvas, size_t{frames.width()} * 4};
    WHALE_TRY(pixels image, frame.make(frame.context, row_source{frames.width(), frames.height(), 4, &rows, canvas_rows::row}));
    if (image.channels != 3 && image.channels != 4) return fail(error_code::internal, "WebP takes RGB or RGBA");
    if (encoder == nullptr) {
      WebPAnimEncoderOptions options;
      if (!WebPAnimEncoderOptionsInit(&options)) return fail(error_code::internal, "libwebp version mismatch");
      options.anim_params.loop_count = static_cast<int>(frames.loop_count());
      options.allow_mixed = 0;
      encoder.reset(WebPAnimEncoderNew(static_cast<int>(image.w), static_cast<int>(image.h), &options));
      if (encoder == nullptr) return fail(meter.refused ? error_code::too_large : error_code::out_of_memory, "WebP: the animation encoder could not start");
    }
    WebPPicture picture;
    if (!WebPPictureInit(&picture)) return fail(error_code::internal, "libwebp version mismatch");
    picture.width = static_cast<int>(image.w);
    picture.height = static_cast<int>(image.h);
    picture.use_argb = 1;
    const int stride = static_cast<int>(image.stride());
    const int imported = image.channels == 4 ? WebPPictureImportRGBA(&picture, image.data(), stride)
                                             : WebPPictureImportRGB(&picture, image.data(), stride);
    image = pixels{};
    const int added = imported && WebPAnimEncoderAdd(encoder.get(), &picture, static_cast<int>(at_ms), &config);
    WebPPictureFree(&picture);
    if (!added) {
      if (meter.refused) {
        return fail(error_code::too_large, "WebP: the animation needs more than the " + megabytes(max_working) +
                                               " the memory budget leaves it");
      }
      return fail(error_code::internal, std::string("WebP animation encoder: ") + WebPAnimEncoderGetError(encoder.get()));
    }
    at_ms += duration;
  }
  if (encoder == nullptr) return fail(error_code::corrupt_input, "animation without a frame");
  WebPData assembled;
  WebPDataInit(&assembled);
  if (!WebPAnimEncoderAdd(encoder.get(), nullptr, static_cast<int>(at_ms), nullptr) ||
      !WebPAnimEncoderAssemble(encoder.get(), &assembled)) {
    if (meter.refused) {
      return fail(error_code::too_large, "WebP: the animation needs more than the " + megabytes(max_working) +
                                             " the memory budget leaves it");
    }
    return fail(error_code::internal, std::string("WebP animation encoder: ") + WebPAnimEncoderGetError(encoder.get()));
  }
  std::vector<uint8_t> out(assembled.bytes, assembled.bytes + assembled.size);
  WebPDataClear(&assembled);
  return out;
}

uint64_t animation_decode_bytes(bool webp_source, uint32_t w, uint32_t h) {
  const uint64_t area = uint64_t{w} * h;
  // GIF: stb's canvas, background and history (9 bytes a pixel) and our two previous canvases
  // (8); WebP: the animation decoder's canvases and a frame's decode (webp_decode_bytes).
  return webp_source ? 8 * area + 4 * (area + 16 * uint64_t{w}) + (1 << 20) : 17 * area + (64 << 10);
}

uint64_t animation_encode_bytes(uint32_t w, uint32_t h) {
  const uint64_t area = uint64_t{w} * h;
  // The encoder keeps the previous canvas and the current one, two candidate sub-frames and
  // their encodes (RGBA, and the pictures' ARGB), besides one frame's lossy encode.
  return 6 * 4 * area + webp_encode_bytes(w, h, 4);
}

bool webp_has_alpha(const uint8_t* data, size_t size) {
  WebPBitstreamFeatures features;  // an animation is drawn on an RGBA canvas
  return WebPGetFeatures(data, size, &features) == VP8_STATUS_OK && (features.has_alpha || features.has_animation);
}

result<pixels> decode_webp(const uint8_t* data, size_t size, size_t max_working) {
  WebPDecoderConfig config;
  if (!WebPInitDecoderConfig(&config)) return fail(error_code::internal, "libwebp version mismatch");
  const VP8StatusCode header = WebPGetFeatures(data, size, &config.input);
  if (header != VP8_STATUS_OK) return webp_decode_failure(header, max_working);
  if (config.input.has_animation) return decode_webp_first_frame(data, size, max_working);
  const uint32_t channels = config.input.has_alpha ? 4 : 3;
  WHALE_TRY(pixels image, make_pixels(static_cast<uint32_t>(config.input.width),
                                      static_cast<uint32_t>(config.input.height), channels));
  config.output.colorspace = channels == 4 ? MODE_RGBA : MODE_RGB;  // straight alpha, as the PNG decoder's
  config.output.is_external_memory = 1;
  config.output.u.RGBA.rgba = image.data();
  config.output.u.RGBA.stride = static_cast<int>(image.stride());
  config.output.u.RGBA.size = image.stride() * image.h;
  config.options.use_threads = 0;
  VP8StatusCode status = VP8_STATUS_OK;
  {
    const metered scope(max_working);
    status = WebPDecode(data, size, &config);
    WebPFreeDecBuffer(&config.output);  // nothing of ours: the buffer is external
    if (status != VP8_STATUS_OK) return webp_decode_failure(status, max_working);
  }
  return image;
}

uint64_t webp_decode_bytes(const uint8_t* data, size_t size, uint32_t w, uint32_t h) {
  // Lossy (VP8): a few rows of macroblocks, their intra and filter state, 16 rows of samples for
  // each plane; with alpha, the alpha plane and its lossless decoder's ARGB words (measured: an
  // 8.4 MP RGBA WebP of ours took 40 MB besides its decoded image). Lossless (VP8L): the image as
  // ARGB words with 16 more rows. Either way the Huffman tables are counted as a megabyte; past
  // the estimate the meter decides.
  WebPBitstreamFeatures features;
  const uint64_t area = uint64_t{w} * h;
  const bool known = WebPGetFeatures(data, size, &features) == VP8_STATUS_OK;
  // An animation: the decoder's canvas and its copy of the previous one, RGBA, and a frame's
  // decode (counted as a lossless one of the whole canvas).
  if (known && features.has_animation) return 8 * area + 4 * (area + 16 * uint64_t{w}) + (1 << 20);
  const bool lossless = known && features.format == 2;
  const bool alpha = features.has_alpha != 0;
  if (lossless) return 4 * (area + 16 * uint64_t{w}) + (1 << 20);
  return 256 * uint64_t{w} + (alpha ? 5 * area + (1 << 20) : 0) + (256 << 10);
}

uint64_t webp_picture_bytes(uint32_t w, uint32_t h, uint32_t channels) {
  const uint64_t area = uint64_t{w} * h;  // Y, U and V at half size both ways, and A
  return area + 2 * (((uint64_t{w} + 1) / 2) * ((uint64_t{h} + 1) / 2)) + (channels == 4 ? area : 0);
}

uint64_t webp_encode_bytes(uint32_t w, uint32_t h, uint32_t channels) {
  // Besides the picture: the encoder's per-macroblock state and tokens, the bit writers and the
  // stream, about a byte a pixel for a photo (noise at quality 100 takes ten times that); for
  // alpha, its lossless (VP8L) compression: an ARGB copy of the plane, a hash chain and backward
  // references, 5 to 20 bytes a pixel: counted at 20 (a 1200x900 cut-out of a photo measured 19).
  // Past the assumption the meter decides (encode_webp).
  const uint64_t area = uint64_t{w} * h;
  const uint64_t alpha = channels == 4 ? 20 * area : 0;
  return webp_picture_bytes(w, h, channels) + area + alpha + (256 << 10);
}

}  // namespace whale::image::detail
