/**
 * A sandbox's outbox (kernel/hosts/outbox.ts): its messages reach the
 * channel in order, at most MAX_SANDBOX_SEND_BYTES of them written and not
 * yet gone (one larger frame alone), the rest waiting in the kernel; its
 * disposal does not wait behind replies it will never take.
 */
import { describe, expect, it } from 'vitest';
import { MAX_SANDBOX_SEND_BYTES, Outbox } from '../../kernel/hosts/outbox.ts';

/** A channel that takes frames and lets them go only when told. */
function channel() {
  const written: { frame: Buffer; done: () => void }[] = [];
  let emptied = 0;
  const outbox = new Outbox(
    (frame, done) => written.push({ frame, done }),
    () => emptied++,
  );
  return { outbox, written, emptied: () => emptied };
}

const frame = (byte: number, size: number) => Buffer.alloc(size, byte);

describe('a sandbox outbox', () => {
  it('writes at most its share at once, in order; the rest waits until what was written has gone', () => {
    const { outbox, written, emptied } = channel();
    const quarter = MAX_SANDBOX_SEND_BYTES / 4;
    let sent = 0;
    for (let i = 0; i < 10; i++) outbox.push(frame(i, quarter), true, () => sent++);
    expect(written.map((w) => w.frame[0])).toEqual([0, 1, 2, 3]);
    expect(outbox.wouldWait(1)).toBe(true);
    written[0]!.done();
    expect(sent).toBe(1);
    expect(written.map((w) => w.frame[0])).toEqual([0, 1, 2, 3, 4]);
    for (let i = 1; i < 10; i++) written[i]!.done();
    expect(written.map((w) => w.frame[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(sent).toBe(10);
    expect(emptied()).toBe(1);
    expect(outbox.wouldWait(1)).toBe(false);
  });

  it('writes a frame larger than its share alone', () => {
    const { outbox, written } = channel();
    outbox.push(frame(1, MAX_SANDBOX_SEND_BYTES * 2), true);
    outbox.push(frame(2, 10), false);
    expect(written.map((w) => w.frame[0])).toEqual([1]);
    written[0]!.done();
    expect(written.map((w) => w.frame[0])).toEqual([1, 2]);
  });

  it('drops the replies still waiting, not what is not a reply, when the sandbox is disposed of', () => {
    const { outbox, written } = channel();
    outbox.push(frame(1, MAX_SANDBOX_SEND_BYTES), true);
    outbox.push(frame(2, 10), true);
    outbox.push(frame(3, 10), false);
    outbox.push(frame(4, 10), true);
    outbox.dropReplies();
    outbox.push(frame(5, 10), false);
    written[0]!.done();
    expect(written.map((w) => w.frame[0])).toEqual([1, 3, 5]);
  });

  it('says a frame would wait exactly when pushing it would make it wait', () => {
    const { outbox, written } = channel();
    outbox.push(frame(1, MAX_SANDBOX_SEND_BYTES - 100), true);
    // Nothing waits, and the window is not full: yet a frame of 200 bytes would not fit in it.
    expect(outbox.wouldWait(100)).toBe(false);
    expect(outbox.wouldWait(200)).toBe(true);
    outbox.push(frame(2, 200), true);
    expect(written.map((w) => w.frame[0])).toEqual([1]);
  });
});
