// DOMException as in WHATWG WebIDL: an Error subclass whose name selects a
// legacy code. Written here because core-js's version installs itself and
// a shared store on the global object.
import { defineProperty, uncurry, NativeError } from './intrinsics.js';

const LEGACY = [
  ['IndexSizeError', 'INDEX_SIZE_ERR'], [null, 'DOMSTRING_SIZE_ERR'], ['HierarchyRequestError', 'HIERARCHY_REQUEST_ERR'],
  ['WrongDocumentError', 'WRONG_DOCUMENT_ERR'], ['InvalidCharacterError', 'INVALID_CHARACTER_ERR'], [null, 'NO_DATA_ALLOWED_ERR'],
  ['NoModificationAllowedError', 'NO_MODIFICATION_ALLOWED_ERR'], ['NotFoundError', 'NOT_FOUND_ERR'], ['NotSupportedError', 'NOT_SUPPORTED_ERR'],
  ['InUseAttributeError', 'INUSE_ATTRIBUTE_ERR'], ['InvalidStateError', 'INVALID_STATE_ERR'], ['SyntaxError', 'SYNTAX_ERR'],
  ['InvalidModificationError', 'INVALID_MODIFICATION_ERR'], ['NamespaceError', 'NAMESPACE_ERR'], ['InvalidAccessError', 'INVALID_ACCESS_ERR'],
  [null, 'VALIDATION_ERR'], ['TypeMismatchError', 'TYPE_MISMATCH_ERR'], ['SecurityError', 'SECURITY_ERR'], ['NetworkError', 'NETWORK_ERR'],
  ['AbortError', 'ABORT_ERR'], ['URLMismatchError', 'URL_MISMATCH_ERR'], ['QuotaExceededError', 'QUOTA_EXCEEDED_ERR'],
  ['TimeoutError', 'TIMEOUT_ERR'], ['InvalidNodeTypeError', 'INVALID_NODE_TYPE_ERR'], ['DataCloneError', 'DATA_CLONE_ERR'],
];
const codes = { __proto__: null };
for (let i = 0; i < LEGACY.length; i++) if (LEGACY[i][0] !== null) codes[LEGACY[i][0]] = i + 1;

const slots = new WeakMap();
const slotOf = uncurry(WeakMap.prototype.get);
const setSlot = uncurry(WeakMap.prototype.set);
// The Error constructor formats the stack header from `name` while `this`
// has no slot yet, so the name being constructed is kept here meanwhile.
let constructing = null;

function slot(self) {
  const state = slotOf(slots, self);
  if (state !== undefined) return state;
  if (constructing !== null) return constructing;
  throw new TypeError('Illegal invocation');
}

/** DOMException(message = '', options = 'Error'): options is a name or `{ name, cause }`. */
export class DOMException extends NativeError {
  constructor(message = '', options = 'Error') {
    let name = 'Error';
    let errorOptions;
    if (options !== null && typeof options === 'object') {
      if ('name' in options) name = `${options.name}`;
      if ('cause' in options) errorOptions = { cause: options.cause };
    } else {
      name = `${options}`;
    }
    const state = { name, message: `${message}`, code: codes[name] ?? 0 };
    constructing = state;
    try {
      super(state.message, errorOptions);
    } finally {
      constructing = null;
    }
    setSlot(slots, this, state);
    delete this.message;
  }
  get name() {
    return slot(this).name;
  }
  get message() {
    return slot(this).message;
  }
  get code() {
    return slot(this).code;
  }
}
defineProperty(DOMException.prototype, Symbol.toStringTag, { value: 'DOMException', configurable: true });
for (let i = 0; i < LEGACY.length; i++) {
  const descriptor = { value: i + 1, enumerable: true };
  defineProperty(DOMException, LEGACY[i][1], descriptor);
  defineProperty(DOMException.prototype, LEGACY[i][1], descriptor);
}
