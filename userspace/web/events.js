// Event and EventTarget from event-target-shim; CustomEvent on top of them.
// The shim chains its prototypes to any global Event/EventTarget it finds
// while loading, which here would be its own lazy globals: they are hidden
// for that moment.
import { withGlobals } from './intrinsics.js';

const HIDDEN = { Event: undefined, EventTarget: undefined, window: undefined, self: undefined, global: undefined };
const shim = withGlobals(HIDDEN, () => require('event-target-shim'));

export const { Event, EventTarget, defineEventAttribute } = shim;

// As in Node (found by a review): an error thrown by a listener does not stop the dispatch, and is then uncaught (the
// process ends with it, status 1), where the shim, finding no `process.emit`, swallowed it; and the shim's own warnings
// (a listener added twice, preventDefault on an event that cannot be cancelled) are not printed, as Node prints none.
const enqueue = globalThis.queueMicrotask;
shim.setErrorHandler((error) =>
  enqueue(() => {
    throw error;
  }),
);
shim.setWarningHandler(() => {});

/** CustomEvent(type, { detail }) is an Event carrying `detail` (null by default). */
export class CustomEvent extends Event {
  #detail;
  constructor(type, init = undefined) {
    super(type, init);
    this.#detail = init?.detail ?? null;
  }
  get detail() {
    return this.#detail;
  }
}
