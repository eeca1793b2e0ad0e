/**
 * The experiment's report: one self-contained HTML file (no network): the
 * results as JSON, Chart.js (the `chart.js` package's UMD build) inlined,
 * and a short script that draws five charts — outcomes per group, decisions
 * by rule, violations and signals, syscall and tool latency distributions,
 * tokens — then marks the page `data-charts` with how many it drew; and the
 * tables of groups and cells.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { LATENCY_BUCKETS_MS, type CellResult } from './cell.ts';
import type { ExperimentSpec } from './spec.ts';
import { summarize } from './summary.ts';

let chartSource: string | undefined;

/** chartJs is Chart.js's UMD build, made safe to sit in a script element. */
function chartJs(): string {
  // The package exports no subpath for its UMD build; it sits beside the CommonJS entry (dist/).
  const dist = dirname(createRequire(import.meta.url).resolve('chart.js'));
  chartSource ??= readFileSync(join(dist, 'chart.umd.min.js'), 'utf8').replace(/<\/script/gi, '<\\/script');
  return chartSource;
}

/** json writes data for a script element (nothing in it can end the element). */
function json(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** canvas is a chart's section: a heading over the canvas the browser script draws into. */
function canvas(id: string, heading: string, height = 320): string {
  return `<section><h2>${heading}</h2><canvas id="${id}" width="960" height="${height}"></canvas></section>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** showMs writes a duration the way the report's axes do. */
function showMs(ms: number): string {
  return ms < 1 ? `${Math.round(ms * 1000)} µs` : ms < 1000 ? `${ms} ms` : `${ms / 1000} s`;
}

function bucketLabel(bound: number, at: number): string {
  return bound === Number.POSITIVE_INFINITY ? `> ${showMs(LATENCY_BUCKETS_MS[at - 1]!)}` : `≤ ${showMs(bound)}`;
}

// Runs in the browser. Reads the data element; draws every chart with animation off (a screenshot sees the final frame).
const DRAW = `
const data = JSON.parse(document.getElementById('data').textContent);
const COLORS = ['#2563eb', '#dc2626', '#d97706', '#059669', '#7c3aed', '#db2777', '#0891b2', '#65a30d', '#4b5563', '#ea580c'];
const color = (i) => COLORS[i % COLORS.length];
Chart.defaults.animation = false;
Chart.defaults.responsive = false;
let drawn = 0;
function chart(id, config) { new Chart(document.getElementById(id), config); drawn++; }
const groups = data.groups.map((g) => g.program + ' · ' + g.policy);
chart('outcomes', { type: 'bar', data: { labels: groups, datasets: [
  { label: 'ok', data: data.groups.map((g) => g.ok), backgroundColor: '#059669' },
  { label: 'failed', data: data.groups.map((g) => g.failed), backgroundColor: '#d97706' },
  { label: 'killed', data: data.groups.map((g) => g.killed), backgroundColor: '#dc2626' } ] },
  options: { scales: { x: { stacked: true }, y: { stacked: true, title: { display: true, text: 'runs' } } } } });
const rules = {};
for (const c of data.cells) for (const [rule, effects] of Object.entries(c.byRule)) {
  const key = c.policy + ' · ' + rule;
  rules[key] ??= { allow: 0, deny: 0, require_approval: 0 };
  for (const [effect, n] of Object.entries(effects)) rules[key][effect] += n;
}
const ruleNames = Object.keys(rules).sort();
chart('rules', { type: 'bar', data: { labels: ruleNames, datasets: ['allow', 'deny', 'require_approval'].map((effect, i) => ({ label: effect, data: ruleNames.map((r) => rules[r][effect]), backgroundColor: ['#059669', '#dc2626', '#d97706'][i] })) },
  options: { indexAxis: 'y', scales: { x: { stacked: true, title: { display: true, text: 'decisions' } }, y: { stacked: true } } } });
const signalNames = [...new Set(data.groups.flatMap((g) => Object.keys(g.signals)))].sort();
chart('violations', { type: 'bar', data: { labels: groups, datasets: [
  { label: 'violations', data: data.groups.map((g) => g.violations), backgroundColor: '#111827' },
  ...signalNames.map((s, i) => ({ label: s, data: data.groups.map((g) => g.signals[s] || 0), backgroundColor: color(i + 1) })) ] },
  options: { scales: { y: { title: { display: true, text: 'count' } } } } });
const latency = {};
for (const c of data.cells) for (const [key, counts] of Object.entries(c.latency)) {
  latency[key] ??= counts.map(() => 0);
  counts.forEach((n, i) => (latency[key][i] += n));
}
const keys = Object.keys(latency).sort();
chart('latency', { type: 'line', data: { labels: data.buckets, datasets: keys.map((k, i) => ({ label: k, data: latency[k], borderColor: color(i), backgroundColor: color(i), tension: 0.2 })) },
  options: { scales: { y: { type: 'logarithmic', title: { display: true, text: 'calls' } }, x: { title: { display: true, text: 'time in the kernel, call to reply' } } } } });
chart('tokens', { type: 'bar', data: { labels: groups, datasets: [{ label: 'tokens', data: data.groups.map((g) => g.tokens), backgroundColor: '#7c3aed' }] },
  options: { scales: { y: { beginAtZero: true, title: { display: true, text: 'LLM tokens, all runs' } } } } });
document.body.dataset.charts = String(drawn);
`;

/** writeReport renders the report for `results`. */
export function writeReport(spec: ExperimentSpec, results: readonly CellResult[]): string {
  const groups = summarize(results);
  const data = { name: spec.name, groups, cells: results, buckets: LATENCY_BUCKETS_MS.map(bucketLabel) };
  const groupRows = groups
    .map((g) => `<tr><td>${escapeHtml(g.program)}</td><td>${escapeHtml(g.policy)}</td><td>${g.runs}</td><td>${g.ok}</td><td>${g.failed}</td><td>${g.killed}</td><td>${g.medianMs.toFixed(1)}</td><td>${g.calls}</td><td>${g.denied}</td><td>${g.asked}</td><td>${g.violations}</td><td>${g.tokens}</td></tr>`)
    .join('\n');
  const cellRows = results
    .map((c) => `<tr><td>${escapeHtml(c.id)}</td><td>${c.outcome}</td><td>${c.status}</td><td>${escapeHtml(c.reason)}</td><td>${c.ms.toFixed(1)}</td><td>${c.calls}</td><td><code>${escapeHtml(c.tape)}</code></td></tr>`)
    .join('\n');
  const title = `Experiment ${escapeHtml(spec.name)}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${title}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #111827; }
table { border-collapse: collapse; margin: 8px 0 24px; }
th, td { border: 1px solid #d1d5db; padding: 3px 8px; text-align: left; }
th { background: #f3f4f6; }
section { margin-bottom: 24px; }
</style>
</head>
<body>
<h1>${title}</h1>
<p>${results.length} runs: ${spec.programs.length} programs × ${spec.policies.length} policies × ${spec.repetitions} repetitions. Every run is recorded: <code>agentctl replay-run &lt;folder&gt;/&lt;tape&gt;</code> runs it again.</p>
<h2>By program and policy</h2>
<table><tr><th>program</th><th>policy</th><th>runs</th><th>ok</th><th>failed</th><th>killed</th><th>median ms</th><th>calls</th><th>denied</th><th>asked</th><th>violations</th><th>tokens</th></tr>
${groupRows}
</table>
${canvas('outcomes', 'Outcomes')}
${canvas('rules', 'Decisions by rule', Math.max(240, 28 * Object.keys(Object.fromEntries(results.flatMap((c) => Object.keys(c.byRule).map((r) => [`${c.policy}${r}`, 0])))).length + 80))}
${canvas('violations', 'Violations and signals')}
${canvas('latency', 'Syscall and tool latency')}
${canvas('tokens', 'Tokens')}
<h2>Runs</h2>
<table><tr><th>run</th><th>outcome</th><th>status</th><th>reason</th><th>ms</th><th>calls</th><th>tape</th></tr>
${cellRows}
</table>
<script type="application/json" id="data">${json(data)}</script>
<script>${chartJs()}</script>
<script>${DRAW}</script>
</body>
</html>
`;
}
