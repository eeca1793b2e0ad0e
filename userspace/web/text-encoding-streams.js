// TextEncoderStream and TextDecoderStream: TransformStreams around the
// encoder and a streaming decoder.
import { TransformStream } from './streams.js';
import { TextDecoder, encodeUtf8 } from './text-encoding.js';

/** TextEncoderStream turns string chunks into UTF-8 Uint8Array chunks; a surrogate pair split across chunks is kept whole. */
export class TextEncoderStream {
  #transform;
  constructor() {
    let pending = '';
    this.#transform = new TransformStream({
      transform(chunk, controller) {
        let text = pending + `${chunk}`;
        pending = '';
        const last = text.length === 0 ? 0 : text.charCodeAt(text.length - 1);
        if (last >= 0xd800 && last <= 0xdbff) {
          pending = text.slice(-1);
          text = text.slice(0, -1);
        }
        if (text.length > 0) controller.enqueue(encodeUtf8(text));
      },
      flush(controller) {
        if (pending !== '') controller.enqueue(encodeUtf8(pending));
      },
    });
  }
  get encoding() {
    return 'utf-8';
  }
  get readable() {
    return this.#transform.readable;
  }
  get writable() {
    return this.#transform.writable;
  }
}

/** TextDecoderStream(label, options) turns byte chunks into string chunks; see TextDecoder for the errors. */
export class TextDecoderStream {
  #transform;
  #decoder;
  constructor(label = 'utf-8', options = {}) {
    const decoder = new TextDecoder(label, options);
    this.#decoder = decoder;
    this.#transform = new TransformStream({
      transform(chunk, controller) {
        const text = decoder.decode(chunk, { stream: true });
        if (text !== '') controller.enqueue(text);
      },
      flush(controller) {
        const text = decoder.decode();
        if (text !== '') controller.enqueue(text);
      },
    });
  }
  get encoding() {
    return this.#decoder.encoding;
  }
  get fatal() {
    return this.#decoder.fatal;
  }
  get ignoreBOM() {
    return this.#decoder.ignoreBOM;
  }
  get readable() {
    return this.#transform.readable;
  }
  get writable() {
    return this.#transform.writable;
  }
}
