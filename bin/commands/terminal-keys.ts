/**
 * Ctrl-C on `agentctl run` in a terminal: agentctl reads the key itself
 * instead of letting the terminal turn it into SIGINT for the whole
 * foreground process group. The agent gets SIGINT and `agentctl run` exits
 * 131 (128 + SIGINT's number 3, as the README says) whoever started it. Left
 * to the terminal, the SIGINT also reaches every process between the shell
 * and agentctl — `npx agentctl` runs agentctl through `sh -c`, and that
 * shell, once agentctl has exited 131, dies of the SIGINT itself, so the
 * user saw 130. Ctrl-Z and Ctrl-\ keep their meaning (the process group is
 * stopped, or quit, as the terminal would do). While an approval question
 * waits for an answer the terminal is given back (line editing, echo).
 *
 * Only when stdin is a terminal and agentctl's process group is in its
 * foreground (Linux: /proc/self/stat); elsewhere nothing changes.
 */
import { readFileSync } from 'node:fs';

const CTRL_C = 0x03;
const CTRL_BACKSLASH = 0x1c;
const CTRL_Z = 0x1a;

/** TerminalKeys is the terminal while agentctl reads its keys. */
export interface TerminalKeys {
  /** lend gives the terminal back (cooked: line editing, echo, Ctrl-C is SIGINT) until as many `reclaim`s. */
  lend(): void;
  reclaim(): void;
  /** release gives the terminal back for good. */
  release(): void;
}

/** inForeground says whether stdin is a terminal whose foreground process group is this process's. */
function inForeground(): boolean {
  if (!process.stdin.isTTY) return false;
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // After `pid (comm) `: state ppid pgrp session tty_nr tpgid …
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[2] !== undefined && fields[2] === fields[5];
  } catch {
    return false;
  }
}

/**
 * takeTerminalKeys reads Ctrl-C from the terminal and calls `onInterrupt`
 * for each, when stdin is a terminal in the foreground; undefined (nothing
 * taken) otherwise. Call release() before exiting.
 */
export function takeTerminalKeys(onInterrupt: () => void): TerminalKeys | undefined {
  if (!inForeground()) return undefined;
  const stdin = process.stdin;
  let raw = false;
  let lent = 0;
  let released = false;
  const cooked = () => {
    if (!raw) return;
    raw = false;
    stdin.off('data', onData);
    stdin.setRawMode(false);
  };
  const take = () => {
    if (raw || lent > 0 || released || !inForeground()) return;
    raw = true;
    stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.resume();
  };
  // As the terminal would: stop or quit the whole process group (npx, its shell, agentctl); on `fg`, take the keys again.
  const toGroup = (signal: 'SIGTSTP' | 'SIGQUIT') => {
    cooked();
    process.kill(0, signal);
  };
  function onData(chunk: Buffer): void {
    for (const byte of chunk) {
      if (byte === CTRL_C) {
        // The terminal would have echoed it.
        if (process.stderr.isTTY) process.stderr.write('^C');
        onInterrupt();
      }
      else if (byte === CTRL_Z) toGroup('SIGTSTP');
      else if (byte === CTRL_BACKSLASH) toGroup('SIGQUIT');
    }
  }
  process.on('SIGCONT', take);
  take();
  return {
    lend() {
      lent++;
      cooked();
    },
    reclaim() {
      lent = Math.max(0, lent - 1);
      take();
    },
    release() {
      released = true;
      process.off('SIGCONT', take);
      cooked();
      stdin.pause();
    },
  };
}
