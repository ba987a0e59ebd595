// Who is signed in: the token (sessionStorage, so it survives a reload of
// the tab and no other tab), who it names and when it expires. A token
// that expires, or that the API refuses (401), ends the session and shows
// the sign-in view over the page the person was on: the URL is left as it
// is, so signing in again brings them back to it.

import { claims, fetchToken, setToken, setUnauthorizedHandler, token } from './api.js';
import { el, notify, relativeTime, absoluteTime } from './dom.js';

const OFFSET = 'auditlog.clockOffset';  // the API's clock minus this browser's (ms), from the token's iat
const RECENT = 'auditlog.recentUsers'; // [{id, name}] signed in as on this browser, newest first
const listeners = [];
let expiryTimer = null;
let tickTimer = null;

// Now by the API's clock (ms): a token's exp is the API's time, and this
// browser's clock may be minutes off.
export function serverNow() {
    return Date.now() + (Number(sessionStorage.getItem(OFFSET)) || 0);
}

// The signed-in user: {id, name, email, roles: [], exp (ms)}, or null.
export function me() {
    const t = token();
    const c = t ? claims(t) : null;
    if (!c || c.id === undefined) return null;
    const exp = typeof c.exp === 'number' ? c.exp * 1000 : null;
    if (exp !== null && exp <= serverNow()) return null;
    return {
        id: String(c.id),
        name: typeof c.name === 'string' ? c.name : `user ${c.id}`,
        email: typeof c.email === 'string' ? c.email : '',
        roles: Array.isArray(c.roles) ? c.roles.map(String) : [],
        exp,
    };
}

export function isAuditor() {
    const m = me();
    return Boolean(m && m.roles.includes('auditor'));
}

export function onSessionChange(fn) {
    listeners.push(fn);
}

function changed() {
    schedule();
    render();
    for (const fn of listeners) fn(me());
}

// The users this browser signed in as before, newest first: [{id, name}].
export function recentUsers() {
    try {
        const list = JSON.parse(localStorage.getItem(RECENT) || '[]');
        return Array.isArray(list) ? list.filter((u) => u && typeof u.id === 'string' && typeof u.name === 'string') : [];
    } catch {
        return [];
    }
}

function remember(m) {
    const list = [{ id: m.id, name: m.name }, ...recentUsers().filter((u) => u.id !== m.id)].slice(0, 6);
    localStorage.setItem(RECENT, JSON.stringify(list));
}

// Gets a token for userId (the demo's GET /tokens/:id) and signs in.
export async function signIn(userId) {
    const t = await fetchToken(userId);
    const c = claims(t);
    if (!c) throw new Error('The API answered with something that is not a token.');
    // The token was signed just now: its iat is the API's clock.
    sessionStorage.setItem(OFFSET, typeof c.iat === 'number' ? String(c.iat * 1000 - Date.now()) : '0');
    setToken(t);
    const m = me();
    if (m) remember(m);
    notify('');
    changed();
}

export function signOut() {
    setToken('');
    changed();
}

// The session ended on its own: say why, keep the page.
function expire(why) {
    if (!token()) return;
    setToken('');
    notify(why, 'error', 0);
    changed();
}

function schedule() {
    clearTimeout(expiryTimer);
    clearInterval(tickTimer);
    const m = me();
    if (!m || m.exp === null) return;
    // setTimeout's delay is a 32-bit count of ms.
    expiryTimer = setTimeout(() => expire(`Your session expired at ${absoluteTime(m.exp)}. Sign in again to go on where you were.`),
        Math.min(m.exp - serverNow(), 2 ** 31 - 1));
    tickTimer = setInterval(render, 15000);
}

// The header's "who am I" and sign-out button.
export function render() {
    const box = document.getElementById('session');
    const who = document.getElementById('whoami');
    const m = me();
    box.hidden = !m;
    document.getElementById('nav').hidden = !m;
    if (!m) { who.replaceChildren(); return; }
    const roles = m.roles.length ? ` · ${m.roles.join(', ')}` : '';
    const left = m.exp === null ? null : m.exp - serverNow();
    who.replaceChildren(
        el('span.who-name', { 'data-testid': 'who-name' }, m.name),
        el('span.who-meta', {}, ` (users:${m.id}${roles})`),
        m.exp === null ? '' : el(`span.expiry${left < 120000 ? '.soon' : ''}`, { 'data-testid': 'expiry', title: absoluteTime(m.exp) },
            ` · session ends ${relativeTime(m.exp, serverNow())}`),
    );
    const activity = document.getElementById('nav-activity');
    activity.href = `/?view=activity&actor=users:${encodeURIComponent(m.id)}`;
}

export function start() {
    setUnauthorizedHandler((err) => {
        const detail = err.errors && err.errors[0] && err.errors[0].detail;
        expire(`You were signed out: ${(detail || 'the API refused the token').replace(/\.+$/, '')}. Sign in again to go on where you were.`);
    });
    document.getElementById('sign-out').addEventListener('click', () => {
        signOut();
        notify('Signed out.', 'info');
    });
    if (token() && !me()) expire('Your session expired. Sign in again to go on where you were.');
    schedule();
    render();
}
