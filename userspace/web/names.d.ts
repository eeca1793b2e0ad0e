/** The names of the web globals the runtime defines (lazily) in every isolate. */
export declare const WEB_GLOBAL_NAMES: readonly string[];
