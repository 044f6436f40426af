/**
 * An appliance's first boot (images/rootfs/etc/systemd/system/edgecd-firstboot.service):
 * settings from edgecd.txt, the evidence disk, the box's name and network,
 * then credentials, certificate and connection.json, and last the
 * `provisioned` marker that keeps it from running again.
 *
 * Every step can run twice: a power cut at any point leaves no marker, and the
 * next boot finishes the job (a partition made but not formatted is formatted,
 * keys already written are kept). Each file is written whole and synced before
 * the marker, so the marker never stands in front of an empty key file.
 *
 * Programs (lsblk, sfdisk, mkfs, systemctl…) go through `Machine`, so the
 * logic runs against a temporary root in tests; images/test-boot.sh runs it
 * for real in a VM.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rm, stat, lchown, chmod } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { writeFileDurable } from '../lib/durable.ts';
import { loadEndpoints } from '../tls/endpoints.ts';
import { parsePreset, PresetError, withoutSecret, type Preset } from './preset.ts';
import { DATA_LABEL, LSBLK_ARGS, parseLsblk, planStorage, type StoragePlan } from './storage-plan.ts';

export interface Machine {
  /** Runs a program and returns its output; rejects (with its stderr) when it fails. */
  run(cmd: string, args: string[], input?: string): Promise<string>;
  /** The box's IPv4 addresses now, other than loopback. */
  addresses(): string[];
}

export interface FirstBootOptions {
  /** '/' on the box. */
  root: string;
  /** The FAT partition with edgecd.txt: /boot/firmware on the box. */
  boot: string;
  machine: Machine;
  /** edgecd's CLI (dist/cli.js), run for init and user add exactly as IT would. */
  cli: string;
  say: (line: string) => void;
}

export interface FirstBootResult {
  hostname: string;
  addresses: string[];
  storage: StoragePlan;
  dataDevice: string;
  fingerprints: string[];
}

const DATA = 'var/lib/edgecd';
const CONFIG = 'etc/edgecd/edgecd.json';
const MARKER = 'etc/edgecd/provisioned';
const CENTRAL_CA = 'etc/edgecd/central-ca.pem';

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );
/** /dev/sda + 3 → /dev/sda3; /dev/mmcblk0 + 3 → /dev/mmcblk0p3. */
export const partitionPath = (disk: string, n: number) => `${disk}${/\d$/.test(disk) ? 'p' : ''}${n}`;

export async function firstBoot(o: FirstBootOptions): Promise<FirstBootResult | null> {
  const at = (path: string) => join(o.root, path);
  if (await exists(at(MARKER))) {
    o.say(`already provisioned (${at(MARKER)})`);
    return null;
  }
  const preset = await readPreset(o);
  const hostname = await nameTheBox(o, preset);
  await configureNetwork(o, preset);
  const storage = planStorage(parseLsblk(await o.machine.run('lsblk', LSBLK_ARGS)), preset);
  for (const note of storage.notes) o.say(`storage: ${note}`);
  const dataDevice = await prepareStorage(o, storage);

  const { uid, gid } = await serviceUser(o.root);
  await writeConfig(o, preset, hostname, uid, gid);
  const addresses = preset.address ? [preset.address.split('/')[0]!] : o.machine.addresses();
  const data = at(DATA);
  const config = at(CONFIG);
  if (await exists(join(data, 'credentials.json'))) {
    o.say('evidence disk from an earlier installation: its keys, certificates and recordings are kept');
  } else {
    const names = addresses.length > 0 ? addresses.flatMap((a) => ['--ip', a]) : ['--hostname', hostname];
    await o.machine.run(process.execPath, [o.cli, 'init', '--data', data, '--config', config, '--https', ...names]);
  }
  if (preset.admin?.key !== undefined) {
    await o.machine.run(process.execPath, [o.cli, 'user', 'add', preset.admin.user, '--role', 'admin', '--key', preset.admin.key, '--data', data]).catch(async (err: Error) => {
      if (!/exists/.test(err.message)) throw err;
      await o.machine.run(process.execPath, [o.cli, 'user', 'passwd', preset.admin!.user, '--key', preset.admin!.key!, '--data', data]);
    });
  }
  await chownTree(data, uid, gid);
  await chmod(data, 0o750);
  if (preset.sshAuthorizedKey) await allowSsh(o, preset.sshAuthorizedKey);

  // For IT: connection.json where a PC can read it, and the address and fingerprint on the console.
  const connection = await readFile(join(data, 'connection.json'), 'utf8');
  await writeFileDurable(join(o.boot, 'connection.json'), connection, 0o600);
  const fingerprints = (await loadEndpoints(data)).map((e) => `${e.name}  SHA-256 ${new X509Certificate(e.certPem).fingerprint256}`);
  await writeIssue(o, hostname, JSON.parse(connection) as { AuthenticationTokenURI: string[] }, fingerprints);
  await removeSecrets(o, preset);

  await o.machine.run('sync', []);
  await writeFileDurable(at(MARKER), JSON.stringify({ at: new Date().toISOString(), hostname, dataDevice, fingerprints }, null, 2) + '\n', 0o644);
  o.say(`provisioned ${hostname}: evidence on ${dataDevice}`);
  for (const f of fingerprints) o.say(`certificate ${f}`);
  o.say(`connection.json for the Body Worn Manager (also on the boot partition as connection.json):\n${connection}`);
  return { hostname, addresses, storage, dataDevice, fingerprints };
}

/** edgecd.txt, or the defaults without one. A bad file stops first boot and says why, on the console and beside it. */
async function readPreset(o: FirstBootOptions): Promise<Preset> {
  const file = join(o.boot, 'edgecd.txt');
  const errors = join(o.boot, 'edgecd-error.txt');
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  try {
    const preset = parsePreset(text);
    await rm(errors, { force: true });
    return preset;
  } catch (err) {
    if (!(err instanceof PresetError)) throw err;
    const report = `edgecd did not set itself up: edgecd.txt has ${err.problems.length} problem(s). Fix them on a PC and boot again.\r\n\r\n${err.problems.join('\r\n')}\r\n`;
    await writeFileDurable(errors, report, 0o600); // FAT mounted umask=0077 takes no other mode
    throw err;
  }
}

async function nameTheBox(o: FirstBootOptions, preset: Preset): Promise<string> {
  const machineId = (await readFile(join(o.root, 'etc/machine-id'), 'utf8').catch(() => '')).trim();
  const hostname = preset.hostname ?? `edgecd-${(machineId || Math.random().toString(16).slice(2)).slice(0, 6)}`;
  await writeFileDurable(join(o.root, 'etc/hostname'), `${hostname}\n`, 0o644);
  const hosts = await readFile(join(o.root, 'etc/hosts'), 'utf8').catch(() => '127.0.0.1\tlocalhost\n');
  const kept = hosts.split('\n').filter((l) => !/^127\.0\.1\.1\s/.test(l) && l !== '');
  await writeFileDurable(join(o.root, 'etc/hosts'), [...kept, `127.0.1.1\t${hostname}`, ''].join('\n'), 0o644);
  await o.machine.run('hostname', [hostname]);
  return hostname;
}

async function configureNetwork(o: FirstBootOptions, preset: Preset): Promise<void> {
  if (preset.address) {
    const network = [
      '[Match]',
      'Type=ether',
      '',
      '[Network]',
      `Address=${preset.address}`,
      ...(preset.gateway ? [`Gateway=${preset.gateway}`] : []),
      ...preset.dns.map((d) => `DNS=${d}`),
      'MulticastDNS=yes',
      '',
    ];
    await writeFileDurable(join(o.root, 'etc/systemd/network/10-edgecd-static.network'), `# From edgecd.txt at first boot.\n${network.join('\n')}`, 0o644);
    await o.machine.run('networkctl', ['reload']);
    // The certificate is made for this address: wait (briefly) until the box has it.
    const ip = preset.address.split('/')[0]!;
    for (let i = 0; i < 40 && !o.machine.addresses().includes(ip); i++) await new Promise((r) => setTimeout(r, 250));
  }
  if (preset.ntpServers.length > 0) {
    const sources = join(o.root, 'etc/chrony/sources.d');
    await mkdir(sources, { recursive: true });
    await writeFileDurable(join(sources, 'edgecd.sources'), `# From edgecd.txt at first boot.\n${preset.ntpServers.map((s) => `server ${s} iburst`).join('\n')}\n`, 0o644);
    await rm(join(sources, 'debian-pool.sources'), { force: true });
    await o.machine.run('systemctl', ['try-restart', 'chrony.service']);
  }
}

/** Carries out the storage plan; returns the evidence filesystem's device, mounted at /var/lib/edgecd. */
async function prepareStorage(o: FirstBootOptions, plan: StoragePlan): Promise<string> {
  const { machine } = o;
  if (plan.growRoot) {
    const g = plan.growRoot;
    o.say(`growing the system partition ${g.device} to ${(g.toBytes / 1024 ** 3).toFixed(1)} GiB`);
    if (g.gpt) await machine.run('sfdisk', ['--relocate', 'gpt-bak-std', g.disk]);
    await machine.run('sfdisk', ['--force', '--no-reread', '--no-tell-kernel', '-N', String(g.number), g.disk], `, ${g.toBytes / 512}\n`);
    await machine.run('partx', ['-u', '-n', String(g.number), g.disk]);
    await machine.run('resize2fs', [g.device]);
  }
  const data = plan.data;
  let device: string;
  if (data.kind === 'reuse') {
    device = data.device;
    o.say(`evidence: the edgecd data filesystem on ${device}`);
  } else {
    if (data.kind === 'new-partition') {
      device = partitionPath(data.disk, data.number);
      o.say(`evidence: a new partition ${device} from the free space of ${data.disk}`);
      await machine.run('sfdisk', ['--force', '--no-reread', '--no-tell-kernel', '--append', data.disk], `start=${data.startSector}, type=L\n`);
      await machine.run('partx', ['-a', '-n', String(data.number), data.disk]);
    } else if (data.kind === 'whole-disk') {
      device = partitionPath(data.disk, 1);
      o.say(`evidence: the attached disk ${data.disk} (new partition table)`);
      await machine.run('wipefs', ['--all', '--quiet', data.disk]);
      await machine.run('sfdisk', ['--quiet', data.disk], 'label: gpt\ntype=L\n');
    } else {
      device = data.device;
      o.say(`evidence: formatting ${device}, left unformatted by an interrupted first boot`);
    }
    await machine.run('udevadm', ['settle']);
    await machine.run('mkfs.ext4', ['-q', '-F', '-L', DATA_LABEL, '-m', '1', device]);
  }
  const uuid = (await machine.run('blkid', ['-s', 'UUID', '-o', 'value', device])).trim();
  if (!/^[0-9a-f-]{8,}$/i.test(uuid)) throw new Error(`${device} has no filesystem UUID (blkid said ${JSON.stringify(uuid)})`);
  await setFstabLine(o.root, `UUID=${uuid}  /${DATA}  ext4  noatime,nofail,x-systemd.device-timeout=30s  0  2`);
  await machine.run('systemctl', ['daemon-reload']);
  const mountPoint = join(o.root, DATA);
  await mkdir(mountPoint, { recursive: true });
  await machine.run('mountpoint', ['-q', mountPoint]).catch(() => machine.run('mount', [mountPoint]));
  return device;
}

async function setFstabLine(root: string, line: string): Promise<void> {
  const file = join(root, 'etc/fstab');
  const text = await readFile(file, 'utf8').catch(() => '');
  const comment = '# Evidence, on the filesystem first boot chose:';
  const kept = text.split('\n').filter((l) => l !== '' && l !== comment && !l.split(/\s+/).includes(`/${DATA}`));
  await writeFileDurable(file, [...kept, comment, line, ''].join('\n'), 0o644);
}

async function serviceUser(root: string): Promise<{ uid: number; gid: number }> {
  const passwd = await readFile(join(root, 'etc/passwd'), 'utf8');
  const m = /^edgecd:[^:]*:(\d+):(\d+):/m.exec(passwd);
  if (!m) throw new Error('the edgecd user is missing from /etc/passwd (install.sh creates it)');
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

async function writeConfig(o: FirstBootOptions, preset: Preset, hostname: string, uid: number, gid: number): Promise<void> {
  const file = join(o.root, CONFIG);
  // biome-ignore lint/suspicious/noExplicitAny: edgecd.json as the operator left it, edited in place key by key
  const config = JSON.parse(await readFile(file, 'utf8').catch(() => '{"listen": "0.0.0.0:443"}')) as Record<string, any>;
  config.siteName = preset.siteName ?? config.siteName ?? hostname;
  const r = preset.replication;
  if (r) {
    const targets = (config.replication?.targets ?? []) as Record<string, unknown>[];
    const earlier = targets.find((t) => t.name === 'central');
    const key = r.key ?? (earlier?.authUrl === r.url && earlier?.user === r.user ? earlier.key : undefined);
    if (key === undefined) throw new PresetError(['replication_key was moved off edgecd.txt, but the box holds no key for this URL and user: write it again']);
    const target: Record<string, unknown> = { name: 'central', authUrl: r.url, user: r.user, key, ...(r.schedule ? { schedule: r.schedule } : {}) };
    if (r.cacert) {
      await copyFile(join(o.boot, r.cacert), join(o.root, CENTRAL_CA));
      target.cacert = `/${CENTRAL_CA}`;
    }
    config.replication = { ...(config.replication ?? {}), targets: [target, ...targets.filter((t) => t.name !== 'central')] };
  }
  // 0600: the file may hold the central's key.
  await writeFileDurable(file, JSON.stringify(config, null, 2) + '\n', 0o600);
  await lchown(file, uid, gid);
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await lchown(dir, uid, gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(path, uid, gid);
    else await lchown(path, uid, gid);
  }
}

async function allowSsh(o: FirstBootOptions, key: string): Promise<void> {
  const dir = join(o.root, 'root/.ssh');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileDurable(join(dir, 'authorized_keys'), `${key}\n`, 0o600);
  await o.machine.run('ssh-keygen', ['-A']);
  await o.machine.run('systemctl', ['enable', '--now', 'ssh.service']);
}

/** The login prompt (console, HDMI) says where the station is and how to check its certificate. */
async function writeIssue(o: FirstBootOptions, hostname: string, file: { AuthenticationTokenURI: string[] }, fingerprints: string[]): Promise<void> {
  const urls = file.AuthenticationTokenURI.map((u) => new URL(u).origin);
  const text = [
    `edgecd content destination ${hostname}: ${urls.join('  ')}`,
    ...fingerprints.map((f) => `  certificate ${f}`),
    '  connection.json: on the boot partition (EDGECD-BOOT) or GET <address>/connection.json as an admin',
    '',
    '',
  ].join('\n');
  await mkdir(join(o.root, 'etc/issue.d'), { recursive: true });
  await writeFileDurable(join(o.root, 'etc/issue.d/edgecd.issue'), text, 0o644);
}

/** Keys preset on the card leave it once they are in the box. */
async function removeSecrets(o: FirstBootOptions, preset: Preset): Promise<void> {
  const file = join(o.boot, 'edgecd.txt');
  let text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return;
  const before = text;
  if (preset.replication?.key !== undefined) text = withoutSecret(text, 'replication_key', 'into /etc/edgecd/edgecd.json at first boot');
  if (preset.admin?.key !== undefined) text = withoutSecret(text, 'admin_key', 'into the box at first boot');
  if (text !== before) await writeFileDurable(file, text, 0o600);
}

/** The real box: programs run as they are, addresses from the kernel. */
export function hostMachine(): Machine {
  return {
    run: (cmd, args, input) =>
      new Promise((resolve, reject) => {
        const child = execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
          if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${(stderr || err.message).trim()}`));
          else resolve(stdout);
        });
        // Programs that read no input may exit before it is written: that is not an error.
        child.stdin!.on('error', () => {});
        child.stdin!.end(input);
      }),
    addresses: () =>
      Object.values(networkInterfaces())
        .flat()
        .filter((a) => a !== undefined && a.family === 'IPv4' && !a.internal)
        .map((a) => a!.address),
  };
}
