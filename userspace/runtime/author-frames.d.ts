// Types of author-frames.js, for ring 0 (the kernel cleans an uncaught error's report with it).
export declare const ENTRY_SOURCE: string;
export declare const BUNDLE_SCHEME: string;
export declare const RUNTIME_PREFIX: string;
/** authorFrames keeps the author's frames of a stack's lines: no bundler helpers, entry shim or runtime; a module wrapper named as a top level. */
export declare function authorFrames(lines: readonly string[]): string[];
