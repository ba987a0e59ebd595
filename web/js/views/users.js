// Managing users: list, create, edit, toggle the terms, delete; each links
// to the user's timeline (what happened to them) and activity (what they
// did). The API's JSON:API errors are shown beside the field they name.

import { enc, request } from '../api.js';
import { busy, el, errorBlock, isolate, newId, notify } from '../dom.js';
import { forget } from '../names.js';
import { href } from '../router.js';
import { me, signIn } from '../session.js';

const FIELDS = { name: 'Name', email: 'Email' };

// A form's fields: {input, error} per attribute, and the form's own box.
function fieldRow(form, key, label, type) {
    const id = newId(key);
    const input = el('input', { id, name: key, type, required: true, autocomplete: 'off', 'data-testid': `${form}-${key}` });
    const error = el('span.field-error', { id: `${id}-err`, 'data-testid': `${form}-${key}-error` });
    input.setAttribute('aria-describedby', error.id);
    return { input, error, node: el('div.field', {}, el('label', { for: id }, label), input, error) };
}

// Shows the API's errors: those naming an attribute (source.pointer
// /data/attributes/<name>) beside its field, the rest in box.
function showErrors(err, fields, box) {
    for (const f of Object.values(fields)) {
        f.error.textContent = '';
        f.input.removeAttribute('aria-invalid');
    }
    box.replaceChildren();
    if (!err) return;
    const rest = [];
    for (const e of err.errors || [{ title: 'Error', detail: err.message }]) {
        const m = e.source && typeof e.source.pointer === 'string' && e.source.pointer.match(/^\/data\/attributes\/(\w+)$/);
        const f = m && fields[m[1]];
        if (f) {
            f.error.textContent = e.detail || e.title;
            f.input.setAttribute('aria-invalid', 'true');
        } else {
            rest.push(e);
        }
    }
    if (rest.length) box.replaceChildren(errorBlock({ errors: rest }));
    const first = Object.values(fields).find((f) => f.input.getAttribute('aria-invalid'));
    if (first) first.input.focus();
}

export function renderUsers(main) {
    const users = new Map();
    let next = null;
    let editing = null;
    const tbody = el('tbody');
    const more = el('button.secondary', { type: 'button', hidden: true, 'data-testid': 'users-more' }, 'Load more users');
    const listErrors = el('div');

    // ---------- the list ----------
    const draw = () => {
        const rows = [];
        for (const u of users.values()) {
            const a = u.attributes || {};
            const tos = el('input.toggle-tos', { type: 'checkbox', 'aria-label': `${a.name} agreed to the terms` });
            tos.checked = Boolean(a.agreedTos);
            tos.addEventListener('change', () => toggleTos(u, tos));
            const ref = `users:${u.id}`;
            rows.push(el('tr', { dataset: { userId: u.id } },
                el('td.id', { 'data-label': 'Id' }, u.id),
                el('td.name', { 'data-label': 'Name' }, a.name ?? ''),
                el('td.email', { 'data-label': 'Email' }, a.email ?? ''),
                el('td.tos', { 'data-label': 'Agreed to terms' }, tos),
                el('td.actions', { 'data-label': 'Actions' }, el('div.actions',{},
                    el('a.timeline-link', { href: href({ view: 'timeline', target: ref }), 'aria-label': `Timeline of ${a.name}` }, 'Timeline'),
                    el('a.activity-link', { href: href({ view: 'activity', actor: ref }), 'aria-label': `Activity of ${a.name}` }, 'Activity'),
                    el('button.secondary.small.edit-user', { type: 'button', 'aria-label': `Edit ${a.name}`, onclick: () => openEdit(u) }, 'Edit'),
                    el('button.secondary.small.signin-as', { type: 'button', 'aria-label': `Sign in as ${a.name}`, onclick: (e) => busy(e.currentTarget, () => signIn(u.id), (err) => listErrors.replaceChildren(errorBlock(err))) }, 'Sign in as'),
                    el('button.danger.small.delete-user', { type: 'button', 'aria-label': `Delete ${a.name}`, onclick: (e) => remove(u, e.currentTarget) }, 'Delete')))));
        }
        if (!rows.length) rows.push(el('tr', {}, el('td.empty', { colspan: '5' }, 'No users.')));
        tbody.replaceChildren(...rows);
        more.hidden = !next;
    };

    const load = async (path = '/api/users?page%5Bsize%5D=100') => {
        const doc = await request(path);
        if (!path.includes('after')) users.clear();
        for (const u of doc.data || []) users.set(String(u.id), u);
        next = (doc.links && doc.links.next) || null;
        draw();
    };
    more.addEventListener('click', () => busy(more, () => load(next), (e) => listErrors.replaceChildren(errorBlock(e))));

    const store = (doc) => {
        if (doc && doc.data) users.set(String(doc.data.id), doc.data);
        draw();
    };

    async function toggleTos(u, box) {
        const wanted = box.checked;
        listErrors.replaceChildren();
        await busy(box, async () => {
            store(await request(`/api/users/${enc(u.id)}`, {
                method: 'PATCH', body: { data: { type: 'users', id: String(u.id), attributes: { agreedTos: wanted } } },
            }));
            notify(`Saved: ${isolate(u.attributes.name)} ${wanted ? 'agreed to' : 'no longer agrees to'} the terms.`, 'ok');
        }, (e) => { box.checked = !wanted; listErrors.replaceChildren(errorBlock(e)); });
    }

    async function remove(u, button) {
        if (!window.confirm(`Delete user ${u.id} (${u.attributes.name})?`)) return;
        listErrors.replaceChildren();
        await busy(button, async () => {
            await request(`/api/users/${enc(u.id)}`, { method: 'DELETE' });
            users.delete(String(u.id));
            forget('users', u.id);
            if (editing && editing.id === u.id) closeEdit();
            draw();
            notify(`Deleted user ${u.id}.`, 'ok');
        }, (e) => listErrors.replaceChildren(errorBlock(e)));
    }

    // ---------- create ----------
    const c = { name: fieldRow('create', 'name', FIELDS.name, 'text'), email: fieldRow('create', 'email', FIELDS.email, 'email') };
    const cTos = el('input', { type: 'checkbox', id: 'create-tos', 'data-testid': 'create-tos' });
    const cBox = el('div');
    const cSubmit = el('button', { type: 'submit', 'data-testid': 'create-submit' }, 'Create user');
    const createForm = el('form.card', { 'data-testid': 'create-form', 'aria-labelledby': 'create-h', novalidate: true },
        el('h2', { id: 'create-h' }, 'Create a user'), c.name.node, c.email.node,
        el('label.check', { for: 'create-tos' }, cTos, ' Agreed to the terms of service'),
        el('div.row', {}, cSubmit), cBox);
    createForm.addEventListener('submit', (e) => {
        e.preventDefault();
        const attributes = { name: c.name.input.value.trim(), email: c.email.input.value.trim(), agreedTos: cTos.checked };
        busy(cSubmit, async () => {
            const doc = await request('/api/users', { method: 'POST', body: { data: { type: 'users', attributes } } });
            showErrors(null, c, cBox);
            createForm.reset();
            store(doc);
            notify(`Created user ${doc.data.id}.`, 'ok');
        }, (err) => showErrors(err, c, cBox));
    });

    // ---------- edit ----------
    const ed = { name: fieldRow('edit', 'name', FIELDS.name, 'text'), email: fieldRow('edit', 'email', FIELDS.email, 'email') };
    const eBox = el('div');
    const eHead = el('h2', { id: 'edit-h', tabindex: '-1' }, 'Edit user');
    const eSubmit = el('button', { type: 'submit', 'data-testid': 'edit-submit' }, 'Save');
    const eCancel = el('button.secondary', { type: 'button', 'data-testid': 'edit-cancel' }, 'Cancel');
    const editForm = el('form.card', { 'data-testid': 'edit-form', 'aria-labelledby': 'edit-h', hidden: true, novalidate: true },
        eHead, ed.name.node, ed.email.node, el('div.row', {}, eSubmit, eCancel), eBox);
    function openEdit(u) {
        editing = u;
        showErrors(null, ed, eBox);
        eHead.textContent = `Edit user ${u.id}`;
        ed.name.input.value = u.attributes.name ?? '';
        ed.email.input.value = u.attributes.email ?? '';
        editForm.hidden = false;
        ed.name.input.focus();
    }
    function closeEdit() {
        editing = null;
        editForm.hidden = true;
    }
    eCancel.addEventListener('click', closeEdit);
    editForm.addEventListener('submit', (e) => {
        e.preventDefault();
        const u = editing;
        if (!u) return;
        const attributes = {};
        for (const k of Object.keys(FIELDS)) {
            const v = ed[k].input.value.trim();
            if (v !== u.attributes[k]) attributes[k] = v;
        }
        if (!Object.keys(attributes).length) { closeEdit(); notify('Nothing changed.'); return; }
        busy(eSubmit, async () => {
            store(await request(`/api/users/${enc(u.id)}`, {
                method: 'PATCH', body: { data: { type: 'users', id: String(u.id), attributes } },
            }));
            forget('users', u.id);
            closeEdit();
            notify(`Saved user ${u.id}.`, 'ok');
        }, (err) => showErrors(err, ed, eBox));
    });

    const m = me();
    main.replaceChildren(
        el('h1', { tabindex: '-1' }, 'Users'),
        el('p.lead', {}, 'Signed in as ', el('bdi', {}, m ? m.name : '?'), '. Everything you see or change here is recorded: open a user\'s timeline to watch it happen.'),
        el('section.card', { 'aria-labelledby': 'users-h' },
            el('div.card-head', {}, el('h2', { id: 'users-h' }, 'All users'),
                el('button.secondary.small', { type: 'button', 'data-testid': 'refresh-users', onclick: (e) => busy(e.currentTarget, () => load(), (err) => listErrors.replaceChildren(errorBlock(err))) }, 'Refresh')),
            listErrors,
            el('div.table-wrap', {}, el('table.users', { 'data-testid': 'users-table' },
                el('caption.sr-only', {}, 'Users, with links to their timelines and activity'),
                el('thead', {}, el('tr', {}, ['Id', 'Name', 'Email', 'Agreed to terms', 'Actions'].map((h) => el('th', { scope: 'col' }, h)))),
                tbody)),
            more),
        el('div.forms', {}, createForm, editForm));
    draw();
    tbody.replaceChildren(el('tr', {}, el('td.empty', { colspan: '5' }, 'Loading users…')));
    load().catch((e) => { tbody.replaceChildren(); listErrors.replaceChildren(errorBlock(e)); });
    return null;
}
