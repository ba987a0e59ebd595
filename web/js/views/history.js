// What the timeline (one target) and the activity view (one actor) share:
// the filtered list of events read a page at a time, live updates, export,
// and proof checks of single events.

import { enc, request } from '../api.js';
import { busy, el, errorBlock, notify, plural } from '../dom.js';
import { EventList } from '../events.js';
import { exportButtons } from '../exporter.js';
import { filterForm, filterQuery, activeCount } from '../filters.js';
import { checkEventProof } from '../integrity.js';
import { Live } from '../live.js';
import { navigate } from '../router.js';

const PAGE = 50;

export class History {
    // kind 'target' or 'actor'; ref {type, id}; route: the URL's filters.
    constructor(kind, ref, route) {
        this.kind = kind;
        this.ref = ref;
        this.route = route;
        this.next = null;
        this.onEvents = () => {};  // told after each change of the list
        this.onLive = () => {};    // told of each live event shown
        const desc = route.sort !== 'time';
        // A jump in versions is a gap only when no filter hides mutations.
        const unfiltered = !['action', 'since', 'until', 'field', 'eventName'].some((k) => route[k]);
        this.list = new EventList({
            mode: kind, sort: desc ? 'desc' : 'asc', gapCheck: kind === 'target' && unfiltered,
            onVerify: (ev, panel, button) => checkEventProof(ev, panel, button),
        });
        this.more = el('button.secondary', { type: 'button', 'data-testid': 'load-more', hidden: true },
            desc ? 'Load older events' : 'Load newer events');
        this.flagTimers = [];
        this.flagSince = null; // the earliest live mutation not yet looked at again for flags
        this.more.addEventListener('click', () => busy(this.more, () => this.loadMore(), (e) => this.fail(e)));
        this.summary = el('p.list-summary', { 'data-testid': 'list-summary', 'aria-live': 'polite' }, 'Loading events…');
        this.errors = el('div');
        this.live = new Live({
            query: this.streamQuery(),
            onEvent: (ev) => this.arrived(ev),
            onReset: () => this.reload(),
        });
    }

    basePath() {
        const side = this.kind === 'target' ? 'for' : 'by';
        return `/logs/${side}/${enc(this.ref.type)}/${enc(this.ref.id)}`;
    }

    // The query of the list as shown, for a page or an export.
    path({ page = true } = {}) {
        const q = filterQuery(this.route);
        const size = page ? `page%5Bsize%5D=${PAGE}` : '';
        return `${this.basePath()}?${[q, size].filter(Boolean).join('&')}`;
    }

    streamQuery() {
        const self = new URLSearchParams();
        self.set(`filter[${this.kind}]`, `${this.ref.type}:${this.ref.id}`);
        return [self.toString(), filterQuery(this.route, { stream: true })].filter(Boolean).join('&');
    }

    // The filters, the live status, the list and its buttons.
    elements(exportName) {
        return [
            filterForm(this.route, (values) => navigate({ ...this.route, ...values })),
            el('div.list-head', {}, this.summary, this.live.status,
                exportButtons(() => this.path({ page: false }), exportName)),
            this.errors,
            this.list.element,
            this.more,
        ];
    }

    fail(e) {
        this.errors.replaceChildren(errorBlock(e));
    }

    // Live updates from the logs' ends, then the first page: what was
    // stored after the stream began comes live, what before is in the page
    // or later ones (an event in both is shown once).
    async start() {
        await this.live.start();
        if (!(await this.reload())) this.live.stop();
    }

    async reload() {
        this.errors.replaceChildren();
        try {
            const doc = await request(this.path());
            this.next = (doc.links && doc.links.next) || null;
            this.list.reset(doc.data || [], Boolean(this.next));
            this.updated();
            return true;
        } catch (e) {
            this.summary.textContent = 'The events could not be loaded.';
            this.list.reset([], false);
            this.list.element.replaceChildren();
            this.fail(e);
            return false;
        }
    }

    async loadMore() {
        if (!this.next) return;
        // links.next names the auditor's path: ask the API's /logs with its query.
        const query = this.next.slice(this.next.indexOf('?'));
        const doc = await request(`${this.basePath()}${query}`);
        this.next = (doc.links && doc.links.next) || null;
        this.list.add(doc.data || [], Boolean(this.next));
        this.updated();
    }

    arrived(ev) {
        // A stream message holds every field's change; a page only the filtered one.
        let shown = ev;
        const a = ev.attributes || {};
        if (this.route.field && a.changes) {
            const c = a.changes[this.route.field];
            shown = { ...ev, attributes: { ...a, changes: c ? { [this.route.field]: c } : {} } };
        }
        if (this.list.insert(shown)) {
            this.updated();
            this.onLive(ev);
            if (a.action !== 'viewed') {
                notify(`New event: ${a.action} ${a.targetType}:${a.targetId}`, 'info', 3000);
                this.scheduleFlags(a.timestamp);
            }
        }
    }

    // The checker flags a mutation some seconds after it is stored
    // (AUDITLOG_CHECK_GRACE_MS, 10 s by default), and a stream message
    // carries no flags: ask for the flags of the live mutations again after
    // 12 s and after 35 s.
    scheduleFlags(timestamp) {
        this.flagSince = Math.min(this.flagSince ?? timestamp, timestamp);
        for (const t of this.flagTimers) clearTimeout(t);
        this.flagTimers = [12000, 35000].map((ms, i) => setTimeout(() => this.refreshFlags(i === 1), ms));
    }

    async refreshFlags(last) {
        const q = new URLSearchParams({
            'filter[flag]': 'gap,late,duplicate-version,drift,after-delete',
            'filter[since]': new Date(this.flagSince).toISOString(),
            'page[size]': '1000',
        });
        if (last) this.flagSince = null;
        try {
            const doc = await request(`${this.basePath()}?${q}`);
            let changed = false;
            for (const f of doc.data || []) {
                const shown = this.list.events.find((e) => e.id === f.id);
                if (shown && f.meta && JSON.stringify(f.meta.flags) !== JSON.stringify(shown.meta && shown.meta.flags)) {
                    shown.meta = { ...(shown.meta || {}), flags: f.meta.flags };
                    changed = true;
                }
            }
            if (changed) this.list.render();
        } catch { /* the next page load shows them */ }
    }

    updated() {
        const n = this.list.size;
        const filters = activeCount(this.route);
        this.summary.textContent = `${plural(n, 'event')} shown${this.next ? ' (more below)' : ''}` +
            `${filters ? `, ${plural(filters, 'filter')} applied` : ''}.`;
        this.more.hidden = !this.next;
        this.onEvents(this.list.events);
    }

    stop() {
        this.live.stop();
        for (const t of this.flagTimers) clearTimeout(t);
    }
}
