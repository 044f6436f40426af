/** Pure protocol helpers: metadata codec, names, ranges, listings, disk names, config. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRejectedContentName, parseClipName, parseEpoch, parseRecordingName } from '../src/bws/names.ts';
import { ConfigError, parseConfig, parseHostPort } from '../src/config/config.ts';
import { diskName, nameFromDisk } from '../src/lib/file-names.ts';
import { parseListingQuery } from '../src/swift/listing.ts';
import { canonicalKey, checkMetaLimits, decodeMetaValue, mergeMeta, readMetaHeaders } from '../src/swift/metadata.ts';
import { parseStoragePath } from '../src/swift/names.ts';
import { parseRange } from '../src/swift/range.ts';

describe('metadata', () => {
  it('canonicalises keys the way Swift answers them', () => {
    assert.equal(canonicalKey('bwcserialnumber'), 'Bwcserialnumber');
    assert.equal(canonicalKey('TRIGGER-ON-time'), 'Trigger-On-Time');
  });

  it('decodes URL-encoded and raw UTF-8 values, and leaves undecodable ones as sent', () => {
    assert.equal(decodeMetaValue('J%C3%B6rgen'), 'Jörgen');
    assert.equal(decodeMetaValue(Buffer.from('Jörgen').toString('latin1')), 'Jörgen');
    assert.equal(decodeMetaValue('100%'), '100%');
    assert.equal(decodeMetaValue('%FF'), '%FF');
  });

  it('reads container metadata from both header prefixes and marks empties for removal', () => {
    const update = readMetaHeaders(
      [
        ['x-container-meta-a', '1'],
        ['x-object-meta-b', '2'],
        ['x-container-meta-c', ''],
        ['x-remove-container-meta-d', 'x'],
        ['content-type', 'y'],
      ],
      'container',
    );
    assert.deepEqual(update, { set: { a: '1', b: '2' }, remove: ['c', 'd'] });
    assert.deepEqual(mergeMeta({ c: 'old', d: 'old', e: 'kept' }, update), { e: 'kept', a: '1', b: '2' });
    assert.deepEqual(readMetaHeaders([['x-container-meta-a', '1']], 'object'), { set: {}, remove: [] });
  });

  it('measures limits on decoded bytes', () => {
    checkMetaLimits({ name: encodeURIComponent('ö'.repeat(128)) }); // 256 bytes decoded, 768 encoded
    assert.throws(() => checkMetaLimits({ name: encodeURIComponent('ö'.repeat(128) + 'x') }), { code: 'BadRequest' });
    assert.throws(() => readMetaHeaders([['x-object-meta-', 'v']], 'object'), /empty/);
  });
});

describe('storage paths', () => {
  it('splits account, container and object from the raw target', () => {
    assert.deepEqual(parseStoragePath('/v1/AUTH_bws'), { account: 'AUTH_bws' });
    assert.deepEqual(parseStoragePath('/v1/AUTH_bws/'), { account: 'AUTH_bws' });
    assert.deepEqual(parseStoragePath('/v1/AUTH_bws/c/'), { account: 'AUTH_bws', container: 'c' });
    assert.deepEqual(parseStoragePath('/v1/AUTH_bws/c/a/b%20c?format=json'), { account: 'AUTH_bws', container: 'c', object: 'a/b c' });
    assert.deepEqual(parseStoragePath('/v1/AUTH_bws/c%2Fd'), { account: 'AUTH_bws', container: 'c', object: 'd' });
    assert.deepEqual(parseStoragePath('http://cd.example:8080/v1/AUTH_bws/c/o'), { account: 'AUTH_bws', container: 'c', object: 'o' });
    assert.equal(parseStoragePath('/auth/v1.0'), undefined);
  });

  it('refuses traversal and malformed encodings', () => {
    for (const bad of ['/v1/A/c/..', '/v1/A/c/x/%2E%2E/y', '/v1/A/c/..%5Cx', '/v1/A/c/%C0%AE', '/v1/A/c/%ZZ', '/v1/A/c/%00', '/v1/A/../x', '/v1/A//o']) {
      assert.throws(() => parseStoragePath(bad), { code: 'BadRequest' }, bad);
    }
  });
});

describe('ranges', () => {
  it('resolves single ranges and flags unsatisfiable ones', () => {
    assert.deepEqual(parseRange('bytes=0-0', 10), { start: 0, end: 0 });
    assert.deepEqual(parseRange('bytes=5-100', 10), { start: 5, end: 9 });
    assert.deepEqual(parseRange('bytes=-100', 10), { start: 0, end: 9 });
    assert.equal(parseRange('bytes=10-', 10), 'unsatisfiable');
    assert.equal(parseRange('bytes=-0', 10), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
    assert.equal(parseRange('bytes=5-2', 10), undefined);
    assert.equal(parseRange('bytes=0-1,4-5', 10), undefined);
    assert.equal(parseRange('items=0-1', 10), undefined);
  });
});

describe('listing queries', () => {
  it('reads Swift parameters and rejects out-of-range limits', () => {
    const q = parseListingQuery(new URLSearchParams('prefix=a&marker=b&end_marker=c&delimiter=/&limit=5'), undefined, 10000);
    assert.deepEqual(q, { prefix: 'a', marker: 'b', endMarker: 'c', delimiter: '/', limit: 5, format: 'plain' });
    assert.equal(parseListingQuery(new URLSearchParams(''), 'application/json', 10000).format, 'json');
    assert.throws(() => parseListingQuery(new URLSearchParams('limit=10001'), undefined, 10000), { code: 'PreconditionFailed' });
    assert.throws(() => parseListingQuery(new URLSearchParams('limit=-1'), undefined, 10000), { code: 'PreconditionFailed' });
    assert.throws(() => parseListingQuery(new URLSearchParams('delimiter=ab'), undefined, 10000), { code: 'PreconditionFailed' });
  });
});

describe('disk names', () => {
  it('keep BWS names readable and encode everything else reversibly', () => {
    for (const name of ['20220823T114810Z_1234.mkv', 'bookmark_20220823T114810Z_1', '5f0c1d2e-aaaa-bbbb-cccc-000000000001']) {
      assert.equal(diskName(name), name);
    }
    for (const name of ['.hidden', '..', 'a/b', 'x\\y', 'Åsa öl', '%41', 'tab\there', '~tilde']) {
      const encoded = diskName(name);
      assert.ok(!encoded.includes('/') && !encoded.startsWith('.'), encoded);
      assert.equal(nameFromDisk(encoded), name);
    }
  });

  it('hash names too long for a directory entry', () => {
    const long = 'ö'.repeat(500);
    const encoded = diskName(long);
    assert.ok(Buffer.byteLength(encoded) <= 240);
    assert.notEqual(diskName(long + 'x'), encoded);
    assert.equal(nameFromDisk(encoded), undefined);
  });
});

describe('config', () => {
  it('fills defaults and names the offending key', () => {
    const config = parseConfig({});
    assert.equal(config.listen, '127.0.0.1:8080');
    assert.equal(config.auth.tokenTtlSeconds, 86400);
    assert.throws(
      () => parseConfig({ objects: { maxBites: 1 } }),
      (e: Error) => e instanceof ConfigError && /objects\.maxBites/.test(e.message),
    );
    assert.throws(() => parseConfig({ connection: { containerType: 'avi' } }), /connection\.containerType/);
    assert.throws(() => parseConfig({ listen: 8080 }), /listen: expected a string/);
    assert.throws(() => parseConfig({ ntp: { localStratum: 16 } }), /ntp\.localStratum: must be between 1 and 15/);
    assert.deepEqual(parseHostPort('[::1]:123', 'x'), { host: '::1', port: 123 });
    assert.throws(() => parseHostPort('host:99999', 'x'));
  });
});

describe('body-worn names', () => {
  it('recordings: <UserID>_<BWCSerialNumber>_<TriggerOnTime>', () => {
    assert.deepEqual(parseRecordingName('5f0c-aa_B0001_20220823T114809Z'), {
      userId: '5f0c-aa',
      deviceSerial: 'B0001',
      triggerOn: Date.UTC(2022, 7, 23, 11, 48, 9),
      form: 'current',
    });
    // Firmware before 10.11: date and time as two parts.
    assert.deepEqual(parseRecordingName('5f0c-aa_B0001_20220823_114809'), {
      userId: '5f0c-aa',
      deviceSerial: 'B0001',
      triggerOn: Date.UTC(2022, 7, 23, 11, 48, 9),
      form: 'legacy',
    });
    assert.equal(parseRecordingName('5f0c-aa_B0001_20220823_114860')?.triggerOn, undefined, 'legacy shape, not a real time');
    assert.equal(parseRecordingName('u_B_20220230T000000Z')?.triggerOn, undefined, 'shape of a recording, not a real date');
    assert.equal(parseRecordingName('evidence'), undefined);
    assert.equal(parseRecordingName('RejectedContent_20220823T114809Z_abc'), undefined);
    assert.ok(isRejectedContentName('RejectedContent_UnknownTime_8d1c7a2e'));
    assert.ok(!isRejectedContentName('RejectedContent_yesterday_8d1c7a2e'));
  });

  it('clips: both StartTime spellings, mkv or mp4', () => {
    assert.deepEqual(parseClipName('20220823T114810Z_1234.mkv'), { start: Date.UTC(2022, 7, 23, 11, 48, 10), recordingId: '1234', extension: 'mkv' });
    assert.deepEqual(parseClipName('20220823_114810_1234.mp4'), { start: Date.UTC(2022, 7, 23, 11, 48, 10), recordingId: '1234', extension: 'mp4' });
    assert.equal(parseClipName('20220823T114810Z_1234.key'), undefined);
    assert.equal(parseClipName('bookmark_20220823T114810Z_1'), undefined);
    assert.equal(parseEpoch('1661255290'), 1661255290000);
    assert.equal(parseEpoch('1661255290123'), 1661255290123);
    assert.equal(parseEpoch('1661255290.5'), 1661255290500);
    assert.equal(parseEpoch('soon'), undefined);
  });
});
