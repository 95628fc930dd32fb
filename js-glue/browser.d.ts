// Types for @whaletools/edge/browser (browser.js): the storefront side of the edge.

/** One component instance of a layout. */
export interface LayoutComponent {
  id: string;
  key: string;
  props: Record<string, unknown>;
}

/** What GET /v1/storefront/{slug}/{page} answers (the core's renderLayout). */
export interface Layout {
  vendor: string;
  version: number;
  page: string;
  assignments: Array<{ experiment: string; variation: string | number; inExperiment: boolean }>;
  sections: Array<{ id: string; components: LayoutComponent[] }>;
  /** The config's `theme`, when it has one. */
  theme?: StorefrontTheme;
  dropped: Array<{ id: string; reason: string; [detail: string]: unknown }>;
  cacheKey: string;
  /** Seconds until a schedule on the page may change the layout (at most 86400). */
  maxAge: number;
  /** Attribute names the layout depends on. */
  vary: string[];
  [member: string]: unknown;
}

/** An error answer of the edge: HTTP status and its {code, message}. */
export class LayoutError extends Error {
  readonly status: number;
  readonly code: string;
}

export interface FetchLayoutOptions {
  /** The edge's origin, e.g. "https://edge.example"; default: this page's origin. */
  base?: string;
  /** Sent as query parameters; an array repeats the parameter. */
  attributes?: Record<string, string | number | boolean | Array<string | number | boolean>>;
  signal?: AbortSignal;
}

/** The layout this visitor should see. The edge adds the visitor's cookies and its own headers. */
export function fetchLayout(slug: string, page: string, options?: FetchLayoutOptions): Promise<Layout>;

export interface EventOptions {
  /** The experiment's key, as in the layout's assignments. */
  experiment: string;
  variation: string | number;
  /** The visitor id; default: the one configured, else the edge uses the whale_id cookie. */
  id?: string;
}

export interface EventsConfig {
  /** The edge's origin; default: this page's origin. */
  base?: string;
  /** Events per beacon, at most 100 (the edge's limit); default 20. */
  maxBatch?: number;
  /** Milliseconds an event waits before its batch is sent; default 5000. */
  flushMs?: number;
  id?: string;
  /** The receipt /v1/assign answered; default: the edge reads its whale_rc cookie. Events count only for what it lists. */
  receipt?: string;
  /** Called when the edge refused events of a batch or the POST failed (not for beacons sent as the page goes away). */
  onError?: (result: EventsResult) => void;
}

/** The edge's answer to a batch of events. */
export interface EventsResult {
  /** HTTP status; 0 when the network failed. */
  status: number;
  accepted: number;
  rejected: number;
  duplicates: number;
  /** Refused events by reason: no_receipt, bad_receipt, not_assigned, other_vendor, malformed, rate_limited_ip, rate_limited_visitor, buffer_full (or network, http_<status>). */
  reasons: Record<string, number>;
}

export function configureEvents(options: EventsConfig): void;
export function trackExposure(event: EventOptions): void;
export function trackConversion(event: EventOptions & { value?: number }): void;
/** Sends what is pending now (fetch; the answer becomes lastEventsResult). */
export function flushEvents(): boolean;
/** The edge's answer to the last batch sent while the page stayed; undefined before the first. */
export function lastEventsResult(): EventsResult | undefined;
/** Resolves with the answer to the batch in flight (undefined when none was sent). */
export function eventsSettled(): Promise<EventsResult | undefined>;

/** The signals of a visit (docs/behaviour.md). */
export interface BehaviourSignals {
  rapidClicks: number;
  backOuts: number;
  /** Percent, 0..100. */
  scrollDepth: number;
  dwellSeconds: number;
  priceHovers: number;
  cartAdds: number;
}

export const BEHAVIOUR_COOKIE: 'whale_bx';
/** "v1;rc=..;bo=..;sd=..;dw=..;ph=..;ca=.." */
export function formatBehaviour(signals?: Partial<BehaviourSignals>): string;

export interface Behaviour {
  signals(): BehaviourSignals;
  summary(): string;
  /** Counts an add-to-cart that is not a click on cartSelector. */
  cartAdd(): void;
  /** Writes the whale_bx cookie now (it is written at most once a second otherwise). */
  writeCookie(): void;
  stop(): void;
}

export interface BehaviourOptions {
  /** Hovers of 500 ms+ on these count as price hovers; default '[data-price]'. */
  priceSelector?: string;
  /** Clicks on these count as cart adds; default '[data-cart-add]'. */
  cartSelector?: string;
  /** Where the session's counts live; default sessionStorage (null: this page only). */
  storage?: Storage | null;
  cookiePath?: string;
}

/** Starts summarizing this visit into the whale_bx cookie; a second call returns the same. */
export function startBehaviour(options?: BehaviourOptions): Behaviour;

export {
  CLOUDFLARE_IMAGE_PATH, IMAGE_PATH, ImageLoader, ImageLoaderProps, ImageOptions, createImageLoader, imageLoader, imageOptions, imageUrl, srcset,
} from './image-url.js';

export interface LazyImagesOptions {
  /** How far outside the viewport an image starts loading; default '50px'. */
  rootMargin?: string;
  /** The images handled; default 'img[data-src], img[data-srcset]'. */
  selector?: string;
}

export interface LazyImages {
  /** Handles one more image (an image already handled is skipped). */
  observe(img: HTMLImageElement): void;
  /** Stops watching; images not yet in view keep their data- attributes. */
  disconnect(): void;
  /** Images still waiting to come into view. */
  pending(): number;
}

/**
 * Lazy loading: loading="lazy" on every <img data-src/data-srcset> under root, and their real
 * sources (data-src, data-srcset, data-sizes, and the <source>s of a <picture>) swapped in by an
 * IntersectionObserver once within rootMargin of the viewport (at once without one).
 */
export function lazyImages(root?: ParentNode, options?: LazyImagesOptions): LazyImages;

/** Why a section changed: the vendor acted, a schedule boundary passed, the visit's behaviour states changed. */
export type LiveReason = 'vendor' | 'schedule' | 'behaviour';

/** What the edge broadcasts to the browsers of a page (POST /v1/live/{slug}/{page}). */
export interface LiveTransform {
  type: 'transform';
  reason: LiveReason;
  /** The section to swap; absent: every section that changed. */
  section?: string;
  /** Re-fetch until the layout is at least this config version. */
  version?: number;
  /** The section's new content, swapped in without a re-fetch. */
  components?: LayoutComponent[];
  /** When the edge sent it, ms since the epoch. */
  at: number;
}

/** reason: the transform's, 'reconnect' (catching up after one), or what refresh() was given ('manual' by default). */
export type LiveUpdate =
  | { reason: LiveReason | 'reconnect' | (string & {}); sections: string[]; error?: undefined }
  | { reason: LiveReason | 'reconnect' | (string & {}); error: unknown; sections?: undefined };

export interface LiveOptions extends Pick<FetchLayoutOptions, 'base' | 'attributes'> {
  slug: string;
  page: string;
  /** The layout rendered on the page: its sections are not swapped again, and its maxAge sets the schedule refresh. */
  layout?: Layout;
  /** Builds a section's element; it replaces the element [data-section="<id>"] under root. Without it only onTransform is called. */
  render?: (section: Layout['sections'][number], layout: Layout | null) => Element;
  /** Where sections are looked up; default document. */
  root?: ParentNode;
  onTransform?: (transform: LiveTransform) => void;
  /** After sections were swapped, or a refresh failed. */
  onUpdate?: (update: LiveUpdate) => void;
  onStatus?: (state: 'connecting' | 'open' | 'closed') => void;
  /** Least milliseconds between two behaviour re-checks; default 5000. */
  behaviourMs?: number;
}

export interface LiveConnection {
  /** Re-fetches the layout now and swaps what changed. */
  refresh(reason?: string): Promise<void>;
  /** Closes the socket and stops every timer; no reconnect. */
  close(): void;
  readonly state: 'connecting' | 'open' | 'closed';
  /** The layout last rendered (the one given, or the last re-fetched). */
  readonly layout: Layout | null;
}

/**
 * Live updates for the page on screen: a WebSocket to the edge (reconnected with backoff), sections
 * swapped with a view transition (else a fade) when the vendor posts a transform, at the layout's
 * next schedule boundary, and when behaviour signals change the visit's states.
 */
export function connectLive(options: LiveOptions): LiveConnection;

/** The reference storefront's stylesheet (CSS variables --wt-primary, --wt-accent, --wt-bg, ...). */
export declare const STOREFRONT_CSS: string;

/** A config's link target made safe: http(s) URLs and site paths pass, anything else is '#'. */
export function safeHref(href: unknown): string;

/** A config's markdown as DOM nodes (paragraphs, headings, lists, bold, italic, links); no HTML passes. */
export function markdownNodes(markdown: string, doc?: Document): Node[];

export interface StorefrontTheme {
  primary?: string;
  accent?: string;
  background?: string;
  text?: string;
  muted?: string;
  font?: string;
  /** Corner radius in px, 0..32. */
  radius?: number;
}

export interface StorefrontOptions {
  document?: Document;
  /** The vendor's media.widths (the edge refuses other widths); default [320, 640, 960, 1280]. */
  imageWidths?: number[];
  /** Default: the layout's theme (the config's `theme`). */
  theme?: StorefrontTheme;
  /** A product's "Add to cart": the component it was in. */
  onAddToCart?: (product: Record<string, unknown>, component: LayoutComponent) => void;
}

/** The layout as a shop: {node (the .wt-shop root), renderSection (for connectLive)}. */
export function renderStorefront(layout: Layout, options?: StorefrontOptions): {
  node: HTMLElement;
  renderSection: (section: Layout['sections'][number]) => HTMLElement;
};

/** A candidate of a multi-variant page (GET /v1/storefront/{slug}/{page}?candidates=K). */
export interface StorefrontCandidate {
  /** The arm's meta key, the vendor's strategy name, or "default". */
  name: string;
  /** The behaviour states that choose it. */
  states: string[];
  /** The experiments it shows forced: recorded as exposures only if it is kept. */
  forcedVariations: Record<string, number>;
  layout: Layout;
}

/** What ?candidates=K answers. */
export interface CandidatesAnswer {
  /** How long to watch the visit before asking for a choice; 0: nothing to choose. */
  watchMs: number;
  /** Where to POST the choice ({count, behaviour?} or {count, kept}). */
  choice: string;
  candidates: StorefrontCandidate[];
  base?: string;
}

/** The edge's choice: the candidate kept, and the visit's behaviour states. */
export interface CandidateChoice {
  chosen: number;
  name: string;
  visit: string[];
  /** Exposures recorded. */
  recorded: number;
}

/** Up to `count` (1..8, default 3) candidate layouts of a page. */
export function fetchCandidates(slug: string, page: string, options?: FetchLayoutOptions & { count?: number }): Promise<CandidatesAnswer>;

export interface MountCandidatesOptions {
  /** A layout as a node whose children carry data-section; default renderStorefront(layout).node. */
  render?: (layout: Layout) => HTMLElement;
  /** Default: the answer's watchMs. */
  watchMs?: number;
  /** The visit's behaviour summary when the watch ends; default the startBehaviour tracker's. */
  behaviour?: () => string | undefined;
  onChoice?: (choice: CandidateChoice) => void;
  document?: Document;
}

/** Renders every candidate, shows the first, lets the edge choose after the watch and switches
 * in place (the sections they differ in stacked in one grid cell: no layout shift). */
export function mountCandidates(answer: CandidatesAnswer, options?: MountCandidatesOptions): {
  node: HTMLElement;
  chosen: Promise<CandidateChoice>;
  show(index: number): void;
  current(): Layout;
  /** The shown layout's assignments; the kept candidate's forced experiments count once recorded. */
  assignments(): Layout['assignments'];
};
