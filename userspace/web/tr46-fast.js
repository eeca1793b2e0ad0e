// tr46 (UTS #46, for URL hosts) loaded only when a host needs it. whatwg-url
// maps every host through tr46, whose tables take ~10 ms to load in each
// isolate; a host of ASCII characters without an `xn--` label maps, under
// the options whatwg-url uses (non-transitional, no STD3 rules, no DNS
// length check), to itself in lower case, so that case is answered here and
// anything else goes to tr46 itself, loaded then. (The kernel's bundle
// aliases `tr46` to this file and `agent-kernel-tr46` to the real one.)

/* eslint-disable no-undef -- `require` is resolved by the bundler */
let real;
const full = () => (real ??= require('agent-kernel-tr46'));
/** Only ASCII: no code unit above 0x7f. */
const PLAIN = /^[^\u0080-\uffff]*$/;
const PUNYCODE = /(^|\.)xn--/i;

function simple(domain, options) {
  return typeof domain === 'string' && PLAIN.test(domain) && !PUNYCODE.test(domain) && !(options && (options.verifyDNSLength || options.useSTD3ASCIIRules || options.checkHyphens));
}

export function toASCII(domain, options) {
  return simple(domain, options) ? domain.toLowerCase() : full().toASCII(domain, options);
}

export function toUnicode(domain, options) {
  return simple(domain, options) ? { domain: domain.toLowerCase(), error: false } : full().toUnicode(domain, options);
}
