// Types of the node layer's module list, for ring 0 (the program build maps imports with it).
/** The Node built-in modules agent programs get (names without `node:`). */
export declare const NODE_MODULES: readonly string[];
