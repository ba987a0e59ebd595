// A list of data events as a person reads it: newest first (or oldest),
// each change as a per-field diff, created and deleted with their values,
// bursts of reads folded into one line, gaps in a target's versions and the
// checker's flags shown where they are. Used by the timeline (one target)
// and the activity view (one actor).

import { el, plural, timeNode } from './dom.js';
import { href } from './router.js';
import { nameNode } from './names.js';

const LONG = 80; // characters of a value shown before it is folded

const ACTION_LABEL = { created: 'Created', changed: 'Changed', deleted: 'Deleted', viewed: 'Viewed' };

const FLAG_LABEL = {
    gap: 'gap before this version',
    late: 'arrived late',
    'duplicate-version': 'version stored twice',
    drift: 'value drift',
    'after-delete': 'after its deletion',
};

function attrs(ev) {
    return ev.attributes || {};
}

function version(ev) {
    const v = attrs(ev).targetVersion;
    return typeof v === 'number' ? v : null;
}

function isMutation(ev) {
    return ['created', 'changed', 'deleted'].includes(attrs(ev).action);
}

function isReadRecord(ev) {
    return typeof attrs(ev).eventName === 'string' && attrs(ev).eventName.startsWith('audit.');
}

// The server's order (README "The order of a history"): a target's history
// by version, events without one before versioned ones (oldest first), then
// time; an actor's by time. Returns < 0 when a comes first in `sort` order.
export function compareEvents(a, b, mode, sort = 'desc') {
    const A = attrs(a);
    const B = attrs(b);
    let c = 0;
    if (mode === 'target') {
        const va = version(a);
        const vb = version(b);
        if ((va === null) !== (vb === null)) c = va === null ? -1 : 1;
        else if (va !== null && va !== vb) c = va - vb;
    }
    if (!c) c = (A.timestamp || 0) - (B.timestamp || 0);
    if (!c) c = a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
    return sort === 'asc' ? c : -c;
}

// ---------- values and diffs ----------

function valueText(v) {
    if (typeof v === 'string') return v;
    return JSON.stringify(v);
}

// {"erased": true}: what reads show for a change (or a side) whose values
// were erased.
function isErased(v) {
    return Boolean(v) && typeof v === 'object' && !Array.isArray(v) && v.erased === true && Object.keys(v).length === 1;
}

// One side of a change: text, "empty", "erased", or a folded long value.
export function valueNode(v, cls) {
    if (isErased(v)) {
        return el(`span.value.erased.${cls}`, { title: 'This value was erased; its commitment stays in the log.' }, 'erased');
    }
    if (v === null || v === undefined) return el(`span.value.none.${cls}`, {}, 'none');
    const text = valueText(v);
    const quoted = typeof v === 'string';
    if (text.length <= LONG) return el(`span.value.${cls}${quoted ? '.str' : ''}`, {}, text === '' ? '(empty)' : text);
    return el(`details.value.long.${cls}`, {},
        el('summary', {}, `${text.slice(0, 48)}… (${text.length} characters)`),
        el('span.full', {}, text));
}

const sr = (text) => el('span.sr-only', {}, text);

// {field: {prev, next}} as a list: one line per field.
function changesNode(ev) {
    const a = attrs(ev);
    const changes = a.changes && typeof a.changes === 'object' ? a.changes : null;
    if (!changes || !Object.keys(changes).length) return null;
    const list = el('ul.changes');
    const entries = Object.entries(changes).sort(([x], [y]) => (x < y ? -1 : 1));
    if (isReadRecord(ev)) {
        // The auditor's records of reads carry the request's parameters.
        for (const [field, c] of entries) {
            list.append(el('li.param', {}, el('span.fname', {}, field.replace(/^read\./, '')), ' ',
                valueNode(c && c.next, 'next')));
        }
        list.classList.add('params');
        return list;
    }
    for (const [field, c] of entries) {
        const prev = c ? c.prev : undefined;
        const next = c ? c.next : undefined;
        const li = el('li.change', { dataset: { field } }, el('span.fname', {}, field));
        // An erasure (README "Erasing values") removed both sides' values.
        if (isErased(c)) li.append(sr(' had values that were '), valueNode(c, 'next'));
        else if (a.action === 'created') li.append(sr(' set to '), valueNode(next, 'next'));
        else if (a.action === 'deleted') li.append(sr(' was '), valueNode(prev, 'prev'));
        else {
            li.append(sr(' changed from '), valueNode(prev, 'prev'),
                el('span.arrow', { 'aria-hidden': 'true' }, ' → '), sr(' to '), valueNode(next, 'next'));
        }
        list.append(li);
    }
    return list;
}

function flagsNode(ev) {
    const flags = ev.meta && Array.isArray(ev.meta.flags) ? ev.meta.flags : [];
    if (!flags.length) return null;
    return el('ul.flags', { 'aria-label': 'Flags' }, flags.map((f) => el('li.flag', {
        title: f.detail || '', dataset: { kind: f.kind },
    }, el('span.flag-icon', { 'aria-hidden': 'true' }, '⚠ '), `${FLAG_LABEL[f.kind] || f.kind}${f.field ? ` (${f.field})` : ''}`,
    f.detail ? el('span.flag-detail', {}, `: ${f.detail}`) : '')));
}

// ---------- the list ----------

export class EventList {
    // mode: 'target' (one object's history: shows who) or 'actor' (shows
    // what); sort: 'desc' or 'asc'; gapCheck: whether the shown mutations are
    // all of the target's (no filter hides any), so a jump in versions is a
    // gap; onVerify(event, panel): checks an event's proof into panel.
    constructor({ mode, sort = 'desc', gapCheck = false, onVerify }) {
        this.mode = mode;
        this.sort = sort;
        this.gapCheck = gapCheck;
        this.onVerify = onVerify;
        this.events = [];
        this.ids = new Set();
        this.more = false;
        this.open = new Set();   // keys of read groups the person unfolded
        this.fresh = new Set();  // ids that arrived live, highlighted a while
        this.element = el('ol.timeline', { 'data-testid': 'events', 'aria-label': 'Events' });
    }

    get size() { return this.events.length; }

    // Replaces the events with a first page.
    reset(events, more) {
        this.events = [];
        this.ids.clear();
        this.fresh.clear();
        this.add(events, more);
    }

    // Adds a next page (already in order after what is shown).
    add(events, more) {
        for (const ev of events) {
            if (!ev || this.ids.has(ev.id)) continue;
            this.ids.add(ev.id);
            this.events.push(ev);
        }
        this.more = more;
        this.render();
    }

    // A live event: put where the server's order puts it, unless it belongs
    // to a page not loaded yet. Returns true when it was added.
    insert(ev) {
        if (!ev || typeof ev.id !== 'string' || this.ids.has(ev.id)) return false;
        let i = 0;
        while (i < this.events.length && compareEvents(this.events[i], ev, this.mode, this.sort) < 0) i++;
        if (i === this.events.length && this.more) return false;
        this.events.splice(i, 0, ev);
        this.ids.add(ev.id);
        this.fresh.add(ev.id);
        setTimeout(() => {
            this.fresh.delete(ev.id);
            this.element.querySelector(`[data-event-id="${CSS.escape(ev.id)}"]`)?.classList.remove('fresh');
        }, 5000);
        this.render();
        return true;
    }

    // Draws the list again (keeping unfolded groups unfolded and open proof
    // results where they were).
    render() {
        const keep = new Map();
        for (const p of this.element.querySelectorAll('.proof-result[data-for]')) {
            if (p.childNodes.length) keep.set(p.dataset.for, p);
        }
        const items = [];
        let lastMutation = null;
        let sawVersioned = false;
        let dividerDone = false;
        for (let i = 0; i < this.events.length;) {
            const ev = this.events[i];
            if (this.mode === 'target') {
                const v = version(ev);
                if (v !== null) sawVersioned = true;
                // Events without a version list apart from the versioned ones.
                if (v === null && sawVersioned && !dividerDone && this.sort === 'desc') {
                    items.push(el('li.divider', {}, 'Without a version: the auditor\'s records of reads of this history, and events a producer sent without one'));
                    dividerDone = true;
                }
                if (this.gapCheck && isMutation(ev) && v !== null) {
                    if (lastMutation !== null) {
                        const [hi, lo] = this.sort === 'desc' ? [lastMutation, v] : [v, lastMutation];
                        if (hi - lo > 1) items.push(gapNode(lo + 1, hi - 1));
                    }
                    lastMutation = v;
                }
            }
            // A run of reads folds into one line.
            let j = i;
            while (j < this.events.length && attrs(this.events[j]).action === 'viewed' &&
                          (this.mode !== 'target' || (version(this.events[j]) === null) === (version(ev) === null))) j++;
            if (j - i >= 2) {
                items.push(this.groupNode(this.events.slice(i, j), keep));
                i = j;
            } else {
                items.push(this.eventNode(ev, keep));
                i += 1;
            }
        }
        // The oldest versions never seen (only knowable on the last page).
        if (this.gapCheck && !this.more && this.sort === 'desc' && lastMutation !== null && lastMutation > 1) {
            const oldest = this.events.filter((e) => isMutation(e) && version(e) !== null).at(-1);
            if (oldest && attrs(oldest).action !== 'created') items.push(gapNode(1, lastMutation - 1));
        }
        if (!items.length) items.push(el('li.empty', { 'data-testid': 'events-empty' }, 'No events match.'));
        this.element.replaceChildren(...items);
    }

    groupNode(events, keep) {
        const key = events[0].id;
        // Who read (a target's history) or what was read (an actor's).
        const actors = new Map();
        for (const e of events) {
            const a = attrs(e);
            actors.set(this.mode === 'target' ? `${a.actorType}:${a.actorId}` : `${a.targetType}:${a.targetId}`, a);
        }
        const times = events.map((e) => attrs(e).timestamp).sort((x, y) => x - y);
        const who = el('span.group-who');
        let n = 0;
        for (const a of actors.values()) {
            if (n === 3) { who.append(` and ${actors.size - 3} more`); break; }
            if (n) who.append(', ');
            who.append(nameNode(this.mode === 'target' ? a.actorType : a.targetType,
                this.mode === 'target' ? a.actorId : a.targetId));
            n += 1;
        }
        const details = el('details.group', { dataset: { key } },
            el('summary', {},
                el('span.action-label.action-viewed', {}, plural(events.length, 'read')), ' ',
                this.mode === 'target' ? 'by ' : 'of ', who, ' ',
                el('span.span', {}, timeNode(times.at(-1)), events.length > 1 ? ' — ' : '', events.length > 1 ? timeNode(times[0]) : '')),
            el('ol.group-events', {}, events.map((e) => this.eventNode(e, keep))));
        if (this.open.has(key)) details.open = true;
        details.addEventListener('toggle', () => {
            if (details.open) this.open.add(key);
            else this.open.delete(key);
        });
        return el('li.group-item', { 'data-testid': 'read-group' }, details);
    }

    eventNode(ev, keep) {
        const a = attrs(ev);
        const head = el('div.event-head');
        head.append(el(`span.action-label.action-${a.action}`, {}, ACTION_LABEL[a.action] || a.action));
        if (this.mode === 'target') {
            head.append(' by ', nameNode(a.actorType, a.actorId, {
                link: href({ view: 'activity', actor: `${a.actorType}:${a.actorId}` }),
            }));
        } else {
            head.append(' ', nameNode(a.targetType, a.targetId, {
                link: href({ view: 'timeline', target: `${a.targetType}:${a.targetId}` }),
            }));
        }
        if (a.eventName) head.append(' ', el('span.chip.event-name', {}, a.eventName));
        if (version(ev) !== null) head.append(' ', el('span.chip.version', { title: 'The version of the target this event produced or read' }, `v${a.targetVersion}`));
        head.append(' ', timeNode(a.timestamp));
        const proof = keep.get(ev.id) || el('div.proof-result', { dataset: { for: ev.id }, 'aria-live': 'polite' });
        const verify = el('button.link.verify', { type: 'button', 'data-testid': 'verify-event' }, 'Check proof');
        verify.addEventListener('click', () => this.onVerify && this.onVerify(ev, proof, verify));
        const foot = el('div.event-foot', {},
            el('span.position', { title: 'Its position in the log of record' }, `log ${a.log ?? '?'} · #${a.seq ?? '?'}`),
            ' ', verify);
        return el(`li.event.action-${a.action}${this.fresh.has(ev.id) ? '.fresh' : ''}${flagsNode(ev) ? '.flagged' : ''}`, {
            dataset: { eventId: ev.id, action: a.action, seq: String(a.seq ?? '') },
            'data-testid': 'event',
        }, head, flagsNode(ev), changesNode(ev), foot, proof);
    }
}

function gapNode(from, to) {
    const what = from === to ? `Version ${from} is` : `Versions ${from}–${to} are`;
    return el('li.gap-marker', { 'data-testid': 'gap' },
        el('span.flag-icon', { 'aria-hidden': 'true' }, '⚠ '), `${what} missing from this history: an event that never arrived.`);
}
