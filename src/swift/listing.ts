/** Swift listings: query parameters in, plain text or JSON out. */
import { EdgeError, badRequest } from '../lib/errors.ts';

export interface ListingQuery {
  prefix: string;
  marker: string;
  endMarker: string;
  delimiter: string;
  limit: number;
  format: 'json' | 'plain';
}

export function parseListingQuery(query: URLSearchParams, accept: string | undefined, maxLimit: number): ListingQuery {
  const format = query.get('format')?.toLowerCase() ?? (accept?.includes('application/json') ? 'json' : 'plain');
  if (format !== 'json' && format !== 'plain') {
    throw badRequest(`Unsupported listing format ${JSON.stringify(format)}; use format=json or format=plain`);
  }
  const limitText = query.get('limit');
  let limit = maxLimit;
  if (limitText !== null) {
    limit = Number(limitText);
    if (!/^\d+$/.test(limitText)) throw new EdgeError('PreconditionFailed', 'Value of limit must be a positive integer');
    if (limit > maxLimit) throw new EdgeError('PreconditionFailed', `Maximum limit is ${maxLimit}`);
  }
  const delimiter = query.get('delimiter') ?? '';
  if ([...delimiter].length > 1) throw new EdgeError('PreconditionFailed', 'Bad delimiter: must be one character');
  return {
    prefix: query.get('prefix') ?? '',
    marker: query.get('marker') ?? '',
    endMarker: query.get('end_marker') ?? '',
    delimiter,
    limit,
    format,
  };
}

/** Swift's listing timestamp: ISO 8601 in UTC, microseconds, no zone suffix. */
export function listingTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000');
}

export type Listed<T> = T | { subdir: string };

/** Plain listings are one name per line; JSON listings are arrays of entries. */
export function renderListing<T extends { name: string }>(entries: Listed<T>[], format: 'json' | 'plain', toJson: (e: T) => object): { body: string; contentType: string } {
  if (format === 'json') {
    const json = entries.map((e) => ('subdir' in e ? { subdir: e.subdir } : toJson(e)));
    return { body: JSON.stringify(json), contentType: 'application/json; charset=utf-8' };
  }
  const lines = entries.map((e) => ('subdir' in e ? e.subdir : e.name) + '\n');
  return { body: lines.join(''), contentType: 'text/plain; charset=utf-8' };
}
