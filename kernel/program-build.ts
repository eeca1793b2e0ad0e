/**
 * buildProgramFile makes one script of an agent program that lives on the
 * host's disk (`agentctl run`, agentd's registered programs): its own
 * relative files and the npm packages of its project (the nearest folder
 * above it with a package.json), bundled by esbuild (program-bundle.ts says
 * how) in a build process of its own (build-process.ts), which may allocate
 * BUILD_MEMORY_MIB, is ended past BUILD_MS and past BUILD_ANSWER_BYTES of
 * answer: a hostile package's build never takes the kernel's memory or
 * loop (an attacker pass: a ~450-byte enum in node_modules took the
 * kernel's process to 1.4 GB for 26 s). Building only reads files: no
 * install script or other host code runs. The build is cached on disk by
 * its inputs (program-bundle.ts inputsOf) and reused while they are
 * unchanged.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KernelError } from '../abi/errno.ts';
import { cacheDir, readCache, writeCache } from './build-cache.ts';
import type { BuildAnswer } from './build-process.ts';
import type { Bundled } from './program-bundle.ts';
import { MAX_PROGRAM_BYTES, type Program } from './program.ts';

/** Bump when the build's options change, so older cache entries are not reused. */
const BUILD_VERSION = 6;
/** The longest a build may take, ms (a framework of a few MB builds in about a second). */
export const BUILD_MS = 60_000;
/** What a build process may allocate (RLIMIT_DATA, esbuild's own process included), MiB. */
export const BUILD_MEMORY_MIB = 2048;
/** The most a build process may answer, bytes: the program, its source map (at most four times as large) and its inputs, as JSON. */
const BUILD_ANSWER_BYTES = 64 * 1024 * 1024;

const BUILD_MAIN = fileURLToPath(new URL(`./build-process${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** projectRoot is the nearest folder at or above `dir` with a package.json, else `dir`. */
export function projectRoot(dir: string): string {
  for (let at = dir; ; at = dirname(at)) {
    try {
      if (statSync(join(at, 'package.json')).isFile()) return at;
    } catch {
      // not here
    }
    if (dirname(at) === at) return dir;
  }
}

/** shown names a file relative to the working directory when it is below it, else by its absolute path. */
export function shown(file: string): string {
  const near = relative(process.cwd(), file);
  return near === '' || near.startsWith('..') ? file : near;
}

/**
 * buildProgramFile bundles the program at `path` (as the operator named it).
 * ENOENT if it cannot be read, ENOEXEC if it does not build, EFBIG past
 * MAX_PROGRAM_BYTES.
 */
export async function buildProgramFile(path: string): Promise<Program> {
  const entry = resolve(path);
  let stat;
  try {
    stat = statSync(entry);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KernelError('ENOENT', `cannot read program ${path}${code === 'ENOENT' ? ': no such file' : code === undefined ? '' : ` (${code})`}`);
  }
  // esbuild would read a device (/dev/zero) without end, and wait on a FIFO for ever.
  if (!stat.isFile()) throw new KernelError('ENOEXEC', `${path}: not a regular file`);
  if (stat.size > MAX_PROGRAM_BYTES) throw new KernelError('EFBIG', `${path}: ${stat.size} bytes, more than a program may be (${MAX_PROGRAM_BYTES})`);
  // Real paths: the build sees files by their real paths, and a program reached through a symbolic link to its folder
  // (~/work -> /mnt/work; /tmp -> /private/tmp on macOS) had its own entry refused as outside its project folder (an
  // attacker pass). An entry that is itself a link is built from where it leads.
  const real = realpathSync(entry);
  const root = projectRoot(dirname(real));
  // Keyed by the program and its project folder: a package.json that moves the folder is a new build.
  const cacheFile = join(cacheDir(), `${createHash('sha256').update(`${real}\0${root}\0${BUILD_VERSION}`).digest('hex').slice(0, 32)}.json`);
  const cached = readCache(cacheFile, BUILD_VERSION);
  const done = (source: string, sourceMap: string): Program => {
    if (source.length > MAX_PROGRAM_BYTES) throw new KernelError('EFBIG', `${path}: the built program is ${source.length} bytes, more than ${MAX_PROGRAM_BYTES}`);
    return { filename: path, source, sourceMap, sourceBase: root, contentHash: createHash('sha256').update(source).digest('hex') };
  };
  if (cached !== undefined) return done(cached.source, cached.sourceMap ?? '');
  const { code, map, inputs } = await runBuild(real, root, path);
  writeCache(cacheFile, { version: BUILD_VERSION, inputs, source: code, sourceMap: map });
  return done(code, map);
}

/** runBuild bundles `entry` of project folder `root` in a build process of its own, under its bounds (the file's header). */
function runBuild(entry: string, root: string, path: string): Promise<Bundled> {
  // The shell sets the limit and becomes node: the limit holds for the build and esbuild's process, not the kernel.
  const child = spawn('/bin/sh', ['-c', `ulimit -d ${BUILD_MEMORY_MIB * 1024} && exec "$0" "$@"`, process.execPath, '--disable-warning=ExperimentalWarning', BUILD_MAIN, JSON.stringify({ entry, root, path })], {
    // stdin stays open while the kernel waits: the build ends itself when it closes (the kernel gone).
    stdio: ['pipe', 'pipe', 'pipe'],
    // Its own process group: esbuild's process ends with it.
    detached: true,
  });
  return new Promise<Bundled>((resolvePromise, reject) => {
    const out: Buffer[] = [];
    let bytes = 0;
    let stderr = '';
    let stopped: KernelError | undefined;
    const stop = (why: KernelError) => {
      stopped ??= why;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone already
      }
    };
    const timer = setTimeout(() => stop(new KernelError('ENOEXEC', `${path}: cannot build: it took longer than ${BUILD_MS / 1000} s (a file it reads that never ends, such as a FIFO named tsconfig.json, or a package that takes that long to compile)`)), BUILD_MS);
    child.stdout!.on('data', (chunk: Buffer) => {
      bytes += chunk.byteLength;
      if (bytes > BUILD_ANSWER_BYTES) stop(new KernelError('EFBIG', `${path}: the build made more than ${BUILD_ANSWER_BYTES} bytes`));
      else out.push(chunk);
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      if (stderr.length < 4096) stderr += chunk;
    });
    child.on('error', (err) => stop(new KernelError('ENOEXEC', `${path}: cannot build: the build process could not be started (${err.message})`)));
    child.stdin!.on('error', () => {});
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      child.stdin!.destroy();
      if (stopped !== undefined) return reject(stopped);
      let answer: BuildAnswer | undefined;
      try {
        answer = JSON.parse(Buffer.concat(out, bytes).toString('utf8')) as BuildAnswer;
      } catch {
        // ended without its answer: below
      }
      if (answer === undefined) {
        const why = /out of memory|allocation failed/i.test(stderr) ? `it needs more than ${BUILD_MEMORY_MIB} MiB (a package that grows as it compiles?)` : `the build process ended (${signal ?? `status ${code}`})${stderr.trim() === '' ? '' : `: ${stderr.trim().split('\n')[0]!.slice(0, 300)}`}`;
        return reject(new KernelError('ENOEXEC', `${path}: cannot build: ${why}`));
      }
      if (!answer.ok) return reject(new KernelError(answer.errno as KernelError['errno'], answer.message));
      resolvePromise(answer);
    });
  });
}
