/** The digests tests check stored and pulled bytes against, as hex. */
import { createHash } from 'node:crypto';

export const md5 = (data: Buffer | string): string => createHash('md5').update(data).digest('hex');
export const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
