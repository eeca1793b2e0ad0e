/**
 * AgentdClient is a small typed client for agentd's HTTP API, used by
 * agentctl and by agents that run outside the kernel (see
 * examples/external-agent.ts). It finds the daemon through AGENTD_URL or the
 * URL file agentd writes in its state directory, and the token through
 * AGENTD_TOKEN or the token file.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ChainRecord } from '../recorder/chain.ts';
import type { RecordFilter } from '../recorder/query.ts';
import type { EvaluateBody } from './routes/evaluate.ts';
import type { VerifyResult } from '../recorder/verify.ts';
import type { ProcessInfo } from '../process.ts';
import type { HostInfo } from '../hosts/host-pool.ts';
import type { PendingApproval, ApprovalStatus } from '../approvals.ts';
import type { Grant, PrincipalInfo } from './principals.ts';
import { readToken } from './token.ts';
import { exchange, type Exchanged } from './http-exchange.ts';
import type { PinState } from '../tools/tool-pins.ts';
import type { ClusterAnswer } from './routes/cluster.ts';
import type { FleetOutcome } from './routes/fleet.ts';
import type { Autonomy } from '../autonomy.ts';

/** ListedProcess is one row of `ps`: in a cluster it names its node, and a process whose node died is `lost`. */
export type ListedProcess = Omit<ProcessInfo, 'state'> & { readonly state: ProcessInfo['state'] | 'lost'; readonly node?: string };

/** ListedTool is one row of GET /v1/tools: a tool, why it is held (if it is), and its pin (an upstream MCP tool). */
export interface ListedTool {
  readonly name: string;
  readonly source: string;
  readonly risk: string;
  readonly description: string;
  readonly held?: string;
  readonly pin?: PinState;
}

/** ClusterView is what GET /v1/cluster answers: this node, and every node listed (alive, silent, or dead for a while). */
export type ClusterView = ClusterAnswer;

/** WhoAmI is what GET /v1/whoami answers: the operator, or an agent credential and what it was granted. */
export type WhoAmI = { readonly principal: 'operator' } | ({ readonly principal: 'agent' } & PrincipalInfo);

/** CreatedPrincipal is a new agent credential with its token (shown this once). */
export type CreatedPrincipal = PrincipalInfo & { readonly token: string };

/** FleetSignalAnswer is what POST /v1/signals answers: the signal, the selector, how many processes matched and each one's outcome. */
export interface FleetSignalAnswer {
  readonly signal: string;
  readonly selector: string;
  readonly matched: number;
  readonly results: readonly FleetOutcome[];
}

/** unauthorized: no or a wrong token (401); forbidden: the credential may not do this (403 insufficient_scope). */
export type ClientErrorKind = 'down' | 'unauthorized' | 'forbidden' | 'not-found' | 'refused' | 'server';

/** AgentdError is one clear line: the daemon is down, the token is wrong or may not do this, or the request failed. */
export class AgentdError extends Error {
  readonly kind: ClientErrorKind;
  readonly status: number;
  constructor(kind: ClientErrorKind, status: number, message: string) {
    super(message);
    this.kind = kind;
    this.status = status;
  }
}

export type EvaluateRequest = EvaluateBody;

export interface EvaluateResponse {
  decision: 'allow' | 'deny' | 'require_approval';
  rule: string;
  reason: string;
  policy_version: string;
  seq: number;
  approval_id?: string;
}

export type DecisionFilter = RecordFilter & { limit?: number };

export const DEFAULT_STATE_DIR = join(homedir(), '.agent-kernel');

/** insufficientScope: a 403 for the credential (it may not call this), not a kernel EACCES or EPERM. */
function insufficientScope(status: number, wwwAuthenticate: string | null | undefined): boolean {
  return status === 403 && (wwwAuthenticate ?? '').includes('insufficient_scope');
}

function query(filter: object): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) if (v !== undefined) params.set(k, String(v));
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** ShadowStatus is the shadow policy beside the policy in force (GET /v1/policy/shadow). */
export interface ShadowStatus {
  readonly version: string;
  readonly file: string;
  readonly since: number;
  readonly decisions: number;
  readonly disagreements: number;
  readonly enforced: string;
  readonly source: string;
}

/** ShadowDiff is how the shadow would have decided otherwise (GET /v1/policy/shadow/diff). */
export interface ShadowDiff extends Omit<ShadowStatus, 'source'> {
  readonly groups: readonly { readonly direction: string; readonly enforcedRule: string; readonly shadowRule: string; readonly count: number }[];
  readonly recent: readonly { readonly at: number; readonly agentId: string; readonly syscall: string; readonly tool?: string; readonly path?: string; readonly enforced: { effect: string; rule: string }; readonly shadow: { effect: string; rule: string; reason: string } }[];
}

export class AgentdClient {
  readonly url: string;
  private readonly token: string;

  constructor(url: string, token: string) {
    this.url = url.replace(/\/+$/, '');
    this.token = token;
  }

  /** fromEnvironment resolves the URL and token: explicit, then AGENTD_URL/AGENTD_TOKEN, then the state dir's files. */
  static fromEnvironment(options: { url?: string; token?: string; stateDir?: string } = {}): AgentdClient {
    const stateDir = options.stateDir ?? process.env.AGENTD_STATE_DIR ?? DEFAULT_STATE_DIR;
    const named = options.url ?? process.env.AGENTD_URL ?? readToken(join(stateDir, 'agentd.url'));
    const url = named ?? 'http://127.0.0.1:7070';
    const token = options.token ?? process.env.AGENTD_TOKEN ?? readToken(join(stateDir, 'agentd.token'));
    // No agentd has run with this state dir and none is named: it is down, as far as agentctl can tell (found by a newcomer pass: exit 4 said "wrong token").
    if (token === undefined && named === undefined) throw new AgentdError('down', 0, `no agentd has run with state dir ${stateDir} (no ${join(stateDir, 'agentd.token')}): start agentd, or set AGENTD_STATE_DIR, or AGENTD_URL and AGENTD_TOKEN`);
    if (token === undefined) throw new AgentdError('unauthorized', 0, `no token: set AGENTD_TOKEN or start agentd (it writes ${join(stateDir, 'agentd.token')})`);
    return new AgentdClient(url, token);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Exchanged;
    try {
      const headers = { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) };
      res = await exchange(new URL(`${this.url}${path}`), method, headers, body !== undefined ? JSON.stringify(body) : undefined);
    } catch (err) {
      const cause = (err as { code?: string }).code ?? 'unreachable';
      throw new AgentdError('down', 0, `cannot reach agentd at ${this.url} (${cause})`);
    }
    const { text } = res;
    let data: unknown = text;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      // plain text (metrics)
    }
    if (res.status >= 200 && res.status < 300) return data as T;
    const message = (data as { error?: string } | undefined)?.error ?? `HTTP ${res.status}`;
    if (res.status === 401) throw new AgentdError('unauthorized', 401, `agentd refused the token (401): ${message}`);
    if (insufficientScope(res.status, res.headers['www-authenticate'])) throw new AgentdError('forbidden', 403, `agentd refused this credential (403): ${message}`);
    if (res.status === 404) throw new AgentdError('not-found', 404, message);
    throw new AgentdError(res.status >= 500 ? 'server' : 'refused', res.status, message);
  }

  ps(): Promise<ListedProcess[]> {
    return this.request('GET', '/v1/processes');
  }
  process(pid: number): Promise<ListedProcess> {
    return this.request('GET', `/v1/processes/${pid}`);
  }
  spawn(source: string, options: { filename?: string; source_map?: string; argv?: string[]; manifest?: { id?: string; labels?: Record<string, string>; capabilities?: string[]; autonomy?: Autonomy } } = {}): Promise<{ pid: number; agentId: string }> {
    return this.request('POST', '/v1/processes', { source, ...options });
  }
  output(pid: number): Promise<{ stdout: string; stderr: string }> {
    return this.request('GET', `/v1/processes/${pid}/output`);
  }
  /** signal sends `signal` to `pid`; with `tree`, to every live process of its tree (each one's outcome in `tree`). */
  signal(pid: number, signal: string | number, tree = false): Promise<{ outcome: string; tree?: { pid: number; outcome: string }[] }> {
    return this.request('POST', `/v1/processes/${pid}/signal`, tree ? { signal, tree } : { signal });
  }
  /** autonomy answers an agent's autonomy level; with `level`, sets it first (operator only, recorded). */
  autonomy(agent: string, level?: Autonomy): Promise<{ agent: string; level: Autonomy }> {
    const path = `/v1/agents/${encodeURIComponent(agent)}/autonomy`;
    return level === undefined ? this.request('GET', path) : this.request('PUT', path, { level });
  }
  /** signalMatching sends `signal` to every live process whose labels match `labels` (every one), or to every live process with `'all'`, on every node. */
  signalMatching(signal: string | number, selector: Record<string, string> | 'all'): Promise<FleetSignalAnswer> {
    return this.request('POST', '/v1/signals', selector === 'all' ? { signal, all: true } : { signal, labels: selector });
  }
  checkpoint(pid: number): Promise<{ n: number; path: string; bytes: number; files: number }> {
    return this.request('POST', `/v1/processes/${pid}/checkpoint`);
  }
  checkpoints(pid: number): Promise<unknown[]> {
    return this.request('GET', `/v1/processes/${pid}/checkpoints`);
  }
  ls(pid: number, path: string): Promise<{ path: string; entries: { name: string; type: string }[] }> {
    return this.request('GET', `/v1/processes/${pid}/vfs/ls${query({ path })}`);
  }
  cat(pid: number, path: string): Promise<{ path: string; size: number; truncated: boolean; text: string }> {
    return this.request('GET', `/v1/processes/${pid}/vfs/cat${query({ path })}`);
  }
  /** hosts lists the sandbox host processes (empty: agentd runs isolates itself). */
  hosts(): Promise<HostInfo[]> {
    return this.request('GET', '/v1/hosts');
  }
  approvals(): Promise<PendingApproval[]> {
    return this.request('GET', '/v1/approvals');
  }
  approval(id: string, waitMs?: number): Promise<ApprovalStatus> {
    return this.request('GET', `/v1/approvals/${encodeURIComponent(id)}${query({ wait: waitMs })}`);
  }
  /** answer approves or denies (operator only); `approver` is a display name, recorded as `operator (as NAME)`. */
  answer(id: string, approve: boolean, options: { reason?: string; approver?: string } = {}): Promise<ApprovalStatus> {
    return this.request('POST', `/v1/approvals/${encodeURIComponent(id)}/${approve ? 'approve' : 'deny'}`, options);
  }
  decisions(filter: DecisionFilter = {}): Promise<ChainRecord[]> {
    return this.request('GET', `/v1/decisions${query(filter)}`);
  }
  auditVerify(): Promise<VerifyResult & { file: string; segments: number }> {
    return this.request('POST', '/v1/audit/verify');
  }
  policy(): Promise<{ version: string; file: string; rules: number; source: string }> {
    return this.request('GET', '/v1/policy');
  }
  validatePolicy(source: string, filename?: string): Promise<{ ok: boolean; version?: string; error?: string }> {
    return this.request('POST', '/v1/policy/validate', { source, ...(filename ? { filename } : {}) });
  }
  setPolicy(source: string, filename?: string): Promise<{ ok: boolean; version: string; previous: string }> {
    return this.request('PUT', '/v1/policy', { source, ...(filename ? { filename } : {}) });
  }
  shadow(): Promise<ShadowStatus> {
    return this.request('GET', '/v1/policy/shadow');
  }
  setShadow(source: string, filename?: string): Promise<{ ok: boolean; version: string; enforced: string }> {
    return this.request('PUT', '/v1/policy/shadow', { source, ...(filename ? { filename } : {}) });
  }
  shadowDiff(): Promise<ShadowDiff> {
    return this.request('GET', '/v1/policy/shadow/diff');
  }
  promoteShadow(): Promise<{ ok: boolean; version: string; previous: string }> {
    return this.request('POST', '/v1/policy/shadow/promote');
  }
  clearShadow(): Promise<{ ok: boolean; version: string; decisions: number; disagreements: number }> {
    return this.request('DELETE', '/v1/policy/shadow');
  }
  evaluate(request: EvaluateRequest): Promise<EvaluateResponse> {
    return this.request('POST', '/v1/evaluate', request);
  }
  /** cluster describes this node and every node of its cluster; not-found when agentd runs alone. */
  cluster(): Promise<ClusterView> {
    return this.request('GET', '/v1/cluster');
  }
  /** whoami says which principal this client's token is. */
  whoami(): Promise<WhoAmI> {
    return this.request('GET', '/v1/whoami');
  }
  /** principals lists the agent credentials (operator only; never their tokens). */
  principals(): Promise<PrincipalInfo[]> {
    return this.request('GET', '/v1/principals');
  }
  /** createPrincipal creates an agent credential (operator only); its token is in the answer and nowhere else. */
  createPrincipal(grant: Grant): Promise<CreatedPrincipal> {
    return this.request('POST', '/v1/principals', grant);
  }
  /** revokePrincipal revokes credential `name` (operator only); not-found if there is none. */
  revokePrincipal(name: string): Promise<PrincipalInfo> {
    return this.request('DELETE', `/v1/principals/${encodeURIComponent(name)}`);
  }
  /** tools lists agentd's tools, held ones included, with the pins of upstream MCP tools (operator only). */
  tools(): Promise<ListedTool[]> {
    return this.request('GET', '/v1/tools');
  }
  /** approveTool pins what upstream tool `name` says now and offers it again (operator only); not-found for a tool with no pin. */
  approveTool(name: string, as?: string): Promise<PinState> {
    return this.request('POST', `/v1/tools/${encodeURIComponent(name)}/approve`, as === undefined ? {} : { as });
  }
  metrics(): Promise<string> {
    return this.request('GET', '/metrics');
  }

  /**
   * follow streams decision records (SSE) to `onRecord` until `signal`
   * aborts. AgentdError (server) when agentd ends the stream because this
   * follower fell behind; the message names the seq to resume after.
   */
  async follow(filter: DecisionFilter, onRecord: (record: ChainRecord) => void, signal: AbortSignal): Promise<void> {
    let res: Response;
    try {
      res = await fetch(`${this.url}/v1/decisions/stream${query(filter)}`, { headers: { authorization: `Bearer ${this.token}` }, signal });
    } catch (err) {
      if (signal.aborted) return;
      throw new AgentdError('down', 0, `cannot reach agentd at ${this.url} (${(err as { cause?: { code?: string } }).cause?.code ?? 'unreachable'})`);
    }
    if (res.status === 401) throw new AgentdError('unauthorized', 401, 'agentd refused the token (401)');
    if (insufficientScope(res.status, res.headers.get('www-authenticate'))) throw new AgentdError('forbidden', 403, 'agentd refused this credential (403): only the operator may follow the decision log');
    if (!res.ok || res.body === null) throw new AgentdError('server', res.status, `cannot follow decisions (HTTP ${res.status})`);
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const lines = event.split('\n');
          const data = lines.find((l) => l.startsWith('data: '));
          if (data === undefined) continue;
          if (lines.includes('event: overflow')) {
            const { error, resume_after: after } = JSON.parse(data.slice(6)) as { error: string; resume_after: number };
            throw new AgentdError('server', res.status, `agentd ended the stream: ${error}; resume after seq ${after} (agentctl logs --after ${after}, GET /v1/decisions?after=${after})`);
          }
          onRecord(JSON.parse(data.slice(6)) as ChainRecord);
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }
}
