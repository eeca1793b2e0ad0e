/**
 * guardedAgent is an undici dispatcher that connects only to addresses an
 * AddressPolicy allows. The check sits in the connection itself: an IP
 * literal is judged before the socket is made, and a name is resolved by the
 * socket's own `lookup`, which drops every refused address and hands the
 * socket only the addresses it judged. So the address checked is the address
 * connected to; there is no second resolution an attacker's DNS could answer
 * differently (DNS rebinding). When no address is left the connection fails
 * with KernelError EACCES naming the host, the address, why it is refused and
 * the setting that would allow it (it reaches fetch's caller as the `cause`).
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import { Agent, buildConnector } from 'undici';
import { KernelError } from '../../abi/errno.ts';
import type { AddressPolicy, AddressVerdict } from './address-ranges.ts';

export interface GuardOptions {
  readonly policy: AddressPolicy;
  /** The tool, for messages: `http.fetch`. */
  readonly tool: string;
  /** The setting that allows more ranges, for messages. */
  readonly setting: string;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

function refused(options: GuardOptions, host: string, address: string, verdict: AddressVerdict): KernelError {
  const why = verdict.allowed ? 'refused' : `${verdict.what} (${verdict.range})`;
  const shown = address.includes(':') ? `[${address}]` : address;
  const subject = host === address ? shown : `${host} (${shown})`;
  return new KernelError('EACCES', `${options.tool}: refused to connect to ${subject}: ${why}; allow it with ${options.setting}`);
}

/** guardedLookup resolves a name (every address) and passes on only the allowed ones; EACCES if none is. */
function guardedLookup(options: GuardOptions) {
  return (hostname: string, lookupOptions: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { family: lookupOptions.family ?? 0, hints: lookupOptions.hints ?? 0, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const allowed = addresses.filter((a) => options.policy.check(a.address).allowed);
      if (allowed.length === 0) {
        const first = addresses[0]?.address ?? '(no address)';
        // net only passes the error on (to the socket's destroy), so the KernelError reaches fetch's caller as it is.
        return callback(refused(options, hostname, first, options.policy.check(first)) as unknown as NodeJS.ErrnoException, []);
      }
      if (lookupOptions.all === true) return callback(null, allowed);
      callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  };
}

/**
 * The most connections the kernel keeps open to one origin for all its
 * agents: past it requests wait their turn (within the tool's timeout)
 * rather than each agent opening sockets without bound.
 */
export const CONNECTIONS_PER_ORIGIN = 128;

/** guardedAgent returns an undici Agent whose connections go only to addresses `options.policy` allows, at most CONNECTIONS_PER_ORIGIN to an origin. */
export function guardedAgent(options: GuardOptions): Agent {
  const connect = buildConnector({ lookup: guardedLookup(options) });
  const guarded: buildConnector.connector = (target, callback) => {
    const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
    if (isIP(host) !== 0) {
      const verdict = options.policy.check(host);
      if (!verdict.allowed) return callback(refused(options, host, host, verdict), null);
    }
    connect(target, callback);
  };
  return new Agent({ connect: guarded, connections: CONNECTIONS_PER_ORIGIN });
}
