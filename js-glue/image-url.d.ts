// Types for @whaletools/edge/image-url (image-url.js): URLs of /cdn-cgi/image/<options>/<source>.

export declare const IMAGE_PATH: '/cdn-cgi/image/';

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
  [option: string]: string | number | boolean | { x: number; y: number } | undefined | null;
}

/** The options segment, e.g. "width=400,fit=cover": Cloudflare's names in a stable order. */
export declare function imageOptions(opts?: ImageOptions): string;
/** /cdn-cgi/image/<options>/<src>; without any option, src itself. */
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

/** The text an image URL's signature covers; null when the URL is not an image URL. */
export declare function signedMessage(url: string): string | null;
/** Appends s=<hex HMAC-SHA256> to the URL's options (server side: the key is a secret). */
export declare function signImageUrl(url: string, key: string | BufferSource): Promise<string>;
