// `crypto`: randomness from the kernel (env.randomBytes), hashes and HMAC
// from @noble/hashes (md5, sha1 and ripemd160 from its legacy module), key
// derivation pbkdf2/hkdf from noble too. Ciphers, signatures and key pairs
// are not provided: use crypto.webcrypto.subtle where the runtime has it.

const RANDOM_MAX = 65536;

function bytesOfKey(key) {
  if (key && typeof key.export === 'function') return key.export();
  throw Object.assign(new TypeError('The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView.'), { code: 'ERR_INVALID_ARG_TYPE' });
}

const notProvided = (name) => () => {
  throw Object.assign(new Error(`crypto.${name} is not provided in an agent: use crypto.webcrypto.subtle where the runtime offers it`), { code: 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM' });
};

/** createCrypto returns the crypto module. */
export function createCrypto(env, load) {
  const { Buffer } = load('buffer');
  const sha2 = require('@noble/hashes/sha2.js');
  const sha3 = require('@noble/hashes/sha3.js');
  const legacy = require('@noble/hashes/legacy.js');
  const { hmac } = require('@noble/hashes/hmac.js');
  const HASHES = {
    md5: legacy.md5, sha1: legacy.sha1, ripemd160: legacy.ripemd160, rmd160: legacy.ripemd160,
    sha224: sha2.sha224, sha256: sha2.sha256, sha384: sha2.sha384, sha512: sha2.sha512,
    'sha512-224': sha2.sha512_224, 'sha512-256': sha2.sha512_256,
    'sha3-224': sha3.sha3_224, 'sha3-256': sha3.sha3_256, 'sha3-384': sha3.sha3_384, 'sha3-512': sha3.sha3_512,
  };
  const hashOf = (algorithm) => {
    const name = String(algorithm).toLowerCase().replace(/^rsa-/, '');
    const hash = HASHES[name] || HASHES[name.replace(/^sha-/, 'sha')];
    if (hash === undefined) throw Object.assign(new Error(`Digest method not supported: ${algorithm}`), { code: 'ERR_CRYPTO_INVALID_DIGEST' });
    return hash;
  };
  const bytes = (data, encoding) => (typeof data === 'string' ? Buffer.from(data, encoding || 'utf8') : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : data instanceof ArrayBuffer ? new Uint8Array(data) : bytesOfKey(data));

  /** Hash is what createHash and createHmac return: update(data, enc) / digest(enc) / copy(). */
  class Hash {
    constructor(state) {
      this._state = state;
      this._done = false;
    }
    update(data, encoding) {
      if (this._done) throw Object.assign(new Error('Digest already called'), { code: 'ERR_CRYPTO_HASH_FINALIZED' });
      this._state.update(bytes(data, encoding));
      return this;
    }
    digest(encoding) {
      if (this._done) throw Object.assign(new Error('Digest already called'), { code: 'ERR_CRYPTO_HASH_FINALIZED' });
      this._done = true;
      const out = Buffer.from(this._state.digest());
      return encoding === undefined || encoding === 'buffer' ? out : out.toString(encoding);
    }
    copy() {
      if (this._done) throw Object.assign(new Error('Digest already called'), { code: 'ERR_CRYPTO_HASH_FINALIZED' });
      return new Hash(this._state.clone());
    }
  }

  function randomBytes(size, callback) {
    if (!Number.isSafeInteger(size) || size < 0) throw Object.assign(new RangeError(`The value of "size" is out of range. Received ${size}`), { code: 'ERR_OUT_OF_RANGE' });
    const out = Buffer.alloc(size);
    fill(out);
    if (typeof callback === 'function') {
      load('process').nextTick(callback, null, out);
      return undefined;
    }
    return out;
  }
  function fill(view) {
    const target = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    for (let at = 0; at < target.length; at += RANDOM_MAX) target.set(env.randomBytes(Math.min(RANDOM_MAX, target.length - at)), at);
    return view;
  }
  function randomFillSync(buffer, offset = 0, size) {
    const view = ArrayBuffer.isView(buffer) ? buffer : new Uint8Array(buffer);
    const bpe = view.BYTES_PER_ELEMENT || 1;
    const start = view.byteOffset + offset * bpe;
    const length = size === undefined ? view.byteLength - offset * bpe : size * bpe;
    fill(new Uint8Array(view.buffer, start, length));
    return buffer;
  }
  function randomFill(buffer, ...args) {
    const cb = args.pop();
    randomFillSync(buffer, ...args);
    load('process').nextTick(cb, null, buffer);
  }
  /** randomInt(min?, max, cb?) is uniform in [min, max) (range under 2**48), by rejection sampling. */
  function randomInt(min, max, callback) {
    if (max === undefined || typeof max === 'function') {
      callback = max;
      max = min;
      min = 0;
    }
    const range = max - min;
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || range <= 0 || range > 2 ** 48) {
      throw Object.assign(new RangeError(`The value of "max" is out of range. It must be greater than the value of "min" (${min}) and the range under 2**48. Received ${max}`), { code: 'ERR_OUT_OF_RANGE' });
    }
    const limit = 2 ** 48 - (2 ** 48 % range);
    let x;
    do {
      const b = env.randomBytes(6);
      x = b[0] * 2 ** 40 + b[1] * 2 ** 32 + b[2] * 2 ** 24 + b[3] * 2 ** 16 + b[4] * 2 ** 8 + b[5];
    } while (x >= limit);
    const n = min + (x % range);
    if (typeof callback === 'function') return void load('process').nextTick(callback, null, n);
    return n;
  }
  function getRandomValues(array) {
    if (!ArrayBuffer.isView(array) || array instanceof Float32Array || array instanceof Float64Array || array instanceof DataView) {
      throw Object.assign(new TypeError('The data argument must be an integer-type TypedArray'), { name: 'TypeMismatchError', code: 17 });
    }
    if (array.byteLength > RANDOM_MAX) throw Object.assign(new Error(`The ArrayBufferView's byte length (${array.byteLength}) exceeds the number of bytes of entropy available via this API (65536)`), { name: 'QuotaExceededError', code: 22 });
    return fill(array);
  }
  function randomUUID() {
    const b = env.randomBytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Buffer.from(b).toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  function timingSafeEqual(a, b) {
    const x = bytes(a);
    const y = bytes(b);
    if (x.length !== y.length) throw Object.assign(new RangeError('Input buffers must have the same byte length'), { code: 'ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH' });
    let diff = 0;
    for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
    return diff === 0;
  }
  function pbkdf2Sync(password, salt, iterations, keylen, digest) {
    const { pbkdf2 } = require('@noble/hashes/pbkdf2.js');
    return Buffer.from(pbkdf2(hashOf(digest), bytes(password), bytes(salt), { c: iterations, dkLen: keylen }));
  }
  function hkdfSync(digest, ikm, salt, info, keylen) {
    const { hkdf } = require('@noble/hashes/hkdf.js');
    return Buffer.from(hkdf(hashOf(digest), bytes(ikm), bytes(salt), bytes(info), keylen)).buffer;
  }
  const later = (fn) => (...args) => {
    const cb = args.pop();
    let result;
    try {
      result = fn(...args);
    } catch (err) {
      return void load('process').nextTick(cb, err);
    }
    load('process').nextTick(cb, null, result);
  };
  const webcrypto = globalThis.crypto || { getRandomValues, randomUUID };
  const mod = {
    createHash: (algorithm) => new Hash(hashOf(algorithm).create()),
    createHmac: (algorithm, key) => new Hash(hmac.create(hashOf(algorithm), bytes(key))),
    hash: (algorithm, data, encoding = 'hex') => new Hash(hashOf(algorithm).create()).update(data).digest(encoding),
    getHashes: () => Object.keys(HASHES),
    randomBytes,
    pseudoRandomBytes: randomBytes,
    randomFillSync,
    randomFill,
    randomInt,
    randomUUID,
    getRandomValues,
    timingSafeEqual,
    pbkdf2Sync,
    pbkdf2: later(pbkdf2Sync),
    hkdfSync,
    hkdf: later(hkdfSync),
    webcrypto,
    subtle: webcrypto.subtle,
    constants: {},
  };
  for (const name of ['createCipheriv', 'createDecipheriv', 'createSign', 'createVerify', 'generateKeyPairSync', 'generateKeyPair', 'createPublicKey', 'createPrivateKey', 'createSecretKey', 'publicEncrypt', 'privateDecrypt', 'scryptSync', 'scrypt', 'createECDH', 'createDiffieHellman', 'sign', 'verify']) {
    mod[name] = notProvided(name);
  }
  return mod;
}
