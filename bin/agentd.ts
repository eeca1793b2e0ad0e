#!/usr/bin/env -S node --no-node-snapshot --disable-warning=ExperimentalWarning
/** agentd — the kernel as a service. Not built yet: see issue #6. */
process.stderr.write(
  'agentd: the service mode (HTTP API, token auth) is not implemented yet (issue #6).\nRun a program on the embedded kernel with: agentctl run FILE\n',
);
process.exitCode = 2;
