// The WebAssembly build's host, copied by `cargo xtask dist` to
// dist/wasm/dbd.mjs next to the program (dbd.wasm.br, brotli-compressed)
// and the HTTP worker (http-worker.mjs). The program is a wasm32-wasip1
// module run by Node's built-in WASI (files, clocks, environment, exit
// status: native code, on this thread); HTTP, which WASI preview 1 lacks,
// is the `dbd_http` import module below (the ABI is documented in
// src/io/host_http.rs): each request is one blocking call to a worker thread
// that makes it with node:http/node:https.
//
// load() starts the worker (it boots on its own thread meanwhile) and
// decompresses and compiles the program (V8 compiles each function when it
// first runs, so this is quick); run() runs it and returns its exit status.
import { readFileSync } from "node:fs";
import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";
import { brotliDecompressSync } from "node:zlib";

export function load() {
  const bridge = startWorker();
  const program = brotliDecompressSync(readFileSync(new URL("./dbd.wasm.br", import.meta.url)));
  return { module: new WebAssembly.Module(program), bridge };
}

export async function run({ module, bridge }, { args, env, preopens }) {
  const WASI = await wasiWithoutWarning();
  const wasi = new WASI({
    version: "preview1",
    args: ["dagster-branch-deploy", ...args],
    env,
    preopens: Object.fromEntries(preopens.map((dir) => [dir, dir])),
    returnOnExit: true,
  });
  let memory;
  const imports = { wasi_snapshot_preview1: wasi.wasiImport, dbd_http: httpImports(bridge, () => memory) };
  const instance = await WebAssembly.instantiate(module, imports);
  memory = instance.exports.memory;
  return wasi.start(instance);
}

/// node:wasi announces itself experimental on Node 22 and later; the
/// program is what the user runs, so the notice would only confuse.
async function wasiWithoutWarning() {
  const emit = process.emitWarning;
  process.emitWarning = (warning, ...rest) => {
    if (!String(warning?.message ?? warning).includes("WASI")) emit.call(process, warning, ...rest);
  };
  try {
    return (await import("node:wasi")).WASI;
  } finally {
    process.emitWarning = emit;
  }
}

/// The worker and a blocking call to it: post, then wait on a shared flag
/// the worker raises once it has posted its answer. The worker also beats
/// a shared counter every second: if it dies or hangs, the call fails
/// after HEARTBEAT_LOST_S rather than waiting forever.
const HEARTBEAT_LOST_S = 30;

function startWorker() {
  const { port1, port2 } = new MessageChannel();
  // [answered, heartbeats]
  const flag = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(new URL("./http-worker.mjs", import.meta.url), {
    workerData: { port: port2, flag },
    transferList: [port2],
  });
  worker.unref();
  return {
    call(message, transfer = []) {
      Atomics.store(flag, 0, 0);
      worker.postMessage(message, transfer);
      let beats = Atomics.load(flag, 1);
      let silent = 0;
      while (Atomics.wait(flag, 0, 0, 1000) === "timed-out") {
        const now = Atomics.load(flag, 1);
        silent = now === beats ? silent + 1 : 0;
        beats = now;
        if (silent >= HEARTBEAT_LOST_S) {
          throw new Error(`the HTTP worker stopped answering (no heartbeat for ${HEARTBEAT_LOST_S} s)`);
        }
      }
      return receiveMessageOnPort(port1).message;
    },
    post(message) {
      worker.postMessage(message);
    },
  };
}

/// How much of a response body one read asks the worker for.
const READ_AHEAD = 1 << 20;

function httpImports(bridge, memory) {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const bytes = (ptr, len) => new Uint8Array(memory().buffer, ptr >>> 0, len >>> 0);
  // Response bodies by id: what the worker sent and not yet read, and
  // whether that is all of it.
  const bodies = new Map();
  let reply = new Uint8Array(0);
  const answer = (value) => {
    reply = encoder.encode(typeof value === "string" ? value : JSON.stringify(value));
    return reply.length;
  };
  return {
    request(metaPtr, metaLen, bodyPtr, bodyLen) {
      const meta = JSON.parse(decoder.decode(bytes(metaPtr, metaLen)));
      const body = bytes(bodyPtr, bodyLen).slice();
      const r = bridge.call({ op: "request", meta, body }, [body.buffer]);
      if (r.error) return answer({ error: r.error, failure: r.failure });
      bodies.set(r.id, { buffered: r.chunk, done: r.done });
      return answer({ id: r.id, status: r.status, headers: r.headers });
    },
    read(id, dst, len) {
      const body = bodies.get(id);
      if (!body) return -answer(`response ${id} is closed`);
      while (body.buffered.length === 0 && !body.done) {
        const r = bridge.call({ op: "read", id, max: READ_AHEAD });
        if (r.error) return -answer(r.error);
        body.buffered = r.chunk;
        body.done = r.done;
      }
      const n = Math.min(len >>> 0, body.buffered.length);
      bytes(dst, n).set(body.buffered.subarray(0, n));
      body.buffered = body.buffered.subarray(n);
      return n;
    },
    take_reply(dst) {
      bytes(dst, reply.length).set(reply);
    },
    close(id) {
      const body = bodies.get(id);
      bodies.delete(id);
      if (body && !body.done) bridge.post({ op: "close", id });
    },
  };
}
