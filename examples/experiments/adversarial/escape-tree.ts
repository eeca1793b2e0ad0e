// Hostile: reach another agent's memory and the host's files. Every attempt is denied (EACCES); the program says so and fails.
let denied = 0;
for (const path of ['/agent/victim/mem/secrets.txt', '/etc/passwd', '../../victim/mem/x', '/agent/*/mem/y']) {
  try {
    sys.readFile(path);
    console.log(`read ${path}?!`);
  } catch (err) {
    denied++;
    console.log(`${path}: ${(err as SyscallError).errno}`);
  }
}
process.exitCode = denied === 4 ? 1 : 0;
