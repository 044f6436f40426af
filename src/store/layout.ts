/**
 * Where things live under the data directory. The store only ever builds
 * paths from these roots and `diskName`-encoded names, so nothing it writes
 * can land outside DIR.
 *
 *   DIR/objects/<account>/<container>/<object>   object bytes, as uploaded
 *   DIR/objects/<account>/<container>/.edgecd-log.jsonl   container log
 *   DIR/tmp/                                     uploads in progress
 *   DIR/trash/<account>/<container>@<when>/      deleted recordings in their grace period
 *   DIR/index/                                   LevelDB index (rebuildable)
 */
import { join } from 'node:path';
import { diskName } from '../lib/file-names.ts';

export class StoreLayout {
  readonly root: string;
  readonly objectsDir: string;
  readonly tmpDir: string;
  readonly trashDir: string;
  readonly indexDir: string;
  /** The index a reindex set aside while swapping in the new one. */
  readonly previousIndexDir: string;

  constructor(root: string) {
    this.root = root;
    this.objectsDir = join(root, 'objects');
    this.tmpDir = join(root, 'tmp');
    this.trashDir = join(root, 'trash');
    this.indexDir = join(root, 'index');
    this.previousIndexDir = join(root, 'index.previous');
  }

  accountDir(account: string): string {
    return join(this.objectsDir, diskName(account));
  }

  containerDir(account: string, container: string): string {
    return join(this.accountDir(account), diskName(container));
  }

  /** Where a container deleted at `stamp` waits out its grace period (stamp: a compact UTC time). */
  trashedContainerDir(account: string, container: string, stamp: string): string {
    return join(this.trashDir, diskName(account), `${diskName(container)}@${stamp}`);
  }

  tmpFile(txId: string): string {
    return join(this.tmpDir, `${txId}.part`);
  }
}
