// The WebAssembly image libraries that load under Node, as peers of image.wasm on the JPEG task
// (bench/image.bench.mjs). They are not the project's dependencies: installed on first use with
// npm into a directory of their own outside the repository (WHALE_IMAGE_PEERS, default
// ~/.cache/whale-image-peers), where Node cannot find the native sharp of the repository's
// node_modules, so that `sharp` there is @img/sharp-wasm32.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const PEER_PACKAGES = {
  sharp: '0.35.5', '@img/sharp-wasm32': '0.35.5', 'wasm-vips': '0.0.19', '@imagemagick/magick-wasm': '0.0.43',
  '@cf-wasm/photon': '0.4.0', '@jsquash/jpeg': '1.6.0', '@jsquash/resize': '2.1.1', '@jsquash/avif': '2.1.1',
};

export const peersDir = process.env.WHALE_IMAGE_PEERS ?? join(homedir(), '.cache', 'whale-image-peers');

function install() {
  const wanted = Object.entries(PEER_PACKAGES).map(([name, version]) => `${name}@${version}`);
  const stamp = join(peersDir, 'installed.txt');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted.join('\n')) return;
  mkdirSync(peersDir, { recursive: true });
  writeFileSync(join(peersDir, 'package.json'), '{"private":true}\n');
  console.log(`image: installing the wasm peers into ${peersDir}: ${wanted.join(' ')}`);
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--cpu=wasm32', ...wanted], { cwd: peersDir, stdio: 'inherit' });
  writeFileSync(stamp, wanted.join('\n'));
}

function loader() {
  install();
  const require = createRequire(join(peersDir, 'package.json'));
  // require.resolve may name a package's CommonJS entry: its exports are then under `default`.
  const load = async (specifier, name) => {
    const ns = await import(pathToFileURL(require.resolve(specifier)).href);
    return name in ns ? ns : ns.default;
  };
  const file = (specifier) => readFileSync(require.resolve(specifier));
  return { load, file };
}

// @jsquash/avif's encoder (libavif and aom in wasm, single-threaded under Node): encode(rgba,
// width, height, options) -> Promise<Uint8Array>, options as its own (quality is libavif's).
export async function loadJsquashAvif() {
  const { load, file } = loader();
  const avif = await load('@jsquash/avif/encode.js', 'init');
  await avif.init(new WebAssembly.Module(file('@jsquash/avif/codec/enc/avif_enc.wasm')));
  return {
    name: `@jsquash/avif ${PEER_PACKAGES['@jsquash/avif']}`,
    encode: async (rgba, width, height, options) => new Uint8Array(await avif.default({ data: rgba, width, height }, options)),
  };
}

// Each peer: {name, run(jpegBytes, width, height, quality) -> Promise<Uint8Array>} doing the task
// its own documented way: decode, resize to width x height (cover), JPEG at quality.
export async function loadPeers() {
  const { load, file } = loader();
  const peers = [];

  const sharp = await load('sharp', 'concurrency');
  sharp.concurrency(1);
  sharp.cache(false);
  peers.push({ name: `@img/sharp-wasm32 ${PEER_PACKAGES['@img/sharp-wasm32']}`,
    run: (input, w, h, q) => sharp(input).resize(w, h).jpeg({ quality: q }).toBuffer() });

  const vips = await (await load('wasm-vips', 'default')).default();
  peers.push({ name: `wasm-vips ${PEER_PACKAGES['wasm-vips']}`,
    run: async (input, w, h, q) => {
      const image = vips.Image.thumbnailBuffer(input, w, { height: h, crop: 'centre' });
      try {
        return image.writeToBuffer('.jpg', { Q: q });
      } finally {
        image.delete();
      }
    } });

  const magick = await load('@imagemagick/magick-wasm', 'initializeImageMagick');
  await magick.initializeImageMagick(file('@imagemagick/magick-wasm/magick.wasm'));
  peers.push({ name: `@imagemagick/magick-wasm ${PEER_PACKAGES['@imagemagick/magick-wasm']}`,
    run: async (input, w, h, q) => magick.ImageMagick.read(input, (image) => {
      image.resize(new magick.MagickGeometry(`${w}x${h}^`));
      image.crop(w, h, magick.Gravity.Center);
      image.quality = q;
      return image.write(magick.MagickFormat.Jpeg, (data) => new Uint8Array(data));
    }) });

  const photon = await load('@cf-wasm/photon', 'PhotonImage');
  peers.push({ name: `@cf-wasm/photon ${PEER_PACKAGES['@cf-wasm/photon']}`,
    run: async (input, w, h, q) => {
      const image = photon.PhotonImage.new_from_byteslice(input);
      const resized = photon.resize(image, w, h, photon.SamplingFilter.Lanczos3);
      try {
        return resized.get_bytes_jpeg(q);
      } finally {
        image.free();
        resized.free();
      }
    } });

  const decode = await load('@jsquash/jpeg/decode.js', 'init');
  const encode = await load('@jsquash/jpeg/encode.js', 'init');
  const resize = await load('@jsquash/resize', 'initResize');
  await decode.init(new WebAssembly.Module(file('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm')));
  await encode.init(new WebAssembly.Module(file('@jsquash/jpeg/codec/enc/mozjpeg_enc.wasm')));
  await resize.initResize(file('@jsquash/resize/lib/resize/pkg/squoosh_resize_bg.wasm'));
  peers.push({ name: `@jsquash/jpeg ${PEER_PACKAGES['@jsquash/jpeg']} + resize ${PEER_PACKAGES['@jsquash/resize']}`,
    run: async (input, w, h, q) => {
      const pixels = await decode.default(input);
      const resized = await resize.default(pixels, { width: w, height: h, method: 'lanczos3', fitMethod: 'contain' });
      return new Uint8Array(await encode.default(resized, { quality: q }));
    } });
  return peers;
}
