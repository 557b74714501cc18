import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pacer } from '../src/sim/relay-server.js';

test('the simulator paces by elapsed time: late, irregular timer ticks still give the rate asked for', () => {
  const pacer = new Pacer(2000, 0);
  let now = 0;
  let ticks = 0;
  // Timers asked for every 10 ms fire every 12–19 ms under load; the generator sometimes sends a pair (verdict + drop event).
  while (now < 60_000) {
    now += 12 + (ticks++ % 8);
    let due = pacer.due(now);
    while (due > 0) {
      const step = ticks % 3 === 0 ? 2 : 1;
      pacer.sent += step;
      due -= step;
    }
  }
  const expected = (2000 * now) / 1000;
  assert.ok(Math.abs(pacer.sent - expected) <= 2, `sent ${pacer.sent} for ${expected} owed`);
});
