// A response head's first two lines (status and date) are copied in as bytes made once per status
// each second: they must carry the clock's current date, and change when it does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as clock from '../../../src/downstream/clock.js';
import { statusAndDate } from '../../../src/downstream/h1/output.js';

test('status and date lines: the clock\'s current date, the same bytes within its second, new ones after it', async () => {
  let second!: () => void;
  const ticked = new Promise<void>((resolve) => { second = resolve; });
  const stop = clock.everySecond(() => second());
  // (the clock's timer does not keep a process alive)
  const keepAlive = setTimeout(() => {}, 10_000);
  try {
    const before = clock.dateHeader;
    const ok = statusAndDate(200);
    assert.equal(ok.toString('latin1'), `HTTP/1.1 200 OK\r\ndate: ${before}\r\n`);
    assert.equal(statusAndDate(200), ok, 'made once within the second');
    assert.equal(statusAndDate(404).toString('latin1'), `HTTP/1.1 404 Not Found\r\ndate: ${before}\r\n`);
    assert.equal(statusAndDate(299).toString('latin1'), `HTTP/1.1 299 Status 299\r\ndate: ${before}\r\n`);
    await ticked;
    assert.notEqual(clock.dateHeader, before);
    assert.equal(statusAndDate(200).toString('latin1'), `HTTP/1.1 200 OK\r\ndate: ${clock.dateHeader}\r\n`);
    assert.equal(ok.toString('latin1'), `HTTP/1.1 200 OK\r\ndate: ${before}\r\n`, 'a head already built keeps its bytes');
  } finally {
    stop();
    clearTimeout(keepAlive);
  }
});
