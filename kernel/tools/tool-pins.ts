/**
 * ToolPins: what an operator approved each upstream tool (an MCP server's)
 * to say about itself. The first time agentd sees an upstream tool it pins
 * the digest of its description and input schema (trust on first use,
 * recorded); when a later start, or the server's own "tool list changed",
 * shows a different description or schema, the tool is held: not offered to
 * MCP hosts or listed to agents, and a call is EACCES naming the change,
 * until an operator approves it again (`agentctl tools approve NAME`), which
 * pins the new digest. A description is what the model reads before it
 * calls a tool, so a server that rewrites one after it was trusted (a "rug
 * pull") must not reach the model unseen. Pins live in agentd's state
 * directory as JSON:
 *   { "version": 1, "pins": { "<tool>": { "digest", "pinnedAt", "by" } } }
 * A pins file that cannot be read or parsed stops agentd (fail closed).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { DecisionRecorder } from '../../syscalls/records.ts';
import { KernelError } from '../../abi/errno.ts';
import type { ToolRegistry } from './registry.ts';

export const PINS_FILE = 'tool-pins.json';

interface Pin {
  readonly digest: string;
  readonly pinnedAt: number;
  readonly by: string;
}

/** PinState is one pinned tool as `GET /v1/tools` shows it. */
export interface PinState {
  readonly name: string;
  readonly source: string;
  /** What the tool says now. */
  readonly digest: string;
  /** What was approved, if it differs or the tool is held. */
  readonly pinned: string;
  readonly state: 'pinned' | 'held';
  readonly pinnedAt: number;
  readonly by: string;
}

/** pinned: tools whose descriptions are pinned (those an upstream server supplies). */
const pinned = (source: string): boolean => source.startsWith('mcp:');

export class ToolPins {
  private readonly pins = new Map<string, Pin>();
  private readonly file: string;
  private readonly registry: ToolRegistry;
  private readonly recorder: DecisionRecorder;

  /** The pins in `file` (none if it does not exist); an Error naming the file if it cannot be read. */
  constructor(file: string, registry: ToolRegistry, recorder: DecisionRecorder) {
    this.file = file;
    this.registry = registry;
    this.recorder = recorder;
    if (existsSync(file)) {
      let doc: unknown;
      try {
        doc = JSON.parse(readFileSync(file, 'utf8'));
      } catch (err) {
        throw new Error(`${file}: the tool pins cannot be read: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      const entries = (doc as { version?: unknown; pins?: unknown } | null)?.pins;
      if ((doc as { version?: unknown } | null)?.version !== 1 || entries === null || typeof entries !== 'object') throw new Error(`${file}: not a tool pins file (want { "version": 1, "pins": { … } })`);
      for (const [name, pin] of Object.entries(entries as Record<string, unknown>)) {
        const p = pin as Partial<Pin> | null;
        if (typeof p?.digest !== 'string' || typeof p.pinnedAt !== 'number' || typeof p.by !== 'string') throw new Error(`${file}: pins.${name}: want { "digest", "pinnedAt", "by" }`);
        this.pins.set(name, { digest: p.digest, pinnedAt: p.pinnedAt, by: p.by });
      }
    }
    registry.onRevise((name, digest) => this.check(name, digest, 'the server revised it'));
  }

  /** review checks every upstream tool against its pin: pins the new ones, holds the changed ones. Call once the registry is built. */
  review(): void {
    let added = false;
    for (const name of this.registry.names()) {
      const info = this.registry.info(name)!;
      if (!pinned(info.source)) continue;
      const digest = this.registry.digest(name)!;
      if (this.pins.has(name)) this.check(name, digest, 'since it was pinned');
      else {
        this.pins.set(name, { digest, pinnedAt: Date.now(), by: 'first use' });
        this.record(`tool ${name} (${info.source}) pinned on first use: ${digest}`);
        added = true;
      }
    }
    if (added) this.save();
  }

  private check(name: string, digest: string, when: string): void {
    const pin = this.pins.get(name);
    if (pin === undefined || pin.digest === digest) return;
    const reason = `tool ${name} is held: its description or input schema changed ${when} (pinned ${pin.digest}, now ${digest}); an operator must approve it again: agentctl tools approve ${name}`;
    if (this.registry.heldReason(name) === undefined) this.record(reason);
    this.registry.hold(name, reason);
  }

  /** approve pins what tool `name` says now and offers it again. ENOENT for a tool with no pin. */
  approve(name: string, by: string): PinState {
    const info = this.registry.info(name);
    if (info === undefined || !pinned(info.source)) throw new KernelError('ENOENT', `no pinned tool '${name}' (only upstream MCP tools are pinned; GET /v1/tools lists them)`);
    const digest = this.registry.digest(name)!;
    this.pins.set(name, { digest, pinnedAt: Date.now(), by });
    this.save();
    this.registry.release(name);
    this.record(`tool ${name} approved by ${by}: ${digest}`);
    return this.state(name)!;
  }

  /** state is tool `name`'s pin as shown to operators, or undefined if it has none. */
  state(name: string): PinState | undefined {
    const pin = this.pins.get(name);
    const info = this.registry.info(name);
    if (pin === undefined || info === undefined) return undefined;
    return { name, source: info.source, digest: this.registry.digest(name)!, pinned: pin.digest, state: this.registry.heldReason(name) === undefined ? 'pinned' : 'held', pinnedAt: pin.pinnedAt, by: pin.by };
  }

  /** list is every pinned tool's state, by name. */
  list(): PinState[] {
    return this.registry
      .names()
      .map((n) => this.state(n))
      .filter((s): s is PinState => s !== undefined);
  }

  private record(detail: string): void {
    this.recorder.record({ type: 'approval', pid: 0, agentId: 'agentd', detail: detail.slice(0, 2000) });
  }

  /** save writes the pins (a new file renamed over the old: never half written). */
  private save(): void {
    const doc = { version: 1, pins: Object.fromEntries([...this.pins].toSorted(([a], [b]) => a.localeCompare(b))) };
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}
