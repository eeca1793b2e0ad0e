/**
 * A host is killed once, with one record: broke() went on recording (and
 * send() on writing) until the host's exit came, so one host that "stopped
 * reading its channel" left 31–33 identical records (an attacker pass).
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Host, type HostOwner } from '../../kernel/hosts/host.ts';
import { within } from '../until.ts';

const HOST_MAIN = fileURLToPath(new URL('../../kernel/hosts/host-main.ts', import.meta.url));

describe('a host that is killed', () => {
  it('is recorded once, however often it is found broken before its exit', async () => {
    const records: string[] = [];
    let ready!: () => void;
    let died!: (how: string) => void;
    const isReady = new Promise<void>((resolve) => (ready = resolve));
    const exited = new Promise<string>((resolve) => (died = resolve));
    const owner: HostOwner = {
      died(host, how) {
        host.state = 'dead';
        died(how);
      },
      record: (detail) => records.push(detail),
      ready: () => ready(),
      released: () => undefined,
      quarantine: () => undefined,
    };
    const host = new Host(owner, 7, 'starting', HOST_MAIN);
    await within(isReady, 'the host to be ready', 20_000);
    host.broke('sent a malformed message');
    host.broke('stopped reading its channel');
    host.send({ t: 'ping', n: 1 });
    host.heartbeat(100);
    expect(await within(exited, 'the host to exit')).toBe('killed by SIGKILL');
    expect(records.filter((r) => r.endsWith(': killed'))).toEqual([`sandbox host 7 (pid ${host.child.pid}) sent a malformed message: killed`]);
  }, 30_000);
});
