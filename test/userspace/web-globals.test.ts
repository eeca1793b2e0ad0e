// The web-standard globals of ring 3, exercised inside a real isolate.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebIsolate, type WebIsolate } from './web-harness.ts';

let web: WebIsolate;
beforeAll(async () => {
  web = await createWebIsolate();
});
afterAll(() => web.dispose());

describe('text encoding', () => {
  it('round-trips UTF-8 and reports encodeInto progress', async () => {
    const result = await web.run(`
      const bytes = new TextEncoder().encode('h\u00e9\u20ac\u{1d11e}\ud800');
      const into = new TextEncoder().encodeInto('\u00e9\u00e9', new Uint8Array(3));
      return { bytes: [...bytes], text: new TextDecoder().decode(bytes), into };
    `);
    expect(result).toEqual({
      bytes: [0x68, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9d, 0x84, 0x9e, 0xef, 0xbf, 0xbd],
      text: 'h\u00e9\u20ac\u{1d11e}\ufffd',
      into: { read: 1, written: 2 },
    });
  });

  it('decodes in streaming mode, strips or keeps the BOM, and is fatal on request', async () => {
    const result = await web.run(`
      const decoder = new TextDecoder();
      const parts = [decoder.decode(new Uint8Array([0xef, 0xbb]), { stream: true }), decoder.decode(new Uint8Array([0xbf, 0xe2, 0x82]), { stream: true }), decoder.decode(new Uint8Array([0xac]))];
      const kept = new TextDecoder('utf-8', { ignoreBOM: true }).decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41]));
      let fatal;
      try { new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array([0xff])); } catch (e) { fatal = e.constructor.name; }
      let unsupported;
      try { new TextDecoder('x-nope'); } catch (e) { unsupported = e.constructor.name; }
      return { parts, kept: kept.length, loose: new TextDecoder().decode(new Uint8Array([0x61, 0xff, 0x62])), fatal, unsupported,
        utf16: new TextDecoder('utf-16le').decode(new Uint8Array([0x3d, 0xd8, 0x00, 0xde])), latin1: new TextDecoder('latin1').decode(new Uint8Array([0xe9, 0x80])),
        encoding: new TextDecoder('UTF8').encoding };
    `);
    expect(result).toEqual({
      parts: ['', '', '\u20ac'], kept: 2, loose: 'a\ufffdb', fatal: 'TypeError', unsupported: 'RangeError',
      utf16: '\u{1f600}', latin1: '\u00e9\u20ac', encoding: 'utf-8',
    });
  });

  it('streams text through TextEncoderStream and TextDecoderStream', async () => {
    const text = await web.run(`
      const source = new ReadableStream({ start(c) { c.enqueue('a\ud83d'); c.enqueue('\ude00b'); c.close(); } });
      const reader = source.pipeThrough(new TextEncoderStream()).pipeThrough(new TextDecoderStream()).getReader();
      let out = '';
      for (;;) { const { done, value } = await reader.read(); if (done) break; out += value; }
      return out;
    `);
    expect(text).toBe('a\u{1f600}b');
  });
});

describe('URL', () => {
  it('parses and serialises like WHATWG URL', async () => {
    const result = await web.run(`
      const url = new URL('../c?q=1 2#f', 'https://user@EXAMPLE.com:443/a/b');
      const params = new URLSearchParams({ a: '1', b: 'x y' });
      params.append('a', '2');
      let invalid;
      try { new URL('nope'); } catch (e) { invalid = e.constructor.name; }
      return { href: url.href, host: url.host, search: url.searchParams.get('q'), params: params.toString(), all: params.getAll('a'), invalid,
        idn: new URL('https://b\u00fccher.example/').hostname, canParse: URL.canParse('http://x') };
    `);
    expect(result).toEqual({
      href: 'https://user@example.com/c?q=1%202#f', host: 'example.com', search: '1 2', params: 'a=1&b=x+y&a=2', all: ['1', '2'],
      invalid: 'TypeError', idn: 'xn--bcher-kva.example', canParse: true,
    });
  });
});

describe('streams', () => {
  it('provides the stream classes and queuing strategies', async () => {
    const result = await web.run(`
      const names = ['ReadableStream', 'WritableStream', 'TransformStream', 'ReadableStreamDefaultReader', 'ReadableStreamBYOBReader',
        'WritableStreamDefaultWriter', 'ByteLengthQueuingStrategy', 'CountQueuingStrategy', 'TransformStreamDefaultController'];
      const written = [];
      const upper = new TransformStream({ transform(chunk, c) { c.enqueue(chunk.toUpperCase()); } });
      await new ReadableStream({ start(c) { c.enqueue('a'); c.enqueue('b'); c.close(); } }).pipeThrough(upper)
        .pipeTo(new WritableStream({ write(chunk) { written.push(chunk); } }));
      return { types: names.map((n) => typeof globalThis[n]), written, hwm: new ByteLengthQueuingStrategy({ highWaterMark: 8 }).size(new Uint8Array(3)) };
    `);
    expect(result).toEqual({ types: Array(9).fill('function'), written: ['A', 'B'], hwm: 3 });
  });
});

describe('events and abort', () => {
  it('dispatches Event and CustomEvent on EventTarget', async () => {
    const result = await web.run(`
      const target = new EventTarget();
      const seen = [];
      target.addEventListener('ping', (e) => seen.push([e.type, e.detail, e instanceof Event]));
      target.addEventListener('ping', () => seen.push('once'), { once: true });
      target.dispatchEvent(new CustomEvent('ping', { detail: 7 }));
      target.dispatchEvent(new CustomEvent('ping'));
      return seen;
    `);
    expect(result).toEqual([['ping', 7, true], 'once', ['ping', null, true]]);
  });

  it('aborts with reasons, follows signals with any(), and times out with TimeoutError', async () => {
    const result = await web.run(`
      const controller = new AbortController();
      const events = [];
      controller.signal.onabort = () => events.push('onabort');
      controller.signal.addEventListener('abort', () => events.push('listener'));
      const follower = AbortSignal.any([new AbortController().signal, controller.signal]);
      controller.abort('why');
      let thrown;
      try { controller.signal.throwIfAborted(); } catch (e) { thrown = e; }
      let illegal;
      try { new AbortSignal(); } catch (e) { illegal = e.constructor.name; }
      const preset = AbortSignal.abort();
      const timeout = AbortSignal.timeout(5);
      await new Promise((resolve) => timeout.addEventListener('abort', resolve));
      return { events, thrown, follower: [follower.aborted, follower.reason], illegal,
        preset: [preset.reason instanceof DOMException, preset.reason.name, preset.reason.code],
        timeout: [timeout.reason.name, timeout.reason.code, timeout.reason instanceof Error] };
    `);
    expect(result).toEqual({
      events: ['onabort', 'listener'], thrown: 'why', follower: [true, 'why'], illegal: 'TypeError',
      preset: [true, 'AbortError', 20], timeout: ['TimeoutError', 23, true],
    });
  });

  it('makes DOMException like the platform', async () => {
    const result = await web.run(`
      const e = new DOMException('gone', 'NotFoundError');
      return [e.name, e.message, e.code, String(e), e.stack.split('\\n')[0], DOMException.DATA_CLONE_ERR, Object.prototype.toString.call(e),
        new DOMException('x', { name: 'DataCloneError', cause: 1 }).cause];
    `);
    expect(result).toEqual(['NotFoundError', 'gone', 8, 'NotFoundError: gone', 'NotFoundError: gone', 25, '[object DOMException]', 1]);
  });
});

describe('base64, crypto, performance', () => {
  it('encodes and decodes base64 and refuses bad input with InvalidCharacterError', async () => {
    const result = await web.run(`
      const errors = [];
      for (const bad of [() => btoa('\u20ac'), () => atob('a'), () => atob('**')]) { try { bad(); } catch (e) { errors.push(e.name); } }
      return [btoa('hi!?'), btoa(''), atob(' aGk hPw== '), atob('aGk'), errors];
    `);
    expect(result).toEqual(['aGkhPw==', '', 'hi!?', 'hi', ['InvalidCharacterError', 'InvalidCharacterError', 'InvalidCharacterError']]);
  });

  it('fills integer arrays from kernel randomness and makes v4 UUIDs', async () => {
    const result = await web.run<{ uuid: string }>(`
      const errors = [];
      for (const bad of [() => crypto.getRandomValues(new Float64Array(2)), () => crypto.getRandomValues(new Uint8Array(65537)), () => crypto.getRandomValues({})]) {
        try { bad(); } catch (e) { errors.push(e.name); }
      }
      const filled = crypto.getRandomValues(new Uint32Array(4));
      return { uuid: crypto.randomUUID(), errors, nonzero: filled.some((x) => x !== 0), max: crypto.getRandomValues(new Uint8Array(65536)).length };
    `);
    expect(result.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(result).toMatchObject({ errors: ['TypeMismatchError', 'QuotaExceededError', 'TypeError'], nonzero: true, max: 65536 });
  });

  it('exposes performance.now and timeOrigin', async () => {
    const result = await web.run(`return [typeof performance.now(), performance.timeOrigin, Object.prototype.toString.call(performance)];`);
    expect(result).toEqual(['number', 1700000000000, '[object Performance]']);
  });
});

describe('Blob', () => {
  it('holds bytes, slices and reads them back', async () => {
    const result = await web.run(`
      const blob = new Blob(['h\u00e9', new Uint8Array([33]), new Blob(['?'])], { type: 'Text/Plain' });
      const slice = blob.slice(1, -1);
      const streamed = await new Response(blob.stream()).text();
      return [blob.size, blob.type, await blob.text(), [...new Uint8Array(await slice.arrayBuffer())], streamed, new File(['x'], 'a.txt').name];
    `);
    expect(result).toEqual([5, 'text/plain', 'h\u00e9!?', [0xc3, 0xa9, 33], 'h\u00e9!?', 'a.txt']);
  });
});
