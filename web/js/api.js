// Talking to the API (port 3000): where it is, the bearer token, JSON:API
// requests and their errors. Every call of the UI goes through request().

const MEDIA = 'application/vnd.api+json';
const TOKEN_KEY = 'auditlog.token';

let base = '';
let onUnauthorized = () => {};

export class ApiError extends Error {
    // status: the HTTP status (0 when the API could not be reached);
    // errors: JSON:API error objects [{status, title, detail, source}].
    constructor(status, errors) {
        super(errors.map((e) => (e.detail ? `${e.title}: ${e.detail}` : e.title)).join('; '));
        this.status = status;
        this.errors = errors;
    }
}

// Reads /config.json from the web daemon (the API's public URL); falls back
// to this host on port 3000.
export async function loadConfig() {
    try {
        const res = await fetch('/config.json', { cache: 'no-store' });
        if (res.ok) {
            const cfg = await res.json();
            if (cfg && typeof cfg.apiUrl === 'string') base = cfg.apiUrl;
        }
    } catch { /* fall back below */ }
    if (!base) base = `${location.protocol}//${location.hostname}:3000`;
    base = base.replace(/\/+$/, '');
}

export function apiUrl(path) {
    return /^https?:\/\//.test(path) ? path : base + (path.startsWith('/') ? '' : '/') + path;
}

// ---------- the token ----------

export function token() {
    return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(t) {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
}

// The token's claims, or null (the signature is the API's business).
export function claims(t = token()) {
    try {
        let b64 = t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
        b64 += '='.repeat((4 - (b64.length % 4)) % 4);
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const c = JSON.parse(new TextDecoder().decode(bytes));
        return c && typeof c === 'object' ? c : null;
    } catch {
        return null;
    }
}

// fn(error) is called on every 401: the session module sends the person to
// sign in, keeping the page they are on.
export function setUnauthorizedHandler(fn) {
    onUnauthorized = fn;
}

// For a 401 met outside request() (the live stream): {errors}.
export function reportUnauthorized(err) {
    onUnauthorized(err);
}

// ---------- requests ----------

async function errorsOf(res) {
    const fallback = [{ status: String(res.status), title: `HTTP ${res.status}`, detail: res.statusText || '' }];
    try {
        const body = JSON.parse(await res.text());
        return Array.isArray(body.errors) && body.errors.length ? body.errors : fallback;
    } catch {
        return fallback;
    }
}

// fetch() that turns a network failure into an ApiError of status 0.
async function send(url, options) {
    try {
        return await fetch(url, options);
    } catch (e) {
        if (e && e.name === 'TimeoutError') {
            throw new ApiError(0, [{ title: 'No answer', detail: `The API did not answer within ${options.timeout / 1000} s.` }]);
        }
        if (e && e.name === 'AbortError') throw e;
        throw new ApiError(0, [{ title: 'The API cannot be reached', detail: `${base} (${e.message})` }]);
    }
}

// An authenticated request. Returns the Response (ok) for the caller to read,
// or throws ApiError with the API's JSON:API errors. timeout (ms) bounds
// the answer, its body included (0: none, as an export needs).
export async function raw(path, { method = 'GET', body, accept = MEDIA, signal, headers = {}, timeout = 0 } = {}) {
    const t = token();
    if (!t) {
        const err = new ApiError(401, [{ title: 'Not signed in', detail: 'Sign in first.' }]);
        onUnauthorized(err);
        throw err;
    }
    const h = { Accept: accept, Authorization: `Bearer ${t}`, ...headers };
    const options = { method, headers: h, signal: signal || (timeout ? AbortSignal.timeout(timeout) : undefined), timeout };
    if (body !== undefined) {
        h['Content-Type'] = MEDIA;
        options.body = JSON.stringify(body);
    }
    const res = await send(apiUrl(path), options);
    if (!res.ok) {
        const err = new ApiError(res.status, await errorsOf(res));
        if (res.status === 401) onUnauthorized(err);
        throw err;
    }
    return res;
}

const TIMEOUT = 30000; // ms a page, a record or a proof may take

// A JSON:API request: the parsed document, or null for 204.
export async function request(path, options) {
    const res = await raw(path, { timeout: TIMEOUT, ...options });
    if (res.status === 204) return null;
    const text = await res.text();
    return text ? JSON.parse(text) : null;
}

// A text answer (checkpoints, keys, proofs) with its response headers.
export async function text(path, options) {
    const res = await raw(path, { accept: 'text/plain', timeout: TIMEOUT, ...options });
    return { text: await res.text(), headers: res.headers };
}

// GET /tokens/:id, the demo's sign-in (not authenticated).
export async function fetchToken(userId) {
    const res = await send(apiUrl(`/tokens/${encodeURIComponent(userId)}`), { method: 'GET' });
    if (!res.ok) throw new ApiError(res.status, await errorsOf(res));
    return (await res.text()).trim();
}

// "users:5" split in two; null when it is not type:id.
export function splitRef(ref) {
    const i = typeof ref === 'string' ? ref.indexOf(':') : -1;
    if (i <= 0 || i === ref.length - 1) return null;
    return { type: ref.slice(0, i), id: ref.slice(i + 1) };
}

export const enc = encodeURIComponent;
