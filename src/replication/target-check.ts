/**
 * `edgecd target check`: a read-only preflight of a central content
 * destination from its connection file, before any evidence goes there. It
 * authenticates at every URI, reads the capabilities as a BWS does (Etag
 * included), and says per kind of object what replication will send, what
 * it will hold back and why, and how strongly it can confirm what arrives.
 * It writes nothing to the target.
 */
import type { CentralConnection } from '../connection/connection-file.ts';
import type { ConfirmationLevel } from '../config/config.ts';
import { header, swiftPath, SwiftClient, type SwiftResponse } from '../swift/client.ts';
import { headShowsContent } from './confirmation.ts';
import { effectiveCapabilities, etagMatches, KIND_PLAN, readCapabilities } from './target-plan.ts';

export interface TargetCheck {
  usable: boolean;
  endpoints: { authUrl: string; pinned: boolean; result: string }[];
  capabilities: { declared: string[]; fullStoreAndReadSupport: boolean; problem?: string };
  categories?: string;
  plan: { kind: string; sent: boolean; why?: string }[];
  confirmation?: { level: ConfirmationLevel; why: string };
  encryption?: string;
  warnings: string[];
}

export async function checkTarget(central: CentralConnection, options: { reader?: { user: string; key: string }; warnings?: string[] } = {}): Promise<TargetCheck> {
  const report: TargetCheck = {
    usable: false,
    endpoints: [],
    capabilities: { declared: [], fullStoreAndReadSupport: central.fullStoreAndReadSupport },
    plan: [],
    warnings: [...(options.warnings ?? [])],
  };
  let client: SwiftClient | undefined;
  for (const endpoint of central.endpoints) {
    const c = new SwiftClient({ endpoints: [endpoint], user: central.user, key: central.key, sockets: 1, idleTimeoutMs: 15_000 });
    try {
      await c.authenticate();
      report.endpoints.push({ authUrl: endpoint.authUrl, pinned: endpoint.ca !== undefined, result: `ok, storage at ${c.storageUrl}` });
      if (client) c.close();
      else client = c;
    } catch (err) {
      report.endpoints.push({ authUrl: endpoint.authUrl, pinned: endpoint.ca !== undefined, result: `failed: ${(err as Error).message}` });
      c.close();
    }
  }
  if (!client) return report;
  try {
    report.usable = true;
    const caps = await client.request('GET', swiftPath('System', 'Capabilities.json'));
    const read = readCapabilities(caps.status, caps.bytes, header(caps.headers, 'etag'));
    const declared = effectiveCapabilities(read.declared, [], central.fullStoreAndReadSupport);
    report.capabilities = { declared: [...declared].sort(), fullStoreAndReadSupport: central.fullStoreAndReadSupport, ...(read.problem ? { problem: read.problem } : {}) };
    for (const k of KIND_PLAN) {
      const sent = !k.needs || declared.has(k.needs);
      report.plan.push({ kind: k.label, sent, ...(sent ? {} : { why: `held back: the target does not declare ${k.needs}` }) });
    }
    if (declared.has('ReadCategories')) {
      const res = await client.request('GET', swiftPath('System', 'Categories.json'));
      report.categories =
        res.status !== 200
          ? `none published (${res.status})`
          : !etagMatches(res.bytes, header(res.headers, 'etag'))
            ? 'object corrupt: its Etag is not the md5 of its bytes'
            : describeCategories(res);
    }
    report.confirmation = await probeConfirmation(client, caps, central, options.reader);
    if (report.confirmation.level === 'acknowledged')
      report.warnings.push('its evidence cannot be verified: eviction from the station needs minConfirmation "acknowledged", set on purpose');
    if (central.encryption) report.encryption = `cameras will encrypt content for the central's key ${central.encryption.publicKeyId}; this station then holds ciphertext only`;
  } finally {
    client.close();
  }
  return report;
}

function describeCategories(res: SwiftResponse): string {
  try {
    const list = JSON.parse(res.bytes.toString('utf8')) as unknown;
    return Array.isArray(list) ? `${list.length} published; the station republishes them to its cameras unless it has its own` : 'not a JSON list';
  } catch {
    return 'not JSON';
  }
}

/**
 * How strongly replication will confirm objects, found without writing: a
 * HEAD of the capabilities document (or of the account, as Swift answers it)
 * that shows size and md5 means verified; else reader credentials that can
 * list the account mean read back; else acknowledged.
 */
async function probeConfirmation(
  client: SwiftClient,
  caps: SwiftResponse,
  central: CentralConnection,
  reader?: { user: string; key: string },
): Promise<{ level: ConfirmationLevel; why: string }> {
  if (caps.status === 200) {
    const head = await client.request('HEAD', swiftPath('System', 'Capabilities.json'));
    if (head.status === 200 && headShowsContent(head.headers)) return { level: 'verified', why: 'its HEAD shows size and md5' };
  }
  const account = await client.request('HEAD', '');
  if (account.status >= 200 && account.status < 300 && header(account.headers, 'x-account-object-count') !== undefined)
    return { level: 'verified', why: 'it answers as a Swift store (its HEAD shows size and md5)' };
  if (reader) {
    const r = new SwiftClient({ endpoints: central.endpoints, user: reader.user, key: reader.key, sockets: 1, idleTimeoutMs: 15_000 });
    try {
      const listing = await r.request('GET', '?format=json&limit=1');
      if (listing.status === 200 || listing.status === 204)
        return { level: 'read-back', why: 'its HEAD shows no size or md5, but the reader credentials can read: objects are read back and hashed' };
      return { level: 'acknowledged', why: `its HEAD shows no size or md5, and the reader credentials cannot read (${listing.status})` };
    } catch (err) {
      return { level: 'acknowledged', why: `its HEAD shows no size or md5, and the reader credentials fail: ${(err as Error).message}` };
    } finally {
      r.close();
    }
  }
  return { level: 'acknowledged', why: 'its HEAD shows no size or md5 (the first pass confirms this), and no reader credentials are given' };
}

export function formatTargetCheck(file: string, r: TargetCheck): string {
  const lines = [`${file}: ${r.usable ? 'usable' : 'NOT usable'}`];
  for (const e of r.endpoints) lines.push(`  ${e.authUrl}${e.pinned ? ' (pinned certificate)' : ''}: ${e.result}`);
  if (!r.usable) return [...lines, ...r.warnings.map((w) => `  warning: ${w}`)].join('\n');
  lines.push(
    `  capabilities: ${r.capabilities.fullStoreAndReadSupport ? 'all (FullStoreAndReadSupport)' : r.capabilities.declared.join(', ') || 'none'}${r.capabilities.problem ? ` — ${r.capabilities.problem}` : ''}`,
  );
  if (r.categories) lines.push(`  categories: ${r.categories}`);
  lines.push('  what replication sends:');
  for (const p of r.plan) lines.push(`    ${p.sent ? 'sent       ' : 'HELD BACK  '} ${p.kind}${p.why ? ` (${p.why.replace(/^held back: /, '')})` : ''}`);
  if (r.confirmation) lines.push(`  confirmation: ${r.confirmation.level}: ${r.confirmation.why}`);
  if (r.encryption) lines.push(`  encryption: ${r.encryption}`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}
