#!/usr/bin/env -S node --no-node-snapshot --disable-warning=ExperimentalWarning
// The `agentd` command: the TypeScript in the repository, the built JavaScript
// in an installed package (Node does not strip types under node_modules).
import { existsSync } from 'node:fs';

const source = new URL('./agentd.ts', import.meta.url);
await import(existsSync(source) ? source.href : new URL('../dist/bin/agentd.js', import.meta.url).href);
