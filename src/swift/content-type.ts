/** Content type for an upload that names none: by extension, as Swift guesses. */
const BY_EXTENSION: Record<string, string> = {
  mkv: 'video/x-matroska',
  mp4: 'video/mp4',
  json: 'application/json',
  txt: 'text/plain',
  jpg: 'image/jpeg',
  png: 'image/png',
};

export function guessContentType(objectName: string): string {
  const dot = objectName.lastIndexOf('.');
  const ext = dot === -1 ? '' : objectName.slice(dot + 1).toLowerCase();
  // Own keys only: an extension like .constructor must not find Object.prototype's.
  return (Object.hasOwn(BY_EXTENSION, ext) ? BY_EXTENSION[ext] : undefined) ?? 'application/octet-stream';
}
