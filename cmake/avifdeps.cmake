# The AV1 encoder of avif.wasm: aom 3.6.0 from the Debian source package scripts/fetch-sources.sh
# unpacks into build/_deps/src/aom (docs/architecture.md#dependencies-and-where-they-come-from).
# Built here, like cmake/imagedeps.cmake's libraries, without aom's own build system:
#   whale::aom  the encoder only (no decoder), generic C (no SIMD, no assembly, no runtime CPU
#               detection: the same bytes on every target), no threads, 8-bit only.
# aom's configuration header is written from the values below; its three run-time CPU dispatch
# headers come from its own rtcd.pl (perl, on every Debian machine) for the generic target.
# libavif, which the design named for the container, is not reachable as a source package here
# (its tarballs are missing from the mirror): src/avif writes the container itself.
if(NOT EXISTS ${WHALE_DEPS_SRC}/aom/.whale-ok)
  message(FATAL_ERROR "aom sources missing in ${WHALE_DEPS_SRC}: run scripts/fetch-sources.sh (scripts/setup.sh runs it)")
endif()
find_program(WHALE_PERL perl REQUIRED)
set(aom ${WHALE_DEPS_SRC}/aom)
set(WHALE_AOM_GEN ${CMAKE_BINARY_DIR}/_deps/aom)
file(MAKE_DIRECTORY ${WHALE_AOM_GEN}/config)

set(WHALE_AOM_CONFIG
  ARCH_ARM=0 ARCH_PPC=0 ARCH_X86=0 ARCH_X86_64=0
  CONFIG_ACCOUNTING=0 CONFIG_ANALYZER=0 CONFIG_AV1_DECODER=0 CONFIG_AV1_ENCODER=1 CONFIG_AV1_HIGHBITDEPTH=0
  CONFIG_AV1_TEMPORAL_DENOISING=0 CONFIG_BIG_ENDIAN=0 CONFIG_BITRATE_ACCURACY=0 CONFIG_BITRATE_ACCURACY_BL=0
  CONFIG_BITSTREAM_DEBUG=0 CONFIG_COEFFICIENT_RANGE_CHECKING=0 CONFIG_COLLECT_COMPONENT_TIMING=0
  CONFIG_COLLECT_PARTITION_STATS=0 CONFIG_COLLECT_RD_STATS=0 CONFIG_CWG_C013=0 CONFIG_DEBUG=0 CONFIG_DENOISE=0
  CONFIG_DISABLE_FULL_PIXEL_SPLIT_8X8=1 CONFIG_ENTROPY_STATS=0 CONFIG_EXCLUDE_SIMD_MISMATCH=0 CONFIG_FPMT_TEST=0
  CONFIG_GCC=1 CONFIG_GCOV=0 CONFIG_GPROF=0 CONFIG_INSPECTION=0 CONFIG_INTERNAL_STATS=0 CONFIG_INTER_STATS_ONLY=0
  CONFIG_LIBYUV=0 CONFIG_MAX_DECODE_PROFILE=2 CONFIG_MISMATCH_DEBUG=0 CONFIG_MULTITHREAD=0 CONFIG_NN_V2=0
  CONFIG_NORMAL_TILE_MODE=0 CONFIG_OPTICAL_FLOW_API=0 CONFIG_OS_SUPPORT=1 CONFIG_PARTITION_SEARCH_ORDER=0
  CONFIG_PIC=0 CONFIG_RATECTRL_LOG=0 CONFIG_RD_COMMAND=0 CONFIG_RD_DEBUG=0 CONFIG_REALTIME_ONLY=0
  CONFIG_RT_ML_PARTITIONING=0 CONFIG_RUNTIME_CPU_DETECT=0 CONFIG_SHARED=0 CONFIG_SIZE_LIMIT=0
  CONFIG_SPATIAL_RESAMPLING=1 CONFIG_SPEED_STATS=0 CONFIG_TFLITE=0 CONFIG_THREE_PASS=0 CONFIG_TUNE_BUTTERAUGLI=0
  CONFIG_TUNE_VMAF=0 CONFIG_WEBM_IO=0 DECODE_HEIGHT_LIMIT=0 DECODE_WIDTH_LIMIT=0 FORCE_HIGHBITDEPTH_DECODING=0
  HAVE_ARM_CRC32=0 HAVE_AVX=0 HAVE_AVX2=0 HAVE_FEXCEPT=0 HAVE_MMX=0 HAVE_NEON=0 HAVE_PTHREAD_H=0 HAVE_SSE=0
  HAVE_SSE2=0 HAVE_SSE3=0 HAVE_SSE4_1=0 HAVE_SSE4_2=0 HAVE_SSSE3=0 HAVE_UNISTD_H=1 HAVE_VSX=0 HAVE_WXWIDGETS=0
  INLINE=inline STATIC_LINK_JXL=0)
set(text "/* whale: aom's configuration (cmake/avifdeps.cmake) */\n#ifndef AOM_CONFIG_H_\n#define AOM_CONFIG_H_\n")
foreach(pair ${WHALE_AOM_CONFIG})
  string(REPLACE "=" " " pair "${pair}")
  string(APPEND text "#define ${pair}\n")
endforeach()
string(APPEND text "#endif\n")
file(CONFIGURE OUTPUT ${WHALE_AOM_GEN}/config/aom_config.h CONTENT "${text}")
file(CONFIGURE OUTPUT ${WHALE_AOM_GEN}/config/aom_version.h CONTENT
"#define VERSION_MAJOR 3\n#define VERSION_MINOR 6\n#define VERSION_PATCH 0\n#define VERSION_EXTRA \"\"\n#define VERSION_PACKED ((3 << 16) | (6 << 8) | 0)\n#define VERSION_STRING_NOSP \"v3.6.0\"\n#define VERSION_STRING \" v3.6.0\"\n")
file(CONFIGURE OUTPUT ${WHALE_AOM_GEN}/config/aom_config.c CONTENT
"#include \"aom/aom_codec.h\"\nconst char *aom_codec_build_config(void) { return \"whale: generic, encoder only, no threads\"; }\n")
foreach(rtcd "aom_dsp/aom_dsp_rtcd_defs.pl aom_dsp_rtcd" "aom_scale/aom_scale_rtcd.pl aom_scale_rtcd" "av1/common/av1_rtcd_defs.pl av1_rtcd")
  separate_arguments(rtcd)
  list(GET rtcd 0 defs)
  list(GET rtcd 1 sym)
  if(NOT EXISTS ${WHALE_AOM_GEN}/config/${sym}.h OR ${aom}/${defs} IS_NEWER_THAN ${WHALE_AOM_GEN}/config/${sym}.h)
    execute_process(COMMAND ${WHALE_PERL} ${aom}/build/cmake/rtcd.pl --arch=generic --sym=${sym}
                            --config=${WHALE_AOM_GEN}/config/aom_config.h ${aom}/${defs}
                    OUTPUT_FILE ${WHALE_AOM_GEN}/config/${sym}.h RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      file(REMOVE ${WHALE_AOM_GEN}/config/${sym}.h)
      message(FATAL_ERROR "aom: rtcd.pl failed for ${defs}")
    endif()
  endif()
endforeach()

# The sources aom's own CMake builds for this configuration (checked against it on 2026-12-05):
# every C file of these directories but the decoder's, the tuning and statistics ones it leaves
# out, and the optical flow and denoiser code of configurations we do not use.
file(GLOB WHALE_AOM_SOURCES ${aom}/aom/src/*.c ${aom}/aom_dsp/*.c ${aom}/aom_dsp/flow_estimation/*.c
  ${aom}/aom_mem/*.c ${aom}/aom_scale/*.c ${aom}/aom_scale/generic/*.c ${aom}/aom_util/*.c
  ${aom}/av1/common/*.c ${aom}/av1/encoder/*.c ${aom}/third_party/fastfeat/*.c ${aom}/third_party/vector/*.c)
list(FILTER WHALE_AOM_SOURCES EXCLUDE REGEX
  "/(binary_codes_reader|bitreader|butteraugli|entdec|fastssim|psnrhvs|vmaf|av1_temporal_denoiser|blockiness|deltaq4_model|optical_flow|sparse_linear_solver|tune_butteraugli|tune_vmaf)\\.c$")
list(APPEND WHALE_AOM_SOURCES ${aom}/av1/av1_cx_iface.c ${aom}/av1/arg_defs.c ${aom}/common/args_helper.c
  ${WHALE_AOM_GEN}/config/aom_config.c)
add_library(whale_aom STATIC ${WHALE_AOM_SOURCES})
add_library(whale::aom ALIAS whale_aom)
target_include_directories(whale_aom SYSTEM PUBLIC ${aom} ${WHALE_AOM_GEN})
# -fwrapv as for libwebp: whatever a corrupt or extreme input overflows wraps, as it does in wasm.
target_compile_options(whale_aom PRIVATE ${WHALE_DEP_FLAGS} -fwrapv)
# -O2 as the other libraries: measured on the bench's 720 x 588 encode in avif.wasm, -Os made it
# 1.6 MB (708 KiB gzip) but 30% slower (103 ms against 78), -O3 4.2 MB and no faster than -O2
# (2.9 MB, 886 KiB gzip).
# Every allocation aom makes goes through src/avif/avif.cpp's metered functions, so that an
# encode stops (too_large) past what the job's memory budget leaves it.
target_compile_definitions(whale_aom PRIVATE
  malloc=whale_aom_malloc calloc=whale_aom_calloc realloc=whale_aom_realloc free=whale_aom_free)
# aom returns from its errors with longjmp: lowered to wasm exception handling as for src/image.
if(WHALE_TARGET STREQUAL "emscripten")
  target_compile_options(whale_aom PRIVATE -sSUPPORT_LONGJMP=wasm)
  target_link_options(whale_aom INTERFACE -sSUPPORT_LONGJMP=wasm)
elseif(WHALE_TARGET STREQUAL "wasi")
  target_compile_options(whale_aom PRIVATE "SHELL:-mllvm -wasm-enable-sjlj" -mexception-handling)
  # wasi-libc has no <setjmp.h>: this one declares what src/image/sjlj.h declares for C++, and
  # src/image/sjlj_wasi.cpp (whale_sjlj) supplies the runtime.
  file(CONFIGURE OUTPUT ${WHALE_AOM_GEN}/wasi/setjmp.h CONTENT
"#pragma once\n#include <stdint.h>\ntypedef uintptr_t jmp_buf[4];\nint setjmp(jmp_buf env) __attribute__((returns_twice));\n_Noreturn void longjmp(jmp_buf env, int value);\n")
  target_include_directories(whale_aom SYSTEM BEFORE PRIVATE ${WHALE_AOM_GEN}/wasi)
endif()
