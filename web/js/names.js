// People's names for the actors and targets events name ("users:5" shows
// as "Ann Lee"). A user's name is read from the API once per page load
// (GET /api/users/:id, itself a recorded read); a deleted user's from the
// last values its `deleted` event carries. Other types keep "type:id".

import { ApiError, enc, request } from './api.js';
import { el } from './dom.js';

const cache = new Map(); // "users:5" -> Promise<{label, deleted, known}>

async function lookUp(type, id) {
    // The API's user ids are digits: another id is no user it knows.
    if (type !== 'users' || !/^[1-9][0-9]{0,18}$/.test(id)) return { label: `${type}:${id}`, known: false };
    try {
        const doc = await request(`/api/users/${enc(id)}`);
        const name = doc && doc.data && doc.data.attributes && doc.data.attributes.name;
        return { label: typeof name === 'string' && name ? name : `users:${id}`, known: Boolean(name) };
    } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 404) return { label: `users:${id}`, known: false };
    }
    // Gone: its deletion carried its last values.
    try {
        const doc = await request(`/logs/for/users/${enc(id)}?filter%5Baction%5D=deleted&page%5Bsize%5D=1`);
        const ev = doc && doc.data && doc.data[0];
        const name = ev && ev.attributes.changes && ev.attributes.changes.name && ev.attributes.changes.name.prev;
        if (typeof name === 'string') return { label: name, deleted: true, known: true };
    } catch { /* fall through */ }
    return { label: `users:${id}`, deleted: true, known: false };
}

// {label, deleted, known} for type:id, looked up once.
export function nameOf(type, id) {
    const key = `${type}:${id}`;
    if (!cache.has(key)) cache.set(key, lookUp(type, id));
    return cache.get(key);
}

// Forget what is known of type:id (after it was renamed or deleted here).
export function forget(type, id) {
    cache.delete(`${type}:${id}`);
}

// Whether text has a character that shows (not only spaces, zero-width
// characters and direction marks).
function visible(text) {
    return /[^\s\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/u.test(text);
}

// A <span> that shows "type:id" at once and the name when it is known, with
// "type:id" kept as its title (and in the text when there is no name).
export function nameNode(type, id, { link } = {}) {
    const ref = `${type}:${id}`;
    const node = link ? el('a.name', { href: link, title: ref }, ref) : el('span.name', { title: ref }, ref);
    nameOf(type, id).then((n) => {
        // A name of blanks or invisible characters would hide who it was.
        if (n.known && visible(n.label)) node.textContent = n.label;
        else if (n.known) node.append(el('span.blank-name', {}, ' (a blank name)'));
        if (n.deleted) node.append(el('span.deleted-mark', {}, ' (deleted)'));
    });
    return node;
}
