// `events`: the `events` package (Node's EventEmitter), plus events.on (an
// async iterator of an event), which that package lacks.

/** createEvents returns the events module: EventEmitter itself, with once/on/EventEmitter on it. */
export function createEvents() {
  const EventEmitter = require('events/events.js');
  if (EventEmitter.on === undefined) EventEmitter.on = on;
  if (EventEmitter.errorMonitor === undefined) EventEmitter.errorMonitor = Symbol('events.errorMonitor');
  if (EventEmitter.getEventListeners === undefined) EventEmitter.getEventListeners = (emitter, name) => emitter.listeners(name);
  return EventEmitter;
}

/** on returns an async iterator of the argument arrays of `event`; 'error' rejects it; options.signal ends it. */
function on(emitter, event, options = {}) {
  const queued = [];
  const waiting = [];
  let failure = null;
  let finished = false;
  const push = (...args) => {
    const w = waiting.shift();
    if (w) w.resolve({ value: args, done: false });
    else queued.push(args);
  };
  const fail = (err) => {
    finished = true;
    const w = waiting.shift();
    if (w) w.reject(err);
    else failure = err;
    cleanup();
  };
  const cleanup = () => {
    emitter.removeListener(event, push);
    if (event !== 'error') emitter.removeListener('error', fail);
    for (const w of waiting.splice(0)) w.resolve({ value: undefined, done: true });
  };
  const signal = options.signal;
  const abort = () => fail(abortError(signal.reason));
  emitter.on(event, push);
  if (event !== 'error') emitter.on('error', fail);
  if (signal) {
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
  }
  return {
    next() {
      if (queued.length > 0) return Promise.resolve({ value: queued.shift(), done: false });
      if (failure !== null) {
        const err = failure;
        failure = null;
        return Promise.reject(err);
      }
      if (finished) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    return() {
      finished = true;
      cleanup();
      return Promise.resolve({ value: undefined, done: true });
    },
    throw(err) {
      fail(err);
      return Promise.reject(err);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** abortError is Node's AbortError: name AbortError, code ABORT_ERR, cause the signal's reason. */
export function abortError(reason) {
  const err = new Error('The operation was aborted', reason === undefined ? undefined : { cause: reason });
  err.name = 'AbortError';
  err.code = 'ABORT_ERR';
  return err;
}
