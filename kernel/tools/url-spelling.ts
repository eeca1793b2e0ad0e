/**
 * The spellings of an http(s) URL that WHATWG's serializer leaves alone but
 * that reach the same resource as another spelling, so that a policy glob on
 * the text would not mean what it says (http-fetch.ts's checkUrl refuses
 * them). Equivalent by RFC 3986 6.2.2 or by the address reached:
 *
 * - a percent-encoded unreserved character in the path (`/%61dmin` is
 *   `/admin`) or lower-case hex in a path's escape (`%3a` is `%3A`);
 * - a host with a trailing dot (`localhost.` is `localhost`);
 * - an IPv6 literal that carries an IPv4 address (IPv4-mapped,
 *   -translated, -compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`): the
 *   address check judges it by that IPv4 address (address-ranges.ts).
 *
 * Those have a canonical form, which the refusal names. Two have none, as
 * servers differ on what they mean, and are refused outright: an encoded
 * `/` or `\` inside a path segment (`%2F`, `%5C`: decoded into a separator
 * by some servers, not by others), an empty path segment (`//admin`:
 * collapsed by some, kept by others), and a `.` or `..` segment with
 * parameters (`/public/..;/admin`: climbs on servlet containers, which drop
 * `;…` before resolving dot segments, and on no others); an operator whose services need them
 * (GitLab's `group%2Fproject`, an archive's `/web/2020/https://…`) allows
 * them with `ambiguous_paths: true`, accepting that a path glob may then be
 * passed by such a spelling. The query is left as it is: its encodings are
 * the application's.
 */
import ipaddr from 'ipaddr.js';
import { KernelError } from '../../abi/errno.ts';

/** RFC 3986's unreserved characters: their percent-encoding is the same URL (6.2.2.2). */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const ESCAPE = /%([0-9A-Fa-f]{2})/g;
/** Escapes that servers may decode into a path separator. */
const SEPARATORS = new Set(['2F', '5C']);
/** A segment that is `.` or `..` once its parameters (`;…`, or `%3B…`) are dropped, as servlet containers drop them (an attacker pass: `/public/..;/admin` passed a glob on `/public/**` and reached `/admin`). */
const DOT_PARAMETERS = /\/(?:\.|%2e){1,2}(?:;|%3b)/i;
/** The IPv6 ranges whose last 32 bits are an IPv4 address, by ipaddr.js's names for them (6to4 keeps it in bits 16–47). */
const CARRIES_IPV4_AT_12 = new Set(['ipv4Mapped', 'rfc6145', 'rfc6052']);

/** embeddedIPv4 is the dotted IPv4 address an IPv6 literal (`[…]`) carries, or undefined. */
function embeddedIPv4(hostname: string): string | undefined {
  if (!hostname.startsWith('[')) return undefined;
  const v6 = ipaddr.IPv6.parse(hostname.slice(1, -1));
  const bytes = v6.toByteArray();
  const range = v6.range();
  // IPv4-compatible ::/96 (deprecated) is every address with 96 zero bits but :: and ::1.
  const compatible = bytes.slice(0, 12).every((b) => b === 0) && bytes.slice(12, 15).some((b) => b !== 0);
  const at = CARRIES_IPV4_AT_12.has(range) || compatible ? 12 : range === '6to4' ? 2 : -1;
  return at < 0 ? undefined : new ipaddr.IPv4(bytes.slice(at, at + 4)).toString();
}

/**
 * checkSpelling refuses (EINVAL) a URL, already in WHATWG's canonical form,
 * that another spelling reaches too: naming the canonical spelling to use
 * where there is one, saying why it is refused where there is none.
 */
export function checkSpelling(url: URL, ambiguousPaths = false): void {
  const path = url.pathname;
  const allow = `(tools.builtin.http.fetch.ambiguous_paths: true allows it, and a path glob may then be passed by such a spelling)`;
  if (path.includes('//') && !ambiguousPaths) throw new KernelError('EINVAL', `http.fetch: a path with an empty segment ('//') is refused: servers differ on whether it is the same path as without ${allow}`);
  if (!ambiguousPaths && DOT_PARAMETERS.test(path)) throw new KernelError('EINVAL', `http.fetch: a path segment '.' or '..' with parameters ('..;x') is refused: servers differ on whether it climbs (servlet containers drop the ';…' and resolve the '..') ${allow}`);
  const why: string[] = [];
  const canonicalPath = path.replace(ESCAPE, (escape, hex: string) => {
    const upper = hex.toUpperCase();
    if (SEPARATORS.has(upper)) {
      if (!ambiguousPaths) throw new KernelError('EINVAL', `http.fetch: an encoded '${escape}' in a path segment is refused: servers differ on whether it separates segments ${allow}`);
      if (hex !== upper) why.push(`'${escape}' is '%${upper}'`);
      return `%${upper}`;
    }
    const char = String.fromCharCode(parseInt(hex, 16));
    if (UNRESERVED.test(char)) {
      why.push(`'${escape}' is '${char}'`);
      return char;
    }
    if (hex !== upper) why.push(`'${escape}' is '%${upper}'`);
    return `%${upper}`;
  });
  const canonical = new URL(url.href);
  if (canonicalPath !== path) canonical.pathname = canonicalPath;
  if (url.hostname.endsWith('.')) {
    why.push('a trailing dot in the host is the same host');
    canonical.hostname = url.hostname.replace(/\.+$/, '');
  }
  const v4 = embeddedIPv4(url.hostname);
  if (v4 !== undefined) {
    why.push(`${url.hostname} carries the IPv4 address ${v4}, the one the address check judges`);
    canonical.hostname = v4;
  }
  if (why.length === 0) return;
  const reasons = why.join('; ').slice(0, 300);
  // A host of dots only has no canonical form to name.
  if (canonical.hostname === '' || canonical.href === url.href) throw new KernelError('EINVAL', `http.fetch: the URL is refused: ${reasons}`);
  throw new KernelError('EINVAL', `http.fetch: use the URL's canonical form '${canonical.href.slice(0, 500)}' (${reasons}; policy matches the text as given)`);
}
