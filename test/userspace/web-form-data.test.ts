// Body.formData() in a real isolate: multipart and urlencoded bodies read back
// as FormData, each compared with what Node's own Response.formData() (undici)
// makes of the same bytes, malformed ones included.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebIsolate, type WebIsolate } from './web-harness.ts';

let web: WebIsolate;
beforeAll(async () => {
  web = await createWebIsolate();
});
afterAll(() => web.dispose());

type Outcome = { ok: unknown[] } | { error: string; message: string };

// The same reading of an outcome in the isolate (as source) and on the host.
const SERIALIZE = `
  const serialize = async (form) => {
    const out = [];
    for (const [name, value] of form) {
      out.push(typeof value === 'string' ? [name, value] : [name, { file: value.name, type: value.type, bytes: Array.from(new Uint8Array(await value.arrayBuffer())) }]);
    }
    return out;
  };
  const attempt = async (make) => {
    try { return { ok: await serialize(await make()) }; } catch (e) { return { error: e.constructor.name, message: e.message }; }
  };
`;

async function hostOutcome(bytes: Uint8Array<ArrayBuffer>, type: string | null): Promise<Outcome> {
  try {
    const form = await new Response(bytes, { headers: type === null ? {} : { 'content-type': type } }).formData();
    const out: unknown[] = [];
    for (const [name, value] of form) {
      out.push(typeof value === 'string' ? [name, value] : [name, { file: value.name, type: value.type, bytes: Array.from(new Uint8Array(await value.arrayBuffer())) }]);
    }
    return { ok: out };
  } catch (e) {
    return { error: (e as Error).constructor.name, message: (e as Error).message };
  }
}

/** inIsolate parses each [bytes, content-type] with the runtime's Response.formData(). */
function inIsolate(cases: [number[], string | null][]): Promise<Outcome[]> {
  return web.run<Outcome[]>(`${SERIALIZE}
    const out = [];
    for (const [bytes, type] of ${JSON.stringify(cases)}) {
      out.push(await attempt(() => new Response(new Uint8Array(bytes), { headers: type === null ? {} : { 'content-type': type } }).formData()));
    }
    return out;
  `);
}

const B = 'AaB03xAaB03xAaB03xAaB03xAaB03x';
const bytes = (...parts: (string | number[])[]): number[] => parts.flatMap((p) => (typeof p === 'string' ? [...Buffer.from(p, 'utf8')] : p));
const MP = `multipart/form-data; boundary=${B}`;
const field = (header: string, body: string | number[]): (string | number[])[] => [`--${B}\r\n${header}\r\n\r\n`, body, '\r\n'];
const SIMPLE = bytes(...field('Content-Disposition: form-data; name="a"', '1'), ...field('Content-Disposition: form-data; name="f"; filename="x.bin"\r\nContent-Type: image/png', [0, 0xff, 0x80, 0x0d]), `--${B}--\r\n`);

const CASES: [string, number[], string | null][] = [
  ['a field and a binary file', SIMPLE, MP],
  ['a preamble and an epilogue', bytes('preamble\r\n', SIMPLE, 'epilogue'), MP],
  ['a quoted boundary, other parameters, any case', SIMPLE, `Multipart/Form-Data; charset=utf-8; boundary="${B}"`],
  ['an empty form', bytes(`--${B}--\r\n`), MP],
  ['a closing boundary without CRLF', bytes(...field('Content-Disposition: form-data; name="a"', 'x'), `--${B}--`), MP],
  ['a bare-token name, filename* over filename, headers in any case, others ignored', bytes(
    ...field('CONTENT-DISPOSITION: FORM-DATA; NAME=plain', 'v'),
    ...field("X-Other: y\r\nContent-Disposition: form-data; name=\"f\"; filename*=utf-8''%C3%A9t%C3%A9.txt; filename=\"ascii.txt\"\r\ncontent-type: Text/Plain;charset=UTF-8  ", 'é'),
    `--${B}--\r\n`), MP],
  ['a file without a type is text/plain, one with a non-ASCII type has none', bytes(
    ...field('Content-Disposition: form-data; name="f"; filename="a.txt"', 'a'),
    ...field('Content-Disposition: form-data; name="g"; filename="b"\r\nContent-Type: t\u00e9xt/plain', 'b'),
    `--${B}--\r\n`), MP],
  ['escaped and UTF-8 names; a value keeps its BOM', bytes(...field('Content-Disposition: form-data; name="q%22u%0Aote%0d\u00e9"', [0xef, 0xbb, 0xbf, 0x76]), `--${B}--\r\n`), MP],
  ['a body holding near-boundaries', bytes(...field('Content-Disposition: form-data; name="f"; filename="n"', bytes(`\r\n--${B.slice(0, -1)}\r\n\r\n-\r\n--`, [0xff], `\r\r\n--${B.slice(0, -1)}`)), `--${B}--\r\n`), MP],
  ['parts sent base64 (Content-Transfer-Encoding): decoded as Node decodes, line breaks, both alphabets, up to the first =; other encodings and BASE64 as sent', bytes(
    ...field('Content-Disposition: form-data; name="a"\r\nContent-Transfer-Encoding: base64', 'aMOp\r\nbGxv'),
    ...field('Content-Disposition: form-data; name="f"; filename="b.bin"\r\nContent-Transfer-Encoding:  base64 ', 'AP+A-_8=AAAA'),
    ...field('Content-Disposition: form-data; name="odd"\r\nContent-Transfer-Encoding: base64', 'Q!Q*J'),
    ...field('Content-Disposition: form-data; name="q"\r\nContent-Transfer-Encoding: quoted-printable', 'a=3Db'),
    ...field('Content-Disposition: form-data; name="u"\r\nContent-Transfer-Encoding: BASE64', 'aGk='),
    `--${B}--\r\n`), MP],
  ['urlencoded', bytes('a=1+2&%C3%A9=%26&a=&b'), 'application/x-www-form-urlencoded;charset=UTF-8'],
  ['no boundary parameter', SIMPLE, 'multipart/form-data'],
  ['a boundary found nowhere', SIMPLE, 'multipart/form-data; boundary=other-boundary-xxxxxxxxxxxxxx'],
  ['text/plain', SIMPLE, 'text/plain'],
  ['no Content-Type', SIMPLE, null],
  ['no closing boundary', bytes(...field('Content-Disposition: form-data; name="a"', '1')), MP],
  ['a part without a name', bytes(...field('Content-Disposition: form-data', '1'), `--${B}--\r\n`), MP],
  ['a part that is not form-data', bytes(...field('Content-Disposition: attachment; name="a"', '1'), `--${B}--\r\n`), MP],
  ['an unterminated quote', bytes(...field('Content-Disposition: form-data; name="a', '1'), `--${B}--\r\n`), MP],
  ['a header without a colon', bytes(...field('Content-Disposition: form-data; name="a"\r\nbroken', '1'), `--${B}--\r\n`), MP],
  ['garbage after a boundary', bytes(`--${B}xx\r\n`), MP],
  ['filename* in another charset', bytes(...field("Content-Disposition: form-data; name=\"f\"; filename*=iso-8859-1''%E9.txt", 'x'), `--${B}--\r\n`), MP],
];

describe('Body.formData()', () => {
  it('reads multipart and urlencoded bodies as Node does, and rejects malformed ones with its TypeError', async () => {
    const got = await inIsolate(CASES.map(([, body, type]) => [body, type]));
    const want = await Promise.all(CASES.map(([, body, type]) => hostOutcome(new Uint8Array(body), type)));
    const named = (outcomes: Outcome[]) => outcomes.map((outcome, i) => [CASES[i]![0], outcome]);
    expect(named(got)).toEqual(named(want));
    expect(got.filter((o) => 'error' in o)).toHaveLength(11);
  });

  // The one place it parts from Node on purpose: undici lets decodeURIComponent's URIError out of formData(); the Fetch
  // standard (and Deno, and browsers) reject a body that cannot be parsed with a TypeError, which retry logic expects.
  it("a malformed escape in filename* is the parse failure's TypeError, with the reason as its cause (Node's undici lets a URIError out)", async () => {
    const body = bytes(...field("Content-Disposition: form-data; name=\"f\"; filename*=utf-8''%E9%.txt", 'x'), `--${B}--\r\n`);
    const [got] = await web.run<[{ error: string; message: string; cause: string }]>(`
      try { await new Response(new Uint8Array(${JSON.stringify(body)}), { headers: { 'content-type': ${JSON.stringify(MP)} } }).formData(); return ['parsed']; }
      catch (e) { return [{ error: e.constructor.name, message: e.message, cause: e.cause?.message }]; }
    `);
    expect(got).toEqual({ error: 'TypeError', message: 'Failed to parse body as FormData.', cause: 'malformed percent-encoding in extended value' });
    expect(await hostOutcome(new Uint8Array(body), MP)).toEqual({ error: 'URIError', message: 'URI malformed' });
  });

  it('a body cut anywhere fails or reads as Node reads it', async () => {
    const cuts = SIMPLE.map((_, i) => SIMPLE.slice(0, i));
    const got = await inIsolate(cuts.map((body) => [body, MP]));
    const want = await Promise.all(cuts.map((body) => hostOutcome(new Uint8Array(body), MP)));
    expect(got).toEqual(want);
    expect(got.filter((o) => 'error' in o).length).toBeGreaterThan(cuts.length - 3);
  });

  it('a FormData body round-trips through Response and Request: fields, names with quotes and newlines, a binary File, a Blob', async () => {
    const result = await web.run<{ back: unknown[]; type: string; host: [number[], string] }>(`${SERIALIZE}
      const form = new FormData();
      form.append('a', '1');
      form.append('a', 'two\\r\\nlines');
      form.append('q"u\\no\\rte', 'h\u00e9 \u{1f600}');
      form.append('bin', new File([new Uint8Array([0, 0xff, 0xfe, 0x80, 0xc3, 0x0d, 0x0a, 0x2d, 0x2d])], 'd"ata.bin', { type: 'application/x-thing' }));
      form.append('blob', new Blob(['x']));
      const response = new Response(form);
      const type = response.headers.get('content-type');
      const raw = Array.from(await response.clone().bytes());
      const back = await serialize(await response.formData());
      const viaRequest = await serialize(await new Request('https://example.com/', { method: 'POST', body: form }).formData());
      if (JSON.stringify(viaRequest) !== JSON.stringify(back)) throw new Error('Request read it otherwise');
      return { back, type, host: [raw, type] };
    `);
    expect(result.type).toMatch(/^multipart\/form-data; boundary=/);
    expect(result.back).toEqual([
      ['a', '1'],
      ['a', 'two\r\nlines'],
      ['q"u\no\rte', 'h\u00e9 \u{1f600}'],
      ['bin', { file: 'd"ata.bin', type: 'application/x-thing', bytes: [0, 0xff, 0xfe, 0x80, 0xc3, 0x0d, 0x0a, 0x2d, 0x2d] }],
      ['blob', { file: 'blob', type: 'application/octet-stream', bytes: [0x78] }],
    ]);
    expect(await hostOutcome(new Uint8Array(result.host[0]), result.host[1])).toEqual({ ok: result.back });
  });

  it('reads a URLSearchParams body back, and a body once read is used', async () => {
    const result = await web.run(`${SERIALIZE}
      const response = new Response(new URLSearchParams([['a', 'x y'], ['\u00e9', '&='], ['a', '']]));
      const form = await serialize(await response.formData());
      let again;
      try { await response.formData(); } catch (e) { again = e.constructor.name; }
      return { form, again, used: response.bodyUsed };
    `);
    expect(result).toEqual({ form: [['a', 'x y'], ['\u00e9', '&='], ['a', '']], again: 'TypeError', used: true });
  });

  it('a boundary that appears inside a part without the CRLF and dashes before it is content, and 4 MiB of near-boundaries parse whole', async () => {
    const result = await web.run(`
      const B = '${B}';
      const near = '\\r\\n--' + B.slice(0, -1);
      const filler = near.repeat(Math.ceil((4 << 20) / near.length));
      const body = '--' + B + '\\r\\nContent-Disposition: form-data; name="a"\\r\\n\\r\\n' + B + 'x--' + B + '\\r\\n--' + B
        + '\\r\\nContent-Disposition: form-data; name="f"; filename="big"\\r\\n\\r\\n' + filler + '\\r\\n--' + B + '--\\r\\n';
      const form = await new Response(body, { headers: { 'content-type': 'multipart/form-data; boundary=' + B } }).formData();
      const file = form.get('f');
      return [form.get('a'), file.size === filler.length, (await file.text()) === filler];
    `);
    expect(result).toEqual([`${B}x--${B}`, true, true]);
  });
  it('a part header of 8 MiB (a name, a parameter) is read in one pass: it made a string of one-byte pieces that took the 256 MiB isolate past its heap (a review)', async () => {
    const result = await web.run(`
      const B = '${B}';
      const big = 'A'.repeat(8 << 20);
      const parse = (body) => new Response(body, { headers: { 'content-type': 'multipart/form-data; boundary=' + B } }).formData().then((f) => [...f.keys()].join(), (e) => e.cause?.message ?? e.message);
      return Promise.all([
        parse('--' + B + '\\r\\n' + big + ': x\\r\\n\\r\\n\\r\\n--' + B + '--'),
        parse('--' + B + '\\r\\nContent-Disposition: form-data; ' + big + '=1; name="a"\\r\\n\\r\\nv\\r\\n--' + B + '--'),
      ]);
    `);
    expect(result).toEqual(['a part without a name', 'a']);
  });
});
