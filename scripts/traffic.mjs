// Simulated shoppers for a running local stack, so that the bandit loop can be watched end to
// end: each visitor opens the vendor's home page on one of the edges (its first visit: the edge
// buckets it into the page's experiments, records the exposure and hands it a receipt), and
// converts with a probability that depends on the variation it saw, reporting the conversion to
// POST /v1/events with its receipt as a browser would. Then the origin reweights
// (POST /v1/vendors/<slug>/reweight) and the new weights go out as the next signed version.
//
//   node scripts/stack.mjs traffic [slug] [visitors]     (defaults: flora-distro, 1000)
//
// The visitors bring their own ids (a whale_id cookie "traffic-<seed>-<n>", as a browser that was
// given one would) and their decisions come from a seeded generator, so a run repeats exactly.
// The conversion rates are made up: variation i of every experiment converts at RATES[i] (the
// last variation the best by far), so the bandit has a clear winner to find.
import { rng } from '../fixtures/vendors/generate.mjs'; // seeded: the same run gives the same decisions
import { request, sleep } from './stack.mjs';

export const RATES = [0.03, 0.05, 0.2];

function cookieValue(res, name) {
  return res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`))?.slice(name.length + 1).split(';')[0];
}

// Sums an edge's events stats over the edges.
async function forwarded(edges) {
  let pending = 0;
  for (const edge of edges) {
    const stats = (await request(edge, 'GET', '/v1/events/stats')).json.events;
    pending += stats.buffered + (stats.inFlight ?? 0);
  }
  return pending;
}

// edges: base URLs; origin: base URL; token: the vendor's. Returns {visitors, exposures,
// conversions: {experiment: {variation: n}}, reweight: the origin's answer}.
export async function simulateTraffic({ edges, origin, slug, token, visitors = 1000, page = 'home', seed = 1, log = () => {} }) {
  const random = rng(seed);
  const conversions = {};
  const shown = {};
  for (let n = 0; n < visitors; n++) {
    const edge = edges[n % edges.length];
    const res = await request(edge, 'GET', `/v1/storefront/${slug}/${page}`, { headers: { cookie: `whale_id=traffic-${seed}-${n}` } });
    if (res.status !== 200) throw new Error(`GET ${edge}/v1/storefront/${slug}/${page}: ${res.status} ${res.text}`);
    const receipt = cookieValue(res, 'whale_rc');
    for (const a of res.json.assignments.filter((x) => x.inExperiment)) {
      shown[a.experiment] ??= {};
      shown[a.experiment][a.variation] = (shown[a.experiment][a.variation] ?? 0) + 1;
      if (!receipt || random() >= (RATES[a.variation] ?? RATES[0])) continue;
      const sent = await request(edge, 'POST', '/v1/events', {
        body: { events: [{ type: 'conversion', experiment: a.experiment, variation: a.variation, value: 40 }], receipt },
      });
      if (sent.status !== 202 || sent.json.accepted + sent.json.duplicates !== 1) {
        throw new Error(`POST ${edge}/v1/events: ${sent.status} ${sent.text}`);
      }
      conversions[a.experiment] ??= {};
      conversions[a.experiment][a.variation] = (conversions[a.experiment][a.variation] ?? 0) + 1;
    }
    if ((n + 1) % 250 === 0) log(`${n + 1} visitors`);
  }
  // The edges forward in batches (at most a second apart while requests come, then on a timer).
  for (let i = 0; i < 100 && (await forwarded(edges)) > 0; i++) await sleep(100);
  const reweight = await request(origin, 'POST', `/v1/vendors/${slug}/reweight`, { token, body: '' });
  if (reweight.status !== 200) throw new Error(`POST ${origin}/v1/vendors/${slug}/reweight: ${reweight.status} ${reweight.text}`);
  return { visitors, shown, conversions, reweight: reweight.json };
}
