# The C libraries of image.wasm, from the Debian source packages scripts/fetch-sources.sh unpacks
# into build/_deps/src (docs/architecture.md#dependencies-and-where-they-come-from). Built here
# once per preset with our flags, without their own build systems (whose configure checks and
# tools do not cross-compile to wasm):
#   whale::jpeg  libjpeg-turbo, C path (its SIMD is x86/ARM assembly) but for our vector IDCTs, 8-bit, no arithmetic coding
#   whale::webp  libwebp (encoder and decoder), C path only (no SSE2/NEON natively either: same bytes everywhere)
#   whale::stb   stb_image, stb_image_write, stb_image_resize2 headers (trixie's libstb)
#   whale::zlib  zlib's deflate and inflate (PNG's stream), plain C
set(WHALE_DEPS_SRC ${PROJECT_SOURCE_DIR}/build/_deps/src)
foreach(dep libjpeg-turbo libwebp libstb zlib)
  if(NOT EXISTS ${WHALE_DEPS_SRC}/${dep}/.whale-ok)
    message(FATAL_ERROR "${dep} sources missing in ${WHALE_DEPS_SRC}: run scripts/fetch-sources.sh (scripts/setup.sh runs it)")
  endif()
endforeach()

# Third-party code: optimized in every preset (a Debug libjpeg makes the tests crawl), warnings
# of its own left alone, no contraction of float expressions (same bytes on every target).
set(WHALE_DEP_FLAGS -O2 -w -ffp-contract=off)
if(WHALE_TARGET STREQUAL "emscripten" OR WHALE_TARGET STREQUAL "wasi")
  list(APPEND WHALE_DEP_FLAGS ${WHALE_WASM_FEATURES} -msimd128)
endif()

# libjpeg-turbo 2.1.5
set(jt ${WHALE_DEPS_SRC}/libjpeg-turbo)
set(WHALE_JPEG_GEN ${CMAKE_BINARY_DIR}/_deps/jpeg)
file(MAKE_DIRECTORY ${WHALE_JPEG_GEN})
file(WRITE ${WHALE_JPEG_GEN}/jconfig.h.tmp
"#define JPEG_LIB_VERSION 62
#define LIBJPEG_TURBO_VERSION 2.1.5
#define LIBJPEG_TURBO_VERSION_NUMBER 2001005
#define MEM_SRCDST_SUPPORTED 1
#define BITS_IN_JSAMPLE 8
")
file(WRITE ${WHALE_JPEG_GEN}/jconfigint.h.tmp
"#define BUILD \"whale\"
#undef inline
#define INLINE __inline__ __attribute__((always_inline))
#define THREAD_LOCAL
#define PACKAGE_NAME \"libjpeg-turbo\"
#define VERSION \"2.1.5\"
#define SIZEOF_SIZE_T __SIZEOF_SIZE_T__
#define HAVE_BUILTIN_CTZL
#define FALLTHROUGH __attribute__((fallthrough));
")
configure_file(${jt}/jversion.h.in ${WHALE_JPEG_GEN}/jversion.h @ONLY)
foreach(h jconfig.h jconfigint.h)
  configure_file(${WHALE_JPEG_GEN}/${h}.tmp ${WHALE_JPEG_GEN}/${h} COPYONLY)
endforeach()
set(WHALE_JPEG_SOURCES jcapimin.c jcapistd.c jccoefct.c jccolor.c jcdctmgr.c jchuff.c
  jcicc.c jcinit.c jcmainct.c jcmarker.c jcmaster.c jcomapi.c jcparam.c
  jcphuff.c jcprepct.c jcsample.c jctrans.c jdapimin.c jdapistd.c jdatadst.c
  jdatasrc.c jdcoefct.c jdcolor.c jddctmgr.c jdhuff.c jdicc.c jdinput.c
  jdmainct.c jdmarker.c jdmaster.c jdmerge.c jdphuff.c jdpostct.c jdsample.c
  jdtrans.c jerror.c jfdctflt.c jfdctfst.c jfdctint.c jidctflt.c jidctfst.c
  jidctint.c jidctred.c jquant1.c jquant2.c jutils.c jmemmgr.c jmemnobs.c jsimd_none.c)
list(TRANSFORM WHALE_JPEG_SOURCES PREPEND ${jt}/)
# The Huffman decoder's bit buffer: 64 bits where size_t is (natively), 32 elsewhere, but for x32,
# whose 64-bit registers under 32-bit pointers get 64. wasm32 is the same case: its copies of
# jdhuff.h and the two decoders that include it (generated here, so that "jdhuff.h" finds the
# copy) take that branch. Fewer refills, the same bits read: the same coefficients.
foreach(f jdhuff.h jdhuff.c jdphuff.c)
  file(READ ${jt}/${f} text)
  string(FIND "${text}" "defined(__x86_64__) && defined(__ILP32__)" at)
  if(at EQUAL -1 AND NOT f STREQUAL "jdphuff.c")
    message(FATAL_ERROR "libjpeg-turbo's ${f} no longer names the x32 case: check cmake/imagedeps.cmake")
  endif()
  string(REPLACE "defined(__x86_64__) && defined(__ILP32__)"
                 "(defined(__x86_64__) && defined(__ILP32__)) || defined(__wasm32__)" text "${text}")
  file(WRITE ${WHALE_JPEG_GEN}/${f}.tmp "${text}")
  configure_file(${WHALE_JPEG_GEN}/${f}.tmp ${WHALE_JPEG_GEN}/${f} COPYONLY)
endforeach()
list(REMOVE_ITEM WHALE_JPEG_SOURCES ${jt}/jdhuff.c ${jt}/jdphuff.c)
list(APPEND WHALE_JPEG_SOURCES ${WHALE_JPEG_GEN}/jdhuff.c ${WHALE_JPEG_GEN}/jdphuff.c)
# The inverse DCTs of a scaled decode through libjpeg's SIMD hooks, in GCC/clang vectors (SSE2
# natively, SIMD128 in wasm; the C path's bytes): src/image/jpeg_simd.c. jsimd_none.c keeps the
# other hooks; its copies of these are renamed out of the way.
list(APPEND WHALE_JPEG_SOURCES ${PROJECT_SOURCE_DIR}/src/image/jpeg_simd.c)
set(WHALE_JPEG_SIMD_HOOKS jsimd_can_idct_islow jsimd_idct_islow jsimd_can_idct_4x4 jsimd_idct_4x4
  jsimd_can_ycc_rgb jsimd_ycc_rgb_convert jsimd_can_quantize jsimd_quantize)
list(TRANSFORM WHALE_JPEG_SIMD_HOOKS REPLACE "^jsimd_(.*)$" "jsimd_\\1=whale_unused_\\1")
set_source_files_properties(${jt}/jsimd_none.c PROPERTIES COMPILE_DEFINITIONS "${WHALE_JPEG_SIMD_HOOKS}")
add_library(whale_jpeg STATIC ${WHALE_JPEG_SOURCES})
add_library(whale::jpeg ALIAS whale_jpeg)
target_include_directories(whale_jpeg SYSTEM PUBLIC ${WHALE_JPEG_GEN} ${jt})
target_compile_options(whale_jpeg PRIVATE ${WHALE_DEP_FLAGS})
# No getenv("JPEGMEM"): the environment must not change a decode, and the wasm reactors have none
# (wasi-libc exits when its environ_sizes_get import fails).
target_compile_definitions(whale_jpeg PRIVATE NO_GETENV NO_PUTENV)
# wasm has a clz instruction: libjpeg's Huffman encoder counts bits with it instead of a 128 KB
# table (the same counts, so the same bytes; image.wasm is 128 KB smaller).
if(WHALE_TARGET STREQUAL "emscripten" OR WHALE_TARGET STREQUAL "wasi")
  target_compile_definitions(whale_jpeg PRIVATE USE_CLZ_INTRINSIC)
endif()

# libwebp 1.2.4: the encoder, the decoder, the demuxer and the muxer (animations in and out) and what they need from dsp/ and utils/. HAVE_CONFIG_H with an empty
# config.h turns off every SIMD path (cpu.h enables SSE2 only when config.h asks for it).
set(wp ${WHALE_DEPS_SRC}/libwebp)
set(WHALE_WEBP_GEN ${CMAKE_BINARY_DIR}/_deps/webp)
file(MAKE_DIRECTORY ${WHALE_WEBP_GEN}/src/webp)
if(NOT EXISTS ${WHALE_WEBP_GEN}/src/webp/config.h)
  file(WRITE ${WHALE_WEBP_GEN}/src/webp/config.h "/* whale: no SIMD, no threads */\n")
endif()
file(GLOB WHALE_WEBP_SOURCES ${wp}/src/enc/*.c ${wp}/src/dec/*.c ${wp}/src/demux/*.c ${wp}/src/mux/*.c ${wp}/src/dsp/*.c ${wp}/src/utils/*.c
  ${wp}/sharpyuv/*.c)
list(FILTER WHALE_WEBP_SOURCES EXCLUDE REGEX "_(sse2|sse41|neon|msa|mips32|mips_dsp_r2)\\.c$")
add_library(whale_webp STATIC ${WHALE_WEBP_SOURCES})
add_library(whale::webp ALIAS whale_webp)
target_include_directories(whale_webp SYSTEM PUBLIC ${wp}/src PRIVATE ${WHALE_WEBP_GEN} ${wp})
target_compile_definitions(whale_webp PRIVATE HAVE_CONFIG_H)
# -fwrapv: a corrupt VP8 stream overflows the inverse transform's int products (dsp/dec.c, found
# by fuzz_image_decode); wrapping is then defined, as it is in wasm, so every target agrees.
target_compile_options(whale_webp PRIVATE ${WHALE_DEP_FLAGS} -fwrapv)
# Every libwebp allocation goes through utils/utils.c; there malloc, calloc and free become
# src/image/encode.cpp's metered ones, so that an encode stops (out of memory, reported as
# too_large) past what the job's memory budget leaves it.
set_source_files_properties(${wp}/src/utils/utils.c PROPERTIES COMPILE_DEFINITIONS
  "malloc=whale_webp_malloc;calloc=whale_webp_calloc;free=whale_webp_free")

# stb (header-only; the implementations are compiled in src/image/stb_impl.c)
add_library(whale_stb INTERFACE)
add_library(whale::stb ALIAS whale_stb)
target_include_directories(whale_stb SYSTEM INTERFACE ${WHALE_DEPS_SRC}/libstb)

# zlib 1.2.13: deflate and inflate only (no gz* file functions). Portable C: the same stream on
# every target for the same input and settings.
set(zl ${WHALE_DEPS_SRC}/zlib)
add_library(whale_zlib STATIC ${zl}/adler32.c ${zl}/crc32.c ${zl}/deflate.c ${zl}/inflate.c ${zl}/inffast.c
  ${zl}/inftrees.c ${zl}/trees.c ${zl}/zutil.c)
add_library(whale::zlib ALIAS whale_zlib)
target_include_directories(whale_zlib SYSTEM PUBLIC ${zl})
target_compile_options(whale_zlib PRIVATE ${WHALE_DEP_FLAGS})
target_compile_definitions(whale_zlib PRIVATE NO_GZIP)
