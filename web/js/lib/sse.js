// sse: reading the live stream (README "Live stream": GET
// /data-events/stream, or /logs/stream through the API) in the browser,
// where EventSource cannot send an Authorization header: an incremental
// Server-Sent Events parser (WHATWG HTML §9.2.5 "Parsing an event stream",
// §9.2.6 "Interpreting an event stream") and a reader over fetch that
// reconnects as EventSource does (§9.2.3), with Last-Event-ID (§9.2.4).
//
//   new SSEParser({lastEventId = '', maxLength = 16 MiB} = {})
//   parser.push(text) -> items[]
//       Feeds decoded text (any split: a CR at the end of one chunk and an LF
//       at the start of the next are one line end). Returns what the lines
//       completed by this chunk dispatch, in order:
//         {type: 'message', event, data, id}  a message: event is its event
//             type ('message' unless an event field said otherwise), data
//             its data lines joined by '\n', id the last event id then;
//         {type: 'id', id}  a block with an id field but no data: it
//             dispatches nothing but sets the last event id (the stream's
//             keep-alives carry the position so: ": keep-alive\nid: 4790").
//       A BOM at the very start is dropped; comments and unknown fields are
//       ignored; an id containing U+0000 is ignored; retry takes ASCII digits
//       only. Throws RangeError when a line, or a message's data, grows past
//       maxLength characters (a server that never ends its line).
//   parser.lastEventId   the last event id string (set at each dispatch)
//   parser.retry         the reconnection time (ms) the stream asked for, or null
//   parser.end() -> []   the stream ended: an unfinished block is dropped,
//                        as §9.2.5 says; the parser can take a new stream
//
//   openStream({url, token, lastEventId, onMessage, onId, onState, signal,
//               fetch, retry = 1000, maxDelay = 30000, random = Math.random})
//       -> Promise<state>
//       Reads the stream at url with fetch (Accept: text/event-stream,
//       Authorization: Bearer <await token()> when token gives one,
//       Last-Event-ID when an id is known), decodes UTF-8 across chunks and
//       calls onMessage(message) for each message and onId(id) for each id
//       block. When the connection fails or ends it reconnects after the
//       stream's retry (else the retry option), waiting longer while
//       connections fail without delivering anything (reconnectDelay), and
//       sends the last id it had. It does not reconnect after a 4xx answer
//       (nor a 2xx that is not an event stream, nor when the last id is not
//       printable ASCII) and stops when signal aborts. A token() that throws
//       counts as a failed connection. onState is told, as things happen:
//         {state: 'connecting', lastEventId}
//         {state: 'open', status}
//         {state: 'reconnecting', delay, reason, failures}
//         {state: 'closed'}                        signal aborted: stopped
//         {state: 'error', status, errors, unauthorized}   stopped: errors
//             are the answer's JSON:API errors ([] when it had none);
//             unauthorized is status === 401: send the person to sign in
//       The promise resolves with the final state ('closed' or 'error') and
//       never rejects. An exception thrown by a callback is rethrown on its
//       own (setTimeout) so that it is reported without stopping the stream.
//
//   reconnectDelay(failures, retry, {maxDelay, random}) -> ms
//       The wait before the next connection after failures failed ones in a
//       row (1: the last one had delivered something): the stream's retry
//       after the first, then max(retry, 250) doubled for each further one,
//       up to maxDelay, times a jitter from 0.5 to 1 so that many browsers
//       cut off at once do not come back at once.
//
// As Chromium's EventSource does, a new connection's parser starts from the
// last event id, so a stream that sends "retry" and a blank line before its
// first id does not forget the position (the letter of §9.2.6 starts every
// stream from an empty id buffer).

const BOM = '\uFEFF';
const LINE_END = /\r\n?|\n/g;

export class SSEParser {
    #start = true;    // nothing seen yet: a BOM may come
    #skipLF = false;  // the last chunk ended in CR: an LF next is part of it
    #line = '';       // the unfinished line
    #data = '';
    #event = '';
    #idBuffer;
    #idSeen = false;  // an id field in the current block
    #max;

    constructor({ lastEventId = '', maxLength = 1 << 24 } = {}) {
        this.lastEventId = lastEventId;
        this.#idBuffer = lastEventId;
        this.retry = null;
        this.#max = maxLength;
    }

    push(text) {
        const out = [];
        if (text === '')
            return out;
        if (this.#start) {
            this.#start = false;
            if (text[0] === BOM)
                text = text.slice(1);
        }
        if (this.#skipLF && text !== '') {
            this.#skipLF = false;
            if (text[0] === '\n')
                text = text.slice(1);
        }
        let pos = 0;
        LINE_END.lastIndex = 0;
        for (let m; (m = LINE_END.exec(text));) {
            const line = this.#line + text.slice(pos, m.index);
            this.#line = '';
            pos = LINE_END.lastIndex;
            if (m[0] === '\r' && pos === text.length)
                this.#skipLF = true;
            this.#field(line, out);
        }
        this.#line += text.slice(pos);
        if (this.#line.length > this.#max)
            throw new RangeError(`an event stream line is longer than ${this.#max} characters`);
        return out;
    }

    end() {
        this.#idBuffer = this.lastEventId; // an id of the dropped block is dropped too
        this.#start = true;
        this.#skipLF = false;
        this.#line = this.#data = this.#event = '';
        this.#idSeen = false;
        return [];
    }

    #field(line, out) {
        if (line === '')
            return this.#dispatch(out);
        if (line[0] === ':')
            return;
        const colon = line.indexOf(':');
        const name = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value[0] === ' ')
            value = value.slice(1);
        switch (name) {
        case 'event':
            this.#event = value;
            break;
        case 'data':
            this.#data += value + '\n';
            if (this.#data.length > this.#max)
                throw new RangeError(`an event stream message is longer than ${this.#max} characters`);
            break;
        case 'id':
            if (!value.includes('\u0000')) {
                this.#idBuffer = value;
                this.#idSeen = true;
            }
            break;
        case 'retry':
            if (/^[0-9]+$/.test(value))
                this.retry = Number(value);
            break;
        }
    }

    #dispatch(out) {
        this.lastEventId = this.#idBuffer;
        if (this.#data !== '')
            out.push({ type: 'message', event: this.#event || 'message', data: this.#data.slice(0, -1), id: this.lastEventId });
        else if (this.#idSeen)
            out.push({ type: 'id', id: this.lastEventId });
        this.#data = this.#event = '';
        this.#idSeen = false;
    }
}

// ---- the reader ----

const MIN_BACKOFF = 250;      // ms: the floor of a doubled wait (retry may be 0)
const ERROR_BODY_MAX = 65536; // characters of an error answer read

function later(e) {
    setTimeout(() => {
        throw e;
    });
}

function call(f, arg) {
    try {
        f(arg);
    } catch (e) {
        later(e);
    }
}

function sleep(ms, signal) {
    return new Promise((resolve) => {
        if (signal?.aborted)
            return resolve();
        const done = () => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', done);
            resolve();
        };
        const timer = setTimeout(done, ms);
        signal?.addEventListener('abort', done, { once: true });
    });
}

export function reconnectDelay(failures, retry, { maxDelay = 30000, random = Math.random } = {}) {
    if (failures <= 1)
        return Math.min(retry, maxDelay);
    return Math.min(maxDelay, Math.max(retry, MIN_BACKOFF) * 2 ** (failures - 1)) * (0.5 + random() / 2);
}

// The JSON:API errors of an answer, [] when it has none.
async function errorsOf(res) {
    try {
        const doc = JSON.parse((await res.text()).slice(0, ERROR_BODY_MAX));
        return Array.isArray(doc?.errors) ? doc.errors : [];
    } catch {
        return [];
    }
}

function isEventStream(res) {
    const type = res.headers.get('content-type') || '';
    return /^text\/event-stream\s*(;|$)/i.test(type);
}

export async function openStream({
    url, token, lastEventId = '', onMessage = () => {}, onId = () => {}, onState = () => {},
    signal, fetch = globalThis.fetch, retry = 1000, maxDelay = 30000, random = Math.random,
}) {
    const finish = (state) => {
        call(onState, state);
        return state;
    };
    const stop = (status, title, detail) =>
        finish({ state: 'error', status, errors: [{ title, detail }], unauthorized: false });
    let last = lastEventId ?? '';
    let retryMs = retry;
    let failures = 0;
    for (;;) {
        if (signal?.aborted)
            return finish({ state: 'closed' });
        call(onState, { state: 'connecting', lastEventId: last });
        let reason;
        let progressed = false;
        try {
            const headers = { Accept: 'text/event-stream' };
            const t = token ? await token() : '';
            if (t)
                headers.Authorization = `Bearer ${t}`;
            if (last !== '') {
                // A header value: printable ASCII (the auditor's ids are digits, '-' and '.').
                if (!/^[\x20-\x7e]*$/.test(last))
                    return stop(0, 'Unusable event id', 'The stream sent an event id that cannot be sent back to resume it.');
                headers['Last-Event-ID'] = last;
            }
            const res = await fetch(url, { headers, signal });
            if (res.status >= 400 && res.status < 500)
                return finish({ state: 'error', status: res.status, errors: await errorsOf(res), unauthorized: res.status === 401 });
            if (res.ok && !isEventStream(res)) {
                res.body?.cancel().catch(() => {});
                return stop(res.status, 'Not an event stream', `The answer is ${res.headers.get('content-type') || 'untyped'}, not text/event-stream.`);
            }
            if (!res.ok) {
                res.body?.cancel().catch(() => {});
                reason = `the server answered ${res.status}`;
            } else {
                call(onState, { state: 'open', status: res.status });
                const parser = new SSEParser({ lastEventId: last });
                const decoder = new TextDecoder('utf-8', { ignoreBOM: true }); // the parser drops the BOM
                const reader = res.body.getReader();
                for (;;) {
                    const { done, value } = await reader.read();
                    const items = parser.push(done ? decoder.decode() : decoder.decode(value, { stream: true }));
                    last = parser.lastEventId;
                    if (parser.retry !== null)
                        retryMs = parser.retry;
                    for (const item of items) {
                        progressed = true;
                        if (item.type === 'message')
                            call(onMessage, item);
                        else
                            call(onId, item.id);
                    }
                    if (done)
                        break;
                }
                reason = 'the stream ended';
            }
        } catch (e) {
            if (signal?.aborted)
                return finish({ state: 'closed' });
            reason = (e && e.message) || String(e);
        }
        failures = progressed ? 1 : failures + 1;
        const delay = reconnectDelay(failures, retryMs, { maxDelay, random });
        call(onState, { state: 'reconnecting', delay, reason, failures });
        await sleep(delay, signal);
    }
}
