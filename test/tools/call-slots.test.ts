/**
 * CallSlots (kernel/tools/call-slots.ts): how many calls of one command tool
 * run at once, and one agent's share. The real class; the sandboxes
 * themselves are in command-sandbox.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { CallSlots } from '../../kernel/tools/call-slots.ts';

const never = new AbortController().signal;
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('CallSlots', () => {
  it("an agent waiting at its share does not hold back another agent's call while slots are free", async () => {
    // Found by a review: the queue kept B waiting behind A's third call with two of four slots free.
    const slots = new CallSlots(4);
    const a1 = await slots.take('A', never);
    await slots.take('A', never);
    let a3: (() => void) | undefined;
    void slots.take('A', never).then((release) => (a3 = release));
    let b1: (() => void) | undefined;
    void slots.take('B', never).then((release) => (b1 = release));
    await turn();
    expect([a3 === undefined, b1 !== undefined]).toEqual([true, true]);
    a1();
    await turn();
    expect(a3).toBeDefined();
  });

  it('calls past the limit start in order as slots come back; one aborted while waiting leaves the queue and takes none', async () => {
    const slots = new CallSlots(2);
    const first = await slots.take('A', never);
    const second = await slots.take('B', never);
    const started: string[] = [];
    const gone = new AbortController();
    const waits = [
      slots.take('C', never).then(() => started.push('C')),
      slots.take('D', gone.signal).then(
        () => started.push('D'),
        () => started.push('D aborted'),
      ),
      slots.take('E', never).then(() => started.push('E')),
    ];
    gone.abort(new Error('timed out'));
    await turn();
    expect(started).toEqual(['D aborted']);
    first();
    second();
    await Promise.all(waits);
    expect(started).toEqual(['D aborted', 'C', 'E']);
  });

  it('max_concurrent 1 gives each agent a share of one', async () => {
    const slots = new CallSlots(1);
    const only = await slots.take('A', never);
    let next = false;
    void slots.take('A', never).then(() => (next = true));
    await turn();
    expect(next).toBe(false);
    only();
    await turn();
    expect(next).toBe(true);
  });
});
