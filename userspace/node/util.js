// `util` and `util/types`: inspect/format from node-inspect-extracted (Node's
// own code), types from the browserify `util` package's support/types.js;
// promisify, callbackify, deprecate, inherits and debuglog are small and
// written here so that util needs no global `process`.
import { errnoName } from './fs-errors.js';

const kCustomPromisify = Symbol.for('nodejs.util.promisify.custom');
const tag = (value) => Object.prototype.toString.call(value);

/** createUtilTypes returns `util/types`. */
export function createUtilTypes() {
  const types = { ...require('util/support/types.js') };
  types.isRegExp = (value) => tag(value) === '[object RegExp]';
  types.isDate = (value) => tag(value) === '[object Date]';
  types.isNativeError = (value) => tag(value) === '[object Error]' || value instanceof Error;
  return types;
}

/** createUtil returns the util module. */
export function createUtil(env, load) {
  const inspectModule = require('node-inspect-extracted');
  const process = () => load('process');
  const warned = new Set();

  function promisify(original) {
    if (typeof original !== 'function') throw argType('original', 'function');
    if (original[kCustomPromisify]) return original[kCustomPromisify];
    function promisified(...args) {
      return new Promise((resolve, reject) => {
        Reflect.apply(original, this, [...args, (err, ...values) => (err ? reject(err) : resolve(values.length > 1 ? values : values[0]))]);
      });
    }
    Object.setPrototypeOf(promisified, Object.getPrototypeOf(original));
    Object.defineProperty(promisified, kCustomPromisify, { value: promisified });
    return Object.defineProperties(promisified, Object.getOwnPropertyDescriptors(original));
  }
  promisify.custom = kCustomPromisify;

  function callbackify(original) {
    if (typeof original !== 'function') throw argType('original', 'function');
    return function (...args) {
      const cb = args.pop();
      if (typeof cb !== 'function') throw argType('last argument', 'function');
      Reflect.apply(original, this, args).then(
        (value) => process().nextTick(cb, null, value),
        (reason) => {
          if (!reason) {
            const err = new Error('Promise was rejected with a falsy value');
            err.code = 'ERR_FALSY_VALUE_REJECTION';
            err.reason = reason;
            reason = err;
          }
          process().nextTick(cb, reason);
        },
      );
    };
  }

  function deprecate(fn, message, code) {
    return function (...args) {
      const key = code || message;
      if (!warned.has(key)) {
        warned.add(key);
        process().emitWarning(message, 'DeprecationWarning', code);
      }
      return new.target ? Reflect.construct(fn, args, new.target) : Reflect.apply(fn, this, args);
    };
  }

  /** debuglog writes to stderr when NODE_DEBUG (from the granted environment) names the section. */
  function debuglog(section, callback) {
    const names = String((env.env && env.env.NODE_DEBUG) || '').toUpperCase().split(/[\s,]+/);
    const enabled = names.includes(section.toUpperCase()) || names.includes('*');
    const log = (...args) => {
      if (enabled) env.write(2, `${section.toUpperCase()} ${env.pid}: ${inspectModule.format(...args)}\n`);
    };
    log.enabled = enabled;
    if (callback) callback(log);
    return log;
  }

  let deepEqual;
  const isDeepStrictEqual = (a, b) => {
    deepEqual = deepEqual || (load('assert'), require('assert/build/internal/util/comparisons.js').isDeepStrictEqual);
    return deepEqual(a, b);
  };

  const types = load('util/types');
  return {
    format: inspectModule.format,
    formatWithOptions: inspectModule.formatWithOptions,
    inspect: inspectModule.inspect,
    stripVTControlCharacters: inspectModule.stripVTControlCharacters,
    promisify,
    callbackify,
    deprecate,
    inherits,
    debuglog,
    debug: debuglog,
    isDeepStrictEqual,
    types,
    getSystemErrorName: errnoName,
    toUSVString: (s) => String(s).replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'),
    TextEncoder: globalThis.TextEncoder,
    TextDecoder: globalThis.TextDecoder,
    isArray: Array.isArray,
    isBoolean: (v) => typeof v === 'boolean',
    isNull: (v) => v === null,
    isNullOrUndefined: (v) => v === null || v === undefined,
    isNumber: (v) => typeof v === 'number',
    isString: (v) => typeof v === 'string',
    isSymbol: (v) => typeof v === 'symbol',
    isUndefined: (v) => v === undefined,
    isObject: (v) => v !== null && typeof v === 'object',
    isFunction: (v) => typeof v === 'function',
    isPrimitive: (v) => v === null || (typeof v !== 'object' && typeof v !== 'function'),
    isRegExp: types.isRegExp,
    isDate: types.isDate,
    isError: (v) => v instanceof Error,
    isBuffer: (v) => load('buffer').Buffer.isBuffer(v),
  };
}

function inherits(ctor, superCtor) {
  Object.defineProperty(ctor, 'super_', { value: superCtor, writable: true, configurable: true });
  Object.setPrototypeOf(ctor.prototype, superCtor.prototype);
}

function argType(name, type) {
  const err = new TypeError(`The "${name}" argument must be of type ${type}`);
  err.code = 'ERR_INVALID_ARG_TYPE';
  return err;
}
