// GET  /v1/assign?vendor=<slug>&<attribute>=<value>...  attributes from the query (strings; a
//                                                      repeated parameter becomes an array)
// POST /v1/assign?vendor=<slug>  body {"attributes": {...}, "url"?: "<page URL>"} (max 64 KB),
//                                merged over the query's attributes
// {vendor, features, experiments, receipt?}: the core's evalAll for the visitor (the attribute
// `id` is its whale_id unless the request supplies one), with its sticky documents.

import { HttpError, isObject, parseCookies, parseJsonBody, readBodyText } from './http.js';
import { ID_COOKIE, receiptCookie, setCookie, stickyCookies, visitorOf } from './cookies.js';
import { RECEIPT_COOKIE } from './events.js';

const MAX_BODY_BYTES = 64 * 1024;

// POST body: {"attributes"?: object, "url"?: string}; an empty body means no attributes.
async function readAssignBody(request) {
  const text = await readBodyText(request, MAX_BODY_BYTES);
  if (text.trim() === '') return {};
  const body = parseJsonBody(text);
  if (!isObject(body)) throw new HttpError(400, 'wrong_type', 'request body: expected a JSON object');
  if (body.attributes !== undefined && !isObject(body.attributes)) {
    throw new HttpError(400, 'wrong_type', 'request body: "attributes" must be an object');
  }
  if (body.url !== undefined && typeof body.url !== 'string') {
    throw new HttpError(400, 'wrong_type', 'request body: "url" must be a string');
  }
  return body;
}

// Every query parameter but vendor; a repeated parameter becomes an array.
export function queryAttributes(url) {
  const attributes = {};
  for (const key of new Set(url.searchParams.keys())) {
    if (key === 'vendor') continue;
    const values = url.searchParams.getAll(key);
    attributes[key] = values.length === 1 ? values[0] : values;
  }
  return attributes;
}

// One exposure event per experiment the visitor was bucketed into, for the origin's bandits. Its
// id is a MAC over (vendor, experiment, variation, unit, day) made when it is forwarded, so a
// returning visitor's repeated exposures deduplicate here and at the origin. A Promise on the
// queue path (Edge.recordMinted).
export function recordExposures(edge, slug, experiments, ctx) {
  if (experiments.length === 0) return undefined;
  const now = Date.now();
  return edge.recordMinted(experiments.map((r) => ({
    type: 'exposure', slug, experiment: r.experimentKey, variation: r.variationId, unit: String(r.hashValue), ts: now,
  })), ctx, now);
}

// edge: the worker's Edge (engine, vendor source, events).
export async function assignRoute(edge, request, url, ctx) {
  const slug = url.searchParams.get('vendor');
  if (!slug) throw new HttpError(404, 'not_found', 'missing ?vendor=<slug>');
  const { vendors } = edge;
  const held = await vendors.featureSet(slug, ctx);
  const body = request.method === 'POST' ? await readAssignBody(request) : {};

  const cookies = parseCookies(request.headers.get('Cookie'));
  const { id: knownId, stickyDocs } = visitorOf(cookies);
  const visitorId = knownId ?? crypto.randomUUID();
  const secure = url.protocol === 'https:';

  const attributes = { id: visitorId, ...queryAttributes(url), ...body.attributes };
  const options = { stickyBucketAssignmentDocs: stickyDocs ?? {}, url: body.url };
  const core = await edge.engine();
  const started = performance.now();
  const result = core.evalAll(vendors.setOf(held), attributes, options);
  const wasmMs = performance.now() - started;

  const headers = new Headers({
    'Content-Type': 'application/json',
    'Cache-Control': 'private, no-store',
    'Server-Timing': `wasm;dur=${wasmMs.toFixed(3)}`,
    ...vendors.headersOf(held),
  });
  if (knownId === null) headers.append('Set-Cookie', setCookie(ID_COOKIE, visitorId, secure));
  for (const cookie of stickyCookies(result.stickyBucketAssignmentDocs, stickyDocs, secure)) headers.append('Set-Cookie', cookie);
  const recorded = recordExposures(edge, slug, result.experiments, ctx);
  const answer = { vendor: slug, features: result.features, experiments: result.experiments };
  if (result.experiments.length > 0) {
    const entries = result.experiments.map((r) => [r.experimentKey, r.variationId, String(r.hashValue)]);
    const { receipt, changed } = await edge.eventKeys.receiptFor(slug, visitorId, entries, cookies[RECEIPT_COOKIE]);
    answer.receipt = receipt;
    if (changed) headers.append('Set-Cookie', receiptCookie(receipt, secure));
  }
  if (recorded !== undefined) await recorded;
  return new Response(JSON.stringify(answer), { status: 200, headers });
}
