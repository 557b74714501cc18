import http2 from 'node:http2';
import { buildTemplates, frame, frameBound } from './templates.js';

/**
 * Benchmark feeder, run in its own process: a minimal gRPC server over
 * node:http2 streaming GetFlowsResponse messages from pre-encoded templates.
 * grpc-js' own server writes far fewer messages per second than measured here.
 *
 * argv[2] = flows per second (0 = as fast as the client takes them).
 * Time stamps: 10 µs apart when unpaced; wall-clock send time when paced (for latency).
 */
const TEMPLATES = 20_000;
const CHUNK_BYTES = 256 * 1024;
const STEP_NS = 10_000;
const rate = Number(process.argv[2] ?? 0);
const templates = buildTemplates(TEMPLATES);
let sent = 0;
let seconds = Math.floor(Date.now() / 1000);
let nanos = 0;

function nextTime(): void {
  if (rate > 0) {
    const now = Date.now();
    const s = Math.floor(now / 1000);
    const n = (now % 1000) * 1e6 + (sent % 1_000_000);
    seconds = s;
    nanos = n;
    return;
  }
  nanos += STEP_NS;
  if (nanos >= 1e9) {
    seconds++;
    nanos -= 1e9;
  }
}

function fill(limit: number): Buffer {
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  let at = 0;
  let t = sent % templates.length;
  let n = 0;
  while (n < limit && at + frameBound(templates[t]) < CHUNK_BYTES) {
    nextTime();
    at = frame(chunk, at, templates[t], seconds, nanos, ++sent, true);
    t = (t + 1) % templates.length;
    n++;
  }
  return chunk.subarray(0, at);
}

const server = http2.createServer();
server.on('stream', (stream, headers) => {
  if (headers[':path'] !== '/observer.Observer/GetFlows') {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
    return;
  }
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
  stream.on('error', () => undefined);
  if (rate > 0) {
    const TICK_MS = 5;
    const started = Date.now();
    const base = sent;
    const timer = setInterval(() => {
      if (stream.destroyed) return clearInterval(timer);
      const owed = Math.floor(((Date.now() - started) * rate) / 1000) - (sent - base);
      let left = owed;
      while (left > 0) {
        const before = sent;
        stream.write(fill(left));
        left -= sent - before;
      }
    }, TICK_MS);
    return;
  }
  const pump = (): void => {
    while (!stream.destroyed) {
      if (!stream.write(fill(Infinity))) {
        stream.once('drain', pump);
        return;
      }
    }
  };
  pump();
});
server.listen(0, '127.0.0.1', () => {
  const port = (server.address() as { port: number }).port;
  process.send!({ type: 'listening', port, avgTemplateBytes: Math.round(templates.reduce((s, b) => s + b.length, 0) / templates.length) });
});
process.on('message', (m: { type: string }) => {
  if (m.type === 'stats') process.send!({ type: 'stats', sent });
  if (m.type === 'exit') process.exit(0);
});
