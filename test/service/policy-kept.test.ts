/**
 * The policy an operator puts in force on a single agentd outlives it
 * (kernel/service/policy-state.ts). Found by an attacker pass: after
 * `agentctl policy set` and a kill -9, agentd came back on its configured
 * policy and nothing said the replacement was dropped (an emergency
 * tightening undone by a crash). Now the next start puts the kept policy back
 * in force and records it; a configured policy edited since wins, recorded;
 * a kept policy that no longer loads stops agentd from starting, naming it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChainRecord } from '../../kernel/recorder/chain.ts';
import { POLICY_STATE_FILE } from '../../kernel/service/policy-state.ts';
import { node, startAgentd, type Agentd } from './helpers.ts';

const CONFIGURED = `version: 1
name: configured
rules:
  - id: reads-ok
    effect: allow
    syscalls: [file.read]
`;
const TIGHTENED = `version: 1
name: tightened
rules:
  - id: reads-stopped
    effect: deny
    syscalls: [file.read]
`;
const EDITED = CONFIGURED.replace('name: configured', 'name: edited');

const policyDetails = (d: Agentd) =>
  readFileSync(d.logFile, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as ChainRecord)
    .filter((r) => r.type === 'policy')
    .map((r) => r.detail ?? '');
const read = async (d: Agentd) => (await d.api('POST', '/v1/evaluate', { agent: 'a', action: 'file.read', resource: '/data/x' })).body as { decision: string; rule: string };

describe('the policy an operator put in force, across agentd restarts', () => {
  const daemons: Agentd[] = [];
  afterAll(async () => {
    for (const d of daemons.toReversed()) await d.remove();
  });

  it('comes back after a kill -9 and a clean stop; an edited configured policy wins; one that no longer loads stops the start', async () => {
    const first = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': CONFIGURED });
    daemons.push(first);
    expect(await read(first)).toMatchObject({ decision: 'allow' });
    const set = await first.api('PUT', '/v1/policy', { source: TIGHTENED, filename: 'tightened.yaml' });
    expect(set.status).toBe(200);
    const tightened = (set.body as { version: string }).version;
    await first.stop('SIGKILL');

    const second = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': CONFIGURED }, { stateDir: first.stateDir });
    daemons.push(second);
    expect((await second.api('GET', '/v1/policy')).body.version).toBe(tightened);
    expect(await read(second)).toMatchObject({ decision: 'deny', rule: 'reads-stopped' });
    expect(policyDetails(second).filter((d) => d.includes('kept in force'))).toEqual([expect.stringMatching(new RegExp(`^policy ${tightened} set at \\S+ \\(tightened\\.yaml\\) kept in force across the restart, over the configured sha256:\\w+$`))]);
    expect(await second.stop()).toEqual({ status: 0, signal: null });

    const third = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': CONFIGURED }, { stateDir: first.stateDir });
    daemons.push(third);
    expect((await third.api('GET', '/v1/policy')).body.version).toBe(tightened);
    expect(await third.stop()).toEqual({ status: 0, signal: null });

    // The operator edits the configured policy: that one is in force, and the kept one is dropped, on the record.
    const fourth = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': EDITED }, { stateDir: first.stateDir });
    daemons.push(fourth);
    expect(await read(fourth)).toMatchObject({ decision: 'allow' });
    expect(policyDetails(fourth).filter((d) => d.includes('dropped'))).toEqual([expect.stringMatching(new RegExp(`^policy ${tightened} set at \\S+ dropped: the configured policy changed since \\(sha256:\\w+ -> sha256:\\w+\\), and is the one in force$`))]);
    // Set again, then made unreadable: agentd does not start on another policy without saying so.
    expect((await fourth.api('PUT', '/v1/policy', { source: TIGHTENED, filename: 'tightened.yaml' })).status).toBe(200);
    expect(await fourth.stop()).toEqual({ status: 0, signal: null });
    const state = join(first.stateDir, POLICY_STATE_FILE);
    const kept = JSON.parse(readFileSync(state, 'utf8')) as { source: string };
    writeFileSync(state, JSON.stringify({ ...kept, source: kept.source.replace('effect: deny', 'effect: perhaps') }));
    writeFileSync(join(first.stateDir, '..', 'edited.yaml'), EDITED);
    writeFileSync(join(first.stateDir, '..', 'edited-agentd.yaml'), 'policy: edited.yaml\n');
    const refused = await node('bin/agentd.ts', undefined, ['--config', join(first.stateDir, '..', 'edited-agentd.yaml'), '--port', '0', '--state-dir', first.stateDir]).done;
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(new RegExp(`${POLICY_STATE_FILE}: the policy set at \\S+ \\(tightened\\.yaml\\) no longer loads: tightened\\.yaml:5:13: rules\\[0\\]\\.effect: .*; remove the file to start with the configured policy`));
  }, 90_000);
});
