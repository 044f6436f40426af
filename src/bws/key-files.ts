/**
 * Which key file unlocks which content, in an end-to-end encrypted recording.
 *
 * Names disagree: the spec names a key `<StartTime>_<RecordingID>.key` (for
 * a track, StartTime is the recording's start, which can be the first clip's
 * too), the Axis reference's decrypt_file.sh expects `<file>.key`, and
 * firmware names a track's key after the track. So a key pairs with content:
 *
 * 1. by name: `<content>.key`, or `<content without its extension>.key`;
 * 2. else by metadata: its StartTime (FileType key) equals exactly one
 *    unpaired clip's StartTime, or, for a track, the recording's start.
 *
 * A key that matches nothing, or more than one thing, is reported and never
 * guessed: a wrong pairing would decrypt evidence into garbage.
 */
import { decodeMetaValue, type MetaMap } from '../swift/metadata.ts';
import { parseClipName, parseEpoch } from './names.ts';

export interface NamedObject {
  name: string;
  meta: MetaMap;
}

export interface KeyPairing {
  /** Content object → its key object. */
  keyOf: Map<string, string>;
  /** Key objects that pair with nothing (or with more than one thing): reported, never guessed. */
  unmatched: string[];
}

const meta = (o: NamedObject, key: string) => (o.meta[key] === undefined ? undefined : decodeMetaValue(o.meta[key]!).trim());

export const isTrack = (name: string) => /_gpstrail\.json$/.test(name);

export function isKeyFile(o: NamedObject): boolean {
  return o.name.endsWith('.key') || meta(o, 'filetype')?.toLowerCase() === 'key';
}

const withoutExtension = (name: string) => (name.lastIndexOf('.') > 0 ? name.slice(0, name.lastIndexOf('.')) : name);

/** A key file's StartTime, and a clip's (from its metadata, else its name), in ms. */
function startOf(o: NamedObject): number | undefined {
  const text = meta(o, 'starttime');
  const fromMeta = text === undefined ? undefined : (parseEpoch(text) ?? (Number.isNaN(Date.parse(text)) ? undefined : Date.parse(text)));
  return fromMeta ?? parseClipName(o.name)?.start;
}

/** A recording's encryptable content: its clips and its GNSS track. */
const isContent = (name: string) => parseClipName(name) !== undefined || isTrack(name);

/**
 * `recordingStart`: the recording's StartTime (ms), against which a track's
 * key is stamped. `content`: which objects may be encrypted (a clerk's folder
 * may hold files under other names).
 */
export function pairKeyFiles(objects: readonly NamedObject[], recordingStart?: number, content: (name: string) => boolean = isContent): KeyPairing {
  const keys = objects.filter(isKeyFile);
  const contents = objects.filter((o) => !isKeyFile(o) && content(o.name));
  const keyOf = new Map<string, string>();
  const unpairedKeys: NamedObject[] = [];
  for (const key of keys) {
    const base = key.name.replace(/\.key$/, '');
    const byName = contents.filter((c) => !keyOf.has(c.name) && (c.name === base || withoutExtension(c.name) === base));
    if (byName.length === 1) keyOf.set(byName[0]!.name, key.name);
    else unpairedKeys.push(key);
  }
  const unmatched: string[] = [];
  for (const key of unpairedKeys) {
    const at = startOf(key);
    const candidates = at === undefined ? [] : contents.filter((c) => !keyOf.has(c.name) && (isTrack(c.name) ? recordingStart === at : startOf(c) === at));
    if (candidates.length === 1) keyOf.set(candidates[0]!.name, key.name);
    else unmatched.push(key.name);
  }
  return { keyOf, unmatched };
}
