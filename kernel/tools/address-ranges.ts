/**
 * The addresses http.fetch refuses to connect to, whatever the policy says
 * about host names, and the operator's exceptions. An address is refused when
 * it is not a public unicast address:
 *
 *   IPv4  0.0.0.0/8 this network (0.0.0.0 reaches loopback on Linux) · 10.0.0.0/8, 172.16.0.0/12,
 *         192.168.0.0/16 private · 100.64.0.0/10 shared (CGNAT) · 127.0.0.0/8 loopback ·
 *         169.254.0.0/16 link-local (cloud metadata) · 192.0.0.0/24 IETF protocol assignments ·
 *         192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 documentation · 192.88.99.0/24 6to4 relay ·
 *         198.18.0.0/15 benchmarking · 224.0.0.0/4 multicast · 240.0.0.0/4 reserved and broadcast
 *   IPv6  everything outside global unicast 2000::/3, which covers ::/128 unspecified, ::1/128
 *         loopback, ::/96 IPv4-compatible (deprecated), 64:ff9b:1::/48 local NAT64, 100::/64 discard,
 *         fc00::/7 unique local, fe80::/10 link-local, fec0::/10 site-local, ff00::/8 multicast; and
 *         inside it 2001::/23 IETF protocol assignments (Teredo, whose IPv4 part is obscured, ORCHID,
 *         benchmarking), 2001:db8::/32 and 3fff::/20 documentation
 *   IPv6 forms that carry an IPv4 address are judged by that address: IPv4-mapped ::ffff:0:0/96,
 *         IPv4-translated ::ffff:0:0:0/96, NAT64 64:ff9b::/96 (last 32 bits) and 6to4 2002::/16
 *         (bits 16–47). So ::ffff:7f00:1 is loopback and 2002:c0a8:101:: is private.
 *
 * An address inside an allowed range (`allow_addresses`, CIDR) is allowed
 * before any of this; an embedded IPv4 address is allowed when either form is.
 */
import ipaddr from 'ipaddr.js';
import { KernelError } from '../../abi/errno.ts';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Range = readonly [Address, number];

interface NamedRange {
  readonly range: Range;
  readonly cidr: string;
  readonly what: string;
}

function named(cidr: string, what: string): NamedRange {
  return { range: ipaddr.parseCIDR(cidr), cidr, what };
}

const REFUSED_V4: readonly NamedRange[] = [
  named('0.0.0.0/8', 'an unspecified ("this network") address'),
  named('10.0.0.0/8', 'a private address'),
  named('100.64.0.0/10', 'a shared (CGNAT) address'),
  named('127.0.0.0/8', 'a loopback address'),
  named('169.254.0.0/16', 'a link-local address'),
  named('172.16.0.0/12', 'a private address'),
  named('192.0.0.0/24', 'an IETF protocol assignment'),
  named('192.0.2.0/24', 'a documentation address'),
  named('192.88.99.0/24', 'a 6to4 relay anycast address'),
  named('192.168.0.0/16', 'a private address'),
  named('198.18.0.0/15', 'a benchmarking address'),
  named('198.51.100.0/24', 'a documentation address'),
  named('203.0.113.0/24', 'a documentation address'),
  named('224.0.0.0/4', 'a multicast address'),
  named('240.0.0.0/4', 'a reserved or broadcast address'),
];

/** The named non-global IPv6 ranges, most specific first (the catch-all outside 2000::/3 comes after). */
const REFUSED_V6: readonly NamedRange[] = [
  named('::/128', 'an unspecified address'),
  named('::1/128', 'a loopback address'),
  named('::/96', 'an IPv4-compatible address (deprecated)'),
  named('64:ff9b:1::/48', 'a local-use NAT64 address'),
  named('100::/64', 'a discard-only address'),
  named('fc00::/7', 'a unique local (private) address'),
  named('fe80::/10', 'a link-local address'),
  named('fec0::/10', 'a site-local address (deprecated)'),
  named('ff00::/8', 'a multicast address'),
  named('2001:db8::/32', 'a documentation address'),
  named('2001::/23', 'an IETF protocol assignment (Teredo, ORCHID, benchmarking)'),
  named('3fff::/20', 'a documentation address'),
];
const GLOBAL_UNICAST_V6: Range = ipaddr.parseCIDR('2000::/3');

const MAPPED = ipaddr.parseCIDR('::ffff:0:0/96');
const TRANSLATED = ipaddr.parseCIDR('::ffff:0:0:0/96');
const NAT64 = ipaddr.parseCIDR('64:ff9b::/96');
const SIX_TO_FOUR = ipaddr.parseCIDR('2002::/16');

/** AddressVerdict says whether an address may be connected to and, if not, why. */
export type AddressVerdict = { readonly allowed: true } | { readonly allowed: false; readonly range: string; readonly what: string };

function inRange(address: Address, range: Range): boolean {
  return address.kind() === range[0].kind() && address.match(range as [Address, number]);
}

/**
 * parseIp reads an IP literal, or returns undefined. IPv6 with a dotted tail
 * goes through the WHATWG serializer first: ipaddr.js reads `::1.2.3.4`
 * (IPv4-compatible) as `::ffff:1.2.3.4` (IPv4-mapped). Zone ids are refused.
 */
function parseIp(text: string): Address | undefined {
  let literal = text;
  if (text.includes('%')) return undefined;
  if (text.includes(':') && text.includes('.')) {
    try {
      literal = new URL(`http://[${text}]/`).hostname.slice(1, -1);
    } catch {
      return undefined;
    }
  }
  if (ipaddr.IPv4.isValidFourPartDecimal(literal)) return ipaddr.IPv4.parse(literal);
  return ipaddr.IPv6.isValid(literal) ? ipaddr.IPv6.parse(literal) : undefined;
}

function v4From(bytes: readonly number[], at: number): ipaddr.IPv4 {
  return new ipaddr.IPv4(bytes.slice(at, at + 4));
}

/** embeddedIPv4 returns the IPv4 address an IPv6 address carries (mapped, translated, NAT64, 6to4), or undefined. */
function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const bytes = address.toByteArray();
  if (inRange(address, MAPPED) || inRange(address, TRANSLATED) || inRange(address, NAT64)) return v4From(bytes, 12);
  if (inRange(address, SIX_TO_FOUR)) return v4From(bytes, 2);
  return undefined;
}

/**
 * parseAddressRange reads one entry of `allow_addresses`: a CIDR range
 * (`127.0.0.0/8`, `fd00::/8`) or a single address. IPv4 must be dotted
 * decimal and a range must not have host bits set. EINVAL otherwise, with
 * the reason.
 */
export function parseAddressRange(text: string): Range {
  const slash = text.indexOf('/');
  const address = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (address === undefined) throw new KernelError('EINVAL', `'${text}' is not an address or CIDR range (e.g. 127.0.0.0/8, ::1/128, 10.1.2.3)`);
  const max = address.kind() === 'ipv4' ? 32 : 128;
  if (slash < 0) return [address, max];
  const prefix = text.slice(slash + 1);
  const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : -1;
  if (bits < 0 || bits > max) throw new KernelError('EINVAL', `'${text}' is not a CIDR range: the prefix length must be 0–${max}`);
  const cidr = `${address.toString()}/${bits}`;
  const network = address.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
  if (network.toString() !== address.toString()) throw new KernelError('EINVAL', `'${text}' has host bits set; the range is ${network.toString()}/${bits}`);
  return [address, bits];
}

const LOOPBACK_V4: Range = ipaddr.parseCIDR('127.0.0.0/8');
const LOOPBACK_V6: Range = ipaddr.parseCIDR('::1/128');

/**
 * isLoopbackHost: a host name or IP literal (a URL's `[::1]` too) that can
 * only mean this machine: `localhost`, 127.0.0.0/8 or ::1 (an IPv4-mapped
 * 127.x too). The one test of "loopback" for agentd's listen host and
 * webhook URL and for secrets over plain http; a tool's connections are
 * judged on the address they resolve to (AddressPolicy).
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') && host.includes(':') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost') return true;
  const address = parseIp(bare);
  if (address === undefined) return false;
  if (address.kind() === 'ipv4') return inRange(address, LOOPBACK_V4);
  const v6 = address as ipaddr.IPv6;
  return inRange(v6, LOOPBACK_V6) || (v6.isIPv4MappedAddress() && inRange(v6.toIPv4Address(), LOOPBACK_V4));
}

/**
 * AddressPolicy decides which resolved addresses a tool may connect to: every
 * public unicast address, plus the operator's allowed ranges. The ranges are
 * checked when it is made (EINVAL naming the bad entry).
 */
export class AddressPolicy {
  private readonly allowed: readonly Range[];

  constructor(allow: readonly string[] = []) {
    this.allowed = allow.map(parseAddressRange);
  }

  /** check judges one address as text (an IP literal; anything else is refused as not an address). */
  check(text: string): AddressVerdict {
    const address = parseIp(text);
    return address === undefined ? { allowed: false, range: 'none', what: 'not an IP address' } : this.judge(address);
  }

  private judge(address: Address): AddressVerdict {
    if (this.allowed.some((r) => inRange(address, r))) return { allowed: true };
    if (address.kind() === 'ipv4') return refusal(REFUSED_V4, address);
    const v6 = address as ipaddr.IPv6;
    const inner = embeddedIPv4(v6);
    if (inner !== undefined) return this.judge(inner);
    const listed = refusal(REFUSED_V6, v6);
    if (!listed.allowed || inRange(v6, GLOBAL_UNICAST_V6)) return listed;
    return { allowed: false, range: 'outside 2000::/3', what: 'not a global unicast address' };
  }
}

function refusal(list: readonly NamedRange[], address: Address): AddressVerdict {
  const hit = list.find((r) => inRange(address, r.range));
  return hit === undefined ? { allowed: true } : { allowed: false, range: hit.cidr, what: hit.what };
}
