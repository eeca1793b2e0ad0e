// Hostile: flood the kernel with syscalls; the tree's rate limit answers EAGAIN, and the program gives up (it waits for
// the next second to say so: a write in the same second would be refused too).
let calls = 0;
let errno = '';
try {
  for (;;) {
    sys.getpid();
    calls++;
  }
} catch (err) {
  errno = (err as SyscallError).errno;
}
await new Promise((resolve) => setTimeout(resolve, 1000));
console.log(`stopped after ${calls} calls: ${errno}`);
