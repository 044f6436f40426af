/**
 * The layers ARCHITECTURE.md draws, checked from the imports src/ really has:
 * no cycle between modules, no folder importing a folder above it, and the
 * console reached only through the web layer's entry.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './helpers/root.ts';

const SRC = join(ROOT, 'src');

/** Lowest first: a folder may import only folders before it. Top-level files (cli.ts, daemon.ts, index-hooks.ts) compose everything; cli/ holds the commands cli.ts dispatches to. */
const LAYERS = [
  'lib',
  'media',
  'connection',
  'config',
  'store',
  'swift',
  'auth',
  'tls',
  'ntp',
  'audit',
  'appliance',
  'bws',
  'authenticity',
  'lifecycle',
  'evidence',
  'simulator',
  'replication',
  'health',
  'admin',
  'http',
  'cli',
];
/** The web layer's entry: the one module outside http/console that may import it. */
const WEB_ENTRY = 'http/app.ts';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Module → the modules it imports (relative specifiers, type-only imports and re-exports included), as paths under src/. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    const specifiers = [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s+['"](\.[^'"]+)['"]|^\s*import\s+['"](\.[^'"]+)['"]|\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/gm)].map(
      (m) => m[1] ?? m[2] ?? m[3]!,
    );
    graph.set(
      relative(SRC, file),
      specifiers.map((s) => relative(SRC, resolve(dirname(file), s))),
    );
  }
  return graph;
}

const folderOf = (module: string) => (module.includes('/') ? module.slice(0, module.indexOf('/')) : undefined);

/** Strongly connected components of more than one module (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** Imports that break the layering, as "from → to (why)". */
function forbiddenEdges(graph: Map<string, string[]>): string[] {
  const wrong: string[] = [];
  for (const [from, targets] of graph) {
    const fromFolder = folderOf(from);
    for (const to of targets) {
      const toFolder = folderOf(to);
      if (!graph.has(to)) wrong.push(`${from} → ${to} (no such module)`);
      if (to.startsWith('http/console/') && !from.startsWith('http/console/') && from !== WEB_ENTRY) wrong.push(`${from} → ${to} (the console is reached through ${WEB_ENTRY})`);
      if (fromFolder === undefined || toFolder === undefined || fromFolder === toFolder) continue;
      const a = LAYERS.indexOf(fromFolder);
      const b = LAYERS.indexOf(toFolder);
      if (a < 0 || b < 0) wrong.push(`${from} → ${to} (${a < 0 ? fromFolder : toFolder}/ is in no layer)`);
      else if (b > a) wrong.push(`${from} → ${to} (${fromFolder}/ is below ${toFolder}/)`);
    }
  }
  return wrong;
}

describe('architecture', () => {
  it('src/ has no import cycle', () => {
    assert.deepEqual(cycles(importGraph()), []);
  });

  it('every import points down the layers, and only the web entry reaches the console', () => {
    assert.deepEqual(forbiddenEdges(importGraph()), []);
  });

  it('lib/ imports nothing of the project', () => {
    const graph = importGraph();
    assert.deepEqual(
      [...graph].filter(([m, ts]) => m.startsWith('lib/') && ts.some((t) => !t.startsWith('lib/'))).map(([m]) => m),
      [],
    );
  });

  it('the graph is the real one: multi-line, type-only and re-export imports are all seen', () => {
    const graph = importGraph();
    assert.ok(graph.size > 100, `${graph.size} modules`);
    assert.ok(graph.get('store/object-store.ts')?.includes('store/index-db.ts'), 'a multi-line import');
    assert.ok(graph.get('swift/range.ts')?.includes('store/object-store.ts'), 'a type-only import');
    assert.ok(graph.get('swift/metadata.ts')?.includes('store/metadata.ts'), 'a re-export');
    assert.ok(graph.get('cli/commands.ts')?.includes('cli/serve.ts'), 'a dynamic import');
  });

  it('the checks see what they check: a cycle and an upward import are found', () => {
    const graph = new Map([
      ['store/a.ts', ['swift/b.ts']],
      ['swift/b.ts', ['store/a.ts']],
      ['lib/c.ts', ['http/console/d.ts']],
      ['http/console/d.ts', []],
    ]);
    assert.deepEqual(cycles(graph), [['store/a.ts', 'swift/b.ts']]);
    assert.deepEqual(forbiddenEdges(graph), [
      'store/a.ts → swift/b.ts (store/ is below swift/)',
      'lib/c.ts → http/console/d.ts (the console is reached through http/app.ts)',
      'lib/c.ts → http/console/d.ts (lib/ is below http/)',
    ]);
  });
});
