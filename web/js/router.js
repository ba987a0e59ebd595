// Where the person is: the view and its filters live in the URL's query
// (/?view=timeline&target=users:5&action=changed&since=...), so any view can
// be bookmarked, shared and reloaded. Links inside the page move with
// history.pushState; Back and Forward work.

const listeners = [];

// The names a view's URL may carry, in the order they are written.
export const PARAMS = ['view', 'target', 'actor', 'action', 'since', 'until', 'field', 'eventName', 'sort', 'at'];

// {view, target, actor, ...} from the current URL (absent ones left out).
export function route() {
    const q = new URLSearchParams(location.search);
    const r = {};
    for (const k of PARAMS) {
        const v = q.get(k);
        if (v !== null && v !== '') r[k] = v;
    }
    r.view = r.view || 'users';
    return r;
}

// The URL of a route (a relative "/?..." link).
export function href(r) {
    const q = new URLSearchParams();
    for (const k of PARAMS) {
        if (r[k] !== undefined && r[k] !== null && r[k] !== '') q.set(k, r[k]);
    }
    const s = q.toString();
    return s ? `/?${s}` : '/';
}

// Moves to r; replace keeps the history entry (used for filter tweaks that
// should not each be a Back step, like dragging the time slider).
export function navigate(r, { replace = false } = {}) {
    const url = href(r);
    if (url === location.pathname + location.search) return;
    history[replace ? 'replaceState' : 'pushState'](null, '', url);
    for (const fn of listeners) fn(route());
}

export function onRouteChange(fn) {
    listeners.push(fn);
}

// Intercepts clicks on the page's own "/?..." links.
export function start() {
    document.addEventListener('click', (e) => {
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        const a = e.target.closest('a[href]');
        // In-page anchors (the skip link) are the browser's.
        if (!a || a.target || a.hasAttribute('download') || a.getAttribute('href').startsWith('#')) return;
        const url = new URL(a.href, location.href);
        if (url.origin !== location.origin || url.pathname !== '/') return;
        e.preventDefault();
        history.pushState(null, '', url.pathname + url.search);
        for (const fn of listeners) fn(route());
    });
    window.addEventListener('popstate', () => {
        for (const fn of listeners) fn(route());
    });
}

// Writes r into the URL without a history step and without telling the
// views (the time slider: the view is already showing it).
export function replaceQuietly(r) {
    history.replaceState(null, '', href(r));
}
