/** Body-worn rules on top of Swift: sealed recordings, licence limits, unique UserIDs. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SwiftSession, TestDaemon } from './helpers/daemon.ts';

let daemon: TestDaemon;
let s: SwiftSession;

before(async () => {
  daemon = await TestDaemon.start({ config: { limits: { maxUsers: 3, maxDevices: 1 }, capabilities: { StoreUserIDKey: true } } });
  s = await SwiftSession.open(daemon);
});
after(() => daemon.cleanup());

describe('sealing', () => {
  const rec = '/5f0c1d2e-0000-4000-8000-000000000001_B0001_20240101T120000Z';

  it('a Complete recording refuses every change (403) and keeps what it had', async () => {
    await s.req('PUT', rec, { 'X-Container-Meta-Status': 'Transferring' });
    assert.equal((await s.req('PUT', `${rec}/20240101T120000Z_1.mkv`, {}, 'clip one')).status, 201);
    assert.equal((await s.req('PUT', `${rec}/20240101T120000Z_1.mkv`, {}, 'clip one, retried')).status, 201, 'replaceable until sealed');
    assert.equal((await s.req('POST', rec, { 'X-Container-Meta-Status': 'Complete' })).status, 204);

    assert.equal((await s.req('PUT', `${rec}/20240101T120500Z_1.mkv`, {}, 'late clip')).status, 403);
    assert.equal((await s.req('PUT', `${rec}/20240101T120000Z_1.mkv`, {}, 'overwrite')).status, 403);
    assert.equal((await s.req('POST', `${rec}/20240101T120000Z_1.mkv`, { 'X-Object-Meta-A': '1' })).status, 403);
    assert.equal((await s.req('POST', rec, { 'X-Container-Meta-Status': 'Transferring' })).status, 403);
    assert.equal((await s.req('PUT', rec, { 'X-Container-Meta-Extra': 'x' })).status, 403);

    assert.equal((await s.req('HEAD', `${rec}/20240101T120500Z_1.mkv`)).status, 404);
    assert.equal((await s.req('GET', `${rec}/20240101T120000Z_1.mkv`)).text, 'clip one, retried');
    const head = await s.req('HEAD', rec);
    assert.equal(head.headers['x-container-meta-status'], 'Complete');
    assert.equal(head.headers['x-container-object-count'], '1');
  });

  it('a retry that changes nothing still succeeds', async () => {
    assert.equal((await s.req('POST', rec, { 'X-Container-Meta-Status': 'Complete' })).status, 204);
    assert.equal((await s.req('PUT', rec)).status, 202);
  });
});

describe('licence limits', () => {
  it('one user or device more than licensed is 402 and is not stored; existing ones may be re-sent', async () => {
    await s.req('PUT', '/Users');
    await s.req('PUT', '/Devices');
    for (const u of ['u1', 'u2', 'u3']) assert.equal((await s.req('PUT', `/Users/${u}`, { 'X-Object-Meta-Name': u }, '')).status, 201);
    const over = await s.req('PUT', '/Users/u4', { 'X-Object-Meta-Name': 'u4' }, '');
    assert.equal(over.status, 402);
    assert.match(over.text, /limits\.maxUsers/);
    assert.equal((await s.req('HEAD', '/Users/u4')).status, 404);
    assert.equal((await s.req('PUT', '/Users/u1', { 'X-Object-Meta-Name': 'renamed' }, '')).status, 201);
    assert.equal((await s.req('PUT', '/Devices/B0001', { 'X-Object-Meta-Model': 'W100' }, '')).status, 201);
    assert.equal((await s.req('PUT', '/Devices/B0002', { 'X-Object-Meta-Model': 'W100' }, '')).status, 402);
  });
});

describe('UserID (StoreUserIDKey)', () => {
  it('is empty or unique: a clash is 400 and changes nothing', async () => {
    assert.equal((await s.req('POST', '/Users/u1', { 'X-Object-Meta-Userid': 'BADGE-7' })).status, 202);
    const clash = await s.req('POST', '/Users/u2', { 'X-Object-Meta-Userid': 'BADGE-7' });
    assert.equal(clash.status, 400);
    assert.match(clash.text, /already belongs to user u1/);
    assert.equal((await s.req('HEAD', '/Users/u2')).headers['x-object-meta-userid'], undefined);
    assert.equal((await s.req('POST', '/Users/u1', { 'X-Object-Meta-Userid': 'BADGE-7', 'X-Object-Meta-Name': 'again' })).status, 202, 'its own id');
    assert.equal((await s.req('POST', '/Users/u2', { 'X-Object-Meta-Userid': 'BADGE-8' })).status, 202);
    assert.equal((await s.req('POST', '/Users/u3', { 'X-Object-Meta-Userid': '' })).status, 202);
    assert.equal((await s.req('PUT', '/Users/u3', { 'X-Object-Meta-Userid': encodeURIComponent('BADGE-8') }, '')).status, 400, 'compared decoded');
  });
});
