// The edge worker: a route table, the state one isolate keeps (Edge), and the entry points. Every
// assignment decision is made by the whale core (core.wasm) through the JS glue, so the edge
// answers exactly what the native build and the WASI harness answer for the same inputs.
//
// Routes (each handler in the module named)
//   GET  /img/<options>/<source>    images resized by image.wasm (image.js; the vendor is
//                                   IMAGE_HOSTS[host] or IMAGE_VENDOR); /cdn-cgi/image/ too
//   GET  /v1/config/<slug>          what this edge holds for the vendor (vendors.js; no secrets)
//   GET  /v1/storefront/<slug>/<page>  the page's layout for this visitor (storefront.js)
//   GET  /v1/live/<slug>/<page>     Upgrade: websocket: the page's live updates (live.js)
//   POST /v1/live/<slug>/<page>     a transform for the page's browsers (edge token; live.js)
//   POST /v1/events                 exposure and conversion beacons (events.js)
//   GET  /v1/events/stats           the events path (queue, forwarder or buffer) and its counters
//   GET  /demo/<slug>/<page>        a demo storefront page that renders the layout (demo/), and
//                                   the scripts it loads: /demo/app.js, /js-glue/browser.js,
//                                   /js-glue/image-url.js
//   GET  /healthz
//   GET  /v1/assign?vendor=<slug>&<attribute>=<value>...  attributes from the query (assign.js)
//   POST /v1/assign?vendor=<slug>   body {"attributes": {...}, "url"?: "<page URL>"}, merged over
//                                   the query's attributes (assign.js)
//   GET  /v1/redirect?vendor=<slug>&url=<page URL>&<attribute>=<value>...  302 to the redirect
//                                   experiment's URL for this visitor, else 200 {redirect: null}
//                                   (redirect.js)
//   POST /v1/invalidate             the origin's nudge, body {"slug", "version"} (edge token;
//                                   vendors.js)
//   POST /v1/publish                a signed snapshot from the origin, written to Workers KV
//                                   (SNAPSHOTS; edge token; vendors.js, sync.js publish)
//   queue(batch)                    the EVENTS_QUEUE consumer: posts the events to the origin
//
// Vendor configs come from one source (vendors.js): with an ORIGIN_URL binding, signed snapshots
// pulled from the origin (sync.js); without one, the payloads embedded with the worker
// (fixtures/vendors/<slug>). Cookies: cookies.js.

import { createEngine } from '../js-glue/index.js';
import coreModule from '../js-glue/core.wasm';
import { HttpError, json, methodNotAllowed, originFetch } from './http.js';
import { CONFIG_ROUTE, configRoute, invalidateRoute, publishRoute, vendorSource } from './vendors.js';
import { assignRoute } from './assign.js';
import { redirectRoute } from './redirect.js';
import { CHOICE_ROUTE, ColoCache, STOREFRONT_ROUTE, Storefront, WARM_PAGES, choiceRoute, slugAndPage, storefrontRoute } from './storefront.js';
import {
  ClientEvents, EventBuffer, EventForwarder, EventKeys, EventQueue, OriginEvents, QueueConsumer, eventsRoute,
} from './events.js';
import demoPage from './demo/index.html';
import demoScript from './demo/app.js';
import browserGlue from '../js-glue/browser.js';
import imageUrlGlue from '../js-glue/image-url.js';
import { ImageService, imageRouteOf } from './image.js';
import { LIVE_ROUTE, liveRoute } from './live.js';

export { LivePage } from './live.js';

// --- routes --------------------------------------------------------------------------------

const READ = 'GET, HEAD';
const DEMO_ROUTE = '/demo/';
const SCRIPT = 'text/javascript; charset=utf-8';

// A route: the methods it answers (null: the handler checks them), and one of path (exact),
// prefix or match(pathname). handler(edge, request, url, ctx) -> a Response or a Promise of one.
function on(methods, where, handler) {
  return { methods: methods?.split(', ') ?? null, allow: methods, ...where, handler };
}

// In order: the first that matches the path answers.
const ROUTES = [
  on(READ, { match: (pathname) => imageRouteOf(pathname) !== undefined }, imageRoute),
  on('GET', { prefix: CONFIG_ROUTE }, configRoute),
  on(READ, { prefix: STOREFRONT_ROUTE }, storefrontRoute),
  on('POST', { prefix: CHOICE_ROUTE }, choiceRoute),
  on(null, { prefix: LIVE_ROUTE }, liveRoute),
  on('POST', { path: '/v1/events' }, eventsRoute),
  on(READ, { path: '/v1/events/stats' }, (edge) => edge.stats()),
  on(READ, { path: '/demo/app.js' }, (edge, request) => asset(request, SCRIPT, demoScript)),
  on(READ, { path: '/js-glue/browser.js' }, (edge, request) => asset(request, SCRIPT, browserGlue)),
  on(READ, { path: '/js-glue/image-url.js' }, (edge, request) => asset(request, SCRIPT, imageUrlGlue)), // imported by browser.js
  on(READ, { prefix: DEMO_ROUTE }, demoRoute),
  on(READ, { path: '/healthz' }, () => json(200, { ok: true })),
  on('GET, POST', { path: '/v1/assign' }, assignRoute),
  on('GET', { path: '/v1/redirect' }, redirectRoute),
  on('POST', { path: '/v1/invalidate' }, invalidateRoute),
  on('POST', { path: '/v1/publish' }, publishRoute),
];

function routeOf(pathname) {
  for (const r of ROUTES) {
    if (r.path !== undefined ? pathname === r.path : r.prefix !== undefined ? pathname.startsWith(r.prefix) : r.match(pathname)) return r;
  }
  throw new HttpError(404, 'not_found', `no route for ${pathname}`);
}

function asset(request, type, text) {
  return new Response(request.method === 'HEAD' ? null : text, {
    headers: { 'Content-Type': type, 'Cache-Control': 'public, max-age=60' },
  });
}

function imageRoute(edge, request, url, ctx) {
  return edge.images().serve(request, url, ctx);
}

function demoRoute(edge, request, url) {
  slugAndPage(url.pathname, DEMO_ROUTE, edge.vendors.slugPattern);
  return asset(request, 'text/html; charset=utf-8', demoPage);
}

// --- the isolate's state -------------------------------------------------------------------

function positive(value, fallback) {
  const n = Number(value ?? 0);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

// A count setting: an integer 0 or more, else the fallback.
function count(value, fallback) {
  const n = Number(value ?? NaN);
  return Number.isSafeInteger(n) && n >= 0 ? n : fallback;
}

// What one isolate keeps for the life of it, made from the bindings on its first request: one
// engine, the vendor source, the layouts, the events path, the images.
class Edge {
  constructor(env) {
    this.env = env;
    this.enginePromise = null;
    // () => Promise<Engine>: a function of its own, handed to the vendor source and the storefront.
    this.engine = () => {
      this.enginePromise ??= createEngine({ module: coreModule }).catch((e) => {
        this.enginePromise = null;
        throw e;
      });
      return this.enginePromise;
    };
    this.vendors = vendorSource(env, this.engine);
    this.storefront = new Storefront({ colo: ColoCache.fromEnv(env), warmPages: count(env.STOREFRONT_WARM_PAGES, WARM_PAGES) });
    // A new version of a vendor (a publish, a pull, a nudge) warms its most visited pages.
    this.vendors.onNewVersion?.(async (slug) => this.storefront.warm(await this.engine(), slug, await this.vendors.layoutConfig(slug)));
    this.mediaSettings = new Map(); // slug -> {version, media}: the core's reading of the config's `media`
    this.imageService = null; // made on the first image request
    this.consumer = null; // QueueConsumer, made on the first queue() batch
    this.events = new EventBuffer({ capacityBytes: positive(env.EVENTS_BUFFER_BYTES, undefined) });
    this.eventKeys = new EventKeys(env.EVENTS_KEY); // shared with the origin
    this.clientEvents = new ClientEvents(this.events, { // what browsers may report, with their receipts
      perVisitorPerMinute: positive(env.EVENTS_PER_VISITOR_PER_MINUTE, undefined),
      perIpPerMinute: positive(env.EVENTS_PER_IP_PER_MINUTE, undefined),
    });
    // With a queue bound, accepted events go to it (events.js, EventQueue); without one (plain
    // workerd) they wait in the isolate's bounded buffer for the forwarder.
    this.eventQueue = env.ORIGIN_URL && env.EVENTS_QUEUE ? new EventQueue(env.EVENTS_QUEUE, this.eventKeys) : null;
    this.forwarder = env.ORIGIN_URL && !this.eventQueue
      ? new EventForwarder(this.events, this.eventKeys, {
        url: env.ORIGIN_URL,
        token: typeof env.EDGE_TOKEN === 'string' ? env.EDGE_TOKEN : '',
        // The origin is reached through its own network binding where there is one (gen-config).
        fetchImpl: env.ORIGIN_NET ? (input, init) => env.ORIGIN_NET.fetch(input, init) : undefined,
        batchSize: positive(env.EVENTS_BATCH, undefined),
        concurrency: positive(env.EVENTS_CONCURRENCY, undefined),
        intervalMs: positive(env.EVENTS_INTERVAL_MS, undefined),
      })
      : null;
  }

  images() {
    this.imageService ??= new ImageService({
      env: this.env,
      media: (slug, ctx) => this.media(slug, ctx),
      // Imported on the first image request: an edge without image.wasm still serves the rest.
      loadModule: () => import('../js-glue/image.wasm').then((m) => m.default),
      // avif.wasm, imported on the first AVIF job; left out of the bundle where the build defines
      // globalThis.WHALE_AVIF as false (wrangler.toml's production [define]: the 1 MiB goal).
      loadAvifModule: globalThis.WHALE_AVIF === false ? false : () => import('../js-glue/avif.wasm').then((m) => m.default),
    });
    return this.imageService;
  }

  // The vendor's media settings (docs/config.md) as the core reads them from the config held, read
  // once per config version.
  async media(slug, ctx) {
    this.vendors.checkSlug(slug);
    const config = await this.vendors.layoutConfig(slug, ctx);
    const held = this.mediaSettings.get(slug);
    if (held !== undefined && held.version === config.version) return held.media;
    const core = await this.engine();
    if (!core.resolveConfig(slug, config.version)) {
      try {
        core.loadConfig(config.text, config.version);
      } catch (e) {
        throw new HttpError(500, 'invalid_config', `config of "${slug}" v${config.version}: ${e.message}`);
      }
    }
    const media = core.configMedia(slug, config.version);
    this.mediaSettings.set(slug, { version: config.version, media });
    return media;
  }

  // Minted exposures: into the buffer (and the forwarder's next POST), or on the queue path sent
  // before the request is answered: then a Promise. The page or assignment is served whether or
  // not the queue took them; those it did not take are counted as dropped (the visitor's receipt
  // lists them already, so they are not minted again).
  recordMinted(list, ctx, now) {
    if (this.eventQueue === null) {
      this.events.addMinted(list);
      this.forwarder?.pump(ctx, now);
      return undefined;
    }
    const into = [];
    this.events.addMinted(list, into);
    return this.eventQueue.send(into).then((sent) => {
      if (!sent) this.events.unsent(into, { dropped: true });
    });
  }

  eventStats() {
    const path = this.eventQueue ? 'queue' : this.forwarder ? 'forwarder' : 'buffer';
    const stats = { ...this.events.stats(), keyed: this.eventKeys.configured, path };
    if (this.eventQueue) return { ...stats, queue: this.eventQueue.stats(), consumer: this.consumer?.stats() ?? null };
    if (!this.forwarder) return stats;
    return { ...stats, ...this.forwarder.stats(), forwarding: true };
  }

  // GET /v1/events/stats.
  stats() {
    return this.images().stats().then((imageStats) => json(200, {
      events: this.eventStats(), layouts: { ...this.storefront.cache.stats(), colo: this.storefront.colo.stats(), warm: { ...this.storefront.warmCounters }, choices: { ...this.storefront.choiceCounters } }, images: imageStats,
    }));
  }

  queueConsumer() {
    const env = this.env;
    this.consumer ??= new QueueConsumer(env.ORIGIN_URL ? new OriginEvents({
      url: env.ORIGIN_URL, token: typeof env.EDGE_TOKEN === 'string' ? env.EDGE_TOKEN : '', fetchImpl: originFetch(env),
    }) : null, {
      batchRows: positive(env.EVENTS_BATCH, undefined),
      retryBaseS: positive(env.EVENTS_RETRY_BASE_S, undefined),
      deadLetterQueue: typeof env.EVENTS_DEAD_LETTER_QUEUE === 'string' ? env.EVENTS_DEAD_LETTER_QUEUE : '',
    });
    return this.consumer;
  }
}

// --- entry points --------------------------------------------------------------------------

let isolate = null; // the isolate's Edge, made on its first request or batch

function edgeOf(env) {
  isolate ??= new Edge(env ?? {});
  return isolate;
}

// Engine error codes that mean the edge failed, not the request.
const SERVER_FAULTS = new Set(['internal', 'out_of_memory', 'abi_mismatch', 'invalid_handle']);

function errorResponse(e) {
  if (e instanceof HttpError) return json(e.status, { error: { code: e.code, message: e.message } }, e.headers);
  if (typeof e?.code === 'string') {
    const status = SERVER_FAULTS.has(e.code) ? 500 : 400;
    return json(status, { error: { code: e.code, message: e.message } });
  }
  return json(500, { error: { code: 'internal', message: 'internal error' } });
}

// A Response, or a Promise of one: the layout cache's hits are answered without an await.
function route(request, env, ctx) {
  const url = new URL(request.url);
  // A TLS-terminating proxy in front (wrangler dev's, a load balancer) says the visitor used
  // https; workerd's config does the same with forwardedProtoHeader (gen-config.mjs).
  if (url.protocol === 'http:' && request.headers.get('X-Forwarded-Proto') === 'https') url.protocol = 'https:';
  const edge = edgeOf(env);
  edge.forwarder?.pump(ctx); // starts deliveries that are due (a backoff that ran out)
  const r = routeOf(url.pathname);
  if (r.methods !== null && !r.methods.includes(request.method)) throw methodNotAllowed(r.allow);
  return r.handler(edge, request, url, ctx);
}

export default {
  fetch(request, env, ctx) {
    try {
      const answer = route(request, env, ctx);
      return answer instanceof Response ? answer : answer.catch(errorResponse);
    } catch (e) {
      return errorResponse(e);
    }
  },

  // EVENTS_QUEUE's consumer, and its dead-letter queue's (events.js, QueueConsumer).
  queue(batch, env) {
    return edgeOf(env).queueConsumer().consume(batch);
  },
};
