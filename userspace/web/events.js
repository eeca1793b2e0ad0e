// Event and EventTarget from event-target-shim; CustomEvent on top of them.
// The shim chains its prototypes to any global Event/EventTarget it finds
// while loading, which here would be its own lazy globals: they are hidden
// for that moment.
import { withGlobals } from './intrinsics.js';

const HIDDEN = { Event: undefined, EventTarget: undefined, window: undefined, self: undefined, global: undefined };
const shim = withGlobals(HIDDEN, () => require('event-target-shim'));

export const { Event, EventTarget, defineEventAttribute } = shim;

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
