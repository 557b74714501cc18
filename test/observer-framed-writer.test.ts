import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { FramedWriter } from '../src/observer/framed-writer.js';

/**
 * FramedWriter batches gRPC frames onto the call's HTTP/2 stream, found on
 * grpc-js internals. These tests pin that the batched path is taken with the
 * grpc-js in package-lock.json (an upgrade that hides the stream fails here
 * instead of silently falling back to 5x slower writes), and that what a real
 * grpc-js client receives is every message, intact, in order, then OK.
 */
const identity = (b: Buffer): Buffer => b;
const SERVICE = {
  Get: { path: '/test.Framed/Get', requestStream: false, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};

function message(i: number): Buffer {
  // Sizes from 4 bytes to past one batch, so frames straddle batch boundaries; each starts with its index.
  const b = Buffer.alloc(i % 997 === 0 ? 70_000 : 4 + ((i * 37) % 400), i % 251);
  b.writeUInt32BE(i, 0);
  return b;
}

type Client = grpc.Client & { Get(r: Buffer, md: grpc.Metadata, options: grpc.CallOptions): grpc.ClientReadableStream<Buffer> };

/** A call that cannot outlive the test. */
function get(client: Client): grpc.ClientReadableStream<Buffer> {
  return client.Get(Buffer.alloc(0), new grpc.Metadata(), { deadline: Date.now() + 60_000 });
}

async function withServer(handler: (call: grpc.ServerWritableStream<Buffer, Buffer>) => Promise<void>, body: (client: Client) => Promise<void>): Promise<void> {
  const server = new grpc.Server();
  const run = (call: grpc.ServerWritableStream<Buffer, Buffer>): void => {
    handler(call).catch((err: Error) => call.emit('error', { code: grpc.status.INTERNAL, details: err.message }));
  };
  server.addService(SERVICE, { Get: run });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const Client = grpc.makeGenericClientConstructor(SERVICE, 'Framed');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
  try {
    await body(client);
  } finally {
    client.close();
    server.forceShutdown();
  }
}

test('FramedWriter batches frames on the HTTP/2 stream; a grpc-js client gets every message intact and in order, then OK', async () => {
  const COUNT = 30_000;
  let batched = false;
  await withServer(async (call) => {
    const out = new FramedWriter(call);
    batched = out.batched;
    for (let i = 0; i < COUNT; i++) {
      out.push(message(i));
      if (out.needsRoom) await out.room();
    }
    out.flush();
    call.end();
  }, async (client) => {
    const got: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      const s = get(client);
      s.on('data', (b: Buffer) => got.push(b));
      s.on('error', reject);
      s.on('status', (st: grpc.StatusObject) => (st.code === grpc.status.OK ? resolve() : reject(new Error(st.details))));
    });
    assert.equal(got.length, COUNT);
    for (let i = 0; i < COUNT; i++) assert.ok(got[i].equals(message(i)), `message ${i} differs`);
  });
  assert.equal(batched, true, 'the HTTP/2 stream was not found on the grpc-js call: writes fell back to call.write');
});

test('FramedWriter: a client that stops reading makes history wait (needsRoom) and live flows count as behind; cancelling ends the wait', async () => {
  let observed: { needsRoom: boolean; behind: boolean; waitEnded: boolean } | null = null;
  let handlerDone: () => void = () => {};
  const finished = new Promise<void>((r) => (handlerDone = r));
  await withServer(async (call) => {
    const out = new FramedWriter(call);
    // Far more than HTTP/2 windows and the writer's limits can hold for a client that reads nothing.
    for (let i = 0; i < 20_000 && !out.behind; i++) out.push(Buffer.alloc(1000, 1));
    out.flush();
    const needsRoom = out.needsRoom;
    const behind = out.behind;
    await out.room(); // returns only once the client cancels
    observed = { needsRoom, behind, waitEnded: true };
    handlerDone();
  }, async (client) => {
    const s = get(client);
    s.on('error', () => {});
    s.pause();
    await new Promise((r) => setTimeout(r, 500));
    s.cancel();
    // A wait that cancelling does not end fails below (observed stays null) instead of hanging the suite.
    await Promise.race([finished, new Promise((r) => setTimeout(r, 10_000))]);
  });
  assert.deepEqual(observed, { needsRoom: true, behind: true, waitEnded: true });
});
