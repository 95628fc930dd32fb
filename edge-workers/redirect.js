// GET /v1/redirect?vendor=<slug>&url=<page URL>&<attribute>=<value>...
//   The vendor's URL redirect experiments (GrowthBook's auto experiments with urlPatterns and
//   variations carrying urlRedirect: the payload's `experiments`) for the visitor on that page,
//   decided by the core (engine.urlRedirect):
//   302 Location: <urlWithParams>   the visitor is in a redirect experiment's redirecting variation
//   200 {vendor, redirect: null, results}   no redirect applies (results: the redirect
//                                   experiment the visitor is in with a variation that stays, if any)
//   Both set whale_id (a new visitor) and whale_sb (sticky documents written) as /v1/assign does.
//   400 {error}: no url, or not an absolute http(s) URL; 404: no vendor.

import { HttpError, parseCookies } from './http.js';
import { ID_COOKIE, setCookie, stickyCookies, visitorOf } from './cookies.js';
import { queryAttributes, recordExposures } from './assign.js';

const MAX_URL_LENGTH = 8192;

function pageUrlOf(url) {
  const page = url.searchParams.get('url');
  if (page === null || page === '') throw new HttpError(400, 'wrong_type', 'missing ?url=<page URL>');
  if (page.length > MAX_URL_LENGTH) throw new HttpError(400, 'too_large', `url: longer than ${MAX_URL_LENGTH} characters`);
  let parsed;
  try {
    parsed = new URL(page);
  } catch {
    throw new HttpError(400, 'invalid_value', 'url: not an absolute URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new HttpError(400, 'invalid_value', 'url: expected an http or https URL');
  }
  return page;
}

export async function redirectRoute(edge, request, url, ctx) {
  const slug = url.searchParams.get('vendor');
  if (!slug) throw new HttpError(404, 'not_found', 'missing ?vendor=<slug>');
  const page = pageUrlOf(url);
  const { vendors } = edge;
  const held = await vendors.featureSet(slug, ctx);
  const { payload } = vendors.setOf(held);

  const cookies = parseCookies(request.headers.get('Cookie'));
  const { id: knownId, stickyDocs } = visitorOf(cookies);
  const visitorId = knownId ?? crypto.randomUUID();
  const secure = url.protocol === 'https:';
  const { url: _page, ...query } = queryAttributes(url);

  const core = await edge.engine();
  const answer = core.urlRedirect({
    attributes: { id: visitorId, ...query },
    url: page,
    experiments: Array.isArray(payload?.experiments) ? payload.experiments : [],
    features: payload?.features ?? {},
    savedGroups: payload?.savedGroups ?? {},
    stickyBucketAssignmentDocs: { ...(stickyDocs ?? {}) },
  });

  const headers = new Headers({ 'Cache-Control': 'private, no-store', ...vendors.headersOf(held) });
  if (knownId === null) headers.append('Set-Cookie', setCookie(ID_COOKIE, visitorId, secure));
  for (const cookie of stickyCookies(answer.stickyBucketAssignmentDocs, stickyDocs, secure)) headers.append('Set-Cookie', cookie);
  const exposed = answer.results.filter((r) => r.result.hashUsed);
  const recorded = recordExposures(edge, slug, exposed.map((r) => ({ ...r, hashValue: r.result.hashValue })), ctx);
  if (recorded !== undefined) await recorded;
  if (answer.redirect !== null) {
    headers.set('Location', answer.redirect);
    return new Response(null, { status: 302, headers });
  }
  headers.set('Content-Type', 'application/json');
  return new Response(JSON.stringify({ vendor: slug, redirect: null, results: answer.results }), { status: 200, headers });
}
