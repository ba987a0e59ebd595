// The filter form of the timeline and activity views: action, time range,
// field, event name and order. Its values come from the URL and applying it
// writes them back to the URL (router.js), so a filtered view is a link.

import { el, fromLocalInput, newId, toLocalInput } from './dom.js';

export const ACTIONS = ['created', 'changed', 'deleted', 'viewed'];
export const FILTERS = ['action', 'since', 'until', 'field', 'eventName', 'sort'];

// How many filters of route are set.
export function activeCount(route) {
    return FILTERS.filter((k) => route[k] && !(k === 'sort' && route[k] === '-time')).length;
}

// The API's query for route's filters (bracketed names percent-encoded as
// the auditor writes them), e.g. "filter%5Baction%5D=changed&sort=time".
export function filterQuery(route, { stream = false } = {}) {
    const q = new URLSearchParams();
    for (const k of ['action', 'since', 'until', 'field', 'eventName']) {
        if (route[k]) q.set(`filter[${k}]`, route[k]);
    }
    if (!stream && route.sort) q.set('sort', route.sort);
    return q.toString();
}

function labelled(label, input, hint) {
    const id = newId('f');
    input.id = id;
    const hintNode = hint ? el('span.hint', { id: `${id}-hint` }, hint) : null;
    if (hintNode) input.setAttribute('aria-describedby', hintNode.id);
    return el('div.field', {}, el('label', { for: id }, label), input, hintNode);
}

// The form, filled from route; onApply(values) gets the new filters
// ({action, since, until, field, eventName, sort}, '' for unset).
export function filterForm(route, onApply) {
    const wanted = new Set((route.action || '').split(',').filter(Boolean));
    const boxes = ACTIONS.map((a) => {
        const box = el('input', { type: 'checkbox', name: 'action', value: a, 'data-testid': `filter-action-${a}` });
        box.checked = wanted.has(a);
        return el('label.check', {}, box, ` ${a}`);
    });
    const since = el('input', { type: 'datetime-local', step: '1', name: 'since', 'data-testid': 'filter-since' });
    const until = el('input', { type: 'datetime-local', step: '1', name: 'until', 'data-testid': 'filter-until' });
    since.value = toLocalInput(route.since);
    until.value = toLocalInput(route.until);
    const field = el('input', { type: 'text', name: 'field', maxlength: '256', autocomplete: 'off', spellcheck: 'false', 'data-testid': 'filter-field' });
    field.value = route.field || '';
    const eventName = el('input', { type: 'text', name: 'eventName', maxlength: '256', autocomplete: 'off', spellcheck: 'false', 'data-testid': 'filter-event-name' });
    eventName.value = route.eventName || '';
    const sort = el('select', { name: 'sort', 'data-testid': 'filter-sort' },
        el('option', { value: '' }, 'Newest first'), el('option', { value: 'time' }, 'Oldest first'));
    sort.value = route.sort === 'time' ? 'time' : '';

    const form = el('form.filters', { 'data-testid': 'filters', 'aria-label': 'Filters' },
        el('fieldset.actions', {}, el('legend', {}, 'Actions (none ticked: all)'), boxes),
        el('div.filter-grid', {},
            labelled('From (your local time)', since),
            labelled('Until, not included', until),
            labelled('Changed field', field, 'e.g. email'),
            labelled('Event name', eventName, 'e.g. token-issued, audit.query'),
            labelled('Order', sort)),
        el('div.row', {},
            el('button', { type: 'submit', 'data-testid': 'filter-apply' }, 'Apply filters'),
            el('button.secondary', { type: 'reset', 'data-testid': 'filter-clear' }, 'Clear')));

    const values = (clear) => ({
        action: clear ? '' : ACTIONS.filter((a) => form.querySelector(`input[value="${a}"]`).checked).join(','),
        since: clear ? '' : fromLocalInput(since.value),
        until: clear ? '' : fromLocalInput(until.value),
        field: clear ? '' : field.value.trim(),
        eventName: clear ? '' : eventName.value.trim(),
        sort: clear ? '' : sort.value,
    });
    form.addEventListener('submit', (e) => { e.preventDefault(); onApply(values(false)); });
    form.addEventListener('reset', (e) => { e.preventDefault(); onApply(values(true)); });

    const n = activeCount(route);
    const details = el('details.filter-box', { 'data-testid': 'filter-box' },
        el('summary', {}, n ? `Filters (${n} set)` : 'Filters'), form);
    details.open = n > 0 || window.matchMedia('(min-width: 760px)').matches;
    return details;
}
