/** The command line as an operator uses it. */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { COMMAND_MODULES, COMMAND_TABLES } from '../src/cli/commands.ts';
import { COMMAND_HELP } from '../src/cli/help.ts';
import { SwiftSession, TestDaemon, runCli } from './helpers/daemon.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgecd-cli-'));
  dirs.push(dir);
  return dir;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('commands', () => {
  it('each is routed to the module that defines it, and every defined one is routed', async () => {
    const defined = new Set<string>();
    for (const table of COMMAND_TABLES) for (const name of Object.keys(await table())) defined.add(name);
    for (const [name, load] of Object.entries(COMMAND_MODULES)) assert.ok((await load())[name], `${name} is not in the table it is routed to`);
    assert.deepEqual([...defined].sort(), Object.keys(COMMAND_MODULES).sort());
  });

  it('each has help whose usage names exactly its options, and --help prints it with examples', async () => {
    assert.deepEqual(Object.keys(COMMAND_HELP).sort(), Object.keys(COMMAND_MODULES).sort());
    for (const [name, load] of Object.entries(COMMAND_MODULES)) {
      const command = (await load())[name]!;
      const named = new Set(
        COMMAND_HELP[name]!.usage.join(' ')
          .match(/--[a-z][a-z0-9-]*/g)!
          .map((o) => o.slice(2)),
      );
      assert.deepEqual([...named].sort(), Object.keys(command.options).sort(), `${name}: the usage and the options differ`);
      const res = await runCli([name, '--help']);
      assert.equal(res.code, 0, name);
      assert.match(res.stdout, new RegExp(`usage:\\n  edgecd ${name}`), name);
      assert.match(res.stdout, /examples:\n {2}edgecd /, name);
      assert.match(res.stdout, /exit codes: 0 done/, name);
    }
  });

  it('--version prints the package version; help lists every command', async () => {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
    const version = await runCli(['--version']);
    assert.equal(version.code, 0);
    assert.equal(version.stdout.trim(), pkg.version);
    const help = await runCli(['help']);
    assert.equal(help.code, 0);
    for (const name of Object.keys(COMMAND_MODULES)) assert.match(help.stdout, new RegExp(`\\n  ${name}[ \\n]`), name);
    assert.equal((await runCli(['help', 'user'])).stdout, (await runCli(['user', '--help'])).stdout);
  });

  it('a mistyped option or command is a usage error that names the nearest valid one', async () => {
    const option = await runCli(['status', '--dat', '/nowhere']);
    assert.equal(option.code, 2);
    assert.match(option.stderr, /status: unknown option '--dat'; did you mean '--data'\?/);
    assert.match(option.stderr, /run 'edgecd status --help' for usage/);
    const command = await runCli(['replicat', '--now']);
    assert.equal(command.code, 2);
    assert.match(command.stderr, /unknown command "replicat"; did you mean 'replicate'\?/);
    const far = await runCli(['status', '--zzzzzzzz']);
    assert.equal(far.code, 2);
    assert.doesNotMatch(far.stderr, /did you mean/);
  });

  it('an unknown name is a usage error, even one every object has', async () => {
    for (const name of ['nosuch', 'toString', 'constructor']) {
      const res = await runCli([name]);
      assert.equal(res.code, 2, name);
      assert.match(res.stderr, /unknown command/);
    }
  });
});

describe('init', () => {
  it('creates credentials and a valid connection file, private to the daemon user', async () => {
    const dir = join(await tempDir(), 'station');
    const res = await runCli(['init', '--data', dir, '--site', 'North Station', '--url', 'http://10.0.0.5:8080/auth/v1.0', '--url', 'http://station.local:8080/auth/v1.0']);
    assert.equal(res.code, 0, res.stderr);
    const file = JSON.parse(await readFile(join(dir, 'connection.json'), 'utf8'));
    assert.equal(file.SiteName, 'North Station');
    assert.deepEqual(file.AuthenticationTokenURI, ['http://10.0.0.5:8080/auth/v1.0', 'http://station.local:8080/auth/v1.0']);
    assert.equal(file.BlobAPIUserName, 'bws');
    assert.ok(file.BlobAPIKey.length >= 32 && file.BlobAPIKey.length <= 64);
    assert.equal((await stat(join(dir, 'connection.json'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'credentials.json'))).mode & 0o777, 0o600);
    const credentials = await readFile(join(dir, 'credentials.json'), 'utf8');
    assert.ok(!credentials.includes(file.BlobAPIKey), 'the key is stored only hashed');
    const check = await runCli(['connection-file', '--check', join(dir, 'connection.json')]);
    assert.equal(check.code, 0, check.stdout);
    const printed = await runCli(['connection-file', '--data', dir]);
    assert.deepEqual(JSON.parse(printed.stdout), file);
  });

  it('keeps the key on a second init, and sets the one given with --key', async () => {
    const dir = await tempDir();
    await runCli(['init', '--data', dir]);
    const first = JSON.parse(await readFile(join(dir, 'connection.json'), 'utf8'));
    await runCli(['init', '--data', dir]);
    assert.equal(JSON.parse(await readFile(join(dir, 'connection.json'), 'utf8')).BlobAPIKey, first.BlobAPIKey);
    const res = await runCli(['init', '--data', dir, '--user', 'axis', '--key', 'a-chosen-key-123']);
    assert.equal(res.code, 0, res.stderr);
    const daemon = await TestDaemon.start({ dataDir: dir });
    try {
      const ok = await daemon.request('GET', '/auth/v1.0', { 'X-Auth-User': 'axis', 'X-Auth-Key': 'a-chosen-key-123' });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers['x-storage-url'], `http://127.0.0.1:${daemon.port}/v1/AUTH_axis`);
      const file = await daemon.connectionFile();
      assert.equal(file.BlobAPIUserName, 'axis');
      assert.deepEqual(file.AuthenticationTokenURI, [`http://127.0.0.1:${daemon.port}/auth/v1.0`]);
    } finally {
      await daemon.stop();
    }
  });

  it('saves --site and --url in the config file named by --config', async () => {
    const dir = await tempDir();
    const config = join(dir, 'elsewhere.json');
    const res = await runCli(['init', '--data', join(dir, 'data'), '--config', config, '--url', 'http://192.0.2.7:8080/auth/v1.0']);
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(JSON.parse(await readFile(config, 'utf8')).connection.authUrls, ['http://192.0.2.7:8080/auth/v1.0']);
    const file = JSON.parse(await readFile(join(dir, 'data', 'connection.json'), 'utf8'));
    assert.deepEqual(file.AuthenticationTokenURI, ['http://192.0.2.7:8080/auth/v1.0']);
  });

  it('refuses a key that cannot go into the connection file', async () => {
    const res = await runCli(['init', '--data', await tempDir(), '--key', 'x'.repeat(65)]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /--key/);
  });
});

describe('connection-file --check', () => {
  it('explains every violation', async () => {
    const dir = await tempDir();
    const bad = join(dir, 'bad.json');
    await writeFile(
      bad,
      JSON.stringify({
        ConnectionFileVersion: '2.0',
        SiteName: 'x'.repeat(65),
        ApplicationName: 'edgecd',
        ContentDestinationAsNTPServer: 'yes',
        AuthenticationTokenURI: Array.from({ length: 11 }, (_, i) => `http://10.0.0.${i}/auth/v1.0`),
        BlobAPIKey: 'k',
        BlobAPIUserName: 'u',
        ContainerType: 'avi',
        PublicKey: 'abc',
        Extra: 1,
      }),
    );
    const res = await runCli(['connection-file', '--check', bad]);
    assert.equal(res.code, 1);
    for (const expected of [
      /ConnectionFileVersion: must be "1.0"/,
      /SiteName: at most 64 bytes/,
      /ApplicationVersion: required but missing/,
      /ContentDestinationAsNTPServer: must be true or false/,
      /AuthenticationTokenURI: at most 10 entries/,
      /ContainerType: must be "mkv" or "mp4"/,
      /PublicKey: only allowed when WantEncryption is true/,
      /Extra: not an attribute/,
    ])
      assert.match(res.stdout, expected);
  });

  it('measures lengths in UTF-8 bytes, allows a 128-byte ApplicationVersion, and a 64 kB file at most', async () => {
    const dir = await tempDir();
    const base = {
      ConnectionFileVersion: '1.0',
      SiteName: 'Station',
      ApplicationName: 'edgecd',
      ApplicationVersion: 'v'.repeat(128),
      ContentDestinationAsNTPServer: false,
      AuthenticationTokenURI: ['https://10.0.0.1/auth/v1.0'],
      BlobAPIKey: 'key',
      BlobAPIUserName: 'bws',
    };
    const check = async (doc: object | string) => {
      const file = join(dir, `c-${Math.random().toString(36).slice(2)}.json`);
      await writeFile(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
      return runCli(['connection-file', '--check', file]);
    };
    assert.equal((await check(base)).code, 0, 'ApplicationVersion of 128 bytes (v1.6.10)');
    assert.match((await check({ ...base, ApplicationVersion: 'v'.repeat(129) })).stdout, /ApplicationVersion: at most 128 bytes \(UTF-8\), got 129/);
    // 40 characters, 80 bytes.
    assert.match((await check({ ...base, SiteName: 'Å'.repeat(40) })).stdout, /SiteName: at most 64 bytes \(UTF-8\), got 80/);
    const big = JSON.stringify({ ...base, SiteName: 'x' }).replace('{', `{"Pad": "${' '.repeat(64 * 1024)}",`);
    assert.match((await check(big)).stdout, /the file is \d+ bytes; the maximum is 65536 \(64 kB\)/);
  });

  it("accepts the Axis reference server's own generated file, with warnings", async () => {
    const dir = await tempDir();
    // As its Configure writes it: BlobAPI, empty key fields, no ContentDestinationAsNTPServer.
    const file = join(dir, 'config.json');
    await writeFile(
      file,
      JSON.stringify({
        ConnectionFileVersion: '1.0',
        SiteName: 'Axis body worn Swift service example(192.168.0.5)',
        ApplicationName: 'Axis body worn Swift service example',
        ApplicationVersion: '1.6.13',
        AuthenticationTokenURI: ['https://192.168.0.5:8080/auth/v1.0'],
        BlobAPI: 'Swift 1.0',
        BlobAPIKey: 'secret',
        BlobAPIUserName: 'bws',
        ContainerType: 'mkv',
        WantEncryption: false,
        PublicKey: '',
        PublicKeyId: '',
        FullStoreAndReadSupport: false,
      }),
    );
    const res = await runCli(['connection-file', '--check', file]);
    assert.equal(res.code, 0, res.stdout);
    assert.match(res.stdout, /: valid/);
    assert.match(res.stdout, /warning: BlobAPI: not an attribute of the connection file \(ignored\)/);
    assert.match(res.stdout, /warning: PublicKey: empty, taken as absent/);
    assert.match(res.stdout, /warning: ContentDestinationAsNTPServer: missing, taken as false/);
  });
});

describe('configuration', () => {
  it('an unknown key or a wrong type stops serve with the key named', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'edgecd.json'), JSON.stringify({ quota: { maxBites: 1 } }));
    const unknown = await runCli(['serve', '--data', dir, '--listen', '127.0.0.1:0', '--ntp-listen', 'off']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /quota\.maxBites: unknown configuration key/);
    await writeFile(join(dir, 'edgecd.json'), JSON.stringify({ auth: { tokenTtlSeconds: 'long' } }));
    const wrongType = await runCli(['serve', '--data', dir, '--listen', '127.0.0.1:0', '--ntp-listen', 'off']);
    assert.equal(wrongType.code, 1);
    assert.match(wrongType.stderr, /auth\.tokenTtlSeconds: expected an integer/);
    const badListen = await runCli(['serve', '--data', dir, '--listen', 'nowhere', '--config', join(dir, 'missing.json')]);
    assert.equal(badListen.code, 1);
    assert.match(badListen.stderr, /missing\.json/);
  });

  it('a token lives auth.tokenTtlSeconds', async () => {
    const daemon = await TestDaemon.start({ config: { auth: { tokenTtlSeconds: 60 } } });
    try {
      const file = await daemon.connectionFile();
      const res = await daemon.request('GET', '/auth/v1.0', { 'X-Auth-User': file.BlobAPIUserName, 'X-Auth-Key': file.BlobAPIKey });
      assert.ok(Number(res.headers['x-auth-token-expires']) <= 60);
    } finally {
      await daemon.cleanup();
    }
  });
});

describe('status', () => {
  it('answers through the daemon while it runs and from the index when it is stopped', async () => {
    const daemon = await TestDaemon.start();
    const s = await SwiftSession.open(daemon);
    await s.req('PUT', '/rec');
    await s.req('PUT', '/rec/clip', {}, '12345');
    const live = await runCli(['status', '--data', daemon.dataDir]);
    assert.equal(live.code, 0, live.stderr);
    const liveStatus = JSON.parse(live.stdout);
    assert.equal(liveStatus.source, 'daemon');
    try {
      const { metaBytes, ...objects } = liveStatus.accounts.bws as { metaBytes: number };
      assert.deepEqual(objects, { containerCount: 1, objectCount: 1, bytesUsed: 5 });
      assert.ok(metaBytes > 2 * 512, `two changes' bookkeeping, got ${metaBytes}`);
      await daemon.stop();
      const offline = JSON.parse((await runCli(['status', '--data', daemon.dataDir])).stdout);
      assert.equal(offline.source, 'index');
      assert.deepEqual(offline.accounts, liveStatus.accounts);
    } finally {
      await daemon.cleanup();
    }
  });
});

describe('serve', () => {
  it('stops cleanly on SIGTERM (exit 0, index closed, socket removed)', async () => {
    const daemon = await TestDaemon.start();
    assert.equal(await daemon.stop(), 0);
    await assert.rejects(stat(join(daemon.dataDir, 'admin.sock')));
    const again = await TestDaemon.start({ dataDir: daemon.dataDir });
    await again.cleanup();
  });

  it('an unknown command exits 2 with usage help', async () => {
    const res = await runCli(['frobnicate']);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /unknown command/);
  });
});
