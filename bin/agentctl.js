#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// The `agentctl` command: the TypeScript in the repository, the built JavaScript
// in an installed package (Node does not strip types under node_modules).
import { existsSync } from 'node:fs';
import { enableCompileCache } from 'node:module';

// The compile cache on before the command's first module loads: Node then keeps the TypeScript it stripped (and
// the code it compiled) and a later run loads neither again nor the stripper (~60 ms of `agentctl ps` from the repo).
enableCompileCache();

const source = new URL('./agentctl.ts', import.meta.url);
await import(existsSync(source) ? source.href : new URL('../dist/bin/agentctl.js', import.meta.url).href);
