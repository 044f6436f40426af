/** GNSS tracks: the spec's location file format, and its GeoJSON / GPX export. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { needs } from './helpers/peers.ts';
import { parseTrack, toGeoJson, toGpx, withTimes, type TrackPoint } from '../src/bws/gnss.ts';

// Verbatim from the spec (upstream README v1.6.10, "Location file format").
const SPEC_EXAMPLE = `{
  "CoordinateEntries": [
    {
      "LocationWKT": "POINT(13.221184 55.718409)",
      "SecondsFromStart": 64.0,
      "Timestamp": "2022-08-23T11:48:10Z"
    },
    {
      "LocationWKT": "POINT(13.220701 55.718702)",
      "SecondsFromStart": 82.0,
      "Timestamp": "2022-08-23T11:48:28Z"
    },
    {
      "LocationWKT": "POINT(13.221424 55.718778)",
      "SecondsFromStart": 92.0,
      "Timestamp": "2022-08-23T11:48:38Z"
    },
    {
      "LocationWKT": "POINT(13.221766 55.718877)",
      "SecondsFromStart": 102.0,
      "Timestamp": "2022-08-23T11:48:48Z"
    },
    {
      "LocationWKT": "POINT(13.221725 55.718951)",
      "SecondsFromStart": 113.0,
      "Timestamp": "2022-08-23T11:48:59Z"
    }
  ]
}`;
const SPEC_TIMES = ['2022-08-23T11:48:10Z', '2022-08-23T11:48:28Z', '2022-08-23T11:48:38Z', '2022-08-23T11:48:48Z', '2022-08-23T11:48:59Z'];
// The example's timestamps are all consistent with a StartTime 64 s before the first fix.
const SPEC_START_MS = Date.parse('2022-08-23T11:47:06Z');

/** The spec example with the Timestamps removed, so times must come from StartTime. */
function withoutTimestamps(): string {
  const doc = JSON.parse(SPEC_EXAMPLE) as { CoordinateEntries: Record<string, unknown>[] };
  for (const e of doc.CoordinateEntries) delete e.Timestamp;
  return JSON.stringify(doc);
}

function track(...entries: unknown[]): string {
  return JSON.stringify({ CoordinateEntries: entries });
}

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : undefined;
const XMLLINT = existsSync('/usr/bin/xmllint') ? '/usr/bin/xmllint' : undefined;

describe('parseTrack / withTimes', () => {
  it('reads the spec example as 5 points, lon from x and lat from y', () => {
    const points = parseTrack(SPEC_EXAMPLE);
    assert.equal(points.length, 5);
    assert.deepEqual(points[0], { lon: 13.221184, lat: 55.718409, secondsFromStart: 64, time: '2022-08-23T11:48:10Z' });
    assert.deepEqual(points[4], { lon: 13.221725, lat: 55.718951, secondsFromStart: 113, time: '2022-08-23T11:48:59Z' });
    assert.deepEqual(
      points.map((p) => p.secondsFromStart),
      [64, 82, 92, 102, 113],
    );
  });

  it('computes times from StartTime + SecondsFromStart, matching the spec example', () => {
    const points = parseTrack(withoutTimestamps());
    assert.ok(points.every((p) => p.time === undefined));
    const timed = withTimes(points, SPEC_START_MS);
    assert.deepEqual(
      timed.map((p) => p.time),
      SPEC_TIMES,
    );
    assert.equal(points[0]!.time, undefined, 'withTimes does not mutate its input');
    // No StartTime in the container metadata: nothing to compute from.
    assert.ok(withTimes(points).every((p) => p.time === undefined));
    // Fractional seconds keep millisecond precision.
    assert.equal(withTimes([{ lon: 0, lat: 0, secondsFromStart: 1.25 }], 0)[0]!.time, '1970-01-01T00:00:01.250Z');
  });

  it("keeps an entry's own Timestamp over StartTime + SecondsFromStart", () => {
    const timed = withTimes(parseTrack(SPEC_EXAMPLE), SPEC_START_MS + 3_600_000);
    assert.deepEqual(
      timed.map((p) => p.time),
      SPEC_TIMES,
    );
  });

  it('takes Timestamps as RFC 3339 (any offset, normalised to UTC) or epoch seconds', () => {
    const points = parseTrack(
      track(
        { LocationWKT: 'POINT(1 2)', Timestamp: '2022-08-23T13:48:10+02:00' },
        { LocationWKT: 'POINT(1 2)', Timestamp: '2022-08-23t11:48:10.5z' },
        { LocationWKT: 'POINT(1 2)', Timestamp: 1661255290 },
        { LocationWKT: 'POINT(1 2)', Timestamp: '1661255290' },
      ),
    );
    assert.deepEqual(
      points.map((p) => p.time),
      ['2022-08-23T11:48:10Z', '2022-08-23T11:48:10.500Z', '2022-08-23T11:48:10Z', '2022-08-23T11:48:10Z'],
    );
  });

  it('accepts WKT case-insensitively, with extra whitespace, negatives and the prose\'s "x, y" form', () => {
    const points = parseTrack(
      track({ LocationWKT: 'point(-73.985 40.748)' }, { LocationWKT: '  Point (  -58.38   -34.60 ) ' }, { LocationWKT: 'POINT(180 -90)' }, { LocationWKT: 'Point(13.22, 55.71)' }),
    );
    assert.deepEqual(
      points.map((p) => [p.lon, p.lat]),
      [
        [-73.985, 40.748],
        [-58.38, -34.6],
        [180, -90],
        [13.22, 55.71],
      ],
    );
  });
});

/** RFC 7946 basics for what toGeoJson promises: members, types, [lon, lat] positions in range. */
function assertGeoJson(
  doc: unknown,
): asserts doc is { type: string; features: { type: string; geometry: { type: string; coordinates: unknown }; properties: Record<string, unknown> }[] } {
  const fc = doc as Record<string, unknown>;
  assert.equal(fc.type, 'FeatureCollection');
  assert.ok(Array.isArray(fc.features), 'features is an array (§3.3)');
  assert.equal('crs' in fc, false, 'no crs member: RFC 7946 is WGS 84 only');
  const position = (p: unknown): void => {
    assert.ok(Array.isArray(p) && p.length >= 2 && p.every((n) => typeof n === 'number' && Number.isFinite(n)), `position ${JSON.stringify(p)}`);
    assert.ok(p[0] >= -180 && p[0] <= 180 && p[1] >= -90 && p[1] <= 90, `position ${JSON.stringify(p)} is [lon, lat]`);
  };
  for (const f of fc.features as Record<string, unknown>[]) {
    assert.equal(f.type, 'Feature');
    assert.ok('geometry' in f && 'properties' in f, 'a Feature has geometry and properties members (§3.2)');
    const g = f.geometry as { type: string; coordinates: unknown };
    if (g.type === 'Point') position(g.coordinates);
    else if (g.type === 'LineString') {
      assert.ok(Array.isArray(g.coordinates) && g.coordinates.length >= 2, 'a LineString has two or more positions (§3.1.4)');
      g.coordinates.forEach(position);
    } else assert.fail(`unexpected geometry ${g.type}`);
  }
}

describe('toGeoJson', () => {
  const points = withTimes(parseTrack(SPEC_EXAMPLE));
  const text = toGeoJson(points, { recording: 'user_dev_20220823T114706Z', source: 'gpstrail.json' });

  it('is an RFC 7946 FeatureCollection with one LineString of [lon, lat] in order', () => {
    const doc: unknown = JSON.parse(text);
    assertGeoJson(doc);
    assert.equal(doc.features.length, 1);
    const [f] = doc.features;
    assert.equal(f!.geometry.type, 'LineString');
    assert.deepEqual(
      f!.geometry.coordinates,
      points.map((p) => [p.lon, p.lat]),
    );
    assert.deepEqual(f!.properties, {
      recording: 'user_dev_20220823T114706Z',
      source: 'gpstrail.json',
      times: SPEC_TIMES,
      secondsFromStart: [64, 82, 92, 102, 113],
    });
  });

  it('parses with Python as well', { skip: needs('python3') }, () => {
    const out = execFileSync(PYTHON!, ['-c', 'import json,sys; d=json.load(sys.stdin); g=d["features"][0]["geometry"]; print(d["type"], g["type"], len(g["coordinates"]))'], {
      input: text,
      encoding: 'utf8',
    });
    assert.equal(out.trim(), 'FeatureCollection LineString 5');
  });

  it('gives a single fix a Point geometry, and unknown times null', () => {
    const doc: unknown = JSON.parse(toGeoJson([{ lon: -1.5, lat: 2.5 }], { recording: 'r' }));
    assertGeoJson(doc);
    assert.deepEqual(doc.features[0]!.geometry, { type: 'Point', coordinates: [-1.5, 2.5] });
    assert.deepEqual(doc.features[0]!.properties, { recording: 'r', times: [null], secondsFromStart: [null] });
  });
});

/**
 * A small strict well-formedness check for the XML toGpx writes (no DTD, CDATA or
 * comments): one root, balanced tags, quoted attributes, only the five predefined
 * or numeric entities, no raw '<' or '&' in text.
 */
function assertWellFormed(xml: string): void {
  const body = xml.replace(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n/, '');
  assert.notEqual(body, xml, 'XML declaration first');
  const entity = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;
  const stack: string[] = [];
  let roots = 0;
  let rest = body;
  while (rest.length > 0) {
    const lt = rest.indexOf('<');
    const text = lt === -1 ? rest : rest.slice(0, lt);
    assert.ok(!entity.test(text), `bad entity in text ${JSON.stringify(text)}`);
    if (stack.length === 0) assert.match(text, /^\s*$/, 'nothing but whitespace outside the root');
    if (lt === -1) break;
    const tag = /^<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.:-]*="[^"<]*")*)\s*(\/?)>/.exec(rest.slice(lt));
    assert.ok(tag, `malformed tag at ${JSON.stringify(rest.slice(lt, lt + 40))}`);
    const [whole, close, name, attrs, selfClose] = tag;
    assert.ok(!entity.test(attrs!), `bad entity in attributes ${attrs}`);
    if (close) assert.equal(stack.pop(), name, `</${name}> closes the open element`);
    else {
      if (stack.length === 0) roots++;
      if (!selfClose) stack.push(name!);
    }
    rest = rest.slice(lt + whole.length);
  }
  assert.deepEqual(stack, [], 'every element closed');
  assert.equal(roots, 1, 'exactly one root element');
}

/** Well-formedness by a real parser where one is installed: xmllint, else Python's expat. */
function checkWithParser(xml: string): string {
  if (XMLLINT) {
    execFileSync(XMLLINT, ['--noout', '-'], { input: xml });
    return 'xmllint';
  }
  if (PYTHON) {
    execFileSync(PYTHON, ['-c', 'import sys, xml.parsers.expat as e; e.ParserCreate().Parse(sys.stdin.buffer.read(), True)'], { input: xml });
    return 'python3 expat';
  }
  return 'none';
}

describe('toGpx', () => {
  const points = withTimes(parseTrack(SPEC_EXAMPLE));
  const gpx = toGpx(points, { recording: 'user_dev_20220823T114706Z' });

  it('is well-formed GPX 1.1 with lat/lon attributes and times in order', (t) => {
    assertWellFormed(gpx);
    const parser = checkWithParser(gpx);
    if (!XMLLINT) t.diagnostic(`xmllint not installed (libxml2-utils absent); well-formedness checked by the built-in check and ${parser}`);
    assert.match(gpx, /<gpx version="1\.1" creator="edgecd" xmlns="http:\/\/www\.topografix\.com\/GPX\/1\/1">/);
    assert.match(gpx, /<trk>\s*<name>user_dev_20220823T114706Z<\/name>\s*<trkseg>/);
    const trkpts = [...gpx.matchAll(/<trkpt lat="([^"]*)" lon="([^"]*)"><time>([^<]*)<\/time><\/trkpt>/g)];
    assert.deepEqual(
      trkpts.map((m) => [Number(m[1]), Number(m[2]), m[3]]),
      points.map((p, i) => [p.lat, p.lon, SPEC_TIMES[i]]),
    );
  });

  it('escapes the recording name, and a parser reads it back unchanged', () => {
    const name = `a<b & "c" 'd'>`;
    const out = toGpx([], { recording: name });
    assertWellFormed(out);
    assert.match(out, /<name>a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;<\/name>/);
    checkWithParser(out);
    if (PYTHON) {
      const script =
        'import sys, xml.etree.ElementTree as E; r = E.fromstring(sys.stdin.buffer.read()); sys.stdout.write(r.find("{http://www.topografix.com/GPX/1/1}trk/{http://www.topografix.com/GPX/1/1}name").text)';
      assert.equal(execFileSync(PYTHON, ['-c', script], { input: out, encoding: 'utf8' }), name);
    }
  });

  it('writes plain decimals (xsd:decimal has no exponent) and omits unknown times', () => {
    const out = toGpx([{ lon: 1e-7, lat: -0 }], { recording: 'r' });
    assertWellFormed(out);
    assert.match(out, /<trkpt lat="0" lon="0\.0000001"><\/trkpt>/);
  });
});

describe('errors', () => {
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{"CoordinateEntries": [', /not JSON/],
    ['no CoordinateEntries', '{"Entries": []}', /no CoordinateEntries/],
    ['CoordinateEntries not a list', '{"CoordinateEntries": {}}', /no CoordinateEntries/],
    ['POINT(1)', track({ LocationWKT: 'POINT(1 2)' }, { LocationWKT: 'POINT(1)' }), /CoordinateEntries\[1\].*POINT\(1\)/],
    ['a LINESTRING', track({ LocationWKT: 'LINESTRING(1 2, 3 4)' }), /CoordinateEntries\[0\].*not POINT\(lon lat\)/],
    ['POINT EMPTY', track({ LocationWKT: 'POINT EMPTY' }), /CoordinateEntries\[0\]/],
    ['lat 95', track({ LocationWKT: 'POINT(1 2)' }, { LocationWKT: 'POINT(1 2)' }, { LocationWKT: 'POINT(10 95)' }), /CoordinateEntries\[2\]: latitude 95 outside/],
    ['lon -181', track({ LocationWKT: 'POINT(-181 0)' }), /CoordinateEntries\[0\]: longitude -181 outside/],
    ['missing LocationWKT', track({ SecondsFromStart: 1 }), /CoordinateEntries\[0\]: LocationWKT missing/],
    ['entry not an object', track(null), /CoordinateEntries\[0\]: not an object/],
    ['SecondsFromStart a string', track({ LocationWKT: 'POINT(1 2)', SecondsFromStart: '64' }), /CoordinateEntries\[0\]: SecondsFromStart/],
    ['an impossible Timestamp', track({ LocationWKT: 'POINT(1 2)', Timestamp: '2022-02-30T00:00:00Z' }), /CoordinateEntries\[0\]: Timestamp/],
    ['a Timestamp without offset', track({ LocationWKT: 'POINT(1 2)', Timestamp: '2022-08-23T11:48:10' }), /CoordinateEntries\[0\]: Timestamp/],
  ];
  for (const [what, json, message] of cases) {
    it(`rejects ${what}`, () => assert.throws(() => parseTrack(json), message));
  }
});

describe('an empty track', () => {
  // Chosen: an empty track still exports, so the recording shows up as "no fixes"
  // rather than as an error. GeoJSON gets no features (a LineString needs two
  // positions); GPX keeps <trk><name> with an empty <trkseg>, which the schema allows.
  const points: TrackPoint[] = parseTrack('{"CoordinateEntries": []}');

  it('parses to no points', () => assert.deepEqual(points, []));

  it('gives a FeatureCollection with no features', () => {
    const doc: unknown = JSON.parse(toGeoJson(points, { recording: 'r' }));
    assertGeoJson(doc);
    assert.deepEqual(doc, { type: 'FeatureCollection', features: [] });
  });

  it('gives GPX with an empty trkseg', () => {
    const out = toGpx(points, { recording: 'r' });
    assertWellFormed(out);
    checkWithParser(out);
    assert.match(out, /<trk>\s*<name>r<\/name>\s*<trkseg>\s*<\/trkseg>\s*<\/trk>/);
  });
});
