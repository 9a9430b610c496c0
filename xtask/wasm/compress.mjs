// Brotli-compresses each file given (quality 11, 16 MiB window) to
// FILE.br, for the WebAssembly build's core modules, which the glue
// decompresses with node:zlib when it loads them.
import { readFileSync, writeFileSync } from "node:fs";
import { brotliCompressSync, constants } from "node:zlib";

for (const file of process.argv.slice(2)) {
  const params = { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_LGWIN]: 24 };
  writeFileSync(`${file}.br`, brotliCompressSync(readFileSync(file), { params }));
}
