/**
 * build: the JavaScript the package ships (`npm pack` runs it as `prepack`).
 * Node does not strip types under node_modules, so an installed agent-kernel
 * runs dist/: the TypeScript of abi/, kernel/, syscalls/, vfs/, signals/ and bin/
 * compiled with declarations and source maps (relative `.ts` imports become
 * `.js`), next to the files the kernel reads at run time: the ring-3 runtime
 * (userspace/, bundled for isolates by esbuild when first used) and the
 * default policy. In the repository everything runs from the TypeScript.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'dist');
/** Files the kernel reads at run time, beside its modules (paths from the repository root). */
const ASSETS = ['userspace', 'kernel/policy/default-policy.yaml'];

rmSync(DIST, { recursive: true, force: true });
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
for (const asset of ASSETS) cpSync(join(ROOT, asset), join(DIST, asset), { recursive: true });
console.log(`build: ${DIST}`);
