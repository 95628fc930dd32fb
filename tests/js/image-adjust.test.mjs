// brightness, contrast, gamma and saturation (docs/images.md, "Options"), through the emscripten
// image.wasm the edge loads, on the same resized picture: brightness=b is sharp's (libvips's)
// linear(b, 0), contrast=c is linear(c, 128 * (1 - c)) (levels around mid-grey), saturation=s is
// recomb with the matrix that mixes each colour with BT.601 luma, each sample within 1 of libvips's
// (its rounding may differ from ours by one); gamma=g is its definition, 255 * (v / 255)^(1/g),
// computed here. blur=r is a Gaussian of sigma r / 2: against libvips's gaussblur of that sigma
// (accurate: minAmplitude 0.001, float precision), every sample within 2 below sigma 3 (the
// kernel itself), and away from the edges within 6 above it (three boxes; at the edges the
// cascade's clamping differs). The padding and the alpha channel are left alone; a bad value is
// an error naming the option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { emscriptenImage, root } from './targets.mjs';

const fixture = (name) => readFileSync(join(root, 'fixtures/images', name));
const ours = async (source, options) => Buffer.from((await emscriptenImage()).process(source, options).bytes);

const raw = async (input) => (await sharp(input).raw().toBuffer({ resolveWithObject: true }));

// The largest and the mean difference between two raw images of the same shape.
function compare(a, b) {
  assert.deepEqual([a.info.width, a.info.height, a.info.channels], [b.info.width, b.info.height, b.info.channels]);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.data.length };
}

test('brightness, contrast and saturation equal libvips\'s levels and recomb, gamma its formula', async () => {
  const photo = fixture('320x240.jpg');
  const base = await ours(photo, 'width=160,format=png');
  const plain = await raw(base);
  const cases = [
    ['brightness=0.5', (s) => s.linear(0.5, 0)],
    ['brightness=1.5', (s) => s.linear(1.5, 0)],
    ['contrast=0.5', (s) => s.linear(0.5, 128 * (1 - 0.5))],
    ['contrast=1.8', (s) => s.linear(1.8, 128 * (1 - 1.8))],
  ];
  for (const [option, reference] of cases) {
    const adjusted = await raw(await ours(photo, `width=160,format=png,${option}`));
    const expected = await raw(await reference(sharp(base)).png().toBuffer());
    const d = compare(adjusted, expected);
    assert.ok(d.max <= 1, `${option}: a sample ${d.max} away from libvips's`);
    assert.ok(compare(adjusted, plain).mean > 5, `${option}: the picture changed`);
  }
  // saturation: libvips's recomb with s * identity + (1 - s) * the luma row; 0 is grey. On a
  // colourful photo (320x240.jpg is nearly grey).
  const lumaRow = [0.299, 0.587, 0.114];
  const flowers = fixture('flowers.jpeg');
  const colourful = await ours(flowers, 'width=160,format=png');
  for (const level of [0, 0.4, 2]) {
    const matrix = [0, 1, 2].map((c) => lumaRow.map((w, k) => (1 - level) * w + (k === c ? level : 0)));
    const adjusted = await raw(await ours(flowers, `width=160,format=png,saturation=${level}`));
    const expected = await raw(await sharp(colourful).recomb(matrix).png().toBuffer());
    const d = compare(adjusted, expected);
    assert.ok(d.max <= 1, `saturation=${level}: a sample ${d.max} away from libvips's`);
    assert.ok(compare(adjusted, await raw(colourful)).mean > 2, `saturation=${level}: the picture changed`);
  }
  // gamma: the formula, sample by sample.
  for (const g of [0.5, 2.2]) {
    const adjusted = await raw(await ours(photo, `width=160,format=png,gamma=${g}`));
    const expected = { info: plain.info, data: plain.data.map((v) => Math.round(255 * (v / 255) ** (1 / g))) };
    assert.ok(compare(adjusted, expected).max <= 1, `gamma=${g}`);
    assert.ok(compare(adjusted, plain).mean > 5, `gamma=${g}: the picture changed`);
  }
  // Both: brightness first, then contrast (a rounding apart after the first step, times 1.5).
  const both = await raw(await ours(photo, 'width=160,format=png,contrast=1.5,brightness=1.2'));
  const brighter = await sharp(base).linear(1.2, 0).png().toBuffer();
  const expected = await raw(await sharp(brighter).linear(1.5, 128 * (1 - 1.5)).png().toBuffer());
  const d = compare(both, expected);
  assert.ok(d.max <= 2 && d.mean < 0.5, `brightness then contrast: ${JSON.stringify(d)}`);
  // 1 and 0 change nothing (0 is ignored, as Cloudflare does).
  for (const option of ['brightness=1', 'contrast=0']) {
    assert.deepEqual((await raw(await ours(photo, `width=160,format=png,${option}`))).data, plain.data, option);
  }
});

test('blur is a Gaussian of half the radius', async () => {
  const photo = fixture('320x240.jpg');
  const base = await ours(photo, 'width=200,format=png');
  for (const radius of [1, 4, 10, 40]) {
    const sigma = radius / 2;
    const blurred = await raw(await ours(photo, `width=200,format=png,blur=${radius}`));
    const expected = await raw(await sharp(base).blur({ sigma, minAmplitude: 0.001, precision: 'float' }).png().toBuffer());
    const { width: w, height: h, channels: c } = blurred.info;
    const edge = sigma < 3 ? 0 : Math.ceil(3 * sigma);
    let max = 0;
    let sum = 0;
    let n = 0;
    for (let y = edge; y < h - edge; y++) {
      for (let x = edge; x < w - edge; x++) {
        for (let k = 0; k < c; k++) {
          const d = Math.abs(blurred.data[(y * w + x) * c + k] - expected.data[(y * w + x) * c + k]);
          max = Math.max(max, d);
          sum += d;
          n++;
        }
      }
    }
    assert.ok(max <= (sigma < 3 ? 2 : 6) && sum / n < 1.5, `blur=${radius}: max ${max}, mean ${(sum / n).toFixed(2)}`);
  }
  // A transparent picture stays transparent (alpha is blurred with the colours, premultiplied).
  const clear = await raw(await ours(fixture('full-transparent.png'), 'width=50,format=png,blur=6'));
  const c = clear.info.channels;
  assert.ok(c === 2 || c === 4);
  for (let i = c - 1; i < clear.data.length; i += c) assert.equal(clear.data[i], 0);
});

// sharpen=s: v + (v - gauss(v, sigma 1)) * s / 2, computed here over libvips's accurate Gaussian.
test('sharpen is an unsharp mask over a Gaussian of sigma 1', async () => {
  const photo = fixture('2569067123_aca715a2ee_o.jpg');  // detailed: flowers.jpeg is too smooth at this size
  const base = await ours(photo, 'width=300,format=png');
  const plain = await raw(base);
  const soft = await raw(await sharp(base).blur({ sigma: 1, minAmplitude: 0.001, precision: 'float' }).png().toBuffer());
  for (const strength of [1, 4]) {
    const sharpened = await raw(await ours(photo, `width=300,format=png,sharpen=${strength}`));
    const expected = {
      info: plain.info,
      data: plain.data.map((v, i) => Math.min(255, Math.max(0, Math.round(v + ((v - soft.data[i]) * strength) / 2)))),
    };
    const d = compare(sharpened, expected);
    assert.ok(d.max <= 1 + strength && d.mean < 1, `sharpen=${strength}: ${JSON.stringify(d)}`);
    assert.ok(compare(sharpened, plain).mean > strength, `sharpen=${strength}: the picture changed`);
  }
});

test('the padding and the alpha channel are left alone; bad values name the option', async () => {
  const padded = await raw(await ours(fixture('320x240.jpg'), 'width=200,height=200,fit=pad,background=%23808080,format=png,brightness=2'));
  assert.deepEqual([...padded.data.subarray(0, 3)], [128, 128, 128], 'the pad stays the background colour');
  const alpha = fixture('grey-8bit-alpha.png');
  const plain = await raw(await ours(alpha, 'width=100,format=png'));
  const bright = await raw(await ours(alpha, 'width=100,format=png,brightness=2'));
  assert.equal(plain.info.channels, bright.info.channels);
  const last = plain.info.channels - 1;
  for (let i = last; i < plain.data.length; i += plain.info.channels) assert.equal(bright.data[i], plain.data[i]);
  const image = await emscriptenImage();
  for (const [option, name] of [['brightness=11', 'brightness'], ['contrast=-1', 'contrast'], ['brightness=x', 'brightness'],
    ['gamma=10.5', 'gamma'], ['saturation=1e3', 'saturation'], ['blur=251', 'blur'], ['sharpen=10.5', 'sharpen']]) {
    assert.throws(() => image.process(alpha, `width=10,${option}`), (e) => e.code === 'invalid_value' && e.message.includes(`'${name}'`), option);
  }
});
