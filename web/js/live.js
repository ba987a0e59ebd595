// Live updates of an open timeline or activity view: the auditor's stream
// (GET /logs/stream, Server-Sent Events) read with fetch, since EventSource
// cannot send the Authorization header (lib/sse.js). It starts at the log's
// end as the latest checkpoint gives it, before the first page is read, so
// nothing stored between the page and the stream is missed (an event seen
// twice is shown once), and resumes after a network drop from the last
// position it was given (Last-Event-ID).

import { apiUrl, reportUnauthorized, text, token } from './api.js';
import { el } from './dom.js';
import { openStream } from './lib/sse.js';

// The size of the log as the latest checkpoint says (the next position to
// be signed), or null when none is signed yet.
export async function logSize() {
    try {
        const { text: note } = await text('/logs/checkpoint');
        const size = Number(note.split('\n')[1]);
        return Number.isSafeInteger(size) ? size : null;
    } catch {
        return null;
    }
}

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

    // Starts reading after position `after` (null: from the live end).
    start(after) {
        this.stop();
        this.abort = new AbortController();
        const signal = this.abort.signal;
        openStream({
            url: apiUrl(`/logs/stream${this.query ? `?${this.query}` : ''}`),
            token,
            lastEventId: after === null || after === undefined ? undefined : String(after),
            signal,
            onMessage: (msg) => {
                if (signal.aborted || !msg || msg.data === undefined || msg.data === '') return;
                let doc;
                try { doc = JSON.parse(msg.data); } catch { return; }
                if (doc && doc.type === 'data-events') this.onEvent(doc);
            },
            onState: (s) => {
                if (signal.aborted) return;
                if (s.state === 'open') this.show('open', 'Live: new events appear as they are stored');
                else if (s.state === 'connecting') this.show('connecting', 'Connecting to the live stream…');
                else if (s.state === 'reconnecting') {
                    this.show('reconnecting', `Connection lost; reconnecting${s.delay ? ` in ${Math.ceil(s.delay / 1000)} s` : ''} (no event will be missed)`);
                } else if (s.state === 'error') {
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
                } else if (s.state === 'closed') this.show('off', 'Live updates off');
            },
        });
    }

    stop() {
        if (this.abort) this.abort.abort();
        this.abort = null;
    }
}
