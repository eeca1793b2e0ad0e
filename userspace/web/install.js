// installWebGlobals: the web-platform globals of ring 3, each defined lazily
// so an agent pays for a module only when it first touches one of its names.
// The builders (globals.js) are a separate layer: the kernel compiles and
// runs that layer in an isolate only when a program first touches one.
import { defineProperty } from './intrinsics.js';

function defineData(global, name, value) {
  defineProperty(global, name, { value, writable: true, enumerable: false, configurable: true });
}

/**
 * installWebGlobals defines the web globals `names` on `global`, each lazily:
 * an accessor that, on first access, builds the value with `builders()[name]`
 * (the map of globals.js, loaded on first use) and redefines itself as a
 * plain writable, configurable, non-enumerable data property, like the
 * platform's.
 */
export function installWebGlobals(global, kernel, names, builders) {
  for (const name of names) {
    defineProperty(global, name, {
      get() {
        const value = builders()[name](kernel);
        defineData(global, name, value);
        return value;
      },
      set(value) {
        defineData(global, name, value);
      },
      enumerable: false,
      configurable: true,
    });
  }
}
