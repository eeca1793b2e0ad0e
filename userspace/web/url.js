// URL and URLSearchParams from whatwg-url. Its encoding module builds a
// TextEncoder/TextDecoder from the global scope when it loads, so this module
// lends it ours for that moment instead of relying on the agent's globals.
import { withGlobals } from './intrinsics.js';
import { TextEncoder, TextDecoder } from './text-encoding.js';

const whatwgUrl = withGlobals({ TextEncoder, TextDecoder }, () => require('whatwg-url'));

export const URL = whatwgUrl.URL;
export const URLSearchParams = whatwgUrl.URLSearchParams;
