/**
 * A sandbox host process (started by HostPool with fork): it runs the
 * isolates of the agents the kernel places on it, each a Sandbox as in the
 * kernel's own process, and carries every syscall they make to the kernel
 * over the IPC channel, where the one dispatcher decides, records and runs
 * it. What an isolate can break here — V8's catastrophic out-of-memory path,
 * an abort, the OOM killer — ends this process at worst, never the kernel.
 *
 * The host holds no policy, no VFS and no log: a syscall is answered by
 * the kernel's reply, except the calls a lease of the kernel lets the host
 * run itself (kernel/hosts/leases.ts), which it reports back to be
 * recorded ahead of anything else it sends. It ends when the kernel says so
 * (drained), or when the channel closes (the kernel is gone).
 */
import { randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import { KernelError } from '../../abi/errno.ts';
import type { CallScope } from '../../syscalls/context.ts';
import type { Reply } from '../../syscalls/dispatch.ts';
import { Sandbox } from '../sandbox.ts';
import { type SandboxHooks } from '../process-sandbox.ts';
import { pendingCall } from './pending-call.ts';
import { encode, FrameReader } from './frames.ts';
import type { Ask, FinalReply, ToHost, ToKernel } from './protocol.ts';
import { HostLease, ServedCalls } from './host-lease.ts';
import { sleep } from '../sleep.ts';
import { callBytes } from '../crossing-turn.ts';
import type { HostCallContext } from '../../syscalls/table.ts';

/** How often the CPU time of running sandboxes is sent, ms: the granularity of CPU limits for agents on a host. */
const CPU_TICK_MS = 20;
/**
 * The most bytes of calls one sandbox may have on their way to the kernel
 * (written to the channel, not yet taken by the OS), and all sandboxes
 * together in the channel's write buffer, once the sandbox has any on their
 * way: past either an asynchronous call is answered busy (ring 3 holds it,
 * and is nudged once the sandbox's frames have left: counted until the
 * reply, a write the kernel kept waiting on a pipe that only the held call's
 * successors would read hung the program, a review), a blocking one gets
 * EAGAIN, and so do the event loop's timer and cancels unless a lease lets
 * the host run them. Everything a host sends shares
 * one channel, so without them one agent's calls (a thousand of ~5 MB each:
 * stat of a 2.3 M-character path, refused only once the kernel decoded it)
 * queued GBs in the host, its neighbours' calls and the heartbeat's answer
 * behind them, until the kernel took the host for hung and killed it with
 * every agent on it (an attacker pass).
 */
const MAX_SANDBOX_CALL_BYTES = 16 * 1024 * 1024;
const MAX_CHANNEL_BYTES = 64 * 1024 * 1024;

interface Box {
  readonly sandbox: Sandbox;
  /** Syscalls sent to the kernel and not yet answered: their reply's resolver. */
  readonly calls: Map<number, (reply: Reply) => void>;
  /** The bytes of its calls' frames not yet taken by the OS, at most (crossing-turn.ts callBytes; MAX_SANDBOX_CALL_BYTES). */
  callBytes: number;
  /** A call was answered busy (crowded): the sandbox is nudged once its frames have left. */
  refused: boolean;
  /** Entries into the isolate the kernel sent (replies, start, deliveries) that arrived: an idle names how many it follows. */
  seen: number;
  /** The CPU time last sent to the kernel, ns. */
  cpuSent: number;
  /** What the sandbox's calls under a lease get of their process. */
  readonly caller: HostCallContext;
  /** The kernel's lease for this sandbox, if it holds one. */
  lease: HostLease | undefined;
  /** Set while the process is stopped: what its leased calls' completions wait for. */
  hold: { readonly promise: Promise<void>; readonly release: () => void } | undefined;
}

const boxes = new Map<number, Box>();
let nextCid = 1;

/** The channel to the kernel: fd 3, a socket pair the kernel made. */
const channel = new Socket({ fd: 3, readable: true, writable: true });

/** The calls run under leases, not yet reported: they go ahead of every other message. */
const served = new ServedCalls((sid, gen, calls) => channel.write(encode({ t: 'served', sid, gen, calls } satisfies ToKernel)));

function send(message: ToKernel): void {
  served.flush();
  channel.write(encode(message));
}

/**
 * crowded says why `box`'s call of `bytes` (an upper bound of its frame, crossing-turn.ts callBytes) cannot go to the
 * kernel now while others of its calls are on their way: past MAX_SANDBOX_CALL_BYTES of its own, or with the channel
 * past MAX_CHANNEL_BYTES. One that has nothing on its way always goes (its own frames leaving are what frees the room).
 */
function crowded(box: Box, bytes: number): string | undefined {
  if (box.callBytes === 0) return undefined;
  if (box.callBytes + bytes > MAX_SANDBOX_CALL_BYTES) return `more than ${MAX_SANDBOX_CALL_BYTES} bytes of calls on their way to the kernel`;
  if (channel.writableLength > MAX_CHANNEL_BYTES) return 'the sandbox host has more than it can send to the kernel';
  return undefined;
}

/** flushed: `bytes` of `box`'s frames have left the host; a sandbox answered busy is nudged once there is room. */
function flushed(box: Box, bytes: number): void {
  box.callBytes -= bytes;
  if (!box.refused || box.callBytes > 0) return;
  box.refused = false;
  box.sandbox.nudge();
}

/** hooksFor connects sandbox `sid`'s syscalls and events to the kernel. */
function hooksFor(sid: number, box: () => Box | undefined): SandboxHooks {
  return {
    syscall(nr: unknown, args: unknown[], call: CallScope, mode: 'blocking' | 'async', weighed?: number): Reply {
      const own = box();
      const lease = own?.lease;
      const leased = lease?.run(own!.caller, nr, args, call, () => own!.hold?.promise ?? Promise.resolve());
      if (leased !== undefined) {
        served.add(sid, lease!.gen, nr as number, args);
        return leased;
      }
      // Checked before the call is encoded: a refused call cost the host a 4 MB encoding each, and with ring 3 issuing
      // its held calls again and again, four agents took a host to 3.3 GB (a review). Asynchronous calls past these
      // were answered busy already (crowded), but for the event loop's timer and cancels (when no lease ran them
      // above); those and a blocking call get EAGAIN.
      const bytes = weighed ?? callBytes(args);
      const refused = own === undefined ? undefined : crowded(own, bytes);
      if (refused !== undefined) return { errno: 'EAGAIN', message: refused };
      const cid = nextCid++;
      let frame: Buffer;
      try {
        frame = encode({ t: 'call', sid, cid, nr, args, mode } satisfies ToKernel);
      } catch (err) {
        return { errno: 'EINVAL', message: `the call cannot cross to the kernel: ${err instanceof Error ? err.message : String(err)}` };
      }
      if (own !== undefined) own.callBytes += bytes;
      // Counted until the frame has left the host, not until the reply: a call the kernel keeps waiting holds nothing here.
      const later = pendingCall(
        call.cancel,
        () => {
          if (box()?.calls.has(cid) === true) send({ t: 'abort', sid, cid });
        },
        (settle) => box()?.calls.set(cid, settle),
      );
      served.flush();
      channel.write(frame, () => {
        if (own !== undefined) flushed(own, bytes);
      });
      return { later };
    },
    end(how) {
      send({ t: 'end', sid, how, cpuNs: Number(box()?.sandbox.cpuTimeNs ?? 0n) });
    },
    stuck(why) {
      send({ t: 'stuck', why });
    },
    idle() {
      send({ t: 'idle', sid, cpuNs: Number(box()?.sandbox.cpuTimeNs ?? 0n), seen: box()?.seen ?? 0 });
    },
    charge(ns) {
      send({ t: 'charge', sid, ns });
    },
    crowded(bytes) {
      const own = box();
      const why = own === undefined ? undefined : crowded(own, bytes);
      if (why !== undefined) own!.refused = true;
      return why;
    },
  };
}

/** run answers one ask of the kernel about sandbox `sid`. */
async function run(sid: number, ask: Ask): Promise<boolean | null> {
  if (ask.op === 'create') {
    if (boxes.has(sid)) throw new KernelError('EINVAL', `sandbox ${sid} exists`);
    let made: Box | undefined;
    const sandbox = new Sandbox(ask.program, ask.heapMib, ask.boot, hooksFor(sid, () => made));
    const caller: HostCallContext = { pid: ask.boot.pid, randomBytes: (length) => new Uint8Array(randomBytes(length)), sleep, cancel: (id) => sandbox.cancel(id) };
    made = { sandbox, calls: new Map(), callBytes: 0, refused: false, seen: 0, cpuSent: 0, caller, lease: undefined, hold: undefined };
    boxes.set(sid, made);
    return null;
  }
  const box = boxes.get(sid);
  if (box === undefined) throw new KernelError('EINTR', `sandbox ${sid} is gone`);
  switch (ask.op) {
    case 'compile':
      await box.sandbox.compileAsync();
      return null;
    case 'start':
      box.seen++;
      await box.sandbox.start();
      return null;
    case 'deliver':
      // A completion the host delivered itself (a call run under a lease) may be running: the kernel took the isolate
      // for idle. The signals then go back to it, to ride on the next reply or idle (false); this entry never was.
      if (!box.sandbox.idle) return false;
      box.seen++;
      await box.sandbox.deliver(ask.signals);
      return null;
    case 'cancel':
      return box.sandbox.cancel(ask.id);
    default:
      return ask satisfies never;
  }
}

function answer(sid: number, req: number, ask: Ask): void {
  run(sid, ask).then(
    (value) => send({ t: 'answer', sid, req, ok: true, value }),
    (err: unknown) => {
      const errno = err instanceof KernelError ? err.errno : 'EIO';
      send({ t: 'answer', sid, req, ok: false, errno, message: err instanceof Error ? err.message : String(err) });
    },
  );
}

function dispose(sid: number): void {
  const box = boxes.get(sid);
  if (box === undefined) return;
  boxes.delete(sid);
  box.sandbox.dispose();
  box.calls.clear();
}

/** onMessage acts on one message of the kernel (which is trusted: it started this process). */
function onMessage(m: ToHost): void {
  switch (m.t) {
    case 'ask': {
      const { t: _t, sid, req, ...ask } = m;
      answer(sid, req, ask as Ask);
      return;
    }
    case 'reply': {
      const box = boxes.get(m.sid);
      const resolve = box?.calls.get(m.cid);
      if (box === undefined || resolve === undefined) return;
      box.calls.delete(m.cid);
      box.seen++;
      if (m.lease !== undefined) box.lease = new HostLease(m.lease);
      resolve(m.reply satisfies FinalReply);
      return;
    }
    case 'revoke': {
      const box = boxes.get(m.sid);
      if (box === undefined) return;
      box.lease = undefined;
      // Every call run under the leases it ends is reported first (send flushes them).
      send({ t: 'revoked', sid: m.sid, gen: m.gen });
      return;
    }
    case 'hold': {
      const box = boxes.get(m.sid);
      if (box === undefined) return;
      // New asynchronous calls are held back in ring 3 while stopped (kernel/sandbox.ts hold).
      box.sandbox.hold(m.on);
      if (m.on && box.hold === undefined) {
        let release!: () => void;
        const promise = new Promise<void>((resolve) => (release = resolve));
        box.hold = { promise, release };
      } else if (!m.on && box.hold !== undefined) {
        box.hold.release();
        box.hold = undefined;
      }
      return;
    }
    case 'dispose':
      dispose(m.sid);
      // After the calls its leases ran (send flushes them): the kernel lets go of the sandbox then.
      send({ t: 'disposed', sid: m.sid });
      return;
    case 'ping':
      send({ t: 'pong', n: m.n });
      return;
    case 'exit':
      for (const sid of boxes.keys()) dispose(sid);
      served.flush();
      // What was written (reports of calls run under leases, disposal acks) reaches the kernel first; then the host
      // ends itself with SIGKILL, never process.exit. An exit runs isolated-vm's thread pool's destructor, which joins
      // every isolate thread, and a thread whose isolate took V8's out-of-memory path sleeps in isolated-vm's handler
      // for good: such a host hung in its exit, its kernel gone (found twice in CI runs, the second time with the
      // catastrophe not yet reported when the exit came; gdb: the main thread in thread_pool_t::~thread_pool_t, joining
      // a thread in IsolateEnvironment::OOMErrorCallback). The kernel takes a host it told to exit ending so as asked.
      send({ t: 'bye' });
      channel.end(() => process.kill(process.pid, 'SIGKILL'));
      return;
  }
}

const reader = new FrameReader(
  (m) => onMessage(m as ToHost),
  // A frame the kernel could not have sent: this host ends (SIGKILL, as at every end: an exit may hang, see 'exit').
  () => process.kill(process.pid, 'SIGKILL'),
);
channel.on('data', (chunk: Buffer) => reader.push(chunk));
// The kernel is gone: nothing here may outlive it. SIGKILL, not process.exit: an exit can hang for good in a process in
// which an isolate took V8's catastrophic path (isolated-vm joins its threads), and no kernel is left to kill it (found
// here: hosts of kernels that had ended, each holding ~440 MB, still there an hour later).
const orphaned = () => process.kill(process.pid, 'SIGKILL');
channel.on('close', orphaned);
channel.on('error', orphaned);

// Only sandboxes whose CPU time moved since the last tick: idle agents cost the kernel nothing here.
setInterval(() => {
  const sids: number[] = [];
  const ns: number[] = [];
  for (const [sid, box] of boxes) {
    const used = Number(box.sandbox.cpuTimeNs);
    if (used === box.cpuSent) continue;
    box.cpuSent = used;
    sids.push(sid);
    ns.push(used);
  }
  if (sids.length > 0) send({ t: 'cpu', sids, ns });
  else served.flush();
}, CPU_TICK_MS);

send({ t: 'ready', pid: process.pid });
