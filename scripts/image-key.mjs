#!/usr/bin/env node
// Prints a vendor's image signing key for a key id, derived from the edges' secret
// (docs/images.md, "Signed URLs"): the vendor's server signs its URLs with it
// (signImageUrl(url, {vendor, keyId, key}) in js-glue/image-url.js). Give the vendor this key,
// never the secret.
//
//   WHALE_IMAGE_SIGNING_SECRET=... node scripts/image-key.mjs <vendor> <key id> [--secret-env VAR]
import { parseArgs } from 'node:util';
import { deriveImageKey } from '../js-glue/image-url.js';

function usage(message) {
  console.error(`image-key: ${message}\nusage: node scripts/image-key.mjs <vendor> <key id> [--secret-env VAR]`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({ allowPositionals: true, options: { 'secret-env': { type: 'string', default: 'WHALE_IMAGE_SIGNING_SECRET' } } });
} catch (e) {
  usage(e.message);
}
const { values, positionals } = parsed;
if (positionals.length !== 2) usage('expected a vendor and a key id');
const secret = process.env[values['secret-env']];
if (!secret) usage(`$${values['secret-env']} is not set`);
try {
  console.log(await deriveImageKey(secret, positionals[0], positionals[1]));
} catch (e) {
  usage(e.message);
}
