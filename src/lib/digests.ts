/** md5 and SHA-256 of files and streams: the server's recovery and read-backs, and a clerk's pull. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export interface Digests {
  md5: string;
  sha256: string;
}

/** md5 and SHA-256 of a stored file (recovery, `reindex --verify`, pull; rare, so inline). */
export async function hashFile(path: string): Promise<Digests> {
  const { md5, sha256 } = await hashStream(createReadStream(path, { highWaterMark: 1 << 20 }));
  return { md5, sha256 };
}

/** md5, SHA-256 and length of a stream, consumed to its end (a read-back, a file). */
export async function hashStream(stream: AsyncIterable<Buffer>): Promise<Digests & { bytes: number }> {
  const md5 = createHash('md5');
  const sha256 = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    md5.update(chunk);
    sha256.update(chunk);
    bytes += chunk.length;
  }
  return { md5: md5.digest('hex'), sha256: sha256.digest('hex'), bytes };
}
