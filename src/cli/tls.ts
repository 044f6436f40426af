/** `cert`: show the station's HTTPS certificates, or renew them (which rewrites the connection file). */
import { X509Certificate } from 'node:crypto';
import { resolve } from 'node:path';
import { paths } from '../admin/data-dir.ts';
import { renewCertificates } from '../admin/operations.ts';
import { daysUntilExpiry, loadEndpoints } from '../tls/endpoints.ts';
import { need, UsageError, type Command } from './args.ts';
import { out } from './output.ts';
import { operate } from './via-daemon.ts';

export const tlsCommands: Record<string, Command> = {
  cert: {
    options: { data: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' } },
    positionals: true,
    async run(v, positionals) {
      const dir = resolve(need(v, 'data'));
      if (positionals[0] === 'show' && positionals.length === 1) {
        const endpoints = await loadEndpoints(dir);
        if (v.json === true) {
          const certificates = endpoints.map((e) => ({
            name: e.name,
            notAfter: e.notAfter.toISOString(),
            source: e.generated ? 'self-signed' : 'operator-supplied',
            file: e.cert,
            sha256: new X509Certificate(e.certPem).fingerprint256,
          }));
          out(JSON.stringify({ certificates, daysUntilExpiry: daysUntilExpiry(endpoints) }, null, 2));
          return 0;
        }
        if (endpoints.length === 0) out('no HTTPS endpoints (plain HTTP): edgecd init --https sets them up');
        for (const e of endpoints) {
          out(`${e.name.padEnd(24)} until ${e.notAfter.toISOString()}  ${e.generated ? 'self-signed' : 'operator-supplied'}  ${e.cert}`);
          // What a browser or `openssl x509 -fingerprint -sha256` shows, for checking by eye.
          out(`${''.padEnd(24)} SHA-256 ${new X509Certificate(e.certPem).fingerprint256}`);
        }
        const days = daysUntilExpiry(endpoints);
        if (days !== null) out(`first expiry in ${days} days`);
        return 0;
      }
      if (positionals[0] !== 'renew' || positionals.length !== 1) throw new UsageError('cert renew --data DIR | cert show --data DIR');
      const result = await operate<{ renewed: string[]; kept: string[]; daysUntilExpiry: number | null }>(dir, v, '/cert/renew', {}, (ctx, actor) =>
        renewCertificates(ctx, actor, 'cli'),
      );
      out(`renewed: ${result.renewed.join(', ') || 'none'}${result.kept.length ? `; operator certificates left as they are: ${result.kept.join(', ')}` : ''}`);
      out(`first expiry in ${result.daysUntilExpiry} days; upload ${paths(dir).connection} in the Body Worn Manager: it pins the new certificates`);
      return 0;
    },
  },
};
