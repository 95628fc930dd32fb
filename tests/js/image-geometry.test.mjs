// Where a resized picture lands (docs/images.md, "Resizing"), through the emscripten image.wasm:
// a JPEG decoded at a DCT scale (1/2, 1/4, 1/8) is up to a pixel wider and taller than the picture
// in it, and fit=cover rounds one side of the resized image; the resize maps the picture itself,
// so the output matches a resize of the fully decoded source all the way to its far corner.
// The reference is the same source fully decoded through the same pipeline, compared by SSIM
// over luma (8x8 windows, stride 4), over the whole image and over its far corner, where a
// stretched mapping is off by a fraction of a pixel and the texture of a photo shows it. Against
// sharp (Lanczos3 in gamma space): within 0.99 of its exact path (fastShrinkOnLoad: false) and
// 0.98 of its default path (its own shrink-on-load) on sharp's benchmark task.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { emscriptenImage, root } from './targets.mjs';
import { ssim } from './ssim.mjs';

const fixture = (name) => readFileSync(join(root, 'fixtures/images', name));
const ours = async (source, options) => Buffer.from((await emscriptenImage()).process(source, options).bytes);
const luma = async (input) => sharp(input).greyscale().raw().toBuffer({ resolveWithObject: true });

// The photo of sharp's benchmark (2725x2225, 4:2:0) to three sizes, decoded at three DCT scales.
const cases = [
  [720, 588, '1/2'],  // a 1362.5 x 1112.5 picture in 1363 x 1113 decoded pixels
  [301, 301, '1/4'],  // 681.25 x 556.25 in 682 x 557; cover crops 301 of 368.6 columns
  [100, 100, '1/8'],  // 340.6 x 278.1 in 341 x 279
];
const photo = () => fixture('2569067123_aca715a2ee_o.jpg');

for (const [width, height, scale] of cases) {
  test(`${width}x${height} (decoded at ${scale}) lands where the full decode does`, async () => {
    // The reference: the same pixels fully decoded (sharp's libjpeg-turbo, written as PNG), through
    // the same pipeline: the same linear-light resize with no DCT scale.
    const whole = await sharp(photo()).png().toBuffer();
    const mine = await luma(await ours(photo(), `width=${width},height=${height},fit=cover,format=png`));
    const full = await luma(await ours(whole, `width=${width},height=${height},fit=cover,format=png`));
    assert.deepEqual([mine.info.width, mine.info.height, full.info.width], [width, height, width]);
    const all = ssim(mine.data, full.data, width, height);
    const cw = Math.max(32, width >> 2), ch = Math.max(32, height >> 2);
    const corner = ssim(mine.data, full.data, width, height, { x: width - cw, y: height - ch, w: cw, h: ch });
    // Stretched over the decoded pixels instead, these were 0.987 / 0.964, 0.968 / 0.906 and
    // 0.987 / 0.969.
    assert.ok(all >= 0.995, `SSIM ${all.toFixed(4)} against the full decode`);
    assert.ok(corner >= 0.99, `SSIM ${corner.toFixed(4)} in the far corner against the full decode`);
  });
}

test('sharp\'s benchmark task: within SSIM 0.99 of sharp\'s exact path, 0.98 of its default path', async () => {
  const mine = await luma(await ours(photo(), 'width=720,height=588,fit=cover,format=png'));
  const exact = await luma(await sharp(photo()).resize(720, 588, { fastShrinkOnLoad: false }).png().toBuffer());
  const dflt = await luma(await sharp(photo()).resize(720, 588).png().toBuffer());
  const toExact = ssim(mine.data, exact.data, 720, 588);
  const toDefault = ssim(mine.data, dflt.data, 720, 588);
  assert.ok(toExact >= 0.99, `SSIM ${toExact.toFixed(4)} against sharp's exact path`);
  assert.ok(toDefault >= 0.98, `SSIM ${toDefault.toFixed(4)} against sharp's default path`);
});
