// Brotli-compresses a file (quality 11, 16 MiB window): node compress.mjs
// INPUT OUTPUT. The WebAssembly build's program ships this way (a quarter
// of its size); host.mjs decompresses it with node:zlib when it loads it.
import { readFileSync, writeFileSync } from "node:fs";
import { brotliCompressSync, constants } from "node:zlib";

const [input, output] = process.argv.slice(2);
const params = { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_LGWIN]: 24 };
writeFileSync(output, brotliCompressSync(readFileSync(input), { params }));
