// An object's timeline: who did what to it and when, newest first, with
// each change as a diff; its record at any moment; live while open.

import { ApiError, enc, request, splitRef } from '../api.js';
import { el } from '../dom.js';
import { href, navigate, replaceQuietly } from '../router.js';
import { valueNode } from '../events.js';
import { StatePanel } from '../stateat.js';
import { History } from './history.js';

// A small form asking for type:id, for a view opened without one.
export function refForm(label, value, onRef) {
    const input = el('input', { id: 'ref-input', type: 'text', value: value || '', placeholder: 'users:1', required: true, spellcheck: 'false', 'data-testid': 'ref-input' });
    const error = el('span.field-error', { id: 'ref-input-err', 'data-testid': 'ref-error' });
    input.setAttribute('aria-describedby', error.id);
    const form = el('form.row.ref-form', {},
        el('label', { for: 'ref-input' }, label), input, el('button', { type: 'submit' }, 'Show'), error);
    form.addEventListener('submit', (e) => {
        e.preventDefault();
        const ref = splitRef(input.value.trim());
        if (ref) { onRef(`${ref.type}:${ref.id}`); return; }
        input.setAttribute('aria-invalid', 'true');
        error.textContent = 'Give a type and an id joined by a colon, e.g. users:1.';
        input.focus();
    });
    return form;
}

// The object as it is now, when the API serves its type (users, notes),
// kept up to date by the live events: {attrs} or {gone: text}.
class CurrentRecord {
    constructor(ref) {
        this.ref = ref;
        this.attrs = null;
        this.element = el('p.current', { 'data-testid': 'current-record' });
    }

    async load() {
        if (!['users', 'notes'].includes(this.ref.type)) return;
        try {
            const doc = await request(`/api/${enc(this.ref.type)}/${enc(this.ref.id)}`);
            this.attrs = (doc && doc.data && doc.data.attributes) || {};
            this.draw();
        } catch (e) {
            this.gone(e instanceof ApiError && e.status === 404
                ? 'It does not exist now (deleted, or never created through the API).'
                : `Its current record could not be read (${e.message}).`);
        }
    }

    gone(text) {
        this.attrs = null;
        this.element.replaceChildren(el('span.muted', {}, text));
    }

    draw() {
        const a = this.attrs;
        this.element.replaceChildren(el('span.muted', {}, 'Now: '),
            ...Object.keys(a).sort().flatMap((k, i) => [i ? ' · ' : '',
                el('span.kv', {}, `${k} `, valueNode(a[k], 'plain'))]));
        const title = document.getElementById('view-title');
        if (title && typeof a.name === 'string') title.replaceChildren('Timeline of ', el('bdi', {}, a.name));
    }

    // A live mutation of the object: its new values, or its deletion.
    apply(ev) {
        const a = ev.attributes || {};
        if (a.action === 'deleted') this.gone(`It does not exist now: deleted ${new Date(a.timestamp).toLocaleString()}.`);
        else if ((a.action === 'changed' || a.action === 'created') && a.changes) {
            this.attrs = this.attrs || {};
            for (const [k, c] of Object.entries(a.changes)) if (c && 'next' in c) this.attrs[k] = c.next;
            this.draw();
        }
    }
}

export function renderTimeline(main, route) {
    const ref = splitRef(route.target || '');
    if (!ref) {
        main.replaceChildren(el('h1', { tabindex: '-1', id: 'view-title' }, 'Timeline'),
            el('p.lead', {}, 'What happened to one object: pick it by type and id.'),
            refForm('Object (type:id)', route.target, (target) => navigate({ view: 'timeline', target })));
        return null;
    }
    const refText = `${ref.type}:${ref.id}`;
    const now = new CurrentRecord(ref);
    const history = new History('target', ref, route);
    history.onLive = (ev) => now.apply(ev);
    const state = new StatePanel(ref, route.at, (at) => replaceQuietly({ ...route, at }));
    main.replaceChildren(
        el('div.view-head', {},
            el('h1', { tabindex: '-1', id: 'view-title' }, `Timeline of ${refText}`),
            el('p.subtitle', {}, el('code', {}, refText),
                ref.type === 'users' ? [' · ', el('a', { href: href({ view: 'activity', actor: refText }) }, 'what this user did')] : '')),
        now.element,
        state.element,
        el('section.card.history', { 'aria-labelledby': 'history-h' },
            el('h2', { id: 'history-h' }, 'What happened to it'),
            history.elements(`history-${ref.type}-${ref.id}`)));
    now.load();
    history.start();
    return () => history.stop();
}
