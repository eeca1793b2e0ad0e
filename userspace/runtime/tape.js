// A recorded (or replayed) run: its time and randomness are inputs the kernel
// keeps, as every syscall's reply is (kernel/run-tape). Date, Date.now,
// Intl's "now", performance.now and the event loop read the kernel's clock
// (`clock`, one crossing a read, each read kept); Math.random draws from bytes of
// SYS_RANDOM, a few thousand at a time. Outside such a run none of this is
// installed and the isolate's own clock and generator serve.

const RANDOM_BATCH = 4096;
/** 2^-53: seven random bytes (53 bits of them) make a double in [0, 1). */
const UNIT = 1 / 2 ** 53;

/** installTapeClock makes `clock` the isolate's time (Date, Date.now) and kernel bytes its Math.random; returns the clock. */
export function installTapeClock(global, clock, randomBytes) {
  const RealDate = global.Date;
  const construct = Reflect.construct;
  const now = () => Math.floor(clock());
  // new Date() and Date() read the kernel's clock; every other form is the platform's own.
  const TapeDate = new Proxy(RealDate, {
    construct(target, args, newTarget) {
      return construct(target, args.length === 0 ? [now()] : args, newTarget === TapeDate ? target : newTarget);
    },
    apply() {
      return new RealDate(now()).toString();
    },
  });
  Object.defineProperty(RealDate, 'now', { value: now, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(RealDate.prototype, 'constructor', { value: TapeDate, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(global, 'Date', { value: TapeDate, writable: true, configurable: true, enumerable: false });

  // Intl formats "now" when given no date: the kernel's now, too.
  const proto = global.Intl.DateTimeFormat.prototype;
  const format = Object.getOwnPropertyDescriptor(proto, 'format');
  Object.defineProperty(proto, 'format', {
    get() {
      const bound = format.get.call(this);
      return (date) => bound(date === undefined ? now() : date);
    },
    configurable: true,
    enumerable: false,
  });
  const formatToParts = proto.formatToParts;
  Object.defineProperty(proto, 'formatToParts', {
    value(date) {
      return formatToParts.call(this, date === undefined ? now() : date);
    },
    writable: true,
    configurable: true,
    enumerable: false,
  });

  let pool = new Uint8Array(0);
  let at = 0;
  function random() {
    if (at + 7 > pool.length) {
      pool = randomBytes(RANDOM_BATCH);
      at = 0;
    }
    let hi = pool[at] & 0x1f;
    for (let i = 1; i < 7; i++) hi = hi * 256 + pool[at + i];
    at += 7;
    return hi * UNIT;
  }
  Object.defineProperty(Math, 'random', { value: random, writable: true, configurable: true, enumerable: false });
  return now;
}
