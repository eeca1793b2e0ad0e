/**
 * startDaemon boots agentd: a kernel with the configured policy, a file
 * decision log, approvals answered through the API (or automatically), the
 * HTTP API on loopback, and the token and URL files agentctl reads.
 * stop(): refuse new work, SIGTERM every agent, wait the grace period,
 * SIGKILL the rest, close the server, flush and close the recorder, remove
 * the URL file and release the state dir.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { match } from 'ts-pattern';
import { fixedApprover } from '../approvals.ts';
import { ClusterNode } from '../cluster/node.ts';
import { Kernel } from '../kernel.ts';
import { limitsFromPolicy } from '../limits.ts';
import { loadPolicyFile } from '../policy/load.ts';
import { defaultPolicy } from '../policy/default.ts';
import { PolicyState } from './policy-state.ts';
import { PolicyParser } from '../policy/parse-off-loop.ts';
import { buildProgramFile } from '../program-build.ts';
import type { Program } from '../program.ts';
import { FileDecisionLog } from '../recorder/file-log.ts';
import { openSharedStorage } from './shared-storage.ts';
import { OtelTelemetry } from '../telemetry/otel.ts';
import { buildRegistry, parseToolsConfig } from '../tools/config.ts';
import { PINS_FILE, ToolPins } from '../tools/tool-pins.ts';
import { type AgentdConfig, ConfigError } from './config.ts';
import type { ServiceContext } from './context.ts';
import { Metrics } from './metrics.ts';
import { OutputBuffers } from './output.ts';
import { principalsFile, PrincipalStore } from './principals.ts';
import { AgentLoad } from './agent-load.ts';
import { EvaluateRate } from './evaluate-rate.ts';
import { RefusalLog } from './refusals.ts';
import { buildServer } from './server.ts';
import { lockStateDir, type StateLock } from './state-lock.ts';
import { adoptApprovals, handOver, letGoAll, reopenApprovals, restoreAnswers } from './durable-approvals.ts';
import { RunLedger } from './run-ledger.ts';
import { chainApprover } from './approvers/chain.ts';
import { chainSteps } from './approvers/steps.ts';
import { webhookApprover } from './approvers/webhook.ts';
import { ApprovalGrants } from './grants.ts';
import { Anchorer, anchorKey } from '../recorder/anchors.ts';
import { ensureToken } from './token.ts';

export interface Daemon {
  readonly url: string;
  readonly kernel: Kernel;
  readonly server: FastifyInstance;
  stop(): Promise<void>;
}


/** urlFile is where agentd writes its address for agentctl. */
export function urlFile(stateDir: string): string {
  return join(stateDir, 'agentd.url');
}

/**
 * startDaemon creates the state dir if need be and locks it for this
 * process before it reads or writes anything in it. Throws StateDirBusy
 * (state-lock.ts) when another agentd runs on the same state dir; on any
 * failure to start, the lock is released again.
 */
export async function startDaemon(config: AgentdConfig): Promise<Daemon> {
  mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  const lock = await lockStateDir(config.stateDir);
  try {
    return await startLocked(config, lock);
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function startLocked(config: AgentdConfig, lock: StateLock): Promise<Daemon> {
  const token = ensureToken(config.tokenFile);
  const principals = PrincipalStore.open(principalsFile(config.stateDir), token);
  const configured = config.policyFile === undefined ? defaultPolicy() : loadPolicyFile(config.policyFile);
  // A single agentd starts on the policy an operator last put in force over this configured one (a cluster's is in Redis).
  const policyState = config.redis === undefined ? new PolicyState(config.stateDir, configured.version) : undefined;
  const starting = policyState?.starting(configured) ?? { policy: configured };
  const programs: Record<string, Program> = {};
  for (const [name, path] of Object.entries(config.programs)) programs[name] = await buildProgramFile(path);
  const tools = await buildRegistry(parseToolsConfig({ tools: config.tools, mcp_servers: config.mcpServers }, config.file ?? 'agentd config', config.file === undefined ? process.cwd() : dirname(resolve(config.file))), { hide: [config.stateDir, config.tokenFile, dirname(config.logFile), ...(config.secretFiles ?? [])] });
  const log = new FileDecisionLog(config.logFile, { durable: config.durable, segmentBytes: config.segmentBytes });
  // The chain head signed into the log every log.anchor_ms, so a rewritten log is caught (agentctl audit verify --pubkey <state_dir>/anchor.pub).
  const anchorer = config.anchorMs > 0 ? new Anchorer(log, anchorKey(config.stateDir), config.anchorMs) : undefined;
  // What the previous run left unrecorded (it was killed): the end of every process it was running.
  const ledger = RunLedger.open(config.stateDir);
  if (ledger.settleLeftOpen((left) => log.record({ type: 'exit', pid: left.pid, agentId: left.agentId, detail: `lost: the agentd that ran it (${left.detail}) ended without recording its end` })) > 0) log.flush();
  // Upstream tools are checked against what the operator approved them to say (pinned on first use).
  const pins = new ToolPins(join(config.stateDir, PINS_FILE), tools, log);
  pins.review();
  const telemetry = config.telemetry === undefined ? undefined : new OtelTelemetry({ endpoint: config.telemetry.endpoint, headers: config.telemetry.headers, serviceName: config.telemetry.serviceName, exportIntervalMs: config.telemetry.exportIntervalMs, sampleRatio: config.telemetry.sampleRatio });
  // With redis: the node's decision stream beside the file log, and the mounts on Redis.
  const shared = openSharedStorage({ redis: config.redis, mounts: config.mounts, stream: config.logStream }, log);
  const metrics = new Metrics();
  const outputs = new OutputBuffers();
  // Where a webhook answers later: agentd's own URL, known once it listens (agents and questions come after).
  let listeningOn = '';
  // Automated approvers asked before a person (approvals.mode chain); stopped with agentd.
  const steps = config.approvals === 'chain' ? chainSteps(config.chain!, tools) : [];
  const fixed = match(config.approvals)
    .with('operator', () => undefined)
    .with('webhook', () => webhookApprover(config.webhook!, (id) => `${listeningOn}/v1/approvals/${encodeURIComponent(id)}/callback`))
    .with('chain', () => chainApprover(steps, (q, step, why) => log.record({ type: 'approval', pid: q.pid, agentId: q.agentId, detail: `escalated ${q.syscall}${q.tool ? ` ${q.tool}` : ''} (${q.id}) by ${step}: ${why}` })))
    .with('allow', 'deny', (mode) => fixedApprover(mode === 'allow'))
    .exhaustive();
  // A cluster node: pids and approval ids unique across nodes, every question shared through Redis.
  const cluster = config.redis === undefined ? undefined : await ClusterNode.start(config.redis);
  const approver = cluster === undefined ? fixed : cluster.approver(fixed);
  const kernel = new Kernel({
    policy: starting.policy,
    recorder: ledger.watching(metrics.counting(shared.recorder)),
    mounts: shared.mounts,
    approver,
    ...(cluster !== undefined ? { pids: cluster.pids, approvalIdPrefix: cluster.approvalIdPrefix, sharedLimits: cluster.limits, standing: cluster.lease, confirmApproval: (approval, answer) => cluster.confirmApproval(approval, answer) } : {}),
    approvalIds: ledger.approvalIds(),
    stateDir: config.stateDir,
    termGraceMs: config.termGraceMs,
    limits: limitsFromPolicy(config.limits),
    ...(config.maxProcesses !== undefined ? { maxProcesses: config.maxProcesses } : {}),
    ...(config.hosts !== undefined ? { hosts: config.hosts } : {}),
    treeRetentionMs: config.retention.treesMs,
    keepCheckpoints: config.retention.checkpoints,
    programs,
    tools,
    stdout: () => {},
    stderr: () => {},
    observeSyscall: (name, seconds) => metrics.syscallSeconds.observe({ syscall: name }, seconds),
    ...(telemetry !== undefined ? { telemetry } : {}),
  });
  if (starting.note !== undefined) log.record({ type: 'policy', pid: 0, agentId: 'agentd', detail: starting.note, policyVersion: kernel.engine.version });
  // Sandbox hosts answer before agentd does: a spawn then never waits on a host starting.
  await kernel.hosts?.readyOnce();
  metrics.watch(kernel);
  // Policies agentd is sent (replaced, shadowed, fetched from the cluster) are parsed off the event loop.
  const policies = new PolicyParser();
  if (cluster !== undefined) {
    cluster.registerMetrics(metrics.registry);
    await cluster.attach(kernel, log, (source, file) => policies.parse(source, file));
    // A node whose timing differs from the live nodes' would bury them (or be buried) at the wrong time: it does not start.
    const refused = cluster.refusal;
    if (refused !== undefined) {
      await cluster.stop();
      throw new ConfigError(`${config.file ?? 'the configuration'}: ${refused}`);
    }
  }
  const refusals = new RefusalLog({ log, metrics, ...config.refusals });
  const ctx: ServiceContext = { kernel, log, policies, ...(policyState !== undefined ? { policyState } : {}), metrics, outputs, config, principals, refusals, evaluateRate: new EvaluateRate(config.evaluatePerSecond, config.evaluateLogBytesPerSecond, undefined, config.evaluateBodyBytesPerSecond), agentLoad: new AgentLoad(), pins, grants: new ApprovalGrants((id) => ledger.spend(id)), accepting: true, ...(cluster !== undefined ? { cluster } : {}), ...(shared.stream !== undefined ? { stream: shared.stream } : {}) };
  // Questions outlive a restart on one node (a cluster keeps its own in Redis): what the last run left pending is read
  // before any new question, and accounted for once agentd listens (a webhook asked again needs its callback URL).
  const leftPending = ledger.leftPending();
  ledger.keeping(kernel.approvals);
  if (cluster !== undefined) for (const q of leftPending) ledger.forget(q.id);
  // Answers the last run gave that their askers have not redeemed yet (a cluster keeps its own in Redis).
  if (cluster === undefined && restoreAnswers(ctx, ledger, Date.now()) > 0) log.flush();
  else if (cluster !== undefined) for (const status of ledger.leftAnswered(Date.now())) ledger.spend(status.approval.id);
  const server = await buildServer(ctx);
  const address = await server.listen({ host: config.host, port: config.port });
  const url = address.replace('[::1]', '[::1]');
  listeningOn = url;
  if (cluster === undefined && leftPending.length > 0) {
    reopenApprovals(ctx, ledger, leftPending);
    log.flush();
  }
  writeFileSync(urlFile(config.stateDir), `${url}\n`, { mode: 0o600 });
  // Back from a burial: the questions from outside that this node held are another node's now; it neither answers nor redeems them.
  cluster?.onBuried(() => letGoAll(ctx, 'this node was taken for dead while cut off from Redis'));
  cluster?.onAdopted((questions) => {
    const refused = adoptApprovals(ctx, questions);
    log.flush();
    return refused;
  });
  cluster?.join(url);

  // Reap processes that exited a while ago (the daemon is their init).
  const reaper = setInterval(() => {
    const now = Date.now();
    for (const p of kernel.ps()) {
      const proc = kernel.get(p.pid);
      if (proc?.exit !== undefined && now - (proc.startedAt + proc.exit.wallMs) > config.retention.exitedMs && (p.ppid === 0 || kernel.get(p.ppid) === undefined)) {
        void kernel.wait(p.pid).then(() => outputs.forget(p.pid));
      }
    }
  }, Math.min(10_000, Math.max(250, config.retention.exitedMs)));
  reaper.unref();

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      ctx.accepting = false;
      clearInterval(reaper);
      // On a cluster, questions from agents outside the kernel go to another node, which adopts them (their pollers go on
      // through any node); if Redis cannot take them they are denied. On one node they stay pending in the run ledger,
      // and the next start reopens them. An MCP session's questions end with it.
      if (cluster !== undefined) await handOver(cluster, ctx);
      const live = kernel.ps().filter((p) => p.state !== 'exited');
      for (const p of live) {
        try {
          kernel.kill(p.pid, 'SIGTERM', 'agentd shutdown');
        } catch {
          // already gone
        }
      }
      // SIGTERM escalates to SIGKILL after the grace period by itself; shutdown() reaps the rest.
      let graceTimer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(live.map((p) => kernel.get(p.pid)?.exited)), new Promise((r) => (graceTimer = setTimeout(r, config.termGraceMs + 1000)))]);
      clearTimeout(graceTimer);
      // What is still pending was asked from outside the kernel: kept for the next start, no timer left running.
      kernel.approvals.close();
      for (const step of steps) step.stop?.();
      await kernel.shutdown();
      await telemetry?.shutdown();
      await cluster?.stop();
      await server.close();
      await policies.close();
      await tools.close();
      anchorer?.stop();
      await shared.close();
      log.close();
      ledger.close();
      rmSync(urlFile(config.stateDir), { force: true });
      lock.release();
    })());
  return { url, kernel, server, stop };
}
