// performance: now() and timeOrigin from the kernel's monotonic clock.
import { defineProperty } from './intrinsics.js';

/** createPerformance builds the `performance` object over kernel.now() and kernel.timeOrigin. */
export function createPerformance(kernel) {
  const now = kernel.now;
  const timeOrigin = kernel.timeOrigin;
  class Performance {
    now() {
      return now();
    }
    get timeOrigin() {
      return timeOrigin;
    }
    toJSON() {
      return { timeOrigin };
    }
  }
  defineProperty(Performance.prototype, Symbol.toStringTag, { value: 'Performance', configurable: true });
  return new Performance();
}
