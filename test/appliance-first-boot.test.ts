/**
 * The appliance's first boot, against a temporary root: edgecd.txt parsing,
 * the choice of evidence disk from lsblk's view, and the provisioning itself
 * (files, keys, marker, what it asks of sfdisk and mkfs). Booting it for real
 * is images/test-boot.sh.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { firstBoot, partitionPath, type Machine } from '../src/appliance/first-boot.ts';
import { parsePreset, PresetError, withoutSecret } from '../src/appliance/preset.ts';
import { planStorage, ROOT_BYTES, StoragePlanError, type BlockDevice } from '../src/appliance/storage-plan.ts';
import { loadEndpoints } from '../src/tls/endpoints.ts';
import { CLI_ARGS, ROOT } from './helpers/daemon.ts';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

describe('edgecd.txt', () => {
  test('the template shipped on the boot partition means "all defaults"', async () => {
    const preset = parsePreset(await readFile(join(ROOT, 'images/edgecd.txt'), 'utf8'));
    assert.deepEqual(preset, { dns: [], ntpServers: [], dataDisk: 'auto', formatDataDisk: false });
  });

  test("reads every setting, with Notepad's byte-order mark and CRLF", () => {
    const text =
      '\uFEFF# station\r\nhostname = Gate-North\r\nsite_name = North gate, building 4\r\naddress = 192.168.10.5/24\r\n' +
      'gateway = 192.168.10.1\r\ndns = 192.168.10.1, 9.9.9.9\r\nntp_servers = ntp1.example.org 10.0.0.1\r\ndata_disk = /dev/sda\r\nformat_data_disk = Yes\r\n' +
      'replication_url = https://central.example.org/auth/v1.0\r\nreplication_user = station-north\r\nreplication_key = s3cret#with=signs\r\n' +
      'replication_schedule = 0 1 * * *\r\nreplication_cacert = central.pem\r\nadmin_user = it\r\nadmin_key = 0123456789abcdef0123\r\n' +
      'ssh_authorized_key = ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBuVt1BhW0oMqvd3J1tqvJY4KzGe8Y2LYd9K1Xg6Yb7a it@office\r\n';
    assert.deepEqual(parsePreset(text), {
      hostname: 'gate-north',
      siteName: 'North gate, building 4',
      address: '192.168.10.5/24',
      gateway: '192.168.10.1',
      dns: ['192.168.10.1', '9.9.9.9'],
      ntpServers: ['ntp1.example.org', '10.0.0.1'],
      dataDisk: '/dev/sda',
      formatDataDisk: true,
      replication: { url: 'https://central.example.org/auth/v1.0', user: 'station-north', key: 's3cret#with=signs', schedule: '0 1 * * *', cacert: 'central.pem' },
      admin: { user: 'it', key: '0123456789abcdef0123' },
      sshAuthorizedKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBuVt1BhW0oMqvd3J1tqvJY4KzGe8Y2LYd9K1Xg6Yb7a it@office',
    });
  });

  test('names every problem at once, by line', () => {
    const text =
      'hostname = not a name\nadress = 10.0.0.5/24\naddress = 10.0.0.5\ndns = 10.0.0.1 dns.example\nhostname = again\n' +
      'replication_url = ftp://central\nformat_data_disk = maybe\njust text\nreplication_schedule = every night\nadmin_key = short\n';
    assert.throws(
      () => parsePreset(text),
      (err: PresetError) => {
        const all = err.problems.join('\n');
        for (const expected of [
          /line 1: hostname must be a single name/,
          /line 2: unknown setting "adress"/,
          /line 3: address must be an address with its prefix length/,
          /line 4: dns must list IP addresses; "dns\.example"/,
          /line 5: "hostname" is set twice \(also on line 1\)/,
          /line 6: replication_url must be the central auth URL/,
          /line 7: format_data_disk must be yes or no/,
          /line 8: expected "name = value"/,
          /line 9: replication_schedule must be a cron line/,
          /line 10: admin_key must be at least 16 characters/,
          /replication needs replication_user and replication_key as well/,
          /admin_user and admin_key go together/,
        ])
          assert.match(all, expected);
        assert.equal(err.problems.length, 12, all);
        return true;
      },
    );
  });

  test('a key moved into the box reads as "already moved", not as a key', () => {
    const text = 'replication_url = https://c.example/auth/v1.0\nreplication_user = u\nreplication_key = k-123\nadmin_user = it\nadmin_key = 0123456789abcdef\n';
    const moved = withoutSecret(withoutSecret(text, 'replication_key', 'into /etc/edgecd/edgecd.json'), 'admin_key', 'into the box');
    assert.doesNotMatch(moved, /k-123|0123456789abcdef/);
    const preset = parsePreset(moved);
    assert.deepEqual(preset.replication, { url: 'https://c.example/auth/v1.0', user: 'u' });
    assert.deepEqual(preset.admin, { user: 'it' });
  });
});

/** lsblk's view of a disk: partitions as [name, size, start sector, fields]. */
function disk(name: string, size: number, fields: Partial<BlockDevice>, parts: [string, number, number, Partial<BlockDevice>][] = []): BlockDevice {
  const base = { type: 'disk', start: null, tran: null, rm: false, ro: false, fstype: null, label: null, uuid: null, pttype: null, mountpoints: [null] };
  return {
    ...base,
    name,
    path: `/dev/${name}`,
    size,
    ...fields,
    ...(parts.length > 0 ? { children: parts.map(([p, s, start, f]) => ({ ...base, type: 'part', name: p, path: `/dev/${p}`, size: s, start, ...f })) } : {}),
  };
}
const card = (size: number, rootSize = 745 * MiB, extra: [string, number, number, Partial<BlockDevice>][] = []) =>
  disk('mmcblk0', size, { pttype: 'dos' }, [
    ['mmcblk0p1', 256 * MiB, 2048, { fstype: 'vfat', label: 'EDGECD-BOOT', mountpoints: ['/boot/firmware'] }],
    ['mmcblk0p2', rootSize, 2048 + (256 * MiB) / 512, { fstype: 'ext4', label: 'edgecd-root', mountpoints: ['/'] }],
    ...extra,
  ]);
const ROOT_START = (2048 + (256 * MiB) / 512) * 512;
const auto = { dataDisk: 'auto', formatDataDisk: false };

describe('choosing where evidence lives', () => {
  test('a card alone: the root grows to its fixed size and the rest becomes a data partition', () => {
    const plan = planStorage([card(32 * GiB)], auto);
    assert.deepEqual(plan.growRoot, { disk: '/dev/mmcblk0', number: 2, device: '/dev/mmcblk0p2', toBytes: ROOT_BYTES, gpt: false });
    assert.deepEqual(plan.data, { kind: 'new-partition', disk: '/dev/mmcblk0', number: 3, startSector: (ROOT_START + ROOT_BYTES) / 512 });
    assert.equal(partitionPath('/dev/mmcblk0', 3), '/dev/mmcblk0p3');
    assert.equal(partitionPath('/dev/sda', 1), '/dev/sda1');
  });

  test('a blank USB disk is preferred over the card; the root still grows', () => {
    const usb = disk('sda', 500 * GiB, { tran: 'usb' });
    const plan = planStorage([card(32 * GiB), usb], auto);
    assert.deepEqual(plan.data, { kind: 'whole-disk', disk: '/dev/sda' });
    assert.ok(plan.growRoot);
  });

  test('a USB disk holding other data is left alone, and said so', () => {
    const usb = disk('sda', 500 * GiB, { tran: 'usb', pttype: 'gpt' }, [['sda1', 500 * GiB - MiB, 2048, { fstype: 'ntfs', label: 'Holiday photos' }]]);
    const plan = planStorage([card(32 * GiB), usb], auto);
    assert.equal(plan.data.kind, 'new-partition');
    assert.match(plan.notes.join(), /\/dev\/sda: holds other data, left alone/);
    // Named, it is still refused without format_data_disk = yes, and taken with it.
    assert.throws(() => planStorage([card(32 * GiB), usb], { dataDisk: '/dev/sda', formatDataDisk: false }), StoragePlanError);
    assert.deepEqual(planStorage([card(32 * GiB), usb], { dataDisk: '/dev/sda', formatDataDisk: true }).data, { kind: 'whole-disk', disk: '/dev/sda' });
  });

  test('an edgecd data disk from an earlier installation is found again (a reflashed card keeps its evidence)', () => {
    const blank = disk('sdb', 2000 * GiB, { tran: 'usb' });
    const earlier = disk('sda', 500 * GiB, { tran: 'usb', pttype: 'gpt' }, [['sda1', 500 * GiB - MiB, 2048, { fstype: 'ext4', label: 'edgecd-data' }]]);
    assert.deepEqual(planStorage([card(32 * GiB), blank, earlier], auto).data, { kind: 'reuse', device: '/dev/sda1', disk: '/dev/sda' });
  });

  test('first boot run again: the grown root and the data partition are recognised, a half-made one is formatted', () => {
    const done = card(32 * GiB, ROOT_BYTES, [['mmcblk0p3', 27 * GiB, (ROOT_START + ROOT_BYTES) / 512, { fstype: 'ext4', label: 'edgecd-data' }]]);
    assert.deepEqual(planStorage([done], auto), { bootDisk: '/dev/mmcblk0', growRoot: null, data: { kind: 'reuse', device: '/dev/mmcblk0p3', disk: '/dev/mmcblk0' }, notes: [] });
    const half = card(32 * GiB, ROOT_BYTES, [['mmcblk0p3', 27 * GiB, (ROOT_START + ROOT_BYTES) / 512, {}]]);
    assert.deepEqual(planStorage([half], auto).data, { kind: 'format-partition', disk: '/dev/mmcblk0', device: '/dev/mmcblk0p3' });
  });

  test('a card too small for evidence, with nothing attached, is refused with advice', () => {
    assert.throws(() => planStorage([card(4 * GiB)], auto), /no room for evidence: \/dev\/mmcblk0 has 0\.\d GiB free.*attach a USB disk/);
    // With a disk attached the same card is fine.
    assert.equal(planStorage([card(4 * GiB), disk('sda', 64 * GiB, { tran: 'usb' })], auto).data.kind, 'whole-disk');
  });

  test('GPT (the PC image) keeps its backup table clear', () => {
    const pc = disk('vda', 8 * GiB, { pttype: 'gpt' }, [
      ['vda1', 256 * MiB, 2048, { fstype: 'vfat' }],
      ['vda2', 745 * MiB, 2048 + (256 * MiB) / 512, { fstype: 'ext4', mountpoints: ['/'] }],
    ]);
    const plan = planStorage([pc], auto);
    assert.equal(plan.data.kind, 'new-partition');
    assert.ok(plan.growRoot!.toBytes === ROOT_BYTES && ROOT_START + ROOT_BYTES + GiB < 8 * GiB - MiB);
    assert.equal(plan.growRoot!.gpt, true, 'its backup table is moved to the end before growing');
  });
});

/** The box as first boot sees it: lsblk answers from `devices`, disk tools are recorded, edgecd's own CLI really runs. */
class TestMachine implements Machine {
  readonly calls: string[] = [];
  constructor(
    public devices: BlockDevice[],
    readonly ips: string[] = ['192.0.2.10'],
  ) {}
  async run(cmd: string, args: string[], input?: string): Promise<string> {
    if (cmd === process.execPath) {
      // The build when it is fresh (as the image runs it), else the sources through tsx.
      const { stdout } = await promisify(execFile)(cmd, [...CLI_ARGS.slice(0, -1), ...args], { cwd: ROOT });
      return stdout;
    }
    this.calls.push([cmd, ...args].join(' ') + (input ? ` <<< ${input.trim()}` : ''));
    if (cmd === 'lsblk' && args.includes('--json')) return JSON.stringify({ blockdevices: this.devices });
    if (cmd === 'blkid') return '0b6c1f9e-7a11-4c4b-9d1e-5a1f3c2e7d10\n';
    if (cmd === 'mountpoint') throw new Error('not a mountpoint');
    return '';
  }
  addresses(): string[] {
    return this.ips;
  }
}

async function tempBox(preset: string | null) {
  const root = await mkdtemp(join(tmpdir(), 'edgecd-box-'));
  const boot = join(root, 'boot/firmware');
  await mkdir(boot, { recursive: true });
  await mkdir(join(root, 'etc/edgecd'), { recursive: true });
  const uid = process.getuid!();
  const gid = process.getgid!();
  await writeFile(join(root, 'etc/passwd'), `root:x:0:0:root:/root:/bin/sh\nedgecd:x:${uid}:${gid}:edgecd:/var/lib/edgecd:/usr/sbin/nologin\n`);
  await writeFile(join(root, 'etc/machine-id'), '3f2a9c41d05e4b7d8a6b1c2d3e4f5a6b\n');
  await writeFile(join(root, 'etc/hosts'), '127.0.0.1\tlocalhost\n127.0.1.1\tedgecd\n');
  await writeFile(join(root, 'etc/fstab'), 'LABEL=edgecd-root / ext4 noatime 0 1\n');
  await writeFile(join(root, 'etc/edgecd/edgecd.json'), '{"listen": "0.0.0.0:443"}\n');
  if (preset !== null) await writeFile(join(boot, 'edgecd.txt'), preset);
  return { root, boot, uid, gid };
}

describe('first boot, against a temporary root', () => {
  test('provisions once: disks, name, config with the central key off the card, keys, connection.json, marker', async (t) => {
    const preset =
      'hostname = gate-north\nsite_name = North Gate\nntp_servers = ntp1.example.org\n' +
      'replication_url = https://central.example.org/auth/v1.0\nreplication_user = north\nreplication_key = central-key-123\nreplication_cacert = central.pem\n';
    const box = await tempBox(preset);
    t.after(() => rm(box.root, { recursive: true, force: true }));
    await writeFile(join(box.boot, 'central.pem'), 'CENTRAL CA\n');
    const machine = new TestMachine([card(32 * GiB)]);
    const said: string[] = [];
    const result = await firstBoot({ root: box.root, boot: box.boot, machine, cli: CLI_ARGS.at(-1)!, say: (l) => said.push(l) });
    assert.ok(result);

    // The card: root grown to 4 GiB in place, then a data partition after it, formatted and mounted.
    assert.deepEqual(
      machine.calls.filter((c) => !c.startsWith('lsblk') && !c.startsWith('hostname') && !c.startsWith('systemctl try-restart')),
      [
        `sfdisk --force --no-reread --no-tell-kernel -N 2 /dev/mmcblk0 <<< , ${ROOT_BYTES / 512}`,
        'partx -u -n 2 /dev/mmcblk0',
        'resize2fs /dev/mmcblk0p2',
        `sfdisk --force --no-reread --no-tell-kernel --append /dev/mmcblk0 <<< start=${(ROOT_START + ROOT_BYTES) / 512}, type=L`,
        'partx -a -n 3 /dev/mmcblk0',
        'udevadm settle',
        'mkfs.ext4 -q -F -L edgecd-data -m 1 /dev/mmcblk0p3',
        'blkid -s UUID -o value /dev/mmcblk0p3',
        'systemctl daemon-reload',
        `mountpoint -q ${join(box.root, 'var/lib/edgecd')}`,
        `mount ${join(box.root, 'var/lib/edgecd')}`,
        'sync',
      ],
    );
    assert.ok(machine.calls.includes('hostname gate-north'));
    const fstab = await readFile(join(box.root, 'etc/fstab'), 'utf8');
    assert.match(fstab, /^UUID=0b6c1f9e-7a11-4c4b-9d1e-5a1f3c2e7d10 +\/var\/lib\/edgecd +ext4 +noatime,nofail/m);
    assert.match(await readFile(join(box.root, 'etc/hosts'), 'utf8'), /^127\.0\.1\.1\tgate-north$/m);
    assert.equal(await readFile(join(box.root, 'etc/chrony/sources.d/edgecd.sources'), 'utf8'), '# From edgecd.txt at first boot.\nserver ntp1.example.org iburst\n');

    // Configuration: 0600 with the central's key; the card no longer has it.
    const configFile = join(box.root, 'etc/edgecd/edgecd.json');
    assert.equal((await stat(configFile)).mode & 0o777, 0o600);
    const config = JSON.parse(await readFile(configFile, 'utf8'));
    assert.equal(config.siteName, 'North Gate');
    assert.deepEqual(config.replication.targets, [
      { name: 'central', authUrl: 'https://central.example.org/auth/v1.0', user: 'north', key: 'central-key-123', cacert: '/etc/edgecd/central-ca.pem' },
    ]);
    assert.equal(await readFile(join(box.root, 'etc/edgecd/central-ca.pem'), 'utf8'), 'CENTRAL CA\n');
    const card_ = await readFile(join(box.boot, 'edgecd.txt'), 'utf8');
    assert.doesNotMatch(card_, /central-key-123/);
    assert.match(card_, /^replication_key = <moved into \/etc\/edgecd\/edgecd\.json at first boot>$/m);

    // Keys and certificate for the box's address; connection.json on the boot partition; the console banner.
    const data = join(box.root, 'var/lib/edgecd');
    const connection = await readFile(join(data, 'connection.json'), 'utf8');
    assert.equal(await readFile(join(box.boot, 'connection.json'), 'utf8'), connection);
    const file = JSON.parse(connection);
    assert.deepEqual(file.AuthenticationTokenURI, ['https://192.0.2.10:443/auth/v1.0']);
    assert.equal(file.SiteName, 'North Gate');
    const [endpoint] = await loadEndpoints(data);
    const fingerprint = new X509Certificate(endpoint!.certPem).fingerprint256;
    assert.match(
      await readFile(join(box.root, 'etc/issue.d/edgecd.issue'), 'utf8'),
      new RegExp(`https://192\\.0\\.2\\.10.*\\n  certificate 192\\.0\\.2\\.10  SHA-256 ${fingerprint}`),
    );
    assert.ok(said.some((l) => l.includes(fingerprint)) && said.some((l) => l.includes(file.BlobAPIKey)), 'the console shows the fingerprint and connection.json');
    for (const f of ['credentials.json', 'tls/192.0.2.10.key']) assert.equal((await stat(join(data, f))).uid, box.uid);

    // The marker: a second run does nothing.
    const marker = JSON.parse(await readFile(join(box.root, 'etc/edgecd/provisioned'), 'utf8'));
    assert.equal(marker.dataDevice, '/dev/mmcblk0p3');
    const calls = machine.calls.length;
    assert.equal(await firstBoot({ root: box.root, boot: box.boot, machine, cli: CLI_ARGS.at(-1)!, say: () => {} }), null);
    assert.equal(machine.calls.length, calls);
  });

  test('run again after a power cut before the marker: keys and the moved key are kept, nothing is formatted twice', async (t) => {
    const box = await tempBox('replication_url = https://c.example/auth/v1.0\nreplication_user = north\nreplication_key = k-1\nadmin_user = it\nadmin_key = 0123456789abcdef\n');
    t.after(() => rm(box.root, { recursive: true, force: true }));
    const machine = new TestMachine([card(32 * GiB)]);
    await firstBoot({ root: box.root, boot: box.boot, machine, cli: CLI_ARGS.at(-1)!, say: () => {} });
    const data = join(box.root, 'var/lib/edgecd');
    const credentials = await readFile(join(data, 'credentials.json'), 'utf8');
    assert.match(credentials, /"user": "it"/);
    await rm(join(box.root, 'etc/edgecd/provisioned'));

    // The box now has its grown root and data partition.
    machine.devices = [card(32 * GiB, ROOT_BYTES, [['mmcblk0p3', 27 * GiB, (ROOT_START + ROOT_BYTES) / 512, { fstype: 'ext4', label: 'edgecd-data' }]])];
    machine.calls.length = 0;
    const said: string[] = [];
    assert.ok(await firstBoot({ root: box.root, boot: box.boot, machine, cli: CLI_ARGS.at(-1)!, say: (l) => said.push(l) }));
    assert.ok(!machine.calls.some((c) => /^(sfdisk|mkfs|resize2fs|wipefs)/.test(c)), machine.calls.join('\n'));
    assert.equal(await readFile(join(data, 'credentials.json'), 'utf8'), credentials);
    assert.ok(said.some((l) => /keys, certificates and recordings are kept/.test(l)));
    assert.equal(JSON.parse(await readFile(join(box.root, 'etc/edgecd/edgecd.json'), 'utf8')).replication.targets[0].key, 'k-1');
    assert.equal((await readFile(join(box.root, 'etc/fstab'), 'utf8')).match(/\/var\/lib\/edgecd/g)!.length, 1, 'one fstab line for evidence');
  });

  test('a wrong edgecd.txt stops before touching anything and says why next to it', async (t) => {
    const box = await tempBox('hostname = gate north\naddress = 10.0.0.300/24\n');
    t.after(() => rm(box.root, { recursive: true, force: true }));
    const machine = new TestMachine([card(32 * GiB)]);
    await assert.rejects(firstBoot({ root: box.root, boot: box.boot, machine, cli: CLI_ARGS.at(-1)!, say: () => {} }), PresetError);
    assert.deepEqual(machine.calls, []);
    const report = await readFile(join(box.boot, 'edgecd-error.txt'), 'utf8');
    assert.match(report, /line 1: hostname must be/);
    assert.match(report, /line 2: address must be/);
    await assert.rejects(stat(join(box.root, 'etc/edgecd/provisioned')));
    // Fixed on the PC: the next boot provisions and removes the report.
    await writeFile(join(box.boot, 'edgecd.txt'), 'hostname = gate-north\n');
    await chmod(join(box.boot, 'edgecd.txt'), 0o600);
    assert.ok(await firstBoot({ root: box.root, boot: box.boot, machine, cli: CLI_ARGS.at(-1)!, say: () => {} }));
    await assert.rejects(stat(join(box.boot, 'edgecd-error.txt')));
  });
});
