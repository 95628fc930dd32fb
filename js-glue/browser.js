// @whaletools/edge/browser: the storefront side of the edge. A plain ES module for browsers,
// no build step and no wasm: layouts are rendered at the edge.
//
//   fetchLayout(slug, page, {base, attributes})  GET /v1/storefront/<slug>/<page>
//   trackExposure / trackConversion              batched, sent to POST /v1/events with
//                                                navigator.sendBeacon (flushed on pagehide and
//                                                when the page is hidden)
//   startBehaviour()                             the behaviour summary (docs/behaviour.md),
//                                                kept in the whale_bx cookie the edge reads
//   imageUrl / srcset / imageLoader              URLs of the edge's /img/ route (image-url.js)
//   lazyImages(root, {rootMargin})               data-src/data-srcset swapped in 50px before
//                                                an image scrolls into view (docs/images.md)
//   connectLive({slug, page, render})            the page's live updates: a WebSocket to the
//                                                edge; sections swapped with a transition when
//                                                the vendor, a schedule or the visit's behaviour
//                                                changes them

export {
  CLOUDFLARE_IMAGE_PATH, IMAGE_PATH, createImageLoader, imageLoader, imageOptions, imageUrl, srcset,
} from './image-url.js';
import { IMAGE_PATH as IMAGE_ROUTE } from './image-url.js';

const STOREFRONT_PATH = '/v1/storefront/';
const EVENTS_PATH = '/v1/events';
// The edge takes at most 100 events per batch (edge-workers/events.js).
const MAX_EDGE_BATCH = 100;
const DEFAULT_BATCH = 20;
const DEFAULT_FLUSH_MS = 5000;

export class LayoutError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'LayoutError';
    this.status = status;
    this.code = code;
  }
}

function joinUrl(base, path) {
  return `${String(base ?? '').replace(/\/+$/, '')}${path}`;
}

// --- layouts -------------------------------------------------------------------------------

// The layout this visitor should see. Attributes go in the query (a string array repeats the
// parameter); the edge adds the visitor's cookies and its own request headers. Rejects with a
// LayoutError carrying the edge's {code, message} on an error answer.
export async function fetchLayout(slug, page, { base = '', attributes = {}, signal } = {}) {
  return fetchStorefront(base, slug, page, attributes, null, signal);
}

// GET /v1/storefront/<slug>/<page>[?attributes][&candidates=K] as JSON, or a LayoutError.
async function fetchStorefront(base, slug, page, attributes, candidates, signal) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(attributes)) {
    for (const v of Array.isArray(value) ? value : [value]) query.append(key, String(v));
  }
  if (candidates !== null) query.set('candidates', String(candidates));
  activeBehaviour?.writeCookie();
  const path = `${STOREFRONT_PATH}${encodeURIComponent(slug)}/${encodeURIComponent(page)}`;
  const url = joinUrl(base, query.size > 0 ? `${path}?${query}` : path);
  const res = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' }, signal });
  if (!res.ok) {
    let error = {};
    try {
      error = (await res.json()).error ?? {};
    } catch {
      // not JSON: keep the status
    }
    throw new LayoutError(res.status, error.code ?? 'http_error', error.message ?? `HTTP ${res.status} for ${url}`);
  }
  return res.json();
}

// --- events --------------------------------------------------------------------------------

function randomId() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// Events wait here until a batch is full, flushMs passes or the page goes away.
class EventQueue {
  constructor() {
    this.configure({});
    this.pending = [];
    this.timer = null;
    this.listening = false;
    this.sent = 0;
  }

  configure({ base = '', maxBatch = DEFAULT_BATCH, flushMs = DEFAULT_FLUSH_MS, id, receipt, onError } = {}) {
    // Called with the edge's answer ({status, accepted, rejected, duplicates, reasons}) when it
    // refused events or the POST failed (status 0: the network). Not for batches sent as the page
    // goes away: a beacon's answer cannot be read.
    this.onError = onError;
    this.endpoint = joinUrl(base, EVENTS_PATH);
    this.maxBatch = Math.max(1, Math.min(MAX_EDGE_BATCH, maxBatch));
    this.flushMs = flushMs;
    this.id = id; // the visitor id; without one the edge uses the whale_id cookie
    // The receipt /v1/assign answered; without one the edge reads its whale_rc cookie. Events count
    // only for what the receipt lists (docs/bandits.md).
    this.receipt = receipt;
  }

  listen() {
    if (this.listening || typeof addEventListener !== 'function') return;
    this.listening = true;
    addEventListener('pagehide', () => this.flush({ leaving: true }));
    addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') this.flush({ leaving: true });
    });
  }

  add(event) {
    this.listen();
    const id = event.id ?? this.id;
    this.pending.push({ ...event, ...(id === undefined ? {} : { id }), ts: Date.now(), eventId: randomId() });
    if (this.pending.length >= this.maxBatch) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.flushMs);
  }

  // Sends what is pending, in batches the edge accepts. While the page stays, each batch is a
  // fetch whose answer becomes lastResult (and reaches onError when events were refused); as the
  // page goes away (leaving), navigator.sendBeacon, else fetch with keepalive. Returns whether
  // every batch was handed to the browser.
  flush({ leaving = false } = {}) {
    clearTimeout(this.timer);
    this.timer = null;
    let queued = true;
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxBatch);
      const body = JSON.stringify(this.receipt ? { events: batch, receipt: this.receipt } : batch);
      // A string body is sent as text/plain, which needs no CORS preflight.
      const beacon = leaving && typeof navigator !== 'undefined' && typeof navigator.sendBeacon === 'function' &&
        navigator.sendBeacon(this.endpoint, body);
      if (!beacon) this.post(body, batch.length);
      queued &&= beacon || typeof fetch === 'function';
      this.sent += batch.length;
    }
    return queued;
  }

  post(body, count) {
    const sent = fetch(this.endpoint, { method: 'POST', body, keepalive: true, credentials: 'same-origin' })
      .then(async (res) => {
        let answer = {};
        try {
          answer = await res.json();
        } catch {
          // not the edge's JSON: the status says enough
        }
        return {
          status: res.status, accepted: answer.accepted ?? 0, rejected: answer.rejected ?? (res.ok ? 0 : count),
          duplicates: answer.duplicates ?? 0, reasons: answer.reasons ?? (res.ok ? {} : { [`http_${res.status}`]: count }),
        };
      }, () => ({ status: 0, accepted: 0, rejected: count, duplicates: 0, reasons: { network: count } }))
      .then((result) => {
        this.lastResult = result;
        if (result.rejected > 0 || result.status < 200 || result.status >= 300) this.onError?.(result);
        return result;
      });
    this.inFlight = sent;
    return sent;
  }
}

const queue = new EventQueue();

// Where events go and how they are batched: {base, maxBatch (<= 100), flushMs, id, receipt}.
export function configureEvents(options) { queue.configure(options); }

// The visitor saw variation `variation` of `experiment` (call once per layout's assignment).
export function trackExposure({ experiment, variation, id }) {
  queue.add({ type: 'exposure', experiment, variation, id });
}

// The visitor converted in `experiment`'s `variation`; `value` is optional (e.g. revenue).
export function trackConversion({ experiment, variation, id, value }) {
  queue.add({ type: 'conversion', experiment, variation, id, ...(value === undefined ? {} : { value }) });
}

export function flushEvents() { return queue.flush(); }

// The edge's answer to the last batch sent while the page stayed: {status, accepted, rejected,
// duplicates, reasons: {reason: count}}, or undefined before the first. A promise of the batch
// in flight: eventsSettled().
export function lastEventsResult() { return queue.lastResult; }
export function eventsSettled() { return queue.inFlight ?? Promise.resolve(undefined); }

// --- the behaviour summary -----------------------------------------------------------------

export const BEHAVIOUR_COOKIE = 'whale_bx';
const STATE_KEY = 'whale_bx_state';
const MAX_SIGNAL = 1000000; // the core's limit per count
const RAPID_WINDOW_MS = 1000; // rc: 3+ clicks within a second...
const RAPID_RADIUS_PX = 24; // ...on one spot
const RAPID_CLICKS = 3;
const BACK_OUT_MS = 10000; // bo: back to the previous page within 10 s of arriving
const PRICE_HOVER_MS = 500; // ph: a hover of at least 500 ms on a price
const COOKIE_DELAY_MS = 1000; // at most one cookie write a second while signals change

const clamp = (n, max = MAX_SIGNAL) => Math.max(0, Math.min(max, Math.floor(n)));

// The compact summary: "v1;rc=..;bo=..;sd=..;dw=..;ph=..;ca=.." (all six keys, in this order).
export function formatBehaviour({ rapidClicks = 0, backOuts = 0, scrollDepth = 0, dwellSeconds = 0, priceHovers = 0, cartAdds = 0 } = {}) {
  return `v1;rc=${clamp(rapidClicks)};bo=${clamp(backOuts)};sd=${clamp(scrollDepth, 100)};` +
    `dw=${clamp(dwellSeconds)};ph=${clamp(priceHovers)};ca=${clamp(cartAdds)}`;
}

function readState(storage) {
  try {
    const state = JSON.parse(storage?.getItem(STATE_KEY) ?? 'null');
    if (state && typeof state === 'object') return state;
  } catch {
    // unreadable: start again
  }
  return {};
}

function navigationType() {
  return performance.getEntriesByType?.('navigation')?.[0]?.type ?? 'navigate';
}

class Behaviour {
  constructor({ priceSelector, cartSelector, storage, cookiePath }) {
    this.priceSelector = priceSelector;
    this.cartSelector = cartSelector;
    this.storage = storage;
    this.cookiePath = cookiePath;
    const saved = readState(storage);
    this.counts = {
      rapidClicks: saved.rapidClicks ?? 0, backOuts: saved.backOuts ?? 0, priceHovers: saved.priceHovers ?? 0,
      cartAdds: saved.cartAdds ?? 0,
    };
    this.dwellMs = saved.dwellMs ?? 0; // visible time on earlier pages and periods of this one
    this.visibleSince = document.visibilityState === 'visible' ? Date.now() : null;
    this.scrollDepth = 0; // this page's deepest, percent
    this.clicks = []; // recent clicks {t, x, y} of the burst being watched
    this.burstCounted = false;
    this.hover = null; // {element, since}
    this.cookieTimer = null;
    this.arrive(saved.page, navigationType());
    this.listeners = [];
    this.on(document, 'click', (e) => this.onClick(e), true);
    this.on(document, 'mouseover', (e) => this.onMouseOver(e), true);
    this.on(document, 'mouseout', (e) => this.onMouseOut(e), true);
    this.on(window, 'scroll', () => this.onScroll(), { passive: true });
    this.on(window, 'pageshow', (e) => { if (e.persisted) this.arrive(readState(this.storage).page, 'back_forward'); });
    this.on(document, 'visibilitychange', () => this.onVisibility());
    this.on(window, 'pagehide', () => { this.pauseDwell(); this.save(); this.writeCookie(); });
    this.onScroll();
    this.save();
    this.writeCookie();
  }

  on(target, type, fn, options) {
    target.addEventListener(type, fn, options);
    this.listeners.push([target, type, fn, options]);
  }

  // A back-forward navigation that lands here within BACK_OUT_MS of arriving on the page we
  // left is a back-out.
  arrive(left, type) {
    const now = Date.now();
    if (type === 'back_forward' && left && left.url !== location.href && now - left.arrivedAt < BACK_OUT_MS) {
      this.counts.backOuts++;
    }
    this.page = { url: location.href, arrivedAt: now };
    this.scrollDepth = 0;
    this.save();
  }

  onClick(e) {
    const now = Date.now();
    const near = (c) => Math.hypot(c.x - e.clientX, c.y - e.clientY) <= RAPID_RADIUS_PX;
    this.clicks = this.clicks.filter((c) => now - c.t <= RAPID_WINDOW_MS && near(c));
    if (this.clicks.length === 0) this.burstCounted = false;
    this.clicks.push({ t: now, x: e.clientX, y: e.clientY });
    if (this.clicks.length >= RAPID_CLICKS && !this.burstCounted) {
      this.burstCounted = true;
      this.counts.rapidClicks++;
      this.changed();
    }
    if (this.cartSelector && e.target instanceof Element && e.target.closest(this.cartSelector)) this.cartAdd();
  }

  priceAt(target) {
    return this.priceSelector && target instanceof Element ? target.closest(this.priceSelector) : null;
  }

  onMouseOver(e) {
    const price = this.priceAt(e.target);
    if (price && this.hover?.element !== price) this.hover = { element: price, since: Date.now() };
  }

  onMouseOut(e) {
    if (!this.hover) return;
    // Still inside the same price element: not the end of the hover.
    if (e.relatedTarget instanceof Node && this.hover.element.contains(e.relatedTarget)) return;
    if (Date.now() - this.hover.since >= PRICE_HOVER_MS) {
      this.counts.priceHovers++;
      this.changed();
    }
    this.hover = null;
  }

  onScroll() {
    const height = document.documentElement.scrollHeight;
    const seen = height > 0 ? ((scrollY + innerHeight) / height) * 100 : 100;
    const depth = clamp(seen, 100);
    if (depth > this.scrollDepth) {
      this.scrollDepth = depth;
      this.changed();
    }
  }

  onVisibility() {
    if (document.visibilityState === 'visible') this.visibleSince ??= Date.now();
    else {
      this.pauseDwell();
      this.save();
      this.writeCookie();
    }
  }

  pauseDwell() {
    if (this.visibleSince !== null) this.dwellMs += Date.now() - this.visibleSince;
    this.visibleSince = null;
  }

  cartAdd() {
    this.counts.cartAdds++;
    this.changed();
  }

  signals() {
    const running = this.visibleSince === null ? 0 : Date.now() - this.visibleSince;
    return { ...this.counts, scrollDepth: this.scrollDepth, dwellSeconds: (this.dwellMs + running) / 1000 };
  }

  summary() { return formatBehaviour(this.signals()); }

  changed() {
    this.save();
    this.cookieTimer ??= setTimeout(() => {
      this.cookieTimer = null;
      this.writeCookie();
      for (const listener of behaviourListeners) listener();
    }, COOKIE_DELAY_MS);
  }

  save() {
    try {
      this.storage?.setItem(STATE_KEY, JSON.stringify({ ...this.counts, dwellMs: this.dwellMs, page: this.page }));
    } catch {
      // storage full or denied: the cookie still carries this page's summary
    }
  }

  // A session cookie; ';' and '=' cannot appear raw in a cookie value, so it is URI-encoded.
  writeCookie() {
    const secure = location.protocol === 'https:' ? '; Secure' : '';
    document.cookie = `${BEHAVIOUR_COOKIE}=${encodeURIComponent(this.summary())}; Path=${this.cookiePath}; SameSite=Lax${secure}`;
  }

  stop() {
    clearTimeout(this.cookieTimer);
    for (const [target, type, fn, options] of this.listeners) target.removeEventListener(type, fn, options);
    this.listeners = [];
    this.pauseDwell();
    this.save();
    if (activeBehaviour === this) activeBehaviour = null;
  }
}

let activeBehaviour = null;
// Called after a signal changed the summary (at most once a second): connectLive re-checks the
// layout, as the visit's behaviour states may have changed with it.
const behaviourListeners = new Set();

// Starts summarizing this visit (once per page; a second call returns the running one).
// Options: priceSelector ('[data-price]'), cartSelector ('[data-cart-add]': clicks count as cart
// adds; or call cartAdd()), storage (sessionStorage: the counts last the session), cookiePath.
export function startBehaviour({ priceSelector = '[data-price]', cartSelector = '[data-cart-add]', storage, cookiePath = '/' } = {}) {
  if (activeBehaviour) return activeBehaviour;
  let store = storage;
  if (store === undefined) {
    try {
      store = sessionStorage;
    } catch {
      store = null; // storage denied: counts last the page
    }
  }
  activeBehaviour = new Behaviour({ priceSelector, cartSelector, storage: store, cookiePath });
  return activeBehaviour;
}

// --- lazy images ---------------------------------------------------------------------------

const LAZY_SELECTOR = 'img[data-src], img[data-srcset]';
const LAZY_DONE = 'data-whale-lazy';

// Moves data-srcset, data-sizes and data-src (on the image and the <source>s of its <picture>)
// into the attributes the browser loads.
function reveal(img) {
  const picture = img.parentElement?.tagName === 'PICTURE' ? img.parentElement : null;
  const elements = picture ? [...picture.querySelectorAll('source'), img] : [img];
  for (const element of elements) {
    for (const name of ['sizes', 'srcset', 'src']) {
      const value = element.getAttribute(`data-${name}`);
      if (value === null) continue;
      element.setAttribute(name, value);
      element.removeAttribute(`data-${name}`);
    }
  }
  img.setAttribute(LAZY_DONE, 'loaded');
}

// Lazy loading for <img data-src data-srcset> under root (default: the document): every one gets
// loading="lazy" (native lazy loading where the browser has it), and its real sources are
// swapped in when it comes within rootMargin (default 50px) of the viewport, by an
// IntersectionObserver; without one they are swapped in at once. Calling it again picks up
// images added since (each image is handled once). Returns {observe(img), disconnect(), pending()}.
export function lazyImages(root = document, { rootMargin = '50px', selector = LAZY_SELECTOR } = {}) {
  const waiting = new Set();
  const observer = typeof IntersectionObserver === 'function'
    ? new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        observer.unobserve(entry.target);
        waiting.delete(entry.target);
        reveal(entry.target);
      }
    }, { rootMargin })
    : null;
  const observe = (img) => {
    if (img.hasAttribute(LAZY_DONE)) return;
    img.setAttribute(LAZY_DONE, 'waiting');
    if ('loading' in HTMLImageElement.prototype) img.loading = 'lazy';
    if (observer === null) {
      reveal(img);
      return;
    }
    waiting.add(img);
    observer.observe(img);
  };
  root.querySelectorAll(selector).forEach(observe);
  return {
    observe,
    disconnect() {
      observer?.disconnect();
      waiting.clear();
    },
    pending: () => waiting.size,
  };
}

// --- live updates --------------------------------------------------------------------------

const LIVE_PATH = '/v1/live/';
const LIVE_BACKOFF_MS = [1000, 2000, 5000, 10000, 30000]; // reconnect delays, then the last again
const LIVE_PING_MS = 30000; // keeps the socket through proxies; answered by the edge's runtime
const LIVE_VERSION_TRIES = 5; // re-fetches while the edge still holds an older version
const SCHEDULE_JITTER_MS = 2000; // spreads the page's browsers over the boundary's first seconds
const MAX_TIMER_S = 86400; // the core's largest maxAge
const FADE_MS = 160;

const sleepMs = (ms) => new Promise((r) => setTimeout(r, ms));

function liveSocketUrl(base, slug, page) {
  const http = new URL(joinUrl(base, `${LIVE_PATH}${encodeURIComponent(slug)}/${encodeURIComponent(page)}`), location.href);
  http.protocol = http.protocol === 'https:' ? 'wss:' : 'ws:';
  return http.href;
}

function sectionElement(root, id) {
  return root.querySelector(`[data-section="${CSS.escape(id)}"]`);
}

function reducedMotion() {
  return typeof matchMedia === 'function' && matchMedia('(prefers-reduced-motion: reduce)').matches;
}

// Applies DOM changes [{old, next}] (old null: inserted, handled by its own function; next null:
// removed) inside one transition: the View Transitions API where the browser has it (each section
// morphs from its old size and content to the new), else a short opacity fade with the old
// height held while the new content fades in. The new elements are built before the swap, so the
// page never shows an empty section.
async function transition(changes, update) {
  if (changes.length === 0) return;
  if (reducedMotion()) {
    update();
    return;
  }
  if (typeof document.startViewTransition === 'function') {
    const named = (el, i) => { if (el) el.style.viewTransitionName = `whale-live-${i}`; };
    changes.forEach(({ old }, i) => named(old, i));
    const done = document.startViewTransition(() => {
      update();
      changes.forEach(({ next }, i) => named(next, i));
    });
    await done.finished.catch(() => {});
    for (const { next } of changes) if (next) next.style.viewTransitionName = '';
    return;
  }
  const fade = (el, to) => el && el.animate?.([{ opacity: 1 - to }, { opacity: to }], { duration: FADE_MS, easing: 'ease-out' }).finished;
  await Promise.all(changes.map(({ old }) => fade(old, 0)).filter(Boolean)).catch(() => {});
  const heights = changes.map(({ old }) => old?.getBoundingClientRect().height ?? 0);
  update();
  changes.forEach(({ next }, i) => { if (next) next.style.minHeight = `${heights[i]}px`; });
  await Promise.all(changes.map(({ next }) => fade(next, 1)).filter(Boolean)).catch(() => {});
  for (const { next } of changes) if (next) next.style.minHeight = '';
}

class LiveConnection {
  constructor({ slug, page, base = '', attributes = {}, layout, render, root = document, onTransform, onUpdate, onStatus,
    behaviourMs = 5000 }) {
    Object.assign(this, { slug, page, base, attributes, render, root, onTransform, onUpdate, onStatus, behaviourMs });
    this.rendered = new Map(); // section id -> its JSON as last rendered
    this.pinned = new Set(); // sections showing content a transform sent: refreshes leave them
    this.layout = null;
    this.closed = false;
    this.wasOpen = false; // a later open is a reconnect
    this.attempt = 0; // failed opens since the last success: the backoff step
    this.refreshing = null; // the refresh running
    this.queued = null; // {reason, version} of one more refresh to run after it
    this.lastCheck = 0;
    if (layout) this.remember(layout);
    this.onBehaviour = () => this.behaviourChanged();
    behaviourListeners.add(this.onBehaviour);
    this.open();
  }

  status(state) {
    this.state = state;
    this.onStatus?.(state);
  }

  open() {
    if (this.closed) return;
    this.status('connecting');
    const ws = new WebSocket(liveSocketUrl(this.base, this.slug, this.page));
    this.ws = ws;
    ws.onopen = () => {
      const reconnected = this.wasOpen;
      this.attempt = 0;
      this.wasOpen = true;
      this.status('open');
      this.ping = setInterval(() => ws.send('ping'), LIVE_PING_MS);
      // Transforms sent while this page was not connected were missed: catch up once.
      if (reconnected) this.refresh('reconnect');
    };
    ws.onmessage = (e) => this.message(e.data);
    ws.onclose = () => {
      clearInterval(this.ping);
      if (this.ws !== ws || this.closed) return;
      this.status('closed');
      const delay = LIVE_BACKOFF_MS[Math.min(this.attempt, LIVE_BACKOFF_MS.length - 1)];
      this.attempt++;
      this.retry = setTimeout(() => this.open(), delay * (0.5 + Math.random() / 2));
    };
  }

  message(data) {
    let transform;
    try {
      transform = JSON.parse(data);
    } catch {
      return; // "pong", or not ours
    }
    if (transform?.type !== 'transform') return;
    this.onTransform?.(transform);
    if (transform.section && Array.isArray(transform.components)) {
      this.pinned.add(transform.section);
      const section = { id: transform.section, components: transform.components };
      this.swap([section], { only: true, layout: this.layout }, transform.reason);
    } else {
      // A transform without content hands the sections it names back to the layout.
      if (transform.section) this.pinned.delete(transform.section);
      else this.pinned.clear();
      this.refresh(transform.reason, transform.version);
    }
  }

  // Re-fetches the layout (until it is at least `version`, when given) and swaps the sections
  // that changed. Refreshes run one at a time; those asked for meanwhile become one more.
  refresh(reason = 'manual', version) {
    if (this.refreshing) {
      this.queued = { reason, version: Math.max(version ?? 0, this.queued?.version ?? 0) };
      return this.refreshing;
    }
    this.refreshing = this.fetchAndSwap(reason, version).catch((e) => this.onUpdate?.({ reason, error: e }))
      .finally(() => {
        this.refreshing = null;
        const next = this.queued;
        this.queued = null;
        if (next && !this.closed) this.refresh(next.reason, next.version || undefined);
      });
    return this.refreshing;
  }

  async fetchAndSwap(reason, version) {
    this.lastCheck = Date.now();
    let layout;
    for (let i = 0; ; i++) {
      layout = await fetchLayout(this.slug, this.page, { base: this.base, attributes: this.attributes });
      if (version === undefined || layout.version >= version || i + 1 >= LIVE_VERSION_TRIES) break;
      await sleepMs(250 * 2 ** i); // another edge isolate may not hold the new version yet
    }
    if (this.closed) return;
    const ids = new Set(layout.sections.map((s) => s.id));
    const gone = [...this.rendered.keys()].filter((id) => !ids.has(id) && !this.pinned.has(id));
    const sections = layout.sections.filter((s) => !this.pinned.has(s.id));
    await this.swap(sections, { gone, order: layout.sections.map((s) => s.id), layout }, reason);
    this.remember(layout);
  }

  // Swaps the sections whose content differs from what was rendered (every one given, with
  // `only`), removes `gone`, inserts new ones after their predecessor in `order`.
  async swap(sections, { only = false, gone = [], order = [], layout }, reason) {
    if (!this.render) return;
    const changes = [];
    for (const section of sections) {
      const text = JSON.stringify(section.components);
      if (!only && this.rendered.get(section.id) === text) continue;
      const old = sectionElement(this.root, section.id);
      changes.push({ id: section.id, old, next: this.render(section, layout), text });
    }
    for (const id of gone) changes.push({ id, old: sectionElement(this.root, id), next: null });
    const usable = changes.filter((c) => c.old || c.next);
    await transition(usable, () => {
      for (const { id, old, next } of usable) {
        if (old && next) old.replaceWith(next);
        else if (old) old.remove();
        else this.insert(id, next, order);
      }
    });
    for (const { id, text } of changes) {
      if (text === undefined) this.rendered.delete(id);
      else this.rendered.set(id, text);
    }
    if (changes.length > 0) this.onUpdate?.({ reason, sections: changes.map((c) => c.id) });
  }

  insert(id, element, order) {
    const before = order.slice(0, order.indexOf(id)).reverse().map((p) => sectionElement(this.root, p)).find(Boolean);
    if (before) before.after(element);
    else {
      const first = order.map((p) => sectionElement(this.root, p)).find(Boolean);
      first?.before(element);
    }
  }

  // The layout now on the page: its sections' content, and a refresh at its next schedule
  // boundary (maxAge: seconds until a schedule on the page may change it).
  remember(layout) {
    this.layout = layout;
    for (const s of layout.sections ?? []) if (!this.pinned.has(s.id)) this.rendered.set(s.id, JSON.stringify(s.components));
    clearTimeout(this.scheduleTimer);
    const maxAge = Number(layout.maxAge);
    if (Number.isFinite(maxAge) && maxAge > 0 && maxAge <= MAX_TIMER_S) {
      this.scheduleTimer = setTimeout(() => this.refresh('schedule'), maxAge * 1000 + Math.random() * SCHEDULE_JITTER_MS);
    }
  }

  // A behaviour signal changed the summary: re-check the layout at most every behaviourMs (a
  // conditional GET; the edge answers from its cache when the states are the same).
  behaviourChanged() {
    if (this.closed || this.behaviourTimer) return;
    const wait = Math.max(0, this.lastCheck + this.behaviourMs - Date.now());
    this.behaviourTimer = setTimeout(() => {
      this.behaviourTimer = null;
      this.refresh('behaviour');
    }, wait);
  }

  close() {
    this.closed = true;
    behaviourListeners.delete(this.onBehaviour);
    for (const timer of [this.retry, this.scheduleTimer, this.behaviourTimer]) clearTimeout(timer);
    clearInterval(this.ping);
    this.ws?.close(1000, 'closed by the page');
    this.status('closed');
  }
}

// Live updates for the page on screen. Opens a WebSocket to the edge (GET /v1/live/<slug>/<page>),
// reconnecting with backoff (1 s up to 30 s, jittered) and catching up with one refresh after a
// reconnect. A transform the vendor's origin posts names a section and why; the glue re-fetches
// the layout (until it is at least the transform's version) or takes the components sent (the
// section then keeps them, through later refreshes, until a transform without components names
// it or the whole page), and swaps each section whose content changed: the element
// `[data-section="<id>"]` under root is
// replaced by render(section, layout), inside a view transition (else an opacity fade; no
// animation with prefers-reduced-motion). Without render, only onTransform is called.
// Also refreshes at the layout's next schedule boundary (its maxAge) and, with startBehaviour,
// when a behaviour signal changed (at most every behaviourMs).
// Options: slug, page, base, attributes (as fetchLayout), layout (the one rendered: its sections
// are not swapped again), render, root, onTransform(transform), onUpdate({reason, sections} or
// {reason, error}), onStatus('connecting' | 'open' | 'closed'), behaviourMs (5000).
// Returns {refresh(reason?), close(), state, layout}.
export function connectLive(options) {
  const live = new LiveConnection(options);
  return {
    refresh: (reason) => live.refresh(reason),
    close: () => live.close(),
    get state() { return live.state; },
    get layout() { return live.layout; },
  };
}

// --- the reference storefront ------------------------------------------------------------------

// renderStorefront(layout, options) -> {nodes, renderSection}: the layout's sections as shop
// sections (header, navigation, hero with a srcset from the edge's image route, product tiles
// with price, urgency and "sold out by", category tiles, promo strips, the age gate, the cart
// button wired to trackConversion, ...). Every text goes in through textContent and every link
// through safeHref: nothing of a config reaches the page as HTML; `rich-text`'s markdown is read
// by a small reader of its own (paragraphs, headings, lists, **bold**, *italic*, links).
// options: {document, imageWidths (the vendor's media.widths; default [320, 640, 960, 1280]),
// theme ({primary, accent, background, text, muted, font, radius}: CSS variables on the root;
// default the layout's, from the config's `theme`),
// onAddToCart(product, component)}. STOREFRONT_CSS is its stylesheet.
export const STOREFRONT_CSS = `
.wt-shop{--wt-primary:#1f3d2b;--wt-accent:#e0a526;--wt-bg:#faf8f3;--wt-surface:#fff;--wt-text:#1d1d1b;--wt-muted:#6b6b63;
  --wt-radius:10px;--wt-font:system-ui,-apple-system,"Segoe UI",sans-serif;font:15px/1.45 var(--wt-font);color:var(--wt-text);background:var(--wt-bg)}
.wt-shop *{box-sizing:border-box}.wt-shop a{color:inherit}
.wt-section{max-width:1200px;margin:0 auto;padding:0 16px}
.wt-announce{background:var(--wt-primary);color:#fff;text-align:center;padding:8px 12px;font-size:13px}
.wt-announce.wt-tone-urgent{background:#a4262c}.wt-announce a{color:#fff}
.wt-header{display:flex;align-items:center;gap:16px;padding:14px 0}.wt-header.wt-sticky{position:sticky;top:0;z-index:5;background:var(--wt-bg)}
.wt-logo{font-weight:800;font-size:20px;letter-spacing:.02em;color:var(--wt-primary);text-decoration:none;white-space:nowrap}
.wt-search{flex:1;max-width:420px;padding:9px 12px;border:1px solid #d8d6cc;border-radius:999px;background:var(--wt-surface);font:inherit}
.wt-cart-count{margin-left:auto;padding:8px 14px;border-radius:999px;background:var(--wt-primary);color:#fff;font-weight:600;border:0;font:inherit}
.wt-nav{display:flex;gap:6px;overflow-x:auto;padding:4px 0 12px;scrollbar-width:none}
.wt-nav a{padding:7px 14px;border-radius:999px;background:var(--wt-surface);text-decoration:none;white-space:nowrap;box-shadow:0 1px 2px #0001}
.wt-hero{position:relative;border-radius:var(--wt-radius);overflow:hidden;min-height:280px;display:grid;align-items:end;margin:8px 0 16px;
  background:linear-gradient(135deg,var(--wt-primary),#4d7c5d)}
.wt-hero img,.wt-hero video{position:absolute;inset:0;width:100%;height:100%;object-fit:cover}
.wt-hero-copy{position:relative;padding:28px;color:#fff;background:linear-gradient(transparent,#0009);text-align:var(--wt-align,left)}
.wt-hero h1{margin:0 0 6px;font-size:clamp(26px,5vw,44px);line-height:1.1}.wt-hero p{margin:0 0 14px;font-size:17px}
.wt-button{display:inline-block;padding:11px 20px;border-radius:999px;background:var(--wt-accent);color:#1d1d1b;font-weight:700;text-decoration:none;border:0;font:inherit;cursor:pointer}
.wt-promo{display:flex;justify-content:center;gap:10px;flex-wrap:wrap;align-items:center;padding:10px;border-radius:var(--wt-radius);
  background:#fff3d6;margin:8px 0;font-weight:600}.wt-promo code{background:#fff;padding:2px 8px;border-radius:6px;border:1px dashed var(--wt-accent)}
.wt-h2{font-size:20px;margin:22px 0 10px}
.wt-tiles{display:grid;grid-template-columns:repeat(var(--wt-cols,4),minmax(0,1fr));gap:10px;margin:8px 0}
.wt-tile{display:grid;place-items:center;aspect-ratio:4/3;border-radius:var(--wt-radius);background:var(--wt-surface);text-decoration:none;font-weight:700;
  text-transform:capitalize;box-shadow:0 1px 3px #0002;background-image:linear-gradient(160deg,#fff,#ece8dc)}
.wt-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:12px}
.wt-row{display:grid;grid-auto-flow:column;grid-auto-columns:minmax(170px,1fr);gap:12px;overflow-x:auto;padding-bottom:6px}
.wt-card{display:flex;flex-direction:column;background:var(--wt-surface);border-radius:var(--wt-radius);overflow:hidden;box-shadow:0 1px 3px #0002}
.wt-card .wt-img{aspect-ratio:1;background:linear-gradient(160deg,#e9efe6,#cfdccb);position:relative}
.wt-card img{width:100%;height:100%;object-fit:cover;display:block}
.wt-card-body{padding:10px 12px 12px;display:flex;flex-direction:column;gap:4px;flex:1}
.wt-card-name{font-weight:600;text-decoration:none}.wt-price{font-weight:700;color:var(--wt-primary);font-variant-numeric:tabular-nums}
.wt-badge{position:absolute;top:8px;left:8px;padding:3px 8px;border-radius:999px;font-size:12px;font-weight:700;background:#fff}
.wt-badge.wt-high{background:#a4262c;color:#fff}.wt-badge.wt-medium{background:var(--wt-accent)}
.wt-sellout{font-size:12px;color:var(--wt-muted)}.wt-card .wt-button{margin-top:auto;padding:8px 12px;font-size:14px;text-align:center}
.wt-rich{max-width:760px;margin:10px auto}.wt-rich.wt-wide{max-width:none}
.wt-panel{background:var(--wt-surface);border-radius:var(--wt-radius);padding:16px;margin:10px 0;box-shadow:0 1px 3px #0002}
.wt-badges{display:flex;flex-wrap:wrap;gap:10px;justify-content:center;margin:10px 0}.wt-badges span{padding:8px 14px;border-radius:999px;background:var(--wt-surface);box-shadow:0 1px 2px #0001;font-weight:600}
.wt-newsletter{display:flex;flex-wrap:wrap;gap:8px;align-items:center}.wt-newsletter input{flex:1;min-width:200px;padding:10px 12px;border:1px solid #d8d6cc;border-radius:999px;font:inherit}
.wt-footer{margin-top:24px;padding:24px 16px;background:var(--wt-primary);color:#e8efe9;max-width:none}
.wt-footer nav{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:6px;max-width:1200px;margin:0 auto}
.wt-footer small{display:block;max-width:1200px;margin:12px auto 0;opacity:.8}
.wt-gate{position:fixed;inset:0;z-index:20;display:grid;place-items:center;background:#1d1d1bcc}
.wt-gate .wt-panel{max-width:360px;text-align:center}.wt-gate[hidden]{display:none}
.wt-spacer{height:var(--wt-space,16px)}.wt-shop img.wt-broken{visibility:hidden}
@media (max-width:600px){.wt-tiles{--wt-cols:2!important}.wt-search{display:none}.wt-hero{min-height:220px}}
.wt-stack{display:grid;max-width:1200px;margin:0 auto}.wt-stack>*{grid-area:1/1;min-width:0;width:100%;margin:0;box-sizing:border-box}.wt-stack>[data-candidate-hidden]{visibility:hidden;pointer-events:none}
`;

const DEFAULT_IMAGE_WIDTHS = [320, 640, 960, 1280];
// The tags a generated component's template may use (whale::tmpl::tags).
const TEMPLATE_TAGS = new Set(['div', 'section', 'h2', 'h3', 'p', 'span', 'strong', 'em', 'small', 'a', 'img', 'ul', 'ol', 'li', 'button']);

// A link target a config may set: http(s) URLs and paths on this site; anything else (javascript:,
// data:, ...) becomes '#'.
export function safeHref(href) {
  const text = String(href ?? '').trim();
  if (/^\/(?!\/)/.test(text) || /^#[\w-]*$/.test(text)) return text;
  try {
    const url = new URL(text);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : '#';
  } catch {
    return '#';
  }
}

// Markdown of a config, as DOM nodes: blank-line paragraphs, '#'..'###' headings, '- ' lists,
// **bold**, *italic* and [text](href) inline. Everything else is text: no HTML passes.
export function markdownNodes(markdown, doc = document) {
  const inline = (text) => {
    const out = [];
    const pattern = /\*\*([^*]+)\*\*|\*([^*]+)\*|\[([^\]]+)\]\(([^)\s]+)\)/g;
    let at = 0;
    for (const m of String(text).matchAll(pattern)) {
      if (m.index > at) out.push(doc.createTextNode(text.slice(at, m.index)));
      let node;
      if (m[1] !== undefined) (node = doc.createElement('strong')).textContent = m[1];
      else if (m[2] !== undefined) (node = doc.createElement('em')).textContent = m[2];
      else {
        node = doc.createElement('a');
        node.textContent = m[3];
        node.setAttribute('href', safeHref(m[4]));
      }
      out.push(node);
      at = m.index + m[0].length;
    }
    if (at < text.length) out.push(doc.createTextNode(text.slice(at)));
    return out;
  };
  const nodes = [];
  for (const block of String(markdown ?? '').split(/\n\s*\n/)) {
    const lines = block.split('\n').map((l) => l.trim()).filter(Boolean);
    if (lines.length === 0) continue;
    if (lines.every((l) => /^[-*] /.test(l))) {
      const ul = doc.createElement('ul');
      for (const l of lines) {
        const li = doc.createElement('li');
        li.append(...inline(l.slice(2)));
        ul.append(li);
      }
      nodes.push(ul);
      continue;
    }
    const heading = /^(#{1,3}) (.*)$/.exec(lines[0]);
    const node = doc.createElement(heading ? `h${heading[1].length + 2}` : 'p');
    node.append(...inline(heading ? [heading[2], ...lines.slice(1)].join(' ') : lines.join(' ')));
    nodes.push(node);
  }
  return nodes;
}

export function renderStorefront(layout, {
  document: doc = globalThis.document, imageWidths = DEFAULT_IMAGE_WIDTHS, theme = layout.theme, onAddToCart,
} = {}) {
  const el = (tag, attrs = {}, children = []) => {
    const node = doc.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'text') node.textContent = String(value);
      else if (name === 'href') node.setAttribute('href', safeHref(value));
      else if (name === 'style') for (const [k, v] of Object.entries(value)) node.style.setProperty(k, v);
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
    return node;
  };
  const widths = [...imageWidths].sort((a, b) => a - b);
  // An image through the edge's image route (WebP or AVIF where the browser takes it).
  const picture = (src, { sizes = '100vw', eager = false, alt = '' } = {}) => {
    if (typeof src !== 'string' || src === '' || safeHref(src) === '#') return null;
    const url = (w) => `${IMAGE_ROUTE}width=${w},format=auto/${src}`;
    const img = el('img', {
      src: url(widths[Math.min(1, widths.length - 1)]), srcset: widths.map((w) => `${url(w)} ${w}w`).join(', '), sizes, alt,
      loading: eager ? 'eager' : 'lazy', fetchpriority: eager ? 'high' : undefined, decoding: 'async',
    });
    img.addEventListener('error', () => img.classList.add('wt-broken')); // the placeholder behind it shows
    return img;
  };
  const money = (n) => (typeof n === 'number' && Number.isFinite(n) ? `$${n.toFixed(2)}` : '');
  const title = (text) => (text ? el('h2', { class: 'wt-h2', text }) : null);
  const product = (p, component) => {
    const urgency = p.urgency === 'high' || p.urgency === 'medium' ? p.urgency : null;
    const add = el('button', { type: 'button', class: 'wt-button', 'data-cart-add': '', 'data-sku': p.sku, text: 'Add to cart' });
    add.addEventListener('click', () => onAddToCart?.(p, component));
    return el('article', { class: 'wt-card', 'data-sku': p.sku }, [
      el('div', { class: 'wt-img' }, [picture(p.image, { sizes: '(max-width: 600px) 50vw, 240px', alt: p.name ?? '' }),
        urgency ? el('span', { class: `wt-badge wt-${urgency}`, text: urgency === 'high' ? 'Almost gone' : 'Selling fast' }) : null]),
      el('div', { class: 'wt-card-body' }, [
        el('a', { class: 'wt-card-name', href: p.url ?? '#', text: p.name ?? p.sku }),
        el('span', { class: 'wt-price', 'data-price': '', text: money(p.price) }),
        p.sellsOutBy && urgency ? el('span', { class: 'wt-sellout', text: `Sold out by ${p.sellsOutBy}` }) : null,
        add,
      ]),
    ]);
  };
  const products = (props, component, row) => {
    const list = Array.isArray(props.products) ? props.products : [];
    if (list.length === 0) return null; // nothing to show: no empty grid
    return el('div', {}, [title(props.title), el('div', { class: row ? 'wt-row' : 'wt-grid' }, list.map((p) => product(p, component)))]);
  };
  const panel = (children) => el('div', { class: 'wt-panel' }, children);
  const renderers = {
    'announcement-bar': (p) => el('div', { class: `wt-announce wt-tone-${p.tone ?? 'info'}` },
      [p.href ? el('a', { href: p.href, text: p.text }) : el('span', { text: p.text })]),
    header: (p) => el('header', { class: `wt-header${p.sticky ? ' wt-sticky' : ''}` }, [
      el('a', { class: 'wt-logo', href: '/', text: layout.vendor ?? 'Shop' }),
      p.showSearch ? el('input', { class: 'wt-search', type: 'search', placeholder: 'Search products', 'aria-label': 'Search' }) : null,
      el('button', { class: 'wt-cart-count', type: 'button', 'data-cart-count': '', text: 'Cart (0)' }),
    ]),
    navigation: (p) => el('nav', { class: 'wt-nav' }, (Array.isArray(p.items) ? p.items : []).map((i) => el('a', { href: i.href, text: i.label }))),
    'age-gate': (p, c) => {
      const gate = el('div', { class: 'wt-gate', role: 'dialog', 'aria-modal': 'true', 'data-age-gate': '' });
      const ok = el('button', { type: 'button', class: 'wt-button', text: `I am ${p.minAge ?? 21} or older` });
      ok.addEventListener('click', () => { gate.hidden = true; });
      gate.append(panel([el('h2', { text: 'Are you of age?' }), el('p', { text: `You must be ${p.minAge ?? 21}+ to enter.` }), ok]));
      gate.hidden = c.props.mode === 'soft';
      return gate;
    },
    'hero-banner': (p) => el('div', { class: 'wt-hero', style: { '--wt-align': p.align === 'center' ? 'center' : 'left' } }, [
      picture(p.image, { eager: true, alt: '' }),
      el('div', { class: 'wt-hero-copy' }, [el('h1', { text: p.title }), p.subtitle ? el('p', { text: p.subtitle }) : null,
        p.ctaLabel ? el('a', { class: 'wt-button', href: p.ctaHref ?? '#', text: p.ctaLabel }) : null]),
    ]),
    'hero-video': (p) => el('div', { class: 'wt-hero' }, [el('div', { class: 'wt-hero-copy' }, [el('h1', { text: p.title ?? '' })])]),
    'promo-strip': (p) => el('div', { class: 'wt-promo' }, [el('span', { text: p.text }), p.code ? el('code', { text: p.code }) : null,
      p.href ? el('a', { href: p.href, text: 'Shop the deal' }) : null]),
    countdown: (p) => el('div', { class: 'wt-promo' }, [el('span', { text: p.label ?? p.title ?? 'Ends soon' }),
      p.endsAt ? el('time', { datetime: p.endsAt, text: String(p.endsAt).replace('T', ' ').slice(0, 16) }) : null]),
    'category-tiles': (p) => el('div', { class: 'wt-tiles', style: { '--wt-cols': String(Math.min(6, Math.max(1, p.columns ?? 4))) } },
      (Array.isArray(p.categories) ? p.categories : []).map((c) => el('a', { class: 'wt-tile', href: `/shop/${encodeURIComponent(c)}`, text: String(c).replace(/-/g, ' ') }))),
    spacer: (p) => el('div', { class: 'wt-spacer', style: { '--wt-space': `${p.size === 'lg' ? 32 : p.size === 'sm' ? 8 : 16}px` } }),
    'product-grid': (p, c) => products(p, c, false),
    'product-carousel': (p, c) => products(p, c, true),
    recommendations: (p, c) => products(p, c, true),
    'recently-viewed': (p, c) => products(p, c, true),
    'bundle-upsell': (p, c) => products({ ...p, title: p.title ?? `Bundle and save ${p.discountPct ?? ''}%` }, c, true),
    'loyalty-prompt': (p) => panel([el('strong', { text: p.headline ?? 'Join our rewards' }), p.text ? el('p', { text: p.text }) : null]),
    'cart-drawer': () => null, // opens from the header's cart button
    'delivery-eta': (p) => el('div', { class: 'wt-promo', text: p.text ?? `Delivery in ${p.minutes ?? 60} minutes` }),
    reviews: (p) => panel([el('strong', { text: `Rated ${p.minRating ?? 4}+ by our customers` })]),
    'trust-badges': (p) => el('div', { class: 'wt-badges' }, (Array.isArray(p.badges) ? p.badges : []).map((b) => el('span', { text: String(b).replace(/-/g, ' ') }))),
    'rich-text': (p) => el('div', { class: `wt-rich${p.width === 'wide' ? ' wt-wide' : ''}` }, markdownNodes(p.markdown, doc)),
    newsletter: (p) => {
      const form = el('form', { class: 'wt-newsletter' }, [el('input', { type: 'email', placeholder: 'you@example.com', 'aria-label': 'Email' }),
        el('button', { type: 'submit', class: 'wt-button', text: 'Subscribe' })]);
      form.addEventListener('submit', (e) => e.preventDefault());
      return panel([el('h2', { class: 'wt-h2', text: p.headline ?? 'Stay in the loop' }), p.incentive ? el('p', { text: p.incentive }) : null, form]);
    },
    'help-banner': (p) => panel([el('strong', { text: p.title ?? p.text ?? 'Need help?' }), p.href ? el('a', { href: p.href, text: ' Contact us' }) : null]),
    'live-chat': () => null,
    footer: (p) => el('footer', { class: 'wt-footer' }, [
      el('nav', {}, (Array.isArray(p.links) ? p.links : []).map((l) => el('a', { href: l.href ?? '#', text: l.label ?? String(l) }))),
      p.showLicense && p.licenseNo ? el('small', { text: `License ${p.licenseNo}` }) : null]),
    'pdp-gallery': (p) => el('div', { class: 'wt-hero' }, [picture(Array.isArray(p.images) ? p.images[0] : p.image, { eager: true })]),
    'pdp-details': (p) => panel([el('h1', { text: p.name ?? p.title ?? '' }), el('span', { class: 'wt-price', 'data-price': '', text: money(p.price) })]),
  };
  // A generated component's template (docs/components.md): checked by the core when the config
  // loaded, and built here from data only: a fixed list of tags, the storefront's classes, text as
  // textContent, links through safeHref, images through the image route.
  const fromTemplate = (node, props, item, depth = 0) => {
    if (!node || typeof node !== 'object' || depth > 8 || !TEMPLATE_TAGS.has(node.tag)) return [];
    const lookup = (name) => (name === 'item' ? item : name.startsWith('item.') ? item?.[name.slice(5)] : props[name]);
    const fill = (text) => String(text ?? '').replace(/\{\{([^}]*)\}\}/g, (_, name) => {
      const v = lookup(name);
      return v === undefined || v === null || typeof v === 'object' ? '' : String(v);
    });
    if (node.each !== undefined) {
      const list = lookup(node.each);
      return (Array.isArray(list) ? list.slice(0, 50) : []).flatMap((it) => fromTemplate({ ...node, each: undefined }, props, it, depth));
    }
    if (node.if !== undefined && !lookup(node.if)) return [];
    const classes = typeof node.class === 'string' ? node.class.split(' ').filter((c) => /^wt-[a-z-]+$/.test(c)).join(' ') : undefined;
    if (node.tag === 'img') return [picture(fill(node.src), { alt: fill(node.alt), sizes: '(max-width: 600px) 50vw, 320px' })].filter(Boolean);
    const children = Array.isArray(node.children) ? node.children.flatMap((child) => fromTemplate(child, props, item, depth + 1)) : [];
    return [el(node.tag, {
      class: classes || undefined, text: node.text !== undefined ? fill(node.text) : undefined,
      href: node.tag === 'a' && node.href !== undefined ? fill(node.href) : undefined,
      type: node.tag === 'button' ? 'button' : undefined,
    }, children)];
  };
  const component = (c) => {
    const generated = layout.templates?.[c.key]?.template;
    let render = renderers[c.key];
    if (generated) {
      render = (props) => {
        const nodes = fromTemplate(generated, props);
        return nodes.length === 1 ? nodes[0] : el('div', {}, nodes);
      };
    }
    const node = render ? render(c.props ?? {}, c) : panel([el('strong', { text: c.props?.title ?? c.key })]);
    if (node && generated) node.dataset.generated = String(layout.templates[c.key].version);
    if (node) {
      node.dataset.component = c.id;
      node.dataset.key = c.key;
    }
    return node;
  };
  const renderSection = (section) => el('section', { class: `wt-section wt-section-${section.id}`, 'data-section': section.id },
    section.components.map(component).filter(Boolean));
  const shop = el('div', { class: 'wt-shop' }, layout.sections.map(renderSection));
  const vars = { primary: '--wt-primary', accent: '--wt-accent', background: '--wt-bg', text: '--wt-text', muted: '--wt-muted', font: '--wt-font' };
  for (const [name, variable] of Object.entries(vars)) {
    if (typeof theme?.[name] === 'string' && /^[#\w\s,"'().%-]{1,120}$/.test(theme[name])) shop.style.setProperty(variable, theme[name]);
  }
  if (Number.isFinite(theme?.radius)) shop.style.setProperty('--wt-radius', `${Math.min(32, Math.max(0, theme.radius))}px`);
  return { node: shop, renderSection };
}

// --- multi-variant pages (docs/layout.md#candidates) ------------------------------------------

// GET /v1/storefront/<slug>/<page>?candidates=<count>: {watchMs, choice, candidates: [{name,
// states, layout}]}. Rejects with a LayoutError like fetchLayout.
export async function fetchCandidates(slug, page, { base = '', attributes = {}, count = 3, signal } = {}) {
  const answer = await fetchStorefront(base, slug, page, attributes, count, signal);
  answer.base = base;
  return answer;
}

// Shows the first of a candidates answer and keeps one after watching the visit. Every
// candidate is rendered up front (render(layout) -> a node whose children carry data-section);
// a section the candidates disagree on holds all their versions in one grid cell, the others
// hidden, so the cell is as tall as the tallest and switching changes no position on the page
// (no layout shift). After watchMs (the answer's, unless given) the glue POSTs the visit's
// behaviour summary to the answer's `choice` URL, the edge chooses with the core's classifier
// and records the kept candidate's exposures; the page then shows it. Leaving before that keeps
// the first (sent with sendBeacon). Returns {node, chosen: Promise<{chosen, name, visit}>,
// current(): the layout shown, assignments(): its assignments, the kept candidate's forced
// experiments counted in once recorded, show(i)}.
export function mountCandidates(answer, {
  render = (layout) => renderStorefront(layout).node, watchMs = answer.watchMs,
  behaviour = () => activeBehaviour?.summary(), onChoice, document: doc = globalThis.document,
} = {}) {
  const candidates = Array.isArray(answer?.candidates) ? answer.candidates : [];
  if (candidates.length === 0) throw new LayoutError(0, 'wrong_type', 'candidates: expected at least one');
  const rendered = candidates.map((c) => render(c.layout));
  const root = rendered[0];
  const sectionsOf = (node) => new Map([...node.children].filter((n) => n.dataset?.section).map((n) => [n.dataset.section, n]));
  const stacks = [];
  const byCandidate = rendered.map(sectionsOf);
  for (const section of candidates[0].layout.sections) {
    const versions = candidates.map((c) => JSON.stringify(c.layout.sections.find((s) => s.id === section.id) ?? null));
    if (versions.every((v) => v === versions[0])) continue;
    const first = byCandidate[0].get(section.id);
    if (first === undefined) continue;
    const stack = doc.createElement('div');
    stack.className = 'wt-stack';
    stack.dataset.stack = section.id;
    first.replaceWith(stack);
    const nodes = byCandidate.map((m) => m.get(section.id) ?? doc.createElement('section'));
    nodes.forEach((node, i) => {
      node.dataset.candidate = String(i);
      if (i > 0) hideCandidate(node);
      stack.append(node);
    });
    stacks.push(nodes);
  }
  let shown = 0;
  let kept = null;
  const show = (i) => {
    if (!(i >= 0 && i < candidates.length) || i === shown) return;
    for (const nodes of stacks) {
      hideCandidate(nodes[shown]);
      showCandidate(nodes[i]);
    }
    shown = i;
    root.dataset.candidate = candidates[i].name;
  };
  root.dataset.candidate = candidates[0].name;
  const count = candidates.length;
  const post = (body, leaving) => {
    const url = joinUrl(answer.base ?? '', answer.choice);
    const text = JSON.stringify(body);
    if (leaving && typeof navigator !== 'undefined' && typeof navigator.sendBeacon === 'function') {
      // text/plain: a beacon to another origin cannot be preflighted (the edge reads JSON either way).
      navigator.sendBeacon(url, new Blob([text], { type: 'text/plain;charset=UTF-8' }));
      return Promise.resolve(null);
    }
    return fetch(url, { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: text, keepalive: leaving })
      .then(async (res) => {
        const reply = await res.json().catch(() => ({}));
        if (!res.ok) throw new LayoutError(res.status, reply.error?.code ?? 'http_error', reply.error?.message ?? `HTTP ${res.status}`);
        return reply;
      });
  };
  let timer = null;
  let settled = false;
  const onLeave = () => {
    if (settled || typeof answer.choice !== 'string') return;
    settled = true;
    clearTimeout(timer);
    post({ count, kept: shown }, true);
  };
  const chosen = new Promise((resolve, reject) => {
    if (typeof answer.choice !== 'string' || !(answer.watchMs > 0)) {
      settled = true;
      resolve({ chosen: 0, name: candidates[0].name, visit: [] });
      return;
    }
    globalThis.addEventListener?.('pagehide', onLeave, { once: true });
    timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      globalThis.removeEventListener?.('pagehide', onLeave);
      const summary = behaviour();
      post(summary ? { count, behaviour: summary } : { count }, false).then((choice) => {
        kept = choice.chosen;
        show(choice.chosen);
        onChoice?.(choice);
        resolve(choice);
      }, reject);
    }, Math.max(0, watchMs ?? 0));
  });
  return {
    node: root,
    chosen,
    show,
    current: () => candidates[shown].layout,
    assignments: () => {
      const recorded = kept === shown ? candidates[kept].forcedVariations ?? {} : {};
      return (candidates[shown].layout.assignments ?? []).map((a) => (!a.inExperiment && recorded[a.experiment] === a.variation
        ? { ...a, inExperiment: true } : a));
    },
  };
}

function hideCandidate(node) {
  node.setAttribute('data-candidate-hidden', '');
  node.setAttribute('aria-hidden', 'true');
  node.inert = true;
  for (const img of node.querySelectorAll?.('img') ?? []) img.setAttribute('fetchpriority', 'low');
}

function showCandidate(node) {
  node.removeAttribute('data-candidate-hidden');
  node.removeAttribute('aria-hidden');
  node.inert = false;
}
