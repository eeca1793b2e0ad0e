/**
 * process.nextTick runs when the callback that queued it returns — main's
 * synchronous part, a timer's callback — before the promise jobs that
 * callback queued, and ticks queued by ticks first, as in Node: the same
 * program prints the same order here as under Node itself. (Before, a tick
 * ran after the promise jobs queued ahead of it.)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runAgent } from '../helpers.ts';

const PROGRAM = `
Promise.resolve().then(() => console.log('main promise'));
process.nextTick(() => console.log('main tick'));
console.log('main');
setTimeout(() => {
  Promise.resolve().then(() => console.log('timer promise'));
  process.nextTick(() => { console.log('timer tick'); process.nextTick(() => console.log('tick from a tick')); });
  console.log('timer');
}, 1);
setTimeout(() => console.log('second timer'), 1);
`;

describe('process.nextTick', () => {
  it("runs when main's synchronous part or a timer's callback returns, before the promise jobs it queued, as Node does", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'next-tick-'));
    try {
      writeFileSync(join(dir, 'ticks.js'), PROGRAM);
      const node = spawnSync(process.execPath, [join(dir, 'ticks.js')], { encoding: 'utf8' });
      expect(node.status).toBe(0);
      const { exit, stdout } = await runAgent(PROGRAM, { filename: 'ticks.js' });
      expect(exit.status).toBe(0);
      expect(stdout).toBe(node.stdout);
      expect(stdout).toBe('main\nmain tick\nmain promise\ntimer\ntimer tick\ntick from a tick\ntimer promise\nsecond timer\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
