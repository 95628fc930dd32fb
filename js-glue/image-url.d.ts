// Types for @whaletools/edge/image-url (image-url.js): URLs of /img/<options>/<source>.

/** The edge's own image route, the one to use on Cloudflare. */
export declare const IMAGE_PATH: '/img/';
/** Cloudflare's spelling, answered the same way by the edge. */
export declare const CLOUDFLARE_IMAGE_PATH: '/cdn-cgi/image/';
export declare const IMAGE_PATHS: readonly ['/img/', '/cdn-cgi/image/'];
/** The image route a path starts with, or undefined. */
export declare function imageRouteOf(pathname: string): '/img/' | '/cdn-cgi/image/' | undefined;

export type Fit = 'scale-down' | 'contain' | 'cover' | 'crop' | 'pad';
export type Gravity = 'auto' | 'center' | 'left' | 'right' | 'top' | 'bottom' | string | { x: number; y: number };
export type Format = 'auto' | 'jpeg' | 'png' | 'webp' | 'json';
export type Quality = number | 'high' | 'medium-high' | 'medium-low' | 'low' | string;

/** Options of an image URL, by Cloudflare's names (w, h, q, f, g are accepted too). */
export interface ImageOptions {
  width?: number;
  height?: number;
  /** 1..3 */
  dpr?: number;
  fit?: Fit;
  gravity?: Gravity;
  quality?: Quality;
  format?: Format;
  /** A CSS colour, e.g. "#ffffff" (encoded in the URL). */
  background?: string;
  rotate?: 0 | 90 | 180 | 270;
  /** Mirrors the upright image before rotate: h left to right, v top to bottom, hv both. */
  flip?: 'h' | 'v' | 'hv';
  /** A factor 0..10 (1 and 0: unchanged). */
  brightness?: number;
  /** A factor 0..10 around mid-grey (1 and 0: unchanged). */
  contrast?: number;
  /** 0..10: samples raised to 1/gamma (2 lightens, 0.5 darkens; 1 and 0: unchanged). */
  gamma?: number;
  /** 0..10: 0 is grey, 1 unchanged, 2 twice as saturated. */
  saturation?: number;
  /** 'fast': format=auto never picks WebP (the quicker JPEG, or PNG for transparency). */
  compression?: 'fast';
  /** A radius 0..250 in output pixels: a Gaussian of sigma radius / 2. */
  blur?: number;
  /** 0..10: an unsharp mask of sigma 1, amount sharpen / 2 (1 suits downscaled photos). */
  sharpen?: number;
  metadata?: 'none' | 'copyright' | 'keep';
  anim?: boolean;
  onerror?: 'redirect';
  w?: number;
  h?: number;
  q?: Quality;
  f?: Format;
  g?: Gravity;
  /** Prefix of the URL, e.g. "https://shop.example"; default: none (a path). */
  base?: string;
  /** The route: IMAGE_PATH (default) or CLOUDFLARE_IMAGE_PATH. */
  route?: '/img/' | '/cdn-cgi/image/';
  [option: string]: string | number | boolean | { x: number; y: number } | undefined | null;
}

/** The options segment, e.g. "width=400,fit=cover": Cloudflare's names in a stable order. */
export declare function imageOptions(opts?: ImageOptions): string;
/** /img/<options>/<src> (or opts.route); without any option, src itself. */
export declare function imageUrl(src: string, opts?: ImageOptions): string;
/** "url 400w, url 800w" (widths deduplicated, ascending; dpr dropped). */
export declare function srcset(src: string, widths: number[], opts?: ImageOptions): string;

/** What Next.js passes a custom image loader. */
export interface ImageLoaderProps {
  src: string;
  width: number;
  quality?: number;
}
export type ImageLoader = (props: ImageLoaderProps) => string;
/** A Next.js loader with these defaults (format=auto unless given). */
export declare function createImageLoader(defaults?: ImageOptions): ImageLoader;
/** createImageLoader(): width, quality when given, format=auto. */
export declare const imageLoader: ImageLoader;

/** Key ids are generations: positive integers, a vendor's new key greater than every earlier one. */
export declare const IMAGE_KEY_ID: RegExp;
/** The shortest IMAGE_SIGNING_SECRET the edge and deriveImageKey take, in bytes (32). */
export declare const MIN_SECRET_BYTES: number;
/** The path after /img/ or /cdn-cgi/image/ without the s=/sig= option, plus the query; null when not an image URL. */
export declare function signedMessage(url: string): string | null;
/** "whale-image-v1\n<vendor>\n<message>": what a vendor's MAC covers. */
export declare function signingText(vendor: string, message: string): string;
/**
 * The vendor's key for keyId as 64 hex digits: HMAC-SHA256(secret, "whale-image-v1 vendor\n" +
 * vendor + "\n" + keyId). secret: the edge's IMAGE_SIGNING_SECRET (UTF-8 when a string), at least
 * 32 bytes. For operators: the vendor gets the result, never the secret.
 */
export declare function deriveImageKey(secret: string | BufferSource, vendor: string, keyId: number | string): Promise<string>;
/** Who signs: the vendor (its slug), the key id, and the vendor's key for it (deriveImageKey's hex, or its 32 bytes). */
export interface ImageSigner {
  vendor: string;
  keyId: number | string;
  key: string | BufferSource;
}
/**
 * Puts s=<keyId>:<hex HMAC-SHA256> in the URL's options (replacing any s=/sig=); good on the
 * vendor's hosts only. Server side: the key is a secret. Throws TypeError on a bad vendor, key id
 * or key, or a URL that is not an image URL.
 */
export declare function signImageUrl(url: string, signer: ImageSigner): Promise<string>;
