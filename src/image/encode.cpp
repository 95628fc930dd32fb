// Encoders: libjpeg-turbo (JPEG), stb_image_write (PNG), libwebp (lossy WebP). Every setting
// that could vary is pinned, so the three builds write the same bytes.
#include <cstring>
#include <string>

#include "pixels.h"
#include "sjlj.h"

extern "C" {
#include "jpeglib.h"
}

#include "stb_image_write.h"
#include "webp/encode.h"

namespace whale::image::detail {
namespace {

// Chroma at half resolution both ways (4:2:0) below this quality, full (4:4:4) from it: what
// sharp and Cloudflare do.
constexpr uint32_t full_chroma_quality = 90;
// stb_image_write's zlib effort (its default); pinned because it changes the bytes.
constexpr int png_compression_level = 8;
// libwebp's effort, 0 (fast) to 6 (small); 4 is its default and cwebp's.
constexpr int webp_method = 4;

struct encode_error {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {};
};

[[noreturn]] void on_encode_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<encode_error*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

void on_encode_message(j_common_ptr, int) {}

// A libjpeg destination that grows a std::vector (doubling).
struct vector_destination {
  jpeg_destination_mgr pub;
  std::vector<uint8_t>* out;
};

void destination_init(j_compress_ptr cinfo) {
  auto* d = reinterpret_cast<vector_destination*>(cinfo->dest);
  d->out->resize(64 * 1024);
  d->pub.next_output_byte = d->out->data();
  d->pub.free_in_buffer = d->out->size();
}

boolean destination_grow(j_compress_ptr cinfo) {
  auto* d = reinterpret_cast<vector_destination*>(cinfo->dest);
  const size_t used = d->out->size();
  d->out->resize(used * 2);
  d->pub.next_output_byte = d->out->data() + used;
  d->pub.free_in_buffer = d->out->size() - used;
  return TRUE;
}

void destination_term(j_compress_ptr cinfo) {
  auto* d = reinterpret_cast<vector_destination*>(cinfo->dest);
  d->out->resize(d->out->size() - d->pub.free_in_buffer);
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

struct jpeg_job {
  jpeg_compress_struct cinfo{};
  encode_error err;
  vector_destination dest{};
  jpeg_scan_info scans[5]{};
  bool created = false;
};

// Holds the setjmp: locals are trivial, the state lives in the caller's heap object.
bool run_jpeg(jpeg_job& job, const pixels& p, uint32_t quality, bool progressive) {
  if (setjmp(job.err.jump)) return false;
  jpeg_compress_struct& c = job.cinfo;
  jpeg_create_compress(&c);
  job.created = true;
  c.dest = &job.dest.pub;
  c.image_width = p.w;
  c.image_height = p.h;
  c.input_components = static_cast<int>(p.channels);
  c.in_color_space = p.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  c.dct_method = JDCT_ISLOW;  // integer forward DCT: the same bytes on every target
  jpeg_set_quality(&c, static_cast<int>(quality), TRUE);
  c.optimize_coding = TRUE;
  if (p.channels == 3) {
    const int luma_sampling = quality >= full_chroma_quality ? 1 : 2;
    c.comp_info[0].h_samp_factor = luma_sampling;
    c.comp_info[0].v_samp_factor = luma_sampling;
  }
  if (progressive) set_progressive_scans(c, job.scans);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(p.row(c.next_scanline));
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  return true;
}

int write_to_vector(const uint8_t* data, size_t size, void* context) {
  auto* out = static_cast<std::vector<uint8_t>*>(context);
  out->insert(out->end(), data, data + size);
  return 1;
}

void png_chunk(void* context, void* data, int size) {
  write_to_vector(static_cast<const uint8_t*>(data), static_cast<size_t>(size), context);
}

int webp_chunk(const uint8_t* data, size_t size, const WebPPicture* picture) {
  return write_to_vector(data, size, picture->custom_ptr);
}

const char* webp_error_text(WebPEncodingError e) {
  switch (e) {
    case VP8_ENC_ERROR_OUT_OF_MEMORY:
    case VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY: return "out of memory";
    case VP8_ENC_ERROR_BAD_DIMENSION: return "bad dimension";
    case VP8_ENC_ERROR_PARTITION0_OVERFLOW:
    case VP8_ENC_ERROR_PARTITION_OVERFLOW: return "partition overflow";
    default: return "encoder error";
  }
}

}  // namespace

result<std::vector<uint8_t>> encode_jpeg(const pixels& p, uint32_t quality, bool progressive) {
  if (p.channels != 1 && p.channels != 3) return fail(error_code::internal, "JPEG takes grey or RGB");
  std::vector<uint8_t> out;
  auto job = std::make_unique<jpeg_job>();
  job->cinfo.err = jpeg_std_error(&job->err.pub);
  job->err.pub.error_exit = on_encode_error;
  job->err.pub.emit_message = on_encode_message;
  job->dest.pub.init_destination = destination_init;
  job->dest.pub.empty_output_buffer = destination_grow;
  job->dest.pub.term_destination = destination_term;
  job->dest.out = &out;
  const bool ok = run_jpeg(*job, p, quality, progressive);
  if (job->created) jpeg_destroy_compress(&job->cinfo);
  if (!ok) return fail(error_code::internal, std::string("JPEG encoder: ") + job->err.message);
  return out;
}

result<std::vector<uint8_t>> encode_png(const pixels& p) {
  std::vector<uint8_t> out;
  stbi_write_png_compression_level = png_compression_level;
  stbi_write_force_png_filter = -1;  // per-row adaptive choice (deterministic)
  if (!stbi_write_png_to_func(png_chunk, &out, static_cast<int>(p.w), static_cast<int>(p.h),
                              static_cast<int>(p.channels), p.data(), static_cast<int>(p.stride()))) {
    return fail(error_code::out_of_memory, "PNG encoder failed");
  }
  return out;
}

result<std::vector<uint8_t>> encode_webp(const pixels& p, uint32_t quality) {
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
  const int stride = static_cast<int>(p.stride());
  const int imported = p.channels == 4 ? WebPPictureImportRGBA(&picture, p.data(), stride)
                                       : WebPPictureImportRGB(&picture, p.data(), stride);
  if (!imported) {
    WebPPictureFree(&picture);
    return fail(error_code::out_of_memory, "out of memory for the WebP picture");
  }
  std::vector<uint8_t> out;
  picture.writer = webp_chunk;
  picture.custom_ptr = &out;
  const int ok = WebPEncode(&config, &picture);
  const WebPEncodingError e = picture.error_code;
  WebPPictureFree(&picture);
  if (!ok) return fail(error_code::internal, std::string("WebP encoder: ") + webp_error_text(e));
  return out;
}

}  // namespace whale::image::detail
