/** `agentd serve`: start the daemon (status 2 when it cannot, e.g. another agentd holds the state dir) and stop it cleanly on SIGTERM or SIGINT (exit 0). */
import { ConfigError, loadConfig } from '../../kernel/service/config.ts';
import { startDaemon } from '../../kernel/service/daemon.ts';
import { StateDirBusy, StateLockError } from '../../kernel/service/state-lock.ts';
import { PolicyError } from '../../kernel/policy/load.ts';
import { KernelError } from '../../abi/errno.ts';
import { wholeNumber } from './whole-number.ts';

export async function serveCommand(options: { config?: string; port?: string; stateDir?: string }): Promise<number> {
  let daemon;
  let config;
  try {
    const port = options.port === undefined ? undefined : (wholeNumber(options.port) ?? -1);
    if (port !== undefined && (port < 0 || port > 65535)) throw new ConfigError('--port must be a port number');
    // AGENTD_STATE_DIR is where agentctl looks for agentd, so agentd honours it too (below --state-dir, above the config).
    config = loadConfig(options.config, { port, stateDir: options.stateDir ?? process.env.AGENTD_STATE_DIR });
    daemon = await startDaemon(config);
  } catch (err) {
    const known = err instanceof ConfigError || err instanceof PolicyError || err instanceof KernelError || err instanceof StateDirBusy || err instanceof StateLockError;
    process.stderr.write(`agentd: ${known ? err.message : err instanceof Error ? err.message : String(err)}\n`);
    // What a start that failed half-way left open (Redis connections, a kernel's timers) must not keep agentd up, not
    // listening, for ever (a review: a supervisor then never restarts it). Its records are flushed on exit.
    setTimeout(() => process.exit(2), 1000).unref();
    return 2;
  }
  const running = daemon;
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.stdout.write(`agentd: ${signal}: stopping (SIGTERM to agents, then SIGKILL after the grace period)\n`);
      void running.stop().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // Ready only once a SIGTERM would stop it cleanly: the line comes after the handlers.
    process.stdout.write(`agentd listening on ${running.url} (state ${config.stateDir}, token in ${config.tokenFile})\n`);
  });
  process.stdout.write('agentd: stopped\n');
  if (running.kernel.degraded !== undefined) {
    // A quarantined isolate's thread (or one that ran on after its disposal) keeps Node from exiting: flushed, it ends here (137).
    process.stderr.write(`agentd: ${running.kernel.degraded}\n`);
    process.stdout.write('', () => process.kill(process.pid, 'SIGKILL'));
  }
  return 0;
}
