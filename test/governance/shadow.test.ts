/**
 * A shadow policy in a kernel (kernel/policy/shadow.ts): every call of a
 * real agent is also decided under the shadow, which never changes what
 * happens; where it decides otherwise (another effect) a `shadow` record
 * follows the call's own, and the summary counts it by direction and
 * rules. The shadow counts its own limits, not the policy's.
 */
import { describe, expect, it } from 'vitest';
import type { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { programFromSource } from '../../kernel/program.ts';

const SELF = '  - { id: self, effect: allow, syscalls: [SYS_READ, SYS_WRITE, SYS_CLOSE, SYS_GETPID, SYS_EXIT, SYS_STAT, SYS_MKDIR] }\n';
const IN_FORCE = parsePolicy(`version: 1\nrules:\n${SELF}  - { id: own-files, effect: allow, syscalls: [SYS_OPEN, SYS_UNLINK], paths: ["/agent/\${agent}/**"] }\n  - { id: clock, effect: allow, syscalls: [SYS_EXEC], tools: [time.now] }\n`, 'in-force.yaml');
const CANDIDATE = parsePolicy(
  `version: 1\nrules:\n${SELF}  - { id: no-secrets, effect: deny, syscalls: [SYS_OPEN], paths: ["/agent/*/mem/secret/**"] }\n  - { id: own-files, effect: allow, syscalls: [SYS_OPEN, SYS_UNLINK], paths: ["/agent/\${agent}/**"] }\n  - { id: clock-once, effect: allow, syscalls: [SYS_EXEC], tools: [time.now], limits: { max_calls: 1 } }\n`,
  'candidate.yaml',
);

describe('a shadow policy', () => {
  it('changes nothing the agent sees; each call it decides otherwise is recorded after the call’s own record and counted', async () => {
    const kernel = new Kernel({ policy: IN_FORCE, stdout: () => {}, stderr: () => {} });
    kernel.setShadow(CANDIDATE);
    try {
      let out = '';
      const proc = kernel.spawn(
        programFromSource(
          'writer.js',
          "sys.writeFile('mem/notes.txt', 'a'); sys.mkdir('mem/secret'); sys.writeFile('mem/secret/key.txt', 'k'); console.log(sys.readFile('mem/secret/key.txt')); for (let i = 0; i < 3; i++) sys.exec('time.now'); console.log('done');",
        ),
        { agentId: 'writer', manifest: { capabilities: ['tool:time.now'] }, stdout: (c) => void (out += new TextDecoder().decode(c)) },
      );
      expect((await kernel.wait(proc.pid)).status).toBe(0);
      expect(out).toBe('k\ndone\n');
      const records = (kernel.recorder as MemoryDecisionLog).list();
      const shadows = records.filter((r) => r.type === 'shadow');
      expect(shadows.map((r) => ('detail' in r ? r.detail : ''))).toEqual([
        expect.stringMatching(new RegExp(`^record \\d+: shadow ${CANDIDATE.version} would deny SYS_OPEN /agent/writer/mem/secret/key\\.txt by rule no-secrets where the policy in force gave allow by rule own-files`)),
        expect.stringMatching(/would deny SYS_OPEN \/agent\/writer\/mem\/secret\/key\.txt by rule no-secrets/),
        expect.stringMatching(/would deny SYS_EXEC time\.now by rule clock-once where the policy in force gave allow by rule clock: limit: max_calls 1 reached$/),
        expect.stringMatching(/would deny SYS_EXEC time\.now by rule clock-once/),
      ]);
      // Each shadow record follows the record of the call it is about.
      for (const s of shadows) {
        const of = Number(/^record (\d+):/.exec('detail' in s ? s.detail : '')![1]);
        expect(records.find((r) => r.seq === of)).toMatchObject({ type: 'syscall', effect: 'allow' });
      }
      const summary = kernel.shadow!.summary();
      expect(summary.disagreements).toBe(4);
      expect(summary.decisions).toBeGreaterThanOrEqual(10);
      expect(summary.groups.map((g) => [g.direction, g.enforcedRule, g.shadowRule, g.count])).toEqual([
        ['allow->deny', 'own-files', 'no-secrets', 2],
        ['allow->deny', 'clock', 'clock-once', 2],
      ]);
      // The policy in force never counted the shadow's limit: three clock calls ran.
      expect(records.filter((r) => r.type === 'syscall' && r.syscall === 'SYS_EXEC' && r.effect === 'allow')).toHaveLength(3);
    } finally {
      await kernel.shutdown();
    }
  });

  it('a shadow identical to the policy in force never disagrees; cleared, nothing more is compared', async () => {
    const kernel = new Kernel({ policy: IN_FORCE, stdout: () => {}, stderr: () => {} });
    kernel.setShadow(IN_FORCE);
    try {
      const run = async () => {
        const proc = kernel.spawn(programFromSource('w.js', "sys.writeFile('mem/a.txt', 'a'); sys.exec('time.now');"), { agentId: 'same', manifest: { capabilities: ['tool:time.now'] } });
        expect((await kernel.wait(proc.pid)).status).toBe(0);
      };
      await run();
      const { decisions, disagreements } = kernel.shadow!.summary();
      expect([decisions > 0, disagreements]).toEqual([true, 0]);
      kernel.setShadow(undefined);
      await run();
      expect(kernel.shadow).toBeUndefined();
      expect((kernel.recorder as MemoryDecisionLog).list().filter((r) => r.type === 'shadow')).toEqual([]);
    } finally {
      await kernel.shutdown();
    }
  });
});
