// Types of the node layer's refused modules, for ring 0 (the program build's error names the alternative).
/** Node built-ins agent programs do not get, each with the governed alternative the build error names. */
export declare const REFUSED_MODULES: Readonly<Record<string, string>>;
