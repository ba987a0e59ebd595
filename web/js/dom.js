// Small DOM and formatting helpers shared by every view. Data is only ever
// inserted as text (textContent, attributes): the CSP forbids inline script
// and nothing here parses HTML.

// el('button.secondary', {type: 'button', onclick: fn}, 'Label', child, ...)
// Attributes: 'class', 'text', 'dataset' (object), 'on<event>' (listener),
// booleans set or removed, anything else through setAttribute.
export function el(spec, attrs = {}, ...children) {
    const [tag, ...classes] = spec.split('.');
    const node = document.createElement(tag || 'div');
    if (classes.length) node.className = classes.join(' ');
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') node.className = [node.className, v].filter(Boolean).join(' ');
        else if (k === 'text') node.textContent = String(v);
        else if (k === 'dataset') Object.assign(node.dataset, v);
        else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
        else if (v === true) node.setAttribute(k, '');
        else node.setAttribute(k, String(v));
    }
    append(node, children);
    return node;
}

function append(node, children) {
    for (const c of children) {
        if (c === undefined || c === null || c === false) continue;
        if (Array.isArray(c)) append(node, c);
        else node.append(c instanceof Node ? c : String(c));
    }
}

let uid = 0;
// A fresh id for label/aria wiring.
export function newId(prefix = 'id') {
    uid += 1;
    return `${prefix}-${uid}`;
}

// A button; kind is '' (primary), 'secondary', 'link' or 'danger'.
export function button(label, onclick, { kind = 'secondary', testid, ...rest } = {}) {
    return el(`button${kind ? `.${kind}` : ''}`, { type: 'button', onclick, 'data-testid': testid, ...rest }, label);
}

// Runs action with control disabled (and aria-busy on it); returns what
// action returned, or undefined after reporting the error through onError.
export async function busy(control, action, onError) {
    if (control) { control.disabled = true; control.setAttribute('aria-busy', 'true'); }
    try {
        return await action();
    } catch (e) {
        if (onError) onError(e);
        else throw e;
        return undefined;
    } finally {
        if (control) { control.disabled = false; control.removeAttribute('aria-busy'); }
    }
}

// ---------- time ----------

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const dtf = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

// "3 minutes ago", "in 5 seconds", "yesterday".
export function relativeTime(ms, now = Date.now()) {
    const s = Math.round((ms - now) / 1000);
    const abs = Math.abs(s);
    if (abs < 45) return rtf.format(s, 'second');
    if (abs < 45 * 60) return rtf.format(Math.round(s / 60), 'minute');
    if (abs < 22 * 3600) return rtf.format(Math.round(s / 3600), 'hour');
    if (abs < 26 * 86400) return rtf.format(Math.round(s / 86400), 'day');
    if (abs < 320 * 86400) return rtf.format(Math.round(s / (30 * 86400)), 'month');
    return rtf.format(Math.round(s / (365 * 86400)), 'year');
}

export function absoluteTime(ms) {
    return dtf.format(new Date(ms));
}

// <time> showing "3 minutes ago" with the absolute time beside it (smaller)
// and as its datetime; refreshed by refreshTimes().
export function timeNode(ms) {
    const d = new Date(ms);
    if (Number.isNaN(d.getTime())) return el('span.time', {}, 'unknown time');
    return el('time.time', { datetime: d.toISOString(), dataset: { ms: String(ms) } },
        el('span.rel', {}, relativeTime(ms)), ' ', el('span.abs', {}, absoluteTime(ms)));
}

export function refreshTimes(root = document) {
    for (const t of root.querySelectorAll('time.time[data-ms] .rel')) {
        t.textContent = relativeTime(Number(t.parentElement.dataset.ms));
    }
}

// An ISO instant (or ms) as the value of <input type="datetime-local">, in
// local time with seconds; '' for nothing.
export function toLocalInput(value) {
    if (value === undefined || value === null || value === '') return '';
    const d = new Date(typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value);
    if (Number.isNaN(d.getTime())) return '';
    const p = (n, w = 2) => String(n).padStart(w, '0');
    return `${p(d.getFullYear(), 4)}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// The value of a datetime-local input as an RFC 3339 UTC instant; '' for none.
export function fromLocalInput(value) {
    if (!value) return '';
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

// "12,345"
export function count(n) {
    return Number(n).toLocaleString();
}

export function plural(n, one, many = `${one}s`) {
    return `${count(n)} ${n === 1 ? one : many}`;
}

// ---------- the page's notice line ----------

let noticeTimer = null;

// Shows text in the notice bar under the header (polite live region);
// kind 'info', 'ok' or 'error'; it goes away after ms unless ms is 0.
export function notify(text, kind = 'info', ms = 6000) {
    const box = document.getElementById('notice');
    if (!box) return;
    clearTimeout(noticeTimer);
    box.textContent = text || '';
    box.className = `notice notice-${kind}`;
    box.hidden = !text;
    if (text && ms) noticeTimer = setTimeout(() => { box.hidden = true; }, ms);
}

// A JSON:API error (or any Error) as a block of text for an alert box:
// each error's title in bold and its detail.
export function errorBlock(err, { testid = 'error' } = {}) {
    const errors = err && Array.isArray(err.errors) ? err.errors
        : [{ title: 'Error', detail: err && err.message ? err.message : String(err) }];
    return el('div.error', { role: 'alert', 'data-testid': testid },
        errors.map((e) => el('p', {}, el('strong', {}, e.title || 'Error'), e.detail ? `: ${e.detail}` : '')));
}

// text between FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE (Unicode
// UAX #9): a name inside a plain sentence (a notice) cannot reorder it.
export function isolate(text) {
    return `\u2068${text}\u2069`;
}
