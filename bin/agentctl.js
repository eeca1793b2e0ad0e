#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// The `agentctl` command: the TypeScript in the repository, the built JavaScript
// in an installed package (Node does not strip types under node_modules).
import { existsSync } from 'node:fs';

const source = new URL('./agentctl.ts', import.meta.url);
await import(existsSync(source) ? source.href : new URL('../dist/bin/agentctl.js', import.meta.url).href);
