/**
 * The folders are layers, and each imports only from the layers under it:
 * abi/ (errno, argument limits, kinds) imports nothing; signals/ and vfs/
 * build on abi/ alone; syscalls/ (the table, the dispatcher, the handlers)
 * on those; kernel/ on everything but bin/, and of userspace/ (ring 3) it
 * reads only modules that import nothing (the program build's lists of
 * Node modules, the frames of a stack that are the author's), never the
 * runtime itself. A test, so that a new import
 * across the rings fails CI instead of waiting for a reader to notice.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The repository folders each layer may import from (itself included); npm packages are listed where a layer may use any. */
const MAY_IMPORT: Readonly<Record<string, { readonly folders: readonly string[]; readonly packages: boolean }>> = {
  abi: { folders: ['abi'], packages: false },
  signals: { folders: ['abi', 'signals'], packages: true },
  vfs: { folders: ['abi', 'vfs'], packages: true },
  syscalls: { folders: ['abi', 'signals', 'vfs', 'syscalls'], packages: true },
  kernel: { folders: ['abi', 'signals', 'vfs', 'syscalls', 'kernel'], packages: true },
};

/**
 * The ring-3 modules ring 0 may import: data, and author-frames.js (which frames of a stack are the author's: plain
 * functions of strings that both rings apply), each with no imports of its own.
 */
const USERSPACE_DATA: readonly string[] = ['userspace/node/names.js', 'userspace/node/refused.js', 'userspace/web/names.js', 'userspace/runtime/author-frames.js'];

function sources(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(folder, f));
}

/** importsOf lists the module specifiers of `file`'s static imports, re-exports and type-position `import('…')`. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s+['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  for (const m of text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

/** layerOf names the top folder a relative specifier from `file` lands in. */
function layerOf(file: string, spec: string): string {
  return relative(ROOT, join(ROOT, dirname(file), spec)).split(sep)[0]!;
}

describe('layers', () => {
  for (const [layer, allowed] of Object.entries(MAY_IMPORT)) {
    it(`${layer}/ imports only from ${allowed.folders.join(', ')}${allowed.packages ? ' and packages' : ''}`, () => {
      const files = sources(layer);
      expect(files.length).toBeGreaterThan(0);
      const wrong: string[] = [];
      for (const file of files) {
        for (const spec of importsOf(file)) {
          if (spec.startsWith('.')) {
            const target = layerOf(file, spec);
            const data = layer === 'kernel' && USERSPACE_DATA.includes(relative(ROOT, join(ROOT, dirname(file), spec)).split(sep).join('/'));
            if (!allowed.folders.includes(target) && !data) wrong.push(`${file} imports ${spec} (${target}/)`);
          } else if (!allowed.packages && !spec.startsWith('node:')) {
            wrong.push(`${file} imports package ${spec}`);
          }
        }
      }
      expect(wrong).toEqual([]);
    });
  }

  it('the ring-3 modules ring 0 reads are data: they import nothing', () => {
    for (const file of USERSPACE_DATA) expect(importsOf(file), file).toEqual([]);
  });

  it('sees the imports it checks (a kernel file importing the table is found)', () => {
    expect(importsOf('kernel/kernel.ts').map((s) => layerOf('kernel/kernel.ts', s))).toContain('syscalls');
  });
});
