/** The NTP server: packet details over raw UDP, then real clients (chrony, ntplib) against the daemon. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { ClockState } from '../src/ntp/clock-state.ts';
import { readTimestamp, writeTimestamp } from '../src/ntp/packet.ts';
import { NtpServer } from '../src/ntp/server.ts';
import { needs } from './helpers/peers.ts';
import { TestDaemon } from './helpers/daemon.ts';

const run = promisify(execFile);

/**
 * Sends one datagram; resolves with the reply, or undefined after `waitMs`.
 * The wait only bounds a failure: a reply is expected, however slow the machine.
 */
function ask(port: number, datagram: Buffer, waitMs = 10_000): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      resolve(undefined);
    }, waitMs);
    socket.on('message', (msg) => {
      clearTimeout(timer);
      socket.close();
      resolve(msg);
    });
    socket.send(datagram, port, '127.0.0.1');
  });
}

/** Sends two datagrams from one socket, in order; resolves with the first reply (the server answers in order). */
function firstReplyTo(port: number, first: Buffer, second: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('no reply to either datagram'));
    }, 10_000);
    socket.on('message', (msg) => {
      clearTimeout(timer);
      socket.close();
      resolve(msg);
    });
    socket.send(first, port, '127.0.0.1', () => socket.send(second, port, '127.0.0.1'));
  });
}

function request(version = 4, mode = 3, length = 48): { packet: Buffer; transmit: Buffer } {
  const packet = Buffer.alloc(length);
  packet[0] = (version << 3) | mode;
  packet[2] = 6; // poll
  const transmit = randomBytes(8); // as chrony does: random, not a time
  transmit.copy(packet, 40);
  return { packet, transmit };
}

describe('NTP packets', () => {
  let state: ClockState = { synchronised: false, source: 'injected' };
  let requireSync = false;
  const server = new NtpServer({
    localStratum: 10,
    get requireSync() {
      return requireSync;
    },
    clock: () => state,
    rateLimit: { burst: 8, perSecond: 1 },
  } as never);
  let port = 0;
  before(async () => {
    port = await server.listen('127.0.0.1', 0);
  });
  after(() => server.close());

  it('answers mode 4 with the version echoed and the origin copied byte for byte', async () => {
    for (const version of [4, 3]) {
      const { packet, transmit } = request(version);
      const before = Date.now();
      const reply = (await ask(port, packet))!;
      const after = Date.now();
      assert.equal(reply.length, 48);
      assert.equal(reply[0]! & 7, 4);
      assert.equal((reply[0]! >> 3) & 7, version);
      assert.ok(reply.subarray(24, 32).equals(transmit), 'origin timestamp');
      const rx = readTimestamp(reply, 32);
      const tx = readTimestamp(reply, 40);
      // Stamped while the request was out: however slow the machine, between our two readings of the same clock.
      assert.ok(before - 1 <= rx && rx <= tx && tx <= after + 1, `rx ${rx} tx ${tx}, asked at ${before}, answered by ${after}`);
      assert.equal(reply.readInt8(3), -10, 'precision of a millisecond clock');
    }
  });

  it('unsynchronised: local stratum by default, leap 3 with ntp.requireSync', async () => {
    let reply = (await ask(port, request().packet))!;
    assert.equal(reply[1], 10);
    assert.equal(reply[0]! >> 6, 0);
    assert.equal(reply.subarray(12, 16).toString(), 'LOCL');
    requireSync = true;
    reply = (await ask(port, request().packet))!;
    assert.equal(reply[0]! >> 6, 3);
    requireSync = false;
    assert.equal(server.stats.mode, 'unsynchronised');
  });

  it("synchronised: the host's stratum, the upstream's id and delay, dispersion grown by 15 ppm since its last update, leap announced", async () => {
    state = {
      synchronised: true,
      source: 'injected',
      hostStratum: 3,
      leap: 1,
      referenceId: Buffer.from([192, 0, 2, 1]),
      rootDelay: 0.02,
      rootDispersion: 0.001,
      lastSync: Date.now() - 100_000,
    };
    const reply = (await ask(port, request().packet))!;
    assert.equal(reply[1], 3);
    assert.equal(reply[0]! >> 6, 1, 'leap second insertion announced');
    assert.deepEqual([...reply.subarray(12, 16)], [192, 0, 2, 1]);
    assert.ok(Math.abs(reply.readUInt32BE(4) / 65536 - 0.02) < 0.0001);
    const dispersion = reply.readUInt32BE(8) / 65536;
    assert.ok(Math.abs(dispersion - (0.001 + 100 * 15e-6)) < 0.0002, `dispersion ${dispersion}`);
    assert.equal(server.stats.mode, 'synchronised');
    state = { synchronised: false, source: 'injected' };
  });

  it('drops short, oversized, non-client and unsupported-version datagrams without a word', async () => {
    const dropped = server.stats.dropped;
    for (const packet of [
      request(4, 3, 47).packet,
      request(4, 3, 1025).packet,
      request(4, 4).packet,
      request(4, 1).packet,
      request(2).packet,
      request(7).packet,
      Buffer.from('hello'),
    ]) {
      // No reply, shown without a timeout: from the same socket a good request follows, and the first reply is its.
      const good = request();
      const first = await firstReplyTo(port, packet, good.packet);
      assert.ok(first.subarray(24, 32).equals(good.transmit), 'the first reply answers the good request: the bad one got none');
    }
    assert.equal(server.stats.dropped, dropped + 7);
  });

  it("answers a flood with Kiss-o'-Death RATE, never larger than the request", async () => {
    // Past the KoD budget the server may drop a request: those waits end at 2 s, together.
    const replies = await Promise.all(Array.from({ length: 30 }, () => ask(port, request().packet, 2_000)));
    const kod = replies.filter((r) => r && r[1] === 0 && r.subarray(12, 16).toString() === 'RATE');
    assert.ok(kod.length >= 10, `KoD replies: ${kod.length}`);
    assert.ok(replies.every((r) => !r || r.length <= 48));
  });

  it('writes and reads timestamps across the 2036 era boundary', () => {
    const buf = Buffer.alloc(8);
    for (const ms of [Date.UTC(2036, 1, 7, 6, 28, 15), Date.UTC(2036, 1, 7, 6, 28, 17, 500), Date.UTC(2024, 0, 1)]) {
      writeTimestamp(buf, 0, ms);
      assert.ok(Math.abs(readTimestamp(buf, 0, ms) - ms) < 0.001, new Date(ms).toISOString());
    }
  });
});

describe("the daemon as the cameras' time source", () => {
  let daemon: TestDaemon;
  let ntpPort = 0;
  before(async () => {
    daemon = await TestDaemon.start({ args: ['--ntp-listen', '127.0.0.1:0'] });
    const line = daemon.logLines.find((l) => l.includes('serving NTP'))!;
    ntpPort = Number((JSON.parse(line) as { ntp: string }).ntp.split(':').pop());
  });
  after(() => daemon.cleanup());

  it('is advertised in the connection file only while it serves', async () => {
    assert.ok(ntpPort > 0);
    assert.equal(((await daemon.connectionFile()) as unknown as { ContentDestinationAsNTPServer: boolean }).ContentDestinationAsNTPServer, true);
  });

  it('chrony takes its time from it (offset under 50 ms)', { skip: needs('chronyd') }, async () => {
    const { stdout, stderr } = await run('chronyd', ['-Q', '-t', '5', `server 127.0.0.1 port ${ntpPort} iburst maxsamples 4`], { timeout: 20_000 });
    const m = /System clock wrong by (-?[\d.]+) seconds/.exec(stdout + stderr);
    assert.ok(m, stdout + stderr);
    assert.ok(Math.abs(Number(m[1])) < 0.05, m[0]);
  });

  it('python3-ntplib (from Debian, so /usr/bin/python3) reads the configured local stratum', { skip: needs('ntplib') }, async () => {
    const { stdout } = await run('/usr/bin/python3', ['-c', `import ntplib; r = ntplib.NTPClient().request('127.0.0.1', port=${ntpPort}, version=4); print(r.stratum, r.offset)`]);
    const [stratum, offset] = stdout.trim().split(' ').map(Number);
    assert.equal(stratum, 10);
    assert.ok(Math.abs(offset!) < 0.05);
  });

  it('a port it cannot bind costs one log line, not the API, and is not advertised', async () => {
    const blocker = createSocket('udp4');
    await new Promise<void>((r) => blocker.bind(0, '127.0.0.1', () => r()));
    const busy = await TestDaemon.start({ args: ['--ntp-listen', `127.0.0.1:${blocker.address().port}`] });
    try {
      assert.ok(busy.logLines.some((l) => l.includes('cannot serve NTP')));
      assert.equal(((await busy.connectionFile()) as unknown as { ContentDestinationAsNTPServer: boolean }).ContentDestinationAsNTPServer, false);
      assert.equal((await busy.request('GET', '/healthcheck')).status, 200);
    } finally {
      blocker.close();
      await busy.cleanup();
    }
  });
});
