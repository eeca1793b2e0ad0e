// WHATWG Streams from web-streams-polyfill (its ponyfill build, which does
// not touch the global object). Required as CommonJS so the bundler keeps
// the library inside one lazily-run wrapper instead of hoisting its ~200
// functions into the runtime's top level.
const ponyfill = require('web-streams-polyfill');

export const {
  ReadableStream,
  ReadableStreamDefaultReader,
  ReadableStreamBYOBReader,
  ReadableStreamBYOBRequest,
  ReadableByteStreamController,
  ReadableStreamDefaultController,
  WritableStream,
  WritableStreamDefaultWriter,
  WritableStreamDefaultController,
  TransformStream,
  TransformStreamDefaultController,
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
} = ponyfill;
