// Types for @whaletools/edge/image (image.js): image.wasm behind a typed API.

export { WhaleError } from './index.js';

export declare const IMAGE_ABI_MAJOR: 1;
/** The oldest minor version the glue loads (1.3: AVIF handed to avif.wasm). */
export declare const IMAGE_ABI_MINOR: 3;
/** avif.wasm's ABI major (wasm/whale_avif.h). */
export declare const AVIF_ABI_MAJOR: 1;
/** 48 MB: a memory left above this after a job is dropped (the next call instantiates afresh). */
export declare const DEFAULT_MAX_MEMORY_BYTES: number;
/** 96 MB: a job's memory budget when process() is given none. */
export declare const DEFAULT_MAX_JOB_MEMORY_BYTES: number;
/** whale::image::accept_bits, for format=auto. */
export declare const ACCEPT_WEBP: 1;
export declare const ACCEPT_AVIF: 2;

/** The accept bits of an Accept header value (a number is returned as it is). */
export declare function acceptBits(accept: string | number | null | undefined): number;
export declare const CLIENT_SLOW: 4;
export declare const CLIENT_WIDTH_SHIFT: 4;
/** width=auto's widths by size class: 0 unknown (desktop), 1 mobile, 2 tablet, 3 desktop, 4 large. */
export declare const AUTO_WIDTHS: readonly [960, 320, 768, 960, 1200];
interface HeaderSource { get(name: string): string | null }
/** Whether the client hints (RTT, Save-Data, ECT, Downlink) say a slow connection, as Cloudflare reads them. */
export declare function slowConnection(headers: HeaderSource): boolean;
/** width=auto's size class (an index of AUTO_WIDTHS) from the viewport hints, Sec-CH-UA-Mobile or the User-Agent. */
export declare function sizeClass(headers: HeaderSource): 0 | 1 | 2 | 3 | 4;
/** Accept bits, CLIENT_SLOW and the size class of a request's headers: process()'s `accept`. */
export declare function clientBits(headers: HeaderSource): number;
/** A response's body, at most maxBytes; past it the body is cancelled and tooLarge() is thrown. */
export declare function readAtMost(response: Response, maxBytes: number, tooLarge: () => Error): Promise<Uint8Array>;

/** What probe() reads from a source's header. */
export interface ImageInfo {
  width: number;
  height: number;
  format: 'jpeg' | 'png' | 'gif' | 'bmp' | 'webp' | string;
  /** EXIF orientation, 1..8. */
  orientation: number;
  /** GIF: more than 1 when animated (only the first is served). */
  frames: number;
}

export interface ProcessOptions {
  /** The request's Accept header, or ACCEPT_* bits: format=auto picks WebP when it allows. */
  accept?: string | number;
  /** Source pixel area limit, checked from the header; 0/absent: 16.8 MP. */
  maxPixels?: number;
  /** Source size limit in bytes; 0/absent: 25 MB. */
  maxInputBytes?: number;
  /** Output width and height limit; 0/absent: 4096. */
  maxOutputSide?: number;
  /**
   * The job's memory budget: the module's whole memory at the job's peak, estimated from the
   * header and the options before decoding (WhaleError too_large, naming the estimate, over it).
   * 0/absent: 96 MB.
   */
  maxJobMemoryBytes?: number;
  /** Overlays drawn on the output in order (at most 8): each source and its options text (its own
   *  width, height, fit, rotate...; and opacity 0..1, repeat true|x|y, top, left, bottom, right). */
  draw?: { bytes: Uint8Array | ArrayBuffer | ArrayBufferView; options: string }[];
}

export interface ProcessedImage {
  /** The encoded image (or the JSON of format=json): a copy, the caller's to keep. */
  bytes: Uint8Array;
  /** image/jpeg, image/png, image/webp, image/avif or application/json. */
  contentType: string;
  width: number;
  height: number;
}

/** The counters of a module's instances (image.wasm's, and avif.wasm's). */
export interface ModuleCounters {
  /** Instances made so far: the first, then one after each replacement or trap. */
  instances: number;
  /** Instances dropped because a job left memory above maxMemoryBytes. */
  replacements: number;
  traps: number;
  jobs: number;
  /** The largest memory seen after a call, in bytes. */
  peakMemoryBytes: number;
  /** The live instance's memory now (0 when it was just dropped). */
  memoryBytes: number;
}

export interface ImageModuleStats extends ModuleCounters {
  maxMemoryBytes: number;
  /** avif.wasm's counters once loadAvif() has loaded it, else null. */
  avif: ModuleCounters | null;
}

/** cf.image's options object (Cloudflare Images in Workers), as transform() takes it. */
export interface TransformOptions {
  width?: number | 'auto';
  height?: number;
  fit?: 'scale-down' | 'contain' | 'cover' | 'crop' | 'pad';
  gravity?: 'auto' | 'left' | 'right' | 'top' | 'bottom' | 'center' | { x: number; y: number };
  quality?: number | 'high' | 'medium-high' | 'medium-low' | 'low';
  format?: 'auto' | 'jpeg' | 'baseline-jpeg' | 'png' | 'webp' | 'avif' | 'json';
  dpr?: number;
  background?: string;
  rotate?: 0 | 90 | 180 | 270;
  flip?: 'h' | 'v' | 'hv';
  trim?: 'border' | { border: { color?: string; tolerance?: number; keep?: number } }
    | { top?: number; right?: number; bottom?: number; left?: number; width?: number; height?: number };
  border?: { color?: string; width?: number; top?: number; right?: number; bottom?: number; left?: number };
  brightness?: number;
  contrast?: number;
  gamma?: number;
  saturation?: number;
  blur?: number;
  sharpen?: number;
  compression?: 'fast';
  metadata?: 'keep' | 'copyright' | 'none';
  anim?: boolean;
  'slow-connection-quality'?: number | string;
  /** Overlays (at most 8), fetched relative to the source's URL and drawn in order. */
  draw?: {
    url: string; width?: number; height?: number; fit?: TransformOptions['fit']; gravity?: TransformOptions['gravity'];
    rotate?: 0 | 90 | 180 | 270; opacity?: number; repeat?: boolean | 'x' | 'y';
    top?: number; left?: number; bottom?: number; right?: number;
  }[];
}

export interface TransformSettings extends Omit<ProcessOptions, 'accept'> {
  /** Default: the global fetch. */
  fetch?: (request: Request) => Promise<Response>;
  /** The visitor's request headers (Accept for format=auto, the client hints); default: the source request's. */
  clientHints?: HeaderSource;
}

export interface ImageModule {
  readonly abiVersion: string;
  readonly memoryBytes: number;
  /** Normalizes the <options> segment; throws WhaleError (code invalid_value) naming the option. */
  options(text: string): string;
  probe(bytes: Uint8Array | ArrayBuffer | ArrayBufferView): ImageInfo;
  /**
   * The whole job; throws WhaleError too_large, unsupported_format, corrupt_input, invalid_value.
   * An AVIF output needs loadAvif() first (unsupported_format otherwise).
   */
  process(bytes: Uint8Array | ArrayBuffer | ArrayBufferView, options: string, limits?: ProcessOptions): ProcessedImage;
  /**
   * fetch(source, {cf: {image: options}}) as one call: fetches the source, transforms it, answers
   * the image (or the source's own error response). Throws WhaleError as process() does.
   */
  transform(source: Request | string | URL, options: TransformOptions, settings?: TransformSettings): Promise<Response>;
  stats(): ImageModuleStats;
  /** Compiles avif.wasm once (from loadImageModule's `avif` source) so that AVIF jobs can be encoded. */
  loadAvif(): Promise<unknown>;
  /** Whether a job with these options and client bits (or Accept header) may come out as AVIF. */
  wantsAvif(options: string, accept?: number | string): boolean;
}

export interface LoadImageModuleOptions {
  /** Memory threshold for replacing the instance (image.wasm's, and avif.wasm's) after a job; default 48 MB. */
  maxMemoryBytes?: number;
  /**
   * avif.wasm: a compiled module, its bytes, a URL, or a function returning (a promise of) one
   * (a worker's `() => import('./avif.wasm')`); default the avif.wasm beside this package; false: no AVIF.
   */
  avif?: WebAssembly.Module | BufferSource | URL | string | false
    | (() => WebAssembly.Module | BufferSource | URL | string | Promise<WebAssembly.Module | BufferSource | URL | string>);
}

/**
 * Loads image.wasm: a compiled WebAssembly.Module (workers), the wasm bytes, or a URL; in Node
 * the default is the image.wasm beside this package.
 */
export declare function loadImageModule(
  source?: WebAssembly.Module | BufferSource | URL | string,
  options?: LoadImageModuleOptions,
): Promise<ImageModule>;
