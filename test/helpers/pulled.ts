/** What a clerk's pull leaves on disk, checked as the clerk would check it. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Every output folder passes `sha256sum -c` and holds the documents a clerk needs. */
export async function assertPulledFolders(to: string, recordings: string[]): Promise<void> {
  for (const name of recordings) {
    const folder = join(to, name);
    const check = await run('sha256sum', ['-c', 'manifest.sha256'], { cwd: folder });
    assert.doesNotMatch(check.stdout, /FAILED/);
    const manifest = (await readFile(join(folder, 'manifest.sha256'), 'utf8')).trim().split('\n');
    const custody = JSON.parse(await readFile(join(folder, 'custody.json'), 'utf8')) as { objects: { file: string; sha256: string }[]; pulledAt: string };
    assert.equal(custody.objects.length, manifest.length);
    assert.ok(!Number.isNaN(Date.parse(custody.pulledAt)));
    const metadata = JSON.parse(await readFile(join(folder, 'metadata.json'), 'utf8')) as { container: Record<string, string> };
    assert.equal(metadata.container.status, 'Complete');
  }
}
