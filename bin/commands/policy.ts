/** `agentctl policy schema|validate|test|explain`: work with policy files offline. */
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { PolicyEngine } from '../../kernel/policy/engine.ts';
import { loadPolicyFile, PolicyError } from '../../kernel/policy/load.ts';
import { requestFromJson } from '../../kernel/policy/request-schema.ts';
import { POLICY_SCHEMA } from '../../kernel/policy/schema.ts';
import { InputFileError, readInput } from './input-file.ts';

function fail(message: string): number {
  process.stderr.write(`agentctl: ${message}\n`);
  return 2;
}

export function policySchema(): number {
  process.stdout.write(`${JSON.stringify(POLICY_SCHEMA, null, 2)}\n`);
  return 0;
}

export function policyValidate(file: string, options: { json?: boolean }): number {
  try {
    const policy = loadPolicyFile(file);
    const summary = { ok: true, file, version: policy.version, rules: policy.document.rules.length };
    process.stdout.write(options.json ? `${JSON.stringify(summary)}\n` : `ok: ${file} (${summary.rules} rules, ${policy.version})\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    if (options.json) process.stdout.write(`${JSON.stringify({ ok: false, file: err.file, line: err.line, column: err.column, field: err.field, message: err.message })}\n`);
    else process.stderr.write(`${err.message}\n`);
    return 1;
  }
}

interface PolicyTestCase {
  name?: string;
  request: unknown;
  expect: string;
  rule?: string;
  at?: string;
}

/**
 * policyTest runs a test file: `{ policy: FILE, tests: [{ name, request,
 * expect, rule?, at? }] }`. Tests run in order against one engine, so limits
 * and rates accumulate; `at` sets the clock (ISO time). Exit 1 if any fails.
 */
export function policyTest(file: string, options: { json?: boolean }): number {
  let spec: { policy?: unknown; tests?: unknown };
  try {
    spec = parseYaml(readInput(file)) as typeof spec;
  } catch (err) {
    if (err instanceof InputFileError) return fail(err.message);
    return fail(`${file}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  if (typeof spec?.policy !== 'string' || !Array.isArray(spec.tests)) return fail(`${file}: needs 'policy: FILE' and a 'tests' list`);
  let now = Date.now();
  let engine: PolicyEngine;
  try {
    engine = new PolicyEngine(loadPolicyFile(resolve(dirname(file), spec.policy)), () => now);
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
  let failed = 0;
  const results = (spec.tests as PolicyTestCase[]).map((test, i) => {
    const name = test?.name ?? `test ${i + 1}`;
    try {
      if (test.at !== undefined) now = Date.parse(test.at);
      if (Number.isNaN(now)) throw new Error(`at: not a time`);
      const request = requestFromJson(test.request);
      const decision = engine.precondition(request) ?? engine.decide(request);
      const ok = decision.effect === test.expect && (test.rule === undefined || decision.rule === test.rule);
      if (!ok) failed++;
      return { name, ok, expected: { effect: test.expect, rule: test.rule }, got: { effect: decision.effect, rule: decision.rule, reason: decision.reason } };
    } catch (err) {
      failed++;
      return { name, ok: false, error: err instanceof Error ? err.message : String(err) };
    }
  });
  for (const r of results) {
    if (options.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else if (r.ok) process.stdout.write(`PASS ${r.name}\n`);
    else if ('error' in r) process.stdout.write(`FAIL ${r.name}: ${r.error}\n`);
    else process.stdout.write(`FAIL ${r.name}: expected ${r.expected.effect}${r.expected.rule ? ` (${r.expected.rule})` : ''}, got ${r.got.effect} (${r.got.rule}: ${r.got.reason})\n`);
  }
  if (!options.json) process.stdout.write(`${results.length - failed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

export function policyExplain(file: string, options: { request?: string; json?: boolean }): number {
  if (options.request === undefined) return fail('policy explain needs --request JSON');
  try {
    const engine = new PolicyEngine(loadPolicyFile(file));
    const explanation = engine.explain(requestFromJson(JSON.parse(options.request)));
    if (options.json) {
      process.stdout.write(`${JSON.stringify(explanation)}\n`);
      return 0;
    }
    const d = explanation.decision;
    process.stdout.write(`decision: ${d.effect} by ${d.rule} (${d.reason})\npolicy: ${d.policyVersion}\n`);
    for (const rule of explanation.rules) {
      const why = !rule.candidate
        ? 'not for this syscall/tool'
        : rule.matched
          ? rule.limit ? `matched, but ${rule.limit}` : 'matched'
          : `no match: ${rule.conditions.filter((c) => !c.matched).map((c) => c.field).join(', ')}`;
      process.stdout.write(`  ${rule.matched ? '✓' : '·'} ${rule.id} [${rule.effect}] ${why}${rule.note === undefined ? '' : ` (${rule.note})`}\n`);
    }
    return 0;
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
}
