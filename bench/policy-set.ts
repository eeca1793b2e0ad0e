/**
 * The 1,000-rule policy and the request set the policy benchmarks share: a
 * seeded, engine-neutral description of each rule (RuleSpec) and request
 * (RequestSpec), and their form for our engine (a PDL document, a
 * PolicyRequest). bench/policy-peers.ts translates the same specs for Cedar
 * and the Agent Governance Toolkit.
 *
 * The rule set: 16 teams of 4 agents (the last 4 agents quarantined), 40
 * memory areas per agent tree, 50 shared data sets, ~150 API hosts.
 *   3   base rules (fd syscalls, getpid, process control)
 *   10  quarantine denies on every syscall (by label)
 *   416 per-agent path allows: /agent/${agent}/mem/<area>/** for a team, 1/3 read-only
 *   64  per-agent path denies: writes to frozen areas
 *   100 shared read allows: /shared/data/<ds>/** for a team
 *   40  shared write denies (everyone)
 *   300 tool allows: http.get by url glob, http.request by url glob + method, shell.run git subcommands (RE2)
 *   47  tool denies: blocked hosts (url glob), dangerous programs (RE2)
 *   20  require_approval: POSTs to payment hosts
 */
import type { PolicyRequest } from '../abi/policy-request.ts';
import type { PolicyDocument, PolicyRule } from '../kernel/policy/schema.ts';

export type Effect = 'allow' | 'deny' | 'require_approval';

/** RuleSpec is one rule, independent of any engine's syntax. Every present field must match. */
export interface RuleSpec {
  readonly id: string;
  readonly effect: Effect;
  readonly syscalls?: readonly string[];
  readonly access?: readonly ('read' | 'write')[];
  /** Label team equals this. */
  readonly team?: string;
  /** Label quarantine equals this. */
  readonly quarantine?: string;
  /** The caller is this agent (rules that hold one agent; only beyond 1,000 rules). */
  readonly agent?: string;
  /** The path is in the caller's own tree, under mem/<ownArea>/. */
  readonly ownArea?: string;
  /** The path is under /shared/data/<sharedArea>/. */
  readonly sharedArea?: string;
  readonly tools?: readonly string[];
  /** Argument url is https://<host>/… */
  readonly host?: string;
  /** Argument method equals this. */
  readonly method?: string;
  /** Argument cmd runs this program (first word), with one of `subs` as its second word if given. */
  readonly program?: string;
  readonly subs?: readonly string[];
}

/** RequestSpec is one request, independent of any engine's syntax. */
export interface RequestSpec {
  readonly agent: string;
  readonly team: string;
  readonly quarantine?: string;
  readonly syscall: string;
  readonly access: 'read' | 'write' | 'none';
  readonly path?: string;
  readonly tool?: string;
  readonly args: Readonly<Record<string, string | number>>;
}

/** mulberry32: a small seeded PRNG, so every run builds the same rules and requests. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
const AREAS = Array.from({ length: 40 }, (_, i) => `area-${pad(i)}`);
const GIT_SUBS = ['status', 'log', 'diff', 'show', 'fetch'];
const BAD_PROGRAMS = ['rm', 'dd', 'mkfs', 'sudo', 'chmod', 'chown', 'shutdown', 'reboot', 'kill', 'nc', 'scp'];
const FS_ALL = ['SYS_OPEN', 'SYS_STAT', 'SYS_READDIR', 'SYS_MKDIR', 'SYS_UNLINK'];
const FS_READ = ['SYS_OPEN', 'SYS_STAT', 'SYS_READDIR'];

/**
 * Universe is what the rules and requests are about. At scale 1 it is the
 * 1,000-rule set; at scale s there are s times the teams (and their
 * agents), data sets and hosts, as an organisation s times larger would
 * have — the global rules (base, quarantine, dangerous programs) do not grow.
 */
interface Universe {
  readonly scale: number;
  readonly teams: readonly string[];
  readonly agents: readonly { agent: string; team: string; quarantine?: string }[];
  readonly datasets: readonly string[];
  readonly apiHosts: readonly string[];
  readonly blockedHosts: readonly string[];
  readonly payHosts: readonly string[];
}

function universe(scale: number): Universe {
  const teams = Array.from({ length: 16 * scale }, (_, i) => `team-${pad(i)}`);
  return {
    scale,
    teams,
    agents: Array.from({ length: 64 * scale }, (_, i) => ({ agent: `agent-${pad(i)}`, team: teams[i % teams.length]!, ...(i % 64 >= 60 ? { quarantine: 'q-1' } : {}) })),
    datasets: Array.from({ length: 50 * scale }, (_, i) => `ds-${pad(i)}`),
    apiHosts: Array.from({ length: 150 * scale }, (_, i) => `api-${pad(i, 3)}.example.com`),
    blockedHosts: Array.from({ length: 20 * scale }, (_, i) => `evil-${pad(i)}.example.net`),
    payHosts: Array.from({ length: 10 * scale }, (_, i) => `pay-${i}.example.com`),
  };
}

/** pickN picks `n` distinct items of `list`. */
function pickN<T>(rand: () => number, list: readonly T[], n: number): T[] {
  const copy = [...list];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, n);
}

const pick = <T>(rand: () => number, list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;

/**
 * ruleSpecs builds the 1,000 rules (in policy order), or 1,000 × `scale`:
 * the per-team and per-host rules grow with the universe, and rules that
 * hold one agent's tool calls (one per agent id, as an operator adds them)
 * make up the count.
 */
export function ruleSpecs(seed = 1, scale = 1): RuleSpec[] {
  const rand = prng(seed);
  const u = universe(scale);
  const TEAMS = u.teams;
  const rules: RuleSpec[] = [
    { id: 'base-fds', effect: 'allow', syscalls: ['SYS_READ', 'SYS_WRITE', 'SYS_CLOSE', 'SYS_GETPID', 'SYS_EXIT', 'SYS_CHECKPOLICY', 'SYS_PIPE'] },
    { id: 'base-signals', effect: 'allow', syscalls: ['SYS_SIGACTION', 'SYS_SIGPROCMASK', 'SYS_CHECKPOINT'] },
    { id: 'base-procs', effect: 'allow', syscalls: ['SYS_SIGNAL', 'SYS_SPAWN', 'SYS_WAIT'] },
  ];
  for (let q = 0; q < 10; q++) rules.push({ id: `quarantine-${q}`, effect: 'deny', quarantine: `q-${q}` });
  for (const team of TEAMS) {
    const areas = pickN(rand, AREAS, 30);
    areas.slice(0, 26).forEach((area, i) => {
      const readOnly = i % 3 === 2;
      rules.push({ id: `own-${team}-${area}`, effect: 'allow', syscalls: readOnly ? FS_READ : FS_ALL, ...(readOnly ? { access: ['read'] } : {}), team, ownArea: area });
    });
    // Frozen areas: writes denied (reads stay default-deny unless allowed above).
    for (const area of areas.slice(24, 28)) rules.push({ id: `frozen-${team}-${area}`, effect: 'deny', syscalls: ['SYS_OPEN', 'SYS_UNLINK'], access: ['write'], team, ownArea: area });
  }
  for (let i = 0; i < 100 * scale; i++) {
    rules.push({ id: `shared-read-${pad(i, 3)}`, effect: 'allow', syscalls: FS_READ, access: ['read'], team: TEAMS[i % TEAMS.length], sharedArea: pick(rand, u.datasets) });
  }
  for (const ds of u.datasets.slice(0, 40 * scale)) rules.push({ id: `shared-ro-${ds}`, effect: 'deny', syscalls: ['SYS_OPEN', 'SYS_UNLINK', 'SYS_MKDIR'], access: ['write'], sharedArea: ds });
  for (let i = 0; i < 150 * scale; i++) rules.push({ id: `http-get-${pad(i, 3)}`, effect: 'allow', syscalls: ['SYS_EXEC'], tools: ['http.get'], team: TEAMS[i % TEAMS.length], host: u.apiHosts[i] });
  for (let i = 0; i < 70 * scale; i++) {
    rules.push({ id: `http-req-${pad(i, 3)}`, effect: 'allow', syscalls: ['SYS_EXEC'], tools: ['http.request'], team: TEAMS[i % TEAMS.length], host: pick(rand, u.apiHosts), method: i % 4 === 3 ? 'POST' : 'GET' });
  }
  for (let i = 0; i < 80 * scale; i++) {
    rules.push({ id: `git-${pad(i, 3)}`, effect: 'allow', syscalls: ['SYS_EXEC'], tools: ['shell.run'], team: TEAMS[i % TEAMS.length], program: 'git', subs: pickN(rand, GIT_SUBS, 1 + (i % 3)) });
  }
  for (const host of u.blockedHosts) rules.push({ id: `blocked-${host}`, effect: 'deny', syscalls: ['SYS_EXEC'], tools: ['http.get', 'http.request'], host });
  for (const team of TEAMS) rules.push({ id: `no-rm-${team}`, effect: 'deny', syscalls: ['SYS_EXEC'], tools: ['shell.run'], team, program: 'rm' });
  for (const program of BAD_PROGRAMS) rules.push({ id: `no-${program}`, effect: 'deny', syscalls: ['SYS_EXEC'], tools: ['shell.run'], program });
  for (let i = 0; i < 20 * scale; i++) {
    rules.push({ id: `pay-${pad(i)}`, effect: 'require_approval', syscalls: ['SYS_EXEC'], tools: ['http.request'], team: TEAMS[(i * 5) % TEAMS.length], host: u.payHosts[i % u.payHosts.length], method: 'POST' });
  }
  for (let i = 0; rules.length < 1000 * scale; i++) rules.push({ id: `hold-${u.agents[i]!.agent}`, effect: 'deny', syscalls: ['SYS_EXEC'], agent: u.agents[i]!.agent });
  if (rules.length !== 1000 * scale) throw new Error(`policy-set: ${rules.length} rules, expected ${1000 * scale}`);
  return rules;
}

/** requestSpecs builds `n` requests about the universe of `scale`: fd syscalls, own and foreign trees, shared data, tools. */
export function requestSpecs(n: number, seed = 2, scale = 1): RequestSpec[] {
  const rand = prng(seed);
  const { agents: AGENTS, datasets: DATASETS, apiHosts: API_HOSTS, blockedHosts: BLOCKED_HOSTS, payHosts: PAY_HOSTS } = universe(scale);
  const out: RequestSpec[] = [];
  for (let i = 0; i < n; i++) {
    const who = pick(rand, AGENTS);
    const base = { agent: who.agent, team: who.team, ...(who.quarantine ? { quarantine: who.quarantine } : {}) };
    const r = rand();
    const write = rand() < 0.35;
    const access = write ? ('write' as const) : ('read' as const);
    const file = `f${Math.floor(rand() * 100)}.${pick(rand, ['md', 'json', 'txt'])}`;
    if (r < 0.15) {
      const syscall = pick(rand, ['SYS_READ', 'SYS_WRITE', 'SYS_GETPID']);
      out.push({ ...base, syscall, access: syscall === 'SYS_WRITE' ? 'write' : 'read', args: syscall === 'SYS_GETPID' ? {} : { fd: 3 + (i % 5), length: 4096 } });
    } else if (r < 0.55) {
      const tree = rand() < 0.9 ? who.agent : pick(rand, AGENTS).agent;
      const path = `/agent/${tree}/mem/${pick(rand, AREAS)}/${file}`;
      const syscall = write ? pick(rand, ['SYS_OPEN', 'SYS_OPEN', 'SYS_UNLINK', 'SYS_MKDIR']) : pick(rand, ['SYS_OPEN', 'SYS_OPEN', 'SYS_STAT', 'SYS_READDIR']);
      out.push({ ...base, syscall, access, path, args: { path, ...(syscall === 'SYS_OPEN' ? { flags: write ? 'w' : 'r' } : {}) } });
    } else if (r < 0.7) {
      const path = `/shared/data/${pick(rand, DATASETS)}/${file}`;
      const syscall = write ? 'SYS_OPEN' : pick(rand, ['SYS_OPEN', 'SYS_STAT']);
      out.push({ ...base, syscall, access, path, args: { path, ...(syscall === 'SYS_OPEN' ? { flags: write ? 'w' : 'r' } : {}) } });
    } else {
      const t = rand();
      const exec = (tool: string, args: Record<string, string>): RequestSpec => ({ ...base, syscall: 'SYS_EXEC', access: 'write', tool, args });
      const url = (host: string) => `https://${host}/v1/items/${Math.floor(rand() * 1000)}`;
      if (t < 0.35) out.push(exec('http.get', { url: url(rand() < 0.9 ? pick(rand, API_HOSTS) : pick(rand, BLOCKED_HOSTS)) }));
      else if (t < 0.6) out.push(exec('http.request', { url: url(pick(rand, rand() < 0.8 ? API_HOSTS : PAY_HOSTS)), method: rand() < 0.7 ? 'GET' : 'POST' }));
      else if (t < 0.65) out.push(exec('http.request', { url: url(pick(rand, PAY_HOSTS)), method: 'POST' }));
      else if (t < 0.9) out.push(exec('shell.run', { cmd: `git ${pick(rand, [...GIT_SUBS, 'push', 'commit'])} --quiet` }));
      else out.push(exec('shell.run', { cmd: `${pick(rand, [...BAD_PROGRAMS, 'ls', 'cat'])} -f build/out.${i}` }));
    }
  }
  return out;
}

const globFor = (s: RuleSpec): string[] | undefined =>
  s.ownArea !== undefined ? [`/agent/\${agent}/mem/${s.ownArea}/**`] : s.sharedArea !== undefined ? [`/shared/data/${s.sharedArea}/**`] : undefined;

/** regexFor is the RE2 pattern for a program rule: `^git (status|log)( |$)`, `^rm( |$)`. */
const regexFor = (s: RuleSpec): string => `^${s.program}${s.subs ? ` (${s.subs.join('|')})` : ''}( |$)`;

/** pdlDocument is the rule set as a PDL document for our engine. */
export function pdlDocument(specs: readonly RuleSpec[]): PolicyDocument {
  const rules = specs.map((s): PolicyRule => {
    const labels = { ...(s.team ? { team: s.team } : {}), ...(s.quarantine ? { quarantine: s.quarantine } : {}) };
    const args = [
      ...(s.host ? [{ arg: 'url', glob: `https://${s.host}/**` }] : []),
      ...(s.method ? [{ arg: 'method', equals: s.method }] : []),
      ...(s.program ? [{ arg: 'cmd', regex: regexFor(s) }] : []),
    ];
    const paths = globFor(s);
    return {
      id: s.id,
      effect: s.effect,
      ...(s.agent ? { agents: [s.agent] } : {}),
      ...(s.syscalls ? { syscalls: [...s.syscalls] } : {}),
      ...(s.access ? { access: [...s.access] } : {}),
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
      ...(paths ? { paths } : {}),
      ...(s.tools ? { tools: [...s.tools] } : {}),
      ...(args.length > 0 ? { args } : {}),
    };
  });
  return { version: 1, name: 'bench-1000', rules };
}

/** policyRequest is a request as our engine gets it from the authorizer. */
export function policyRequest(r: RequestSpec): PolicyRequest {
  // The kernel's one shape (kernel/policy/authorizer.ts toPolicyRequest): every field present, an absent one undefined.
  return {
    agentId: r.agent,
    labels: { team: r.team, ...(r.quarantine ? { quarantine: r.quarantine } : {}) },
    capabilities: new Set<string>(),
    lineage: 'root',
    syscall: r.syscall,
    access: r.access,
    path: r.path,
    tool: r.tool,
    args: r.args,
    flows: undefined,
    trust: 1000,
    tokens: 0,
    supervised: undefined,
  };
}
