// URL and URLSearchParams from whatwg-url. Its encoding module builds a
// TextEncoder/TextDecoder from the global scope when it loads, so this module
// lends it ours for that moment instead of relying on the agent's globals,
// and no Buffer: reading the global Buffer would run the Node layer, in the
// middle of the program's code, for bytes whatwg-url handles without it.
import { inspectAs, inspectEntries } from './inspect-as.js';
import { withGlobals } from './intrinsics.js';
import { TextEncoder, TextDecoder } from './text-encoding.js';

const whatwgUrl = withGlobals({ TextEncoder, TextDecoder, Buffer: undefined }, () => require('whatwg-url'));

export const URL = whatwgUrl.URL;
export const URLSearchParams = whatwgUrl.URLSearchParams;
inspectAs(URL, 'URL', ['href', 'origin', 'protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'searchParams', 'hash']);
inspectEntries(URLSearchParams, 'URLSearchParams');
