// `url`: URL and URLSearchParams are the runtime's globals; fileURLToPath,
// pathToFileURL and the legacy parse/format/resolve are written here
// (legacy ones minimal: what libraries commonly read).

/** fileURLToPath turns a file: URL (string or URL) into a path; only empty or localhost hosts. */
function fileURLToPath(url) {
  const href = typeof url === 'string' ? url : url && url.href;
  if (typeof href !== 'string') throw Object.assign(new TypeError('The "path" argument must be of type string or an instance of URL'), { code: 'ERR_INVALID_ARG_TYPE' });
  const m = /^file:\/\/([^/?#]*)([^?#]*)/i.exec(href);
  if (m === null) throw Object.assign(new TypeError('The URL must be of scheme file'), { code: 'ERR_INVALID_URL_SCHEME' });
  if (m[1] !== '' && m[1].toLowerCase() !== 'localhost') throw Object.assign(new TypeError('File URL host must be "localhost" or empty on linux'), { code: 'ERR_INVALID_FILE_URL_HOST' });
  if (/%2f/i.test(m[2])) throw Object.assign(new TypeError('File URL path must not include encoded / characters'), { code: 'ERR_INVALID_FILE_URL_PATH' });
  return decodeURIComponent(m[2] || '/');
}

/** createUrl returns the url module. */
export function createUrl(env, load) {
  const GlobalURL = globalThis.URL;
  const needURL = (what) => {
    if (typeof GlobalURL !== 'function') throw new Error(`url.${what} needs the URL global, which this runtime does not provide`);
  };

  function pathToFileURL(path) {
    needURL('pathToFileURL');
    let resolved = load('path').resolve(String(path));
    if (String(path).endsWith('/') && !resolved.endsWith('/')) resolved += '/';
    const encoded = resolved.replace(/%/g, '%25').replace(/\\/g, '%5C').replace(/\n/g, '%0A').replace(/\r/g, '%0D').replace(/\t/g, '%09').replace(/#/g, '%23').replace(/\?/g, '%3F');
    return new GlobalURL(`file://${encoded}`);
  }

  /** parse is the legacy url.parse: protocol, slashes, auth, host, port, hostname, hash, search, query, pathname, path, href. */
  function parse(input, parseQueryString = false) {
    const m = /^(?:([a-z][a-z0-9+.-]*:))?(?:(\/\/)(?:([^@/?#]*)@)?([^/?#:]*|\[[^\]]*\])(?::(\d*))?)?([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(String(input).trim());
    const [, protocol = null, slashes, auth = null, hostname = null, port = null, pathname = '', search = null, hash = null] = m || [];
    const host = hostname === null ? null : `${hostname.toLowerCase()}${port ? `:${port}` : ''}`;
    const rawQuery = search === null ? null : search.slice(1);
    const query = parseQueryString ? Object.fromEntries(new (globalThis.URLSearchParams || Object)(rawQuery || '')) : rawQuery;
    return {
      protocol: protocol && protocol.toLowerCase(),
      slashes: Boolean(slashes) || null,
      auth: auth && decodeURIComponent(auth),
      host,
      port: port || null,
      hostname: hostname && hostname.toLowerCase(),
      hash,
      search,
      query: parseQueryString && query === null ? {} : query,
      pathname: pathname || (hostname !== null ? '/' : null),
      path: `${pathname || (hostname !== null ? '/' : '')}${search || ''}` || null,
      href: format({ protocol, slashes, auth, host, pathname: pathname || (hostname !== null ? '/' : ''), search, hash }),
    };
  }

  function format(obj) {
    if (typeof obj === 'string') return format(parse(obj));
    if (GlobalURL && obj instanceof GlobalURL) return obj.href;
    const protocol = obj.protocol ? (obj.protocol.endsWith(':') ? obj.protocol : `${obj.protocol}:`) : '';
    const host = obj.host || (obj.hostname ? `${obj.hostname}${obj.port ? `:${obj.port}` : ''}` : '');
    const slashes = obj.slashes || /^(https?|ftp|file|wss?):$/.test(protocol) ? '//' : '';
    const auth = obj.auth ? `${encodeURIComponent(obj.auth).replace(/%3A/i, ':')}@` : '';
    let search = obj.search || '';
    if (!search && obj.query && typeof obj.query === 'object' && globalThis.URLSearchParams) {
      const q = new globalThis.URLSearchParams(obj.query).toString();
      if (q) search = `?${q}`;
    }
    if (search && !search.startsWith('?')) search = `?${search}`;
    const hash = obj.hash ? (obj.hash.startsWith('#') ? obj.hash : `#${obj.hash}`) : '';
    return `${protocol}${host || slashes ? slashes : ''}${auth}${host}${obj.pathname || ''}${search}${hash}`;
  }

  function resolve(from, to) {
    needURL('resolve');
    const base = new GlobalURL(from, 'resolve://');
    const out = new GlobalURL(to, base);
    if (out.protocol === 'resolve:') {
      const { pathname, search, hash } = out;
      return `${pathname}${search}${hash}`;
    }
    return out.href;
  }

  return {
    URL: GlobalURL,
    URLSearchParams: globalThis.URLSearchParams,
    fileURLToPath,
    pathToFileURL,
    parse,
    format,
    resolve,
    domainToASCII: (domain) => (GlobalURL ? new GlobalURL(`http://${domain}`).hostname : String(domain)),
    domainToUnicode: (domain) => String(domain),
  };
}
