/**
 * Found by a review (fixed) of ddba06d (model-usage.ts UsageScanner): an event line is now kept whole (up to the output limit) as
 * `pending += text` per chunk. A peer that sends a line a byte at a time builds a V8 rope of one ConsString per byte:
 * ~32 bytes of heap per byte of body, held until the line ends. At the default 1 MiB output limit that is ~34 MB per
 * stream; at a configured 64 MiB limit ~2.1 GB (the heap limit here is ~4.4 GB, shared by every agent). The commit
 * before kept only the line's last 8 KiB past 64 KiB. "Within the tool's output limit" should hold for the memory too:
 * here, at most 4 bytes of heap per byte of line.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { UsageScanner } from '../../kernel/tools/model-usage.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('UsageScanner: a long event line sent a byte at a time', () => {
  it('holds O(bytes) heap, not ~32 bytes a byte', () => {
    const n = 1024 * 1024;
    const scanner = new UsageScanner('text/event-stream');
    const byte = new Uint8Array([97]);
    gc();
    const before = process.memoryUsage().heapUsed;
    scanner.push(new TextEncoder().encode('data: {"x":"'));
    for (let i = 0; i < n; i++) scanner.push(byte);
    gc();
    const held = process.memoryUsage().heapUsed - before;
    scanner.push(new TextEncoder().encode('","usage":{"total_tokens":8000}}\n'));
    expect(scanner.seen()).toBe(8000);
    expect(held).toBeLessThan(4 * n);
  }, 20_000);
});
