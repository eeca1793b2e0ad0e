// WHATWG Streams from web-streams-polyfill (its ponyfill build, which does
// not touch the global object). Required as CommonJS so the bundler keeps
// the library inside one lazily-run wrapper instead of hoisting its ~200
// functions into the runtime's top level.
import { inspectAs } from './inspect-as.js';

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

// Node's view of a stream: whether it is locked and its state (the polyfill keeps them in fields of its own).
inspectAs(ReadableStream, 'ReadableStream', ['locked', ['state', (s) => s._state], ['supportsBYOB', (s) => s._readableStreamController instanceof ReadableByteStreamController]]);
inspectAs(WritableStream, 'WritableStream', ['locked', ['state', (s) => s._state]]);
inspectAs(TransformStream, 'TransformStream', ['readable', 'writable', ['backpressure', (s) => s._backpressure]]);
