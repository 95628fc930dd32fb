// Types of @whaletools/edge (index.js).

export declare const ABI_MAJOR: 1;
export declare const ERROR_CODES: readonly string[];

/** Every failure of the engine: `code` is a stable name such as "invalid_json" or "too_deep". */
export declare class WhaleError extends Error {
  readonly code: string;
  /** The numeric whale::error_code, when the core reported it. */
  readonly number?: number;
}

export type Attributes = Record<string, unknown>;
export type Condition = Record<string, unknown>;
export type SavedGroups = Record<string, unknown>;

export interface StickyBucketAssignmentDoc {
  attributeName: string;
  attributeValue: string;
  assignments: Record<string, string>;
}
export type StickyBucketAssignmentDocs = Record<string, StickyBucketAssignmentDoc>;

/** GrowthBook's Experiment (the fields the engine reads). */
export interface Experiment<T = unknown> {
  key: string;
  variations: T[];
  weights?: number[];
  coverage?: number;
  condition?: Condition;
  parentConditions?: { id: string; condition?: Condition; gate?: boolean }[];
  namespace?: [string, number, number];
  filters?: { seed: string; ranges: [number, number][]; attribute?: string; hashVersion?: number }[];
  ranges?: [number, number][];
  hashAttribute?: string;
  fallbackAttribute?: string;
  hashVersion?: number;
  seed?: string;
  meta?: { key?: string; name?: string; passthrough?: boolean }[];
  force?: number;
  active?: boolean;
  status?: 'draft' | 'running' | 'stopped';
  bucketVersion?: number;
  minBucketVersion?: number;
  disableStickyBucketing?: boolean;
  /** URL targeting: the experiment runs only on pages these patterns target (GrowthBook's isURLTargeted). */
  urlPatterns?: UrlPattern[];
  [extra: string]: unknown;
}

/** "simple": host/path/query/hash with `*` wildcards; "regex": a JS RegExp over the href (or the href without its origin). */
export interface UrlPattern {
  type: 'simple' | 'regex';
  pattern: string;
  /** false: a page this pattern matches is excluded. */
  include?: boolean;
}

/** An auto experiment of a GrowthBook payload; a redirect experiment has urlPatterns and variations with `urlRedirect`. */
export interface AutoExperiment extends Experiment<Record<string, unknown>> {
  /** Merge the page's query parameters into the redirect URL (the redirect's own win). */
  persistQueryString?: boolean;
  manual?: boolean;
}

/** One redirect experiment the user is in (at most one: the first ends the run). */
export interface RedirectResult {
  experimentKey: string;
  inExperiment: true;
  variationId: number;
  /** The variation's urlRedirect (null for a variation without one). */
  urlRedirect: string | null;
  /** Where to send the user: null when the variation has no redirect or it targets the experiment's own URL patterns. */
  urlWithParams: string | null;
  result: Result<Record<string, unknown>>;
}

export interface UrlRedirectAnswer {
  /** The URL to redirect to (GrowthBook's getRedirectUrl), or null. */
  redirect: string | null;
  results: RedirectResult[];
  /** The sticky-bucket documents this evaluation wrote. */
  stickyBucketAssignmentDocs: StickyBucketAssignmentDocs;
}

/** GrowthBook's context: attributes plus the payload and options. */
export interface Context {
  attributes?: Attributes;
  features?: Record<string, FeatureDefinition>;
  savedGroups?: SavedGroups;
  forcedVariations?: Record<string, number>;
  forcedFeatureValues?: Record<string, unknown>;
  url?: string;
  qaMode?: boolean;
  enabled?: boolean;
  /** When present, sticky bucketing is on and the documents the call writes are merged in. */
  stickyBucketAssignmentDocs?: StickyBucketAssignmentDocs;
  /** Auto experiments (urlRedirect reads them). */
  experiments?: AutoExperiment[];
}

export interface FeatureDefinition {
  defaultValue?: unknown;
  rules?: Record<string, unknown>[];
}

/** GrowthBook's Result. */
export interface Result<T = unknown> {
  key: string;
  featureId: string | null;
  inExperiment: boolean;
  hashUsed: boolean;
  variationId: number;
  value: T;
  hashAttribute: string;
  hashValue: unknown;
  stickyBucketUsed: boolean;
  bucket?: number;
  name?: string;
  passthrough?: boolean;
  /** Contextual bandits: the context's leaf (-1: none matched, the rule's weights apply). */
  leafId?: number;
  variationWeights?: number[];
  banditVersion?: number;
}

/** GrowthBook's FeatureResult. */
export interface FeatureResult<T = unknown> {
  value: T;
  on: boolean;
  off: boolean;
  source: 'unknownFeature' | 'defaultValue' | 'force' | 'override' | 'experiment' | 'prerequisite' | 'cyclicPrerequisite';
  ruleId: string;
  experiment?: Experiment<T>;
  experimentResult?: Result<T>;
}

export interface EvalAllResult {
  features: Record<string, Pick<FeatureResult, 'value' | 'on' | 'off' | 'source' | 'ruleId'>>;
  /** The experiments the user was bucketed into (GrowthBook's tracking callback payloads). */
  experiments: (Result & {
    /** The experiment's key (the rule's, else the feature's), for exposure events: the one field
     *  GrowthBook's Result lacks (its tracking callback receives it as experiment.key). */
    experimentKey: string;
  })[];
  /** The sticky-bucket documents this call wrote (empty when sticky bucketing is off). */
  stickyBucketAssignmentDocs: StickyBucketAssignmentDocs;
}

export interface EvalAllOptions {
  stickyBucketAssignmentDocs?: StickyBucketAssignmentDocs;
  url?: string;
  forcedVariations?: Record<string, number>;
}

export interface BetaArm {
  alpha: number;
  beta: number;
}

export interface BanditWeightsOptions {
  seed?: string | number;
  /** Monte-Carlo draws, 1..1e6 (default 10000). */
  draws?: number;
  /** Minimum weight per arm: p_i = floor + (1 - n*floor) * P(best_i). */
  floor?: number;
  /** Top-two Thompson sampling: half P(best), half P(runner-up). */
  topTwo?: boolean;
}

/** A vendor payload parsed once; pass it to evalAll per request. */
export interface FeatureSet {
  evalAll(attributes?: Attributes, options?: EvalAllOptions): EvalAllResult;
  free(): void;
}

/** What the core says about a vendor config it parsed (docs/config.md). */
export interface ConfigSummary {
  vendor: string;
  name: string;
  components: number;
  pages: number;
  sections: number;
  instances: number;
  products: number;
  features: number;
  experiments: number;
  /** The parsed config's approximate size in the core's memory (the cache's budget unit). */
  memoryBytes: number;
}

export type ConfigValidation =
  | { ok: true; summary: ConfigSummary }
  /** `message` names the JSON path and the rule, e.g. "pages[2].sections[0].components[3].props.title: expected string". */
  | { ok: false; code: string; message: string };

export interface ConfigCacheStats {
  hits: number;
  misses: number;
  evictions: number;
  entries: number;
  bytes: number;
  budget: number;
}

/** A vendor config: JSON text, its UTF-8 bytes, or the object (serialized first). */
export type ConfigInput = string | Uint8Array | ArrayBuffer | Record<string, unknown>;

/** A rendered page (docs/layout.md). */
export interface Layout {
  vendor: string;
  version: number;
  page: string;
  assignments: { experiment: string; variation: number; inExperiment: boolean }[];
  /** The behaviour states of the visit, when a behaviour summary was given. */
  behaviour?: string[];
  /** Sticky-bucket documents written, when documents were given. */
  stickyBucketAssignmentDocs?: Record<string, unknown>;
  sections: { id: string; components: { id: string; key: string; props: Record<string, unknown> }[] }[];
  /** Instances not shown and why: hidden, off-schedule, conflict (by), missing-dependency (needs), invalid-props. */
  dropped: { id: string; reason: string; by?: string; needs?: string }[];
  /** 16 hex digits: equal keys, equal layouts. */
  cacheKey: string;
  /** Seconds until a schedule of the page may change the layout (at most 86400). */
  maxAge: number;
  /** The attribute names the page's decisions read. */
  vary: string[];
}

export interface RenderLayoutOptions {
  page: string;
  attributes?: Attributes;
  /** Unix seconds; default the clock. */
  now?: number;
  /** The browser's behaviour summary, e.g. "v1;rc=3;bo=1". */
  behaviour?: string;
  stickyBucketAssignmentDocs?: Record<string, unknown>;
  /** false: the control layout (no experiment runs), e.g. for a visitor who did not consent. */
  experiments?: boolean;
  /** false: the layout leaves out the sticky documents written (decideLayout has them). */
  writeStickyDocs?: boolean;
  /** Experiment key -> variation index: shown, not assigned (inExperiment false, no exposure). */
  forcedVariations?: Record<string, number>;
}

/** A candidate of a multi-variant page (docs/layout.md#candidates). */
export interface LayoutCandidate {
  /** The arm's meta key, the strategy's name, or "default". */
  name: string;
  /** The behaviour states that choose it. */
  states: string[];
  /** Render it with these. */
  forcedVariations: Record<string, number>;
}

/** Engine.decideCandidates: the page's candidates, decided. */
export interface LayoutCandidates {
  /** How long the browser watches before asking for a choice (0: nothing to choose). */
  watchMs: number;
  candidates: Array<LayoutCandidate & { decision: LayoutDecision }>;
}

/** Engine.chooseCandidate: which candidate the visit keeps. */
export interface CandidateChoice {
  /** Index into the candidates. */
  chosen: number;
  /** The visit's behaviour states. */
  visit: string[];
  candidate: LayoutCandidate;
}

/** A config's `consent` section (docs/config.md): who is kept out of experiments. */
export interface ConsentSettings {
  /** A request with `Sec-GPC: 1` is kept out. */
  globalPrivacyControl: boolean;
  /** The vendor's consent cookie ("" when none). */
  cookie: string;
  /** Not empty: in only when the cookie holds one of these (opt-in). */
  granted: string[];
  /** Not empty: out when the cookie holds one of these (opt-out). */
  denied: string[];
}

/** A page's decisions (Engine.decideLayout): what its layout depends on, without rendering it. */
export interface LayoutDecision {
  /** Equal for two requests of one config version exactly when their layouts are equal. */
  cacheKey: string;
  /** Seconds until a schedule on the page may change the layout. */
  maxAge: number;
  assignments: Array<{ experiment: string; variation: number; inExperiment: boolean }>;
  stickyBucketAssignmentDocs?: Record<string, unknown>;
  /** The attributes the page's decisions read. */
  vary: string[];
}

export interface Engine {
  readonly abiVersion: string;
  hash(seed: string, value: string | number, version?: 1 | 2): number | null;
  evalCondition(attributes: Attributes, condition: Condition, savedGroups?: SavedGroups): boolean;
  getBucketRanges(variations: number, coverage?: number, weights?: number[]): [number, number][];
  chooseVariation(n: number, ranges: [number, number][]): number;
  getEqualWeights(n: number): number[];
  inNamespace(hashValue: string, namespace: [string, number, number]): boolean;
  getQueryStringOverride(key: string, url: string, variations: number): number | null;
  run<T = unknown>(experiment: Experiment<T>, context?: Context): Result<T>;
  evalFeature<T = unknown>(key: string, context?: Context): FeatureResult<T>;
  /** The redirect for the page at context.url among context.experiments (ABI 1.6). */
  urlRedirect(context?: Context, options?: { disableCrossOriginUrlRedirectExperiments?: boolean }): UrlRedirectAnswer;
  loadFeatures(payload: string | { features?: Record<string, FeatureDefinition>; savedGroups?: SavedGroups }): FeatureSet;
  evalAll(set: FeatureSet, attributes?: Attributes, options?: EvalAllOptions): EvalAllResult;
  sampleBeta(alpha: number, beta: number, seed: string | number): number;
  sampleBeta(alpha: number, beta: number, seed: string | number, count: number): number[];
  thompsonChoose(arms: BetaArm[], seed: string | number): number;
  banditWeights(arms: BetaArm[], options?: BanditWeightsOptions): number[];
  /** Parses and validates a vendor config; throws a WhaleError naming the JSON path. */
  parseConfig(config: ConfigInput): ConfigSummary;
  validateConfig(config: ConfigInput): ConfigValidation;
  /** Parses and keeps the config in the instance's LRU cache under (its vendor slug, version). */
  loadConfig(config: ConfigInput, version: number): ConfigSummary;
  /** True when (slug, version) is in the cache (a warm resolve). */
  resolveConfig(slug: string, version: number): boolean;
  configCacheStats(): ConfigCacheStats;
  /** The media settings of a cached config, defaults filled in; throws WhaleError not_found when it is not cached. */
  configMedia(slug: string, version: number): MediaSettings;
  /** Renders a page of a config loaded with loadConfig; throws WhaleError not_found when it is not cached. */
  renderLayout(slug: string, version: number, options: RenderLayoutOptions): Layout;
  /** The same layout as JSON text (for an edge that sends it on unparsed). */
  renderLayoutText(slug: string, version: number, options: RenderLayoutOptions): string;
  /** A cached config's consent settings, defaults filled in (ABI 1.4). */
  configConsent(slug: string, version: number): ConsentSettings;
  /** The page's decisions without the layout (ABI 1.4). */
  decideLayout(slug: string, version: number, options: RenderLayoutOptions): LayoutDecision;
  /** A multi-variant page's first `count` (1..8) candidates, decided. */
  decideCandidates(slug: string, version: number, options: RenderLayoutOptions & { count: number }): LayoutCandidates;
  /** Which of those candidates the visit keeps: by `behaviour`, or `kept` (an index). */
  chooseCandidate(slug: string, version: number, options: RenderLayoutOptions & { count: number; kept?: number }): CandidateChoice;
}

/** A config's `media` section (docs/config.md) with every default filled in. */
export interface MediaSettings {
  /** URL prefixes images may come from. */
  allowedSources: string[];
  /** Output formats allowed; format=auto picks among them. */
  formats: Array<'jpeg' | 'png' | 'webp'>;
  maxWidth: number;
  maxHeight: number;
  /** Default quality, 1..100. */
  quality: number;
  /** When not empty, the only output widths allowed (ascending). */
  widths: number[];
  maxInputBytes: number;
  maxInputPixels: number;
  signedUrls: boolean;
}

/**
 * Loads the core. `module` is a compiled WebAssembly.Module (workers), the wasm bytes, or a URL;
 * in Node the default is the core.wasm beside this package.
 */
export declare function createEngine(options?: { module?: WebAssembly.Module | BufferSource | URL | string }): Promise<Engine>;

