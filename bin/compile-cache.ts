/**
 * Imported first by bin/agentctl.ts: Node keeps the compiled (and
 * type-stripped) code of every module loaded after this in its compile cache
 * (os.tmpdir()/node-compile-cache, or NODE_COMPILE_CACHE), as npm does, so a
 * short command such as `agentctl ps` starts faster from the second run on.
 */
import { enableCompileCache } from 'node:module';

enableCompileCache();
