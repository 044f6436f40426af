/**
 * `audit`: verify the audit trail's hash chain (and, with --against, the
 * signed heads a central holds for it), or show a recording's chain of custody.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { paths } from '../admin/data-dir.ts';
import { checkAgainstAnchors } from '../audit/anchor-check.ts';
import { byTarget, readAuditLines, verifyAuditLog } from '../audit/audit-reader.ts';
import { readStationKey } from '../audit/station-key.ts';
import { Credentials } from '../auth/credentials.ts';
import { OperatorError } from '../lib/errors.ts';
import { fetchAnchors } from '../replication/remote-anchors.ts';
import { SwiftClient } from '../swift/client.ts';
import { need, UsageError, type Command, type Values } from './args.ts';
import { out } from './output.ts';

export const auditCommands: Record<string, Command> = {
  audit: {
    options: {
      data: { type: 'string' },
      recording: { type: 'string' },
      account: { type: 'string' },
      against: { type: 'string' },
      user: { type: 'string' },
      key: { type: 'string' },
      cacert: { type: 'string' },
      'key-id': { type: 'string' },
      json: { type: 'boolean' },
    },
    positionals: true,
    async run(v, positionals) {
      const dir = resolve(need(v, 'data'));
      const p = paths(dir);
      if (positionals[0] === 'verify' && positionals.length === 1) {
        const report = await verifyAuditLog(p.audit, p.auditHead);
        if (v.json === true && typeof v.against !== 'string') {
          out(JSON.stringify({ file: p.audit, ...report }, null, 2));
          return report.ok ? 0 : 1;
        }
        if (report.ok) out(`${p.audit}: ${report.lines} lines, chain intact${report.head ? ` (head at line ${report.head.seq})` : ''}`);
        else out(`${p.audit}: BROKEN at line ${report.firstBad!.line}: ${report.firstBad!.reason}`);
        if (typeof v.against !== 'string') return report.ok ? 0 : 1;
        return (await verifyAgainstAnchors(p, v)) && report.ok ? 0 : 1;
      }
      if (positionals[0] === 'show' && positionals.length === 1) {
        const recording = need(v, 'recording');
        const account = typeof v.account === 'string' ? v.account : ((await Credentials.load(p.credentials)).users[0]?.account ?? '');
        const prefix = `AUTH_${account}/${recording}`;
        let n = 0;
        for await (const line of readAuditLines(p.audit, byTarget(prefix))) {
          out(JSON.stringify(line));
          n += 1;
        }
        if (n === 0) out(`no audit lines for ${prefix}`);
        return 0;
      }
      throw new UsageError(
        'audit verify --data DIR [--against AUTH_URL --user U --key K [--cacert FILE] [--key-id ID]] | audit show --recording NAME --data DIR [--account ACCOUNT]',
      );
    },
  },
};

/**
 * `audit verify --against`: the trail checked against the signed heads a CD
 * holds for the station's key (or --key-id's); prints the verdict, true when
 * nothing is wrong.
 */
async function verifyAgainstAnchors(p: ReturnType<typeof paths>, v: Values): Promise<boolean> {
  const keyId = typeof v['key-id'] === 'string' ? v['key-id'] : (await readStationKey(p.stationKey))?.keyId;
  if (keyId === undefined)
    throw new OperatorError(`${p.stationKey} is missing: name the key the anchors were signed with (--key-id, from the central's edgecd-audit-<id> container)`);
  if (!/^[0-9a-f]{16}$/.test(keyId)) throw new UsageError('--key-id: 16 hex digits');
  const cacert = typeof v.cacert === 'string' ? await readFile(v.cacert, 'utf8') : undefined;
  const client = new SwiftClient({ authUrl: need(v, 'against'), user: need(v, 'user'), key: need(v, 'key'), ...(cacert ? { ca: cacert } : {}), sockets: 2 });
  try {
    const { anchors, invalid } = await fetchAnchors(client, keyId);
    const report = await checkAgainstAnchors(p.audit, anchors);
    out(
      `anchors of key ${keyId} at ${String(v.against)}: ${anchors.length}${report.verifiedThrough ? `; the trail matches them through line ${report.verifiedThrough.seq} (anchored ${report.verifiedThrough.time})` : ''}`,
    );
    for (const bad of invalid) out(`NOT AN ANCHOR ${bad.name}: ${bad.reason}`);
    for (const problem of report.problems) out(`PROBLEM ${problem}`);
    if (report.ok) out(`${report.unanchored} line(s) after the newest anchor are not anchored yet`);
    return report.ok && invalid.length === 0 && anchors.length > 0;
  } finally {
    client.close();
  }
}
