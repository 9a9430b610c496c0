// The WebAssembly build's HTTP worker (dist/wasm/http-worker.mjs): makes the
// program's requests with node:http and node:https for host.mjs, which
// blocks until each answer is posted and the shared flag raised (flag[0];
// flag[1] counts heartbeats). Agents
// keep connections alive and take HTTPS_PROXY/NO_PROXY from the
// environment (Node 24's proxyEnv; older Node ignores it); TLS trusts
// what Node trusts (the launcher adds SSL_CERT_FILE as
// NODE_EXTRA_CA_CERTS). Redirects are not followed: the program does that.
import { createReadStream } from "node:fs";
import { createRequire } from "node:module";
import { parentPort, workerData } from "node:worker_threads";

// require, not import: an ES import of node:http reads every export, and
// some (WebSocket, fetch's classes) load undici, which this never uses.
const require = createRequire(import.meta.url);
const http = require("node:http");
const https = require("node:https");

const { port, flag } = workerData;
const proxied = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"].some((name) => process.env[name]);
const agentOptions = { keepAlive: true, noDelay: true, ...(proxied ? { proxyEnv: process.env } : {}) };
const agents = { "http:": new http.Agent(agentOptions), "https:": new https.Agent(agentOptions) };
// Node loads the client's internals on first use: a request abandoned
// before it connects loads them now, while the program is still loading.
for (const transport of [http, https]) {
  const warm = transport.request({ host: "127.0.0.1", port: 9, agent: false });
  warm.on("error", () => {});
  warm.destroy();
}
const CONNECT_TIMEOUT_MS = 30_000;
const IDLE_TIMEOUT_MS = 600_000;
/// Sent with the status: a small body (most API answers) comes whole.
const FIRST_CHUNK = 64 * 1024;
/// Buffered per response before its socket is paused.
const BUFFER_LIMIT = 4 << 20;

const responses = new Map();
let lastId = 0;

// The heartbeat host.mjs watches while it waits.
setInterval(() => Atomics.add(flag, 1, 1), 1000).unref();

parentPort.on("message", (message) => void answer(message));

/// Answers one message; every request and read gets exactly one answer
/// and the flag raised, or the program would wait forever.
async function answer(message) {
  if (message.op === "close") {
    responses.get(message.id)?.destroy();
    responses.delete(message.id);
    return;
  }
  let reply;
  try {
    reply = message.op === "request" ? await request(message) : await read(message);
  } catch (error) {
    reply = { error: describe(error), failure: failure(error) };
  }
  try {
    port.postMessage(reply, reply.chunk ? [reply.chunk.buffer] : []);
  } catch (error) {
    port.postMessage({ error: describe(error), failure: "permanent" });
  } finally {
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
  }
}

function request({ meta, body }) {
  const url = new URL(meta.url);
  const transport = url.protocol === "https:" ? https : url.protocol === "http:" ? http : null;
  if (!transport) throw new Error(`unsupported scheme ${url.protocol}`);
  const headers = {};
  for (const [name, value] of meta.headers) headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  return new Promise((resolve, reject) => {
    const req = transport.request(url, { method: meta.method, headers, agent: agents[url.protocol] }, (res) => {
      const response = new ResponseBody(res);
      response.take(FIRST_CHUNK, FIRST_CHUNK).then(({ chunk, done }) => {
        const id = ++lastId;
        if (!done) responses.set(id, response);
        const pairs = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) pairs.push([res.rawHeaders[i], res.rawHeaders[i + 1]]);
        resolve({ id, status: res.statusCode, headers: pairs, chunk, done });
      }, reject);
    });
    req.on("error", reject);
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(coded("ETIMEDOUT", "no data for 10 minutes")));
    req.on("socket", (socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(() => req.destroy(coded("ETIMEDOUT", "could not connect in 30 s")), CONNECT_TIMEOUT_MS);
      socket.once("connect", () => clearTimeout(timer));
      socket.once("close", () => clearTimeout(timer));
    });
    if (meta.body_file) {
      const file = createReadStream(meta.body_file);
      file.on("error", (error) => req.destroy(error));
      file.pipe(req);
    } else {
      req.end(body.length > 0 ? body : undefined);
    }
  });
}

async function read({ id, max }) {
  const response = responses.get(id);
  if (!response) throw new Error(`response ${id} is closed`);
  const taken = await response.take(Math.min(max, FIRST_CHUNK * 4), max);
  if (taken.done) responses.delete(id);
  return taken;
}

/// A response body arriving: chunks buffered until taken.
class ResponseBody {
  constructor(res) {
    this.res = res;
    this.chunks = [];
    this.size = 0;
    this.ended = false;
    this.error = null;
    this.wake = null;
    res.on("data", (chunk) => {
      this.chunks.push(chunk);
      this.size += chunk.length;
      if (this.size >= BUFFER_LIMIT) res.pause();
      this.notify();
    });
    res.on("end", () => {
      this.ended = true;
      this.notify();
    });
    res.on("error", (error) => {
      this.error = error;
      this.notify();
    });
    res.on("close", () => {
      if (!this.ended && !this.error) this.error = coded("ECONNRESET", "the connection closed before the response ended");
      this.notify();
    });
  }

  notify() {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /// Waits for `enough` bytes (or the end, or an error), then takes up to
  /// `max`: { chunk, done }.
  async take(enough, max) {
    while (this.size < enough && !this.ended && !this.error) await new Promise((wake) => (this.wake = wake));
    if (this.size === 0 && this.error) throw this.error;
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
    const chunk = new Uint8Array(all.subarray(0, max));
    const rest = all.subarray(chunk.length);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.size = rest.length;
    if (this.size < BUFFER_LIMIT && this.res.isPaused()) this.res.resume();
    return { chunk, done: this.ended && this.size === 0 };
  }

  destroy() {
    this.res.destroy();
  }
}

function coded(code, message) {
  return Object.assign(new Error(message), { code });
}

function describe(error) {
  const message = error?.message || String(error);
  return error?.code && !message.includes(error.code) ? `${message} (${error.code})` : message;
}

/// The program's retry policy needs to know what kind of failure it was.
function failure(error) {
  switch (error?.code) {
    case "ECONNREFUSED":
    case "ENOTFOUND":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "EADDRNOTAVAIL":
      return "unreachable";
    case "ECONNRESET":
    case "ETIMEDOUT":
    case "EPIPE":
    case "ECONNABORTED":
    case "EAI_AGAIN":
      return "interrupted";
    default:
      return "permanent";
  }
}
