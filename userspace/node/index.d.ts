// Types of the node layer's entry, for ring 0 (the program build reads its module lists).
/** The Node built-in modules agent programs get (names without `node:`). */
export declare const NODE_MODULES: readonly string[];
/** Other Node built-ins, each with the governed alternative the build error names. */
export declare const REFUSED_MODULES: Readonly<Record<string, string>>;
/** nodeBuiltins returns load(name) → the module, built on first load (ring 3 only). */
export declare function nodeBuiltins(env: unknown): (name: string) => unknown;
