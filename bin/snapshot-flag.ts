/**
 * isolated-vm asks for `node --no-node-snapshot`, which costs Node ~40 ms of
 * start-up. Only `agentctl run` creates isolates, so only it pays: it
 * replaces itself (same pid, same stdio, signals unchanged) with a Node that
 * has the flag. Every other command starts from the snapshot.
 */
const needsIsolates = process.argv[2] === 'run';
if (needsIsolates && !process.execArgv.includes('--no-node-snapshot') && typeof process.execve === 'function') {
  process.execve(process.execPath, [process.execPath, '--no-node-snapshot', ...process.execArgv, ...process.argv.slice(1)], process.env);
}
