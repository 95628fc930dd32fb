/* The whale core's C ABI, exported by core.wasm (emscripten and wasm32-wasi builds) and linked
 * natively for tests. Single-threaded: one module instance per isolate.
 *
 * Calling convention:
 *  - Inputs are (pointer, length) UTF-8 buffers the caller allocated with whale_alloc and
 *    frees with whale_free; the module never keeps them past the call.
 *  - Every operation returns a whale error code (0 = ok; the numbers are those of
 *    whale::error_code in include/whale/result.h). On success the output (JSON) is in the
 *    "last result" buffer; on failure that buffer holds the error message.
 *  - whale_last_ptr/whale_last_len are BORROWED: valid until the next whale_ call (which may
 *    grow memory). Copy them out at once.
 *  - Handles from whale_features_load are OWNED by the caller: release with whale_features_free.
 *  - Configs loaded with whale_config_load are owned by the instance's config cache (LRU, 16 MB);
 *    callers name them by (vendor slug, version) and never free them.
 */
#ifndef WHALE_CORE_H
#define WHALE_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* (major << 16) | minor. The glue refuses a module whose major differs from its own. */
uint32_t whale_abi_version(void);

void* whale_alloc(size_t size); /* NULL when out of memory */
void whale_free(void* ptr);

const char* whale_last_ptr(void);
size_t whale_last_len(void);
uint32_t whale_last_handle(void); /* the handle made by the last successful whale_features_load */

uint32_t whale_hash(const char* req, size_t len);
uint32_t whale_eval_condition(const char* req, size_t len);
uint32_t whale_bucket_ranges(const char* req, size_t len);
uint32_t whale_choose_variation(const char* req, size_t len);
uint32_t whale_equal_weights(const char* req, size_t len);
uint32_t whale_in_namespace(const char* req, size_t len);
uint32_t whale_query_string_override(const char* req, size_t len);
uint32_t whale_run(const char* req, size_t len);
uint32_t whale_eval_feature(const char* req, size_t len);
/* ABI 1.6: GrowthBook's URL redirect experiments for a page URL (whale::api::url_redirect):
 * {"context":{..., "url", "experiments"}} -> {"result":{"redirect","results"},
 * "stickyBucketAssignmentDocs"}. */
uint32_t whale_url_redirect(const char* req, size_t len);
uint32_t whale_sample_beta(const char* req, size_t len);
uint32_t whale_thompson_choose(const char* req, size_t len);
uint32_t whale_bandit_weights(const char* req, size_t len);

uint32_t whale_features_load(const char* payload, size_t len);
uint32_t whale_features_free(uint32_t handle);
uint32_t whale_eval_all(uint32_t handle, const char* req, size_t len);
/* The same evaluation in whale::assign::eval_all_compact's binary form (include/whale/assign.h);
 * whale_features_load leaves the features' keys (a JSON array, in that form's order) in the
 * last result. */
uint32_t whale_eval_all_compact(uint32_t handle, const char* req, size_t len);
/* ABI 1.5: the attributes the feature set's payload reads, as a JSON array in the last result;
 * whale_eval_all_encoded is whale_eval_all_compact for a request of attributes only, given
 * encoded (whale::api::attribute_tag in include/whale/api.h) and naming attributes by their
 * index in that array: no JSON to write or parse per request. */
uint32_t whale_features_attributes(uint32_t handle);
uint32_t whale_eval_all_encoded(uint32_t handle, const char* req, size_t len);

/* Vendor configs (include/whale/config.h, docs/config.md). The input is the config's JSON.
 * whale_config_parse parses and validates it and keeps nothing; the last result holds a JSON
 * summary (whale::config::summary). whale_config_load does the same and keeps the parsed config
 * in the cache under (its vendor slug, version). whale_config_resolve looks (slug, version) up:
 * 0 on a hit, not_found on a miss. whale_config_cache_stats leaves the cache's counters
 * {hits, misses, evictions, entries, bytes, budget} in the last result. */
uint32_t whale_config_parse(const char* json, size_t len);
uint32_t whale_config_load(uint32_t version, const char* json, size_t len);
/* ABI 1.4: 0 when the bytes are JSON (simdjson's parse alone, no value built), else the error:
 * the floor under a config parse (bench/config.bench.mjs). */
uint32_t whale_json_check(const char* json, size_t len);
uint32_t whale_config_resolve(uint32_t version, const char* slug, size_t len);
uint32_t whale_config_cache_stats(void);
/* ABI 1.3: the media settings of a cached config (docs/config.md, `media`) as JSON with every
 * default filled in: {"allowedSources","formats","maxWidth","maxHeight","quality","widths",
 * "maxInputBytes","maxInputPixels","signedUrls"}; not_found when (slug, version) is not cached. */
uint32_t whale_config_media(uint32_t version, const char* slug, size_t len);
/* ABI 1.4: the consent settings of a cached config (docs/config.md, `consent`) as JSON with every
 * default filled in: {"globalPrivacyControl","cookie","granted","denied"}. */
uint32_t whale_config_consent(uint32_t version, const char* slug, size_t len);

/* Layouts (include/whale/layout.h, docs/layout.md), ABI 1.2. The request is JSON
 * {"slug","version","page","attributes"?,"now"?,"behaviour"?,"stickyBucketAssignmentDocs"?}
 * naming a config loaded with whale_config_load (not_found otherwise); "now" is Unix seconds,
 * the host's clock when absent. The last result holds the layout JSON. */
uint32_t whale_render_layout(const char* req, size_t len);

#ifdef __cplusplus
}
#endif

#endif
