// Live updates of an open timeline or activity view: the auditor's stream
// (GET /logs/stream, Server-Sent Events) read with fetch, since EventSource
// cannot send the Authorization header (lib/sse.js). It starts at the logs'
// live ends before the first page is read, so nothing stored between the
// page and the stream is missed (an event seen twice is shown once), and
// resumes after a network drop from the last id it was given
// (Last-Event-ID: a position in every log, which the auditor reads back).

import { apiUrl, reportUnauthorized, token } from './api.js';
import { el } from './dom.js';
import { openStream } from './lib/sse.js';

export class Live {
    // query: the stream's filters ("filter%5Btarget%5D=users:5&..."),
    // onEvent(resource) for each event, onReset() when the stream cannot
    // resume (the position fell out of the backlog: 410) and the view should
    // reload its first page.
    constructor({ query, onEvent, onReset }) {
        this.query = query;
        this.onEvent = onEvent;
        this.onReset = onReset;
        this.abort = null;
        this.status = el('p.live-status', { 'data-testid': 'live-status', role: 'status', 'aria-live': 'polite' });
        this.show('off', 'Live updates off');
    }

    show(state, label) {
        this.status.dataset.state = state;
        this.status.replaceChildren(el('span.live-dot', { 'aria-hidden': 'true' }), ` ${label}`);
    }

    // Starts reading at the logs' live ends. Resolves true once the stream
    // is open (read the first page then), false when its first connection
    // failed (it goes on trying) or was refused. A connection made without
    // an id (none received yet) starts at the then-live ends: after start
    // resolved, what was stored in between is in no page shown, so
    // onReset reloads the view.
    start() {
        this.stop();
        this.abort = new AbortController();
        const signal = this.abort.signal;
        let resolved = false;
        let settle;
        const ready = new Promise((resolve) => {
            settle = (ok) => {
                resolved = true;
                resolve(ok);
            };
        });
        let fresh = true; // the connection under way has no id to resume from
        openStream({
            url: apiUrl(`/logs/stream${this.query ? `?${this.query}` : ''}`),
            token,
            signal,
            onMessage: (msg) => {
                if (signal.aborted || !msg || msg.data === undefined || msg.data === '') return;
                let doc;
                try { doc = JSON.parse(msg.data); } catch { return; }
                if (doc && doc.type === 'data-events') this.onEvent(doc);
            },
            onState: (s) => {
                if (signal.aborted) return;
                if (s.state === 'open') {
                    if (fresh && resolved) this.onReset();
                    settle(true);
                    this.show('open', 'Live: new events appear as they are stored');
                } else if (s.state === 'connecting') {
                    fresh = !s.lastEventId;
                    this.show('connecting', 'Connecting to the live stream…');
                } else if (s.state === 'reconnecting') {
                    settle(false);
                    this.show('reconnecting', `Connection lost; reconnecting${s.delay ? ` in ${Math.ceil(s.delay / 1000)} s` : ''} (no event will be missed)`);
                } else if (s.state === 'error') {
                    settle(false);
                    const e = s.errors && s.errors[0];
                    if (s.status === 401) {
                        this.show('error', 'Live updates stopped: signed out');
                        reportUnauthorized(s);
                    } else if (s.status === 410) {
                        this.show('connecting', 'Too far behind to resume; reloading');
                        this.onReset();
                    } else {
                        this.show('error', `Live updates stopped: ${e ? `${e.title}${e.detail ? `: ${e.detail}` : ''}` : `HTTP ${s.status}`}`);
                    }
                } else if (s.state === 'closed') {
                    settle(false);
                    this.show('off', 'Live updates off');
                }
            },
        });
        return ready;
    }

    stop() {
        if (this.abort) this.abort.abort();
        this.abort = null;
        this.show('off', 'Live updates off');
    }
}
