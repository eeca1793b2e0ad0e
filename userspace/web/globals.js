// The builders of the web globals: one per name, each `require`s its module
// (the bundler turns that into a module whose body runs on the first call).
// The kernel bundles this file as a layer of its own, loaded on first use.

/* eslint-disable no-undef -- `require` is resolved by the bundler */
const streams = () => require('./streams.js');
const textEncoding = () => require('./text-encoding.js');
const textStreams = () => require('./text-encoding-streams.js');
const url = () => require('./url.js');
const events = () => require('./events.js');
const abort = () => require('./abort.js');
const domException = () => require('./dom-exception.js');
const base64 = () => require('./base64.js');
const clone = () => require('./structured-clone.js');
const blob = () => require('./blob.js');
const headers = () => require('./headers.js');
const request = () => require('./request.js');
const response = () => require('./response.js');

/** WEB_GLOBALS maps each global name to its builder; `kernel` is passed to the few that need it. */
export const WEB_GLOBALS = {
  TextEncoder: () => textEncoding().TextEncoder,
  TextDecoder: () => textEncoding().TextDecoder,
  TextEncoderStream: () => textStreams().TextEncoderStream,
  TextDecoderStream: () => textStreams().TextDecoderStream,
  URL: () => url().URL,
  URLSearchParams: () => url().URLSearchParams,
  ReadableStream: () => streams().ReadableStream,
  ReadableStreamDefaultReader: () => streams().ReadableStreamDefaultReader,
  ReadableStreamBYOBReader: () => streams().ReadableStreamBYOBReader,
  ReadableStreamBYOBRequest: () => streams().ReadableStreamBYOBRequest,
  ReadableByteStreamController: () => streams().ReadableByteStreamController,
  ReadableStreamDefaultController: () => streams().ReadableStreamDefaultController,
  WritableStream: () => streams().WritableStream,
  WritableStreamDefaultWriter: () => streams().WritableStreamDefaultWriter,
  WritableStreamDefaultController: () => streams().WritableStreamDefaultController,
  TransformStream: () => streams().TransformStream,
  TransformStreamDefaultController: () => streams().TransformStreamDefaultController,
  ByteLengthQueuingStrategy: () => streams().ByteLengthQueuingStrategy,
  CountQueuingStrategy: () => streams().CountQueuingStrategy,
  EventTarget: () => events().EventTarget,
  Event: () => events().Event,
  CustomEvent: () => events().CustomEvent,
  DOMException: () => domException().DOMException,
  AbortController: () => abort().AbortController,
  AbortSignal: () => abort().AbortSignal,
  atob: () => base64().atob,
  btoa: () => base64().btoa,
  structuredClone: () => clone().structuredClone,
  Blob: () => blob().Blob,
  File: () => blob().File,
  FormData: () => require('./form-data.js').FormData,
  Headers: () => headers().Headers,
  Request: () => request().Request,
  Response: () => response().Response,
  fetch: (kernel) => require('./fetch.js').createFetch(kernel.transport),
  crypto: (kernel) => require('./crypto.js').createCrypto(kernel),
  performance: (kernel) => require('./performance.js').createPerformance(kernel),
  console: (kernel) => require('./console.js').createConsole(kernel.write, kernel.now),
};

