// "The record at a moment": pick an instant on a timeline (a date and time,
// a slider over the object's life, or a jump to a change) and see the
// object's attributes as they were then, rebuilt by the auditor from its
// events alone (GET /logs/state/:type/:id?at=T, README "Object histories").

import { ApiError, enc, request } from './api.js';
import { absoluteTime, busy, el, errorBlock, fromLocalInput, newId, relativeTime, toLocalInput } from './dom.js';
import { valueNode } from './events.js';

const LAST_MS = 253402300799999; // 9999-12-31T23:59:59.999Z, the auditor's last instant

// at= as the URL may carry it (ms since the epoch, or RFC 3339) as ms, or
// null when it is not one the auditor takes.
function parseInstant(at) {
    if (!at) return null;
    let t = NaN;
    if (/^\d{1,15}$/.test(at)) t = Number(at);
    else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(at)) t = Date.parse(at);
    return Number.isFinite(t) && t >= 0 && t <= LAST_MS ? t : null;
}

export class StatePanel {
    // ref {type, id}; at: the instant to show first (ISO or ms) or ''; onAt(iso)
    // is told each instant shown (to keep it in the URL).
    constructor(ref, at, onAt) {
        this.ref = ref;
        this.onAt = onAt;
        this.min = Date.now() - 86400000; // the slider's start, until findStart knows it
        this.changedAt = null;            // when the change that made the state shown was stamped
        this.seq = 0;
        this.timer = null;
        const inputId = newId('at');
        const sliderId = newId('slider');
        this.input = el('input', { type: 'datetime-local', step: '1', id: inputId, 'data-testid': 'state-at' });
        this.slider = el('input', { type: 'range', id: sliderId, min: '0', max: '1000', step: '1', 'data-testid': 'state-slider' });
        this.result = el('div.state-result', { 'data-testid': 'state-result', 'aria-live': 'polite' });
        this.warning = el('div');
        this.earlier = el('button.secondary.small', { type: 'button', 'data-testid': 'state-earlier' }, '◀ Earlier change');
        this.later = el('button.secondary.small', { type: 'button', 'data-testid': 'state-later' }, 'Later change ▶');
        const now = el('button.secondary.small', { type: 'button', 'data-testid': 'state-now' }, 'Now');
        this.element = el('section.card.state', { 'aria-labelledby': `${inputId}-h`, 'data-testid': 'state-panel' },
            el('h2', { id: `${inputId}-h` }, 'The record at a moment'),
            el('div.state-controls', {},
                el('div.field', {}, el('label', { for: inputId }, 'Date and time (your local time)'), this.input),
                el('div.field.grow', {}, el('label', { for: sliderId }, 'Or slide through its life'), this.slider),
                el('div.row', {}, this.earlier, now, this.later)),
            this.warning,
            this.result);
        this.input.addEventListener('change', () => {
            const iso = fromLocalInput(this.input.value);
            if (iso) this.show(Date.parse(iso));
        });
        this.slider.addEventListener('input', () => {
            const t = this.sliderTime();
            this.input.value = toLocalInput(t);
            this.slider.setAttribute('aria-valuetext', absoluteTime(t));
            clearTimeout(this.timer);
            this.timer = setTimeout(() => this.show(t, { fromSlider: true }), 250);
        });
        now.addEventListener('click', () => this.show(Date.now()));
        this.earlier.addEventListener('click', () => this.jump(-1, this.earlier));
        this.later.addEventListener('click', () => this.jump(1, this.later));
        this.findStart().catch(() => {});
        const first = parseInstant(at);
        this.show(first === null ? Date.now() : first, { initial: first === null });
        if (at && first === null) {
            this.warning.replaceChildren(el('p.error', { role: 'alert', 'data-testid': 'state-warning' },
                `The link's instant (at=${at.slice(0, 40)}) is not a date and time from 1970 to 9999; this shows now.`));
        }
    }

    // The object's first change (its creation when the log saw it): the
    // slider's start.
    async findStart() {
        const ev = await this.neighbour('time', null);
        if (ev) {
            this.min = Math.min(ev.attributes.timestamp, Date.now());
            this.placeSlider(this.at);
        }
    }

    // The target's mutation next to an instant, asked of the auditor (not
    // looked up among the events loaded, which may be a few pages of many):
    // order 'time' with since gives the first change from then on, '-time'
    // with until the last one before then. Null when there is none.
    async neighbour(order, window) {
        const q = new URLSearchParams({ 'filter[action]': 'created,changed,deleted', sort: order, 'page[size]': '1' });
        if (window) q.set(window.key, new Date(window.t).toISOString());
        const doc = await request(`/logs/for/${enc(this.ref.type)}/${enc(this.ref.id)}?${q}`);
        return (doc && doc.data && doc.data[0]) || null;
    }

    sliderTime() {
        const max = Date.now();
        return Math.round(this.min + ((max - this.min) * Number(this.slider.value)) / 1000);
    }

    placeSlider(t) {
        const max = Date.now();
        const f = max > this.min ? (t - this.min) / (max - this.min) : 1;
        this.slider.value = String(Math.round(Math.min(1, Math.max(0, f)) * 1000));
        this.slider.setAttribute('aria-valuetext', t ? absoluteTime(t) : '');
    }

    // To the change before (-1) the one that made the state shown (or before
    // the instant, when the object did not exist then), or to the first
    // change after the instant (+1): shows the state that change made.
    async jump(dir, button) {
        const t = this.at;
        this.warning.replaceChildren();
        await busy(button, async () => {
            const ev = dir < 0
                ? await this.neighbour('-time', { key: 'filter[until]', t: this.changedAt ?? t })
                : await this.neighbour('time', { key: 'filter[since]', t: t + 1 });
            if (ev) await this.show(ev.attributes.timestamp);
            else this.warning.replaceChildren(el('p.muted', { 'data-testid': 'state-warning' }, dir < 0 ? 'No earlier change.' : 'No later change.'));
        }, (e) => this.warning.replaceChildren(errorBlock(e)));
    }

    async show(t, { fromSlider = false, initial = false } = {}) {
        this.at = t;
        const seq = ++this.seq;
        if (!fromSlider) this.placeSlider(t);
        this.input.value = toLocalInput(t);
        if (!initial) {
            this.onAt(new Date(t).toISOString());
            this.warning.replaceChildren();
        }
        this.result.setAttribute('aria-busy', 'true');
        try {
            const doc = await request(`/logs/state/${enc(this.ref.type)}/${enc(this.ref.id)}?at=${enc(new Date(t).toISOString())}`);
            if (seq !== this.seq) return;
            const changed = doc && doc.data && doc.data.meta && Date.parse(doc.data.meta.changedAt);
            this.changedAt = Number.isFinite(changed) ? changed : null;
            this.result.replaceChildren(stateNode(doc, t));
        } catch (e) {
            if (seq !== this.seq) return;
            this.changedAt = null;
            if (e instanceof ApiError && e.status === 404) {
                const d = e.errors[0];
                this.result.replaceChildren(el('p.state-none', { 'data-testid': 'state-none' },
                    `It did not exist at ${absoluteTime(t)}. `, d && d.detail ? d.detail : ''));
            } else {
                this.result.replaceChildren(errorBlock(e));
            }
        } finally {
            if (seq === this.seq) this.result.removeAttribute('aria-busy');
        }
    }
}

function stateNode(doc, t) {
    const d = doc.data || {};
    const meta = d.meta || {};
    const attrs = d.attributes || {};
    const rows = Object.keys(attrs).sort().map((k) => [el('dt', {}, k), el('dd', { dataset: { field: k } }, valueNode(attrs[k], 'plain'))]);
    for (const k of meta.erased || []) rows.push([el('dt', {}, k), el('dd.erased', { dataset: { field: k } }, 'erased')]);
    const changed = meta.changedAt ? Date.parse(meta.changedAt) : NaN;
    const eventId = d.relationships && d.relationships.event && d.relationships.event.data && d.relationships.event.data.id;
    const caption = el('p.state-meta', {},
        `As it was at ${absoluteTime(t)}: `,
        meta.version !== null && meta.version !== undefined ? `version ${meta.version}, ` : '',
        Number.isNaN(changed) ? '' : `${meta.action || 'changed'} ${relativeTime(changed)} (${absoluteTime(changed)})`);
    if (eventId) {
        const show = el('button.link', { type: 'button' }, 'show that event');
        show.addEventListener('click', () => {
            const li = document.querySelector(`li[data-event-id="${CSS.escape(eventId)}"]`);
            if (li) {
                li.closest('details')?.setAttribute('open', '');
                li.scrollIntoView({ block: 'center' });
                li.classList.add('fresh');
                setTimeout(() => li.classList.remove('fresh'), 3000);
            } else {
                show.replaceWith(' (it is not among the events loaded yet)');
            }
        });
        caption.append(' · ', show);
    }
    return el('div', {}, caption, el('dl.state-attrs', { 'data-testid': 'state-attrs' }, rows));
}
