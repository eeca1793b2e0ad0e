/**
 * The address ranges http.fetch refuses: one address from each listed range,
 * the IPv6 forms that carry an IPv4 address (judged by that address), public
 * addresses that pass, and the operator's allowed ranges.
 */
import { describe, expect, it } from 'vitest';
import { AddressPolicy, isLoopbackHost, parseAddressRange } from '../../kernel/tools/address-ranges.ts';

const REFUSED: [string, string][] = [
  ['0.0.0.0', '0.0.0.0/8'],
  ['0.1.2.3', '0.0.0.0/8'],
  ['10.1.2.3', '10.0.0.0/8'],
  ['100.64.0.1', '100.64.0.0/10'],
  ['127.0.0.1', '127.0.0.0/8'],
  ['127.255.255.254', '127.0.0.0/8'],
  ['169.254.169.254', '169.254.0.0/16'],
  ['172.16.0.1', '172.16.0.0/12'],
  ['172.31.255.255', '172.16.0.0/12'],
  ['192.0.0.1', '192.0.0.0/24'],
  ['192.0.2.1', '192.0.2.0/24'],
  ['192.88.99.1', '192.88.99.0/24'],
  ['192.168.1.1', '192.168.0.0/16'],
  ['198.18.0.1', '198.18.0.0/15'],
  ['198.51.100.1', '198.51.100.0/24'],
  ['203.0.113.1', '203.0.113.0/24'],
  ['224.0.0.1', '224.0.0.0/4'],
  ['240.0.0.1', '240.0.0.0/4'],
  ['255.255.255.255', '240.0.0.0/4'],
  ['::', '::/128'],
  ['::1', '::1/128'],
  ['::7f00:1', '::/96'],
  ['::ffff:7f00:1', '127.0.0.0/8'],
  ['::ffff:a9fe:a9fe', '169.254.0.0/16'],
  ['::ffff:0:a00:1', '10.0.0.0/8'],
  ['64:ff9b::7f00:1', '127.0.0.0/8'],
  ['64:ff9b::c0a8:101', '192.168.0.0/16'],
  ['64:ff9b:1::1', '64:ff9b:1::/48'],
  ['2002:7f00:1::', '127.0.0.0/8'],
  ['2002:a00:1::1', '10.0.0.0/8'],
  ['100::1', '100::/64'],
  ['2001::1', '2001::/23'],
  ['2001:db8::1', '2001:db8::/32'],
  ['3fff::1', '3fff::/20'],
  ['fc00::1', 'fc00::/7'],
  ['fd12:3456::1', 'fc00::/7'],
  ['fe80::1', 'fe80::/10'],
  ['fec0::1', 'fec0::/10'],
  ['ff02::1', 'ff00::/8'],
  ['5f00::1', 'outside 2000::/3'],
  ['4000::1', 'outside 2000::/3'],
];

const PUBLIC = ['1.1.1.1', '8.8.8.8', '93.184.215.14', '100.63.255.255', '100.128.0.0', '172.32.0.1', '2606:4700:4700::1111', '2a00:1450::1', '::ffff:808:808', '64:ff9b::808:808', '2002:808:808::1'];

describe('address ranges', () => {
  it.each(REFUSED)('%s is refused (%s)', (address, range) => {
    expect(new AddressPolicy().check(address)).toMatchObject({ allowed: false, range });
  });

  it('public unicast addresses, and IPv6 forms carrying one, are allowed', () => {
    const policy = new AddressPolicy();
    expect(PUBLIC.filter((a) => !policy.check(a).allowed)).toEqual([]);
  });

  it('allowed ranges come first; an IPv4 range allows the IPv6 forms that carry its addresses', () => {
    const policy = new AddressPolicy(['127.0.0.0/8', 'fd00::/8', '192.168.1.7']);
    expect(['127.0.0.1', '::ffff:7f00:1', '64:ff9b::7f00:1', '2002:7f00:1::', 'fd00::5', '192.168.1.7'].filter((a) => !policy.check(a).allowed)).toEqual([]);
    expect(['::1', '0.0.0.0', '192.168.1.8', 'fc00::1', '10.0.0.1'].filter((a) => policy.check(a).allowed)).toEqual([]);
    expect(new AddressPolicy().check('not-an-ip')).toMatchObject({ allowed: false });
    expect(new AddressPolicy().check('fe80::1%eth0')).toMatchObject({ allowed: false });
  });

  it.each([
    ['127.0.0.1/8', "'127.0.0.1/8' has host bits set; the range is 127.0.0.0/8"],
    ['10.0.0.0/33', "'10.0.0.0/33' is not a CIDR range: the prefix length must be 0–32"],
    ['::/129', "'::/129' is not a CIDR range: the prefix length must be 0–128"],
    ['127.1/8', "'127.1/8' is not an address or CIDR range"],
    ['localhost', "'localhost' is not an address or CIDR range"],
    ['fe80::1%eth0', "'fe80::1%eth0' is not an address or CIDR range"],
    ['10.0.0.0/8x', "'10.0.0.0/8x' is not a CIDR range"],
  ])('allow range %s is refused: %s', (text, problem) => {
    expect(() => parseAddressRange(text)).toThrow(problem);
  });

  it('reads ::a.b.c.d as IPv4-compatible, not IPv4-mapped', () => {
    expect(parseAddressRange('::127.0.0.1')[0].toString()).toBe('::7f00:1');
    expect(new AddressPolicy(['127.0.0.0/8']).check('::127.0.0.1')).toMatchObject({ allowed: false, range: '::/96' });
  });
});

describe('isLoopbackHost: the one test of "loopback" (agentd\'s listen host and webhook URL, secrets over plain http)', () => {
  it('localhost, 127.0.0.0/8 and ::1, bracketed as a URL writes it, or mapped; nothing else', () => {
    const hosts = ['localhost', 'LOCALHOST', '127.0.0.1', '127.1.2.3', '::1', '[::1]', '::ffff:127.0.0.1', '[::ffff:7f00:1]'];
    expect(hosts.filter((h) => !isLoopbackHost(h))).toEqual([]);
    const others = ['localhost.', 'localhost.example.com', '0.0.0.0', '::', '[::]', '128.0.0.1', '10.0.0.1', '::2', '[::ffff:10.0.0.1]', 'example.com', '127.0.0.1.nip.io', '', '[127.0.0.1]'];
    expect(others.filter((h) => isLoopbackHost(h))).toEqual([]);
    // A URL's hostname, as http.fetch's secrets and the webhook check read it.
    expect(isLoopbackHost(new URL('http://[::1]:8080/').hostname)).toBe(true);
    expect(isLoopbackHost(new URL('http://127.1/').hostname)).toBe(true);
  });
});
