// The wasm builds under test: emscripten's core.wasm (what the edge and browsers load) and the
// wasm32-wasi reactor core, both driven through the same glue.
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createEngine } from '../../js-glue/index.js';

const root = resolve(new URL('../..', import.meta.url).pathname);

export const targets = [
  { name: 'emscripten', path: join(process.env.WHALE_EMSCRIPTEN_DIR ?? join(root, 'build/emscripten'), 'wasm/core.wasm') },
  { name: 'wasi', path: join(process.env.WHALE_WASI_DIR ?? join(root, 'build/wasi'), 'wasm/core.wasm') },
];

export async function engineFor(target) {
  if (!existsSync(target.path)) throw new Error(`${target.name} core missing at ${target.path}: run scripts/build.sh`);
  return createEngine({ module: await readFile(target.path) });
}

export async function fixtureJson(relative) {
  return JSON.parse(await readFile(join(root, 'fixtures', relative), 'utf8'));
}

export const nativeCli = process.env.WHALE_NATIVE_CLI ?? join(root, 'build/native/src/cli/whale');
export { root };

// emscripten's image.wasm (what the edge loads) through the glue, instantiated once per process.
let imageModule;
export async function emscriptenImage() {
  if (imageModule === undefined) {
    const path = join(process.env.WHALE_EMSCRIPTEN_DIR ?? join(root, 'build/emscripten'), 'wasm/image.wasm');
    if (!existsSync(path)) throw new Error(`emscripten image.wasm missing at ${path}: run scripts/build.sh`);
    const { loadImageModule } = await import('../../js-glue/image.js');
    imageModule = await loadImageModule(await readFile(path));
  }
  return imageModule;
}
