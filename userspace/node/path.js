// `path` and `path/posix`: path-browserify, with resolve() starting from the
// agent's working directory (env.cwd) instead of process.cwd().

/** createPath returns the POSIX path module; path.posix is itself, path.win32 is absent. */
export function createPath(env) {
  // Required here, not imported, so the package is evaluated on first load.
  const path = require('path-browserify/index.js');
  if (!path.resolve.agentCwd) {
    const resolve = path.resolve;
    path.resolve = function (...parts) {
      return resolve.call(path, env.cwd, ...parts);
    };
    path.resolve.agentCwd = true;
  }
  return path;
}
