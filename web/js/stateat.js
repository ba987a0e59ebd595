// "The record at a moment": pick an instant on a timeline (a date and time,
// a slider over the object's life, or a jump to a change) and see the
// object's attributes as they were then, rebuilt by the auditor from its
// events alone (GET /logs/state/:type/:id?at=T, README "Object histories").

import { ApiError, enc, request } from './api.js';
import { absoluteTime, el, errorBlock, fromLocalInput, newId, relativeTime, toLocalInput } from './dom.js';

export class StatePanel {
    // ref {type, id}; at: the instant to show first (ISO or ms) or ''; onAt(iso)
    // is told each instant shown (to keep it in the URL).
    constructor(ref, at, onAt) {
        this.ref = ref;
        this.onAt = onAt;
        this.marks = [];       // times of the changes known, ascending
        this.min = Date.now() - 86400000;
        this.seq = 0;
        this.timer = null;
        const inputId = newId('at');
        const sliderId = newId('slider');
        this.input = el('input', { type: 'datetime-local', step: '1', id: inputId, 'data-testid': 'state-at' });
        this.slider = el('input', { type: 'range', id: sliderId, min: '0', max: '1000', step: '1', 'data-testid': 'state-slider' });
        this.result = el('div.state-result', { 'data-testid': 'state-result', 'aria-live': 'polite' });
        this.earlier = el('button.secondary.small', { type: 'button', 'data-testid': 'state-earlier' }, '◀ Earlier change');
        this.later = el('button.secondary.small', { type: 'button', 'data-testid': 'state-later' }, 'Later change ▶');
        const now = el('button.secondary.small', { type: 'button', 'data-testid': 'state-now' }, 'Now');
        this.element = el('section.card.state', { 'aria-labelledby': `${inputId}-h`, 'data-testid': 'state-panel' },
            el('h2', { id: `${inputId}-h` }, 'The record at a moment'),
            el('div.state-controls', {},
                el('div.field', {}, el('label', { for: inputId }, 'Date and time (your local time)'), this.input),
                el('div.field.grow', {}, el('label', { for: sliderId }, 'Or slide through its life'), this.slider),
                el('div.row', {}, this.earlier, now, this.later)),
            this.result);
        this.input.addEventListener('change', () => {
            const iso = fromLocalInput(this.input.value);
            if (iso) this.show(Date.parse(iso));
        });
        this.slider.addEventListener('input', () => {
            const t = this.sliderTime();
            this.input.value = toLocalInput(t);
            clearTimeout(this.timer);
            this.timer = setTimeout(() => this.show(t, { fromSlider: true }), 250);
        });
        now.addEventListener('click', () => this.show(Date.now()));
        this.earlier.addEventListener('click', () => this.jump(-1));
        this.later.addEventListener('click', () => this.jump(1));
        const first = !at ? NaN : /^\d+$/.test(at) ? Number(at) : Date.parse(at);
        this.show(Number.isNaN(first) ? Date.now() : first, { initial: !at });
    }

    // The changes known so far (ms timestamps of the target's mutations).
    setMarks(times) {
        this.marks = [...new Set(times)].sort((a, b) => a - b);
        if (this.marks.length) this.min = Math.min(this.marks[0], Date.now());
        this.placeSlider(this.at);
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

    // To the change just before (-1) or after (+1) the instant shown: shows
    // the state right after that change.
    jump(dir) {
        const t = this.at;
        const target = dir < 0 ? [...this.marks].reverse().find((m) => m < t) : this.marks.find((m) => m > t);
        if (target !== undefined) this.show(target);
    }

    async show(t, { fromSlider = false, initial = false } = {}) {
        this.at = t;
        const seq = ++this.seq;
        if (!fromSlider) this.placeSlider(t);
        this.input.value = toLocalInput(t);
        if (!initial) this.onAt(new Date(t).toISOString());
        this.result.setAttribute('aria-busy', 'true');
        try {
            const doc = await request(`/logs/state/${enc(this.ref.type)}/${enc(this.ref.id)}?at=${enc(new Date(t).toISOString())}`);
            if (seq === this.seq) this.result.replaceChildren(stateNode(doc, t));
        } catch (e) {
            if (seq !== this.seq) return;
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

function valueText(v) {
    if (v === null) return 'none';
    return typeof v === 'string' ? v : JSON.stringify(v);
}

function stateNode(doc, t) {
    const d = doc.data || {};
    const meta = d.meta || {};
    const attrs = d.attributes || {};
    const rows = Object.keys(attrs).sort().map((k) => [el('dt', {}, k), el('dd', { dataset: { field: k } }, valueText(attrs[k]))]);
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
                show.replaceWith(' (that event is not among those loaded)');
            }
        });
        caption.append(' · ', show);
    }
    return el('div', {}, caption, el('dl.state-attrs', { 'data-testid': 'state-attrs' }, rows));
}
