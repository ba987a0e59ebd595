// web/js/lib/sse.js: the parser against a sample stream that uses every rule
// of WHATWG HTML §9.2.5-9.2.6, cut at every position (as text, and as UTF-8 bytes
// through a streaming TextDecoder as openStream decodes); and openStream
// against a node:http server of the test's own that drops the connection,
// ends it, answers 401, 503 or the wrong type, and is aborted.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';

import { SSEParser, openStream, reconnectDelay } from '../../../web/js/lib/sse.js';

// Every line-ending kind, a BOM, comments, retry, multi-line data with an
// empty line and a double space, a custom event, an id-only block (a
// keep-alive), an id with NUL (ignored), a bad retry, an empty id, an
// unknown field, and an unfinished block at the end (dropped).
const SAMPLE = '\uFEFF' +
    'retry: 1500\r\n: a comment\r\n\r\n' +
    'id: 1\ndata: {"a":1}\n\n' +
    'event: update\rdata: line one\rdata:line two\rdata\rdata:  two spaces\r\r' +
    ': keep-alive\r\nid: 4790\r\n\r\n' +
    'id: bad\u0000id\nunknown: x\ndata: é😀\n\n' +
    'retry: 12x\nid\n\n' +
    'data: no end\n';
const WANT = [
    { type: 'message', event: 'message', data: '{"a":1}', id: '1' },
    { type: 'message', event: 'update', data: 'line one\nline two\n\n two spaces', id: '1' },
    { type: 'id', id: '4790' },
    { type: 'message', event: 'message', data: 'é😀', id: '4790' },
    { type: 'id', id: '' },
];

function parseAll(chunks) {
    const p = new SSEParser();
    const out = chunks.flatMap((c) => p.push(c));
    return { out, retry: p.retry, lastEventId: p.lastEventId, parser: p };
}

test('the sample stream, whole and one character at a time', () => {
    const whole = parseAll([SAMPLE]);
    assert.deepEqual(whole.out, WANT);
    assert.equal(whole.retry, 1500);
    assert.equal(whole.lastEventId, '');
    assert.deepEqual(parseAll([...SAMPLE]).out, WANT);
    assert.deepEqual(whole.parser.end(), []);
});

test('split in two at every character, and at every UTF-8 byte', () => {
    for (let i = 0; i <= SAMPLE.length; i++)
        assert.deepEqual(parseAll([SAMPLE.slice(0, i), SAMPLE.slice(i)]).out, WANT, `split at ${i}`);
    const bytes = new TextEncoder().encode(SAMPLE);
    for (let i = 0; i <= bytes.length; i++) {
        const d = new TextDecoder('utf-8', { ignoreBOM: true });
        const chunks = [d.decode(bytes.subarray(0, i), { stream: true }), d.decode(bytes.subarray(i), { stream: true }), d.decode()];
        assert.deepEqual(parseAll(chunks).out, WANT, `byte split at ${i}`);
    }
});

test('line endings: CRLF split across chunks is one line end; CR CR is two', () => {
    assert.deepEqual(parseAll(['data: a\r', '\ndata: b\r', '\n\r', '\n']).out, [{ type: 'message', event: 'message', data: 'a\nb', id: '' }]);
    assert.deepEqual(parseAll(['data: a\r', '', '\r']).out, [{ type: 'message', event: 'message', data: 'a', id: '' }]);
    assert.deepEqual(parseAll(['data: a\r\r\n']).out, [{ type: 'message', event: 'message', data: 'a', id: '' }]);
    assert.deepEqual(parseAll(['data: a\n\r\n']).out, [{ type: 'message', event: 'message', data: 'a', id: '' }]);
});

test('BOM, comments, retry, id without data, end of stream', () => {
    // One BOM is dropped; a second one is part of a field name.
    assert.deepEqual(parseAll(['\uFEFF\uFEFFdata: x\n\n']).out, []);
    assert.deepEqual(parseAll(['', '\uFEFF', 'data: x\n\n']).out, [{ type: 'message', event: 'message', data: 'x', id: '' }]);
    assert.deepEqual(parseAll(['data: \uFEFFx\n\n']).out[0].data, '\uFEFFx');
    assert.deepEqual(parseAll([': only a comment\n\n:\n\n']).out, []);
    for (const [line, want] of [['retry: 250', 250], ['retry:0', 0], ['retry: -1', null], ['retry: 1.5', null], ['retry: ', null],
                                ['retry:  5', null], ['retry', null]])
        assert.equal(parseAll([line + '\n\n']).retry, want, line);
    // An id without data dispatches nothing but moves the last event id,
    // which the next message carries.
    const p = parseAll([': keep-alive\nid: 10\n\ndata: x\n\n']);
    assert.deepEqual(p.out, [{ type: 'id', id: '10' }, { type: 'message', event: 'message', data: 'x', id: '10' }]);
    // A blank line without an id field reports nothing; the event type
    // does not outlive its block.
    assert.deepEqual(parseAll(['event: e\n\ndata: x\n\n']).out, [{ type: 'message', event: 'message', data: 'x', id: '' }]);
    // The parser of a new connection starts from the last id (lastEventId).
    const q = new SSEParser({ lastEventId: '7' });
    assert.deepEqual(q.push('retry: 5\n\ndata: y\n\n'), [{ type: 'message', event: 'message', data: 'y', id: '7' }]);
    // end(): an unfinished block is dropped, and a new stream may start with a BOM.
    const r = new SSEParser();
    r.push('id: 3\ndata: cut');
    assert.deepEqual(r.end(), []);
    assert.deepEqual(r.push('\uFEFFdata: z\n\n'), [{ type: 'message', event: 'message', data: 'z', id: '' }]);
    // A line that never ends is refused, not kept growing.
    const s = new SSEParser({ maxLength: 100 });
    assert.throws(() => s.push('data: ' + 'x'.repeat(200)), RangeError);
    const t = new SSEParser({ maxLength: 100 });
    assert.throws(() => { for (let i = 0; i < 50; i++) t.push('data: xxxx\n'); }, RangeError);
});

test('reconnectDelay: the retry first, then doubling from 250 ms, capped, with jitter', () => {
    const one = () => 1, zero = () => 0;
    assert.equal(reconnectDelay(1, 1000, { random: one }), 1000);
    assert.equal(reconnectDelay(1, 99999, { maxDelay: 5000 }), 5000);
    assert.deepEqual([2, 3, 4, 5].map((f) => reconnectDelay(f, 100, { random: one })), [500, 1000, 2000, 4000]);
    assert.deepEqual([2, 3].map((f) => reconnectDelay(f, 1000, { random: zero })), [1000, 2000]);
    assert.equal(reconnectDelay(20, 1000, { random: one }), 30000);
    assert.equal(reconnectDelay(2, 0, { random: one }), 500);
});

// ---- openStream against a server ----

// A server whose handler is the n-th of handlers for the n-th request; it
// records each request's headers.
async function serve(handlers) {
    const requests = [];
    const server = createServer((req, res) => {
        requests.push(req.headers);
        const h = handlers[Math.min(requests.length, handlers.length) - 1];
        h(req, res);
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${server.address().port}/data-events/stream`;
    return { url, requests, close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }) };
}

const eventStream = (res) => res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });

test('openStream: messages, a dropped connection, a clean end, then 401', async () => {
    const srv = await serve([
        (req, res) => {
            eventStream(res);
            res.write('retry: 30\n\nid: 1\ndata: one\n\n');
            res.write('id: 2\ndata: two\n\n: keep-alive\nid: 7\n\n');
            // A block cut off by the drop: never dispatched, so never repeated.
            res.write('id: 8\ndata: par', () => setTimeout(() => res.socket.destroy(), 20));
        },
        (req, res) => {
            eventStream(res);
            res.write('retry: 30\n\nid: 8\ndata: eight \xc3', 'latin1');
            setTimeout(() => res.end('\xa9\n\nid: 9\ndata: nine\n\n', 'latin1'), 20); // é cut across writes
        },
        (req, res) => {
            res.writeHead(401, { 'Content-Type': 'application/vnd.api+json', 'WWW-Authenticate': 'Bearer' });
            res.end(JSON.stringify({ errors: [{ status: '401', title: 'Unauthorized', detail: 'The token expired.' }] }));
        },
    ]);
    const messages = [], ids = [], states = [];
    let n = 0;
    const final = await openStream({
        url: srv.url, token: async () => `t${++n}`, onMessage: (m) => messages.push(m), onId: (id) => ids.push(id),
        onState: (s) => states.push(s),
    });
    await srv.close();
    assert.deepEqual(messages.map((m) => [m.id, m.data]), [['1', 'one'], ['2', 'two'], ['8', 'eight é'], ['9', 'nine']]);
    assert.deepEqual(ids, ['7']);
    assert.deepEqual(srv.requests.map((h) => [h.accept, h.authorization, h['last-event-id']]),
                     [['text/event-stream', 'Bearer t1', undefined], ['text/event-stream', 'Bearer t2', '7'],
                      ['text/event-stream', 'Bearer t3', '9']]);
    assert.deepEqual(states.map((s) => s.state), ['connecting', 'open', 'reconnecting', 'connecting', 'open', 'reconnecting', 'connecting', 'error']);
    assert.deepEqual(states.filter((s) => s.state === 'reconnecting').map((s) => s.delay), [30, 30]);
    assert.deepEqual(final, { state: 'error', status: 401, unauthorized: true,
                              errors: [{ status: '401', title: 'Unauthorized', detail: 'The token expired.' }] });
});

test('openStream: starts from lastEventId, stops on 4xx without reconnecting', async () => {
    const srv = await serve([(req, res) => {
        res.writeHead(410, { 'Content-Type': 'application/vnd.api+json' });
        res.end('{"errors":[{"status":"410","title":"Gone"}]}');
    }]);
    const final = await openStream({ url: srv.url, token: () => 'tok', lastEventId: '4711' });
    await srv.close();
    assert.equal(srv.requests.length, 1);
    assert.equal(srv.requests[0]['last-event-id'], '4711');
    assert.deepEqual(final, { state: 'error', status: 410, unauthorized: false, errors: [{ status: '410', title: 'Gone' }] });
});

test('openStream: abort while reading, and while waiting to reconnect', async () => {
    const srv = await serve([(req, res) => {
        eventStream(res);
        res.write('id: 1\ndata: first\n\n');
        const timer = setInterval(() => res.write(': keep-alive\n\n'), 10);
        res.on('close', () => clearInterval(timer));
    }]);
    const ac = new AbortController();
    const states = [];
    const final = await openStream({
        url: srv.url, signal: ac.signal, onState: (s) => states.push(s.state), onMessage: () => setTimeout(() => ac.abort(), 30),
    });
    assert.deepEqual(final, { state: 'closed' });
    assert.deepEqual(states, ['connecting', 'open', 'closed']);
    await srv.close();

    const gone = await serve([(req, res) => res.socket.destroy()]);
    const ac2 = new AbortController();
    const t0 = Date.now();
    const done = openStream({ url: gone.url, signal: ac2.signal, retry: 60000,
                              onState: (s) => s.state === 'reconnecting' && ac2.abort() });
    assert.deepEqual(await done, { state: 'closed' });
    assert.ok(Date.now() - t0 < 5000, 'the wait ended with the abort');
    await gone.close();
    // Aborted before it starts: nothing is fetched.
    const ac3 = new AbortController();
    ac3.abort();
    assert.deepEqual(await openStream({ url: 'http://127.0.0.1:9/', signal: ac3.signal, fetch: () => assert.fail('fetched') }),
                     { state: 'closed' });
});

test('openStream: 5xx and network errors back off; a wrong type or id stops', async () => {
    // A fake fetch: three 503s, then a stream that ends, then aborts.
    const ac = new AbortController();
    const states = [];
    let calls = 0;
    const fetch = async (url, init) => {
        calls++;
        if (calls <= 2)
            return new Response('{"errors":[]}', { status: 503 });
        if (calls === 3)
            throw new TypeError('fetch failed');
        if (calls === 4)
            return new Response('id: \u00e9\ndata: x\n\n', { headers: { 'Content-Type': 'text/event-stream; charset=utf-8' } });
        assert.fail('no fifth request: the id cannot be sent back');
        return init;
    };
    const final = await openStream({ url: 'x', fetch, signal: ac.signal, retry: 5, maxDelay: 20, random: () => 1,
                                     onState: (s) => states.push(s) });
    assert.deepEqual(states.filter((s) => s.state === 'reconnecting').map((s) => [s.failures, s.delay, s.reason]),
                     [[1, 5, 'the server answered 503'], [2, 20, 'the server answered 503'], [3, 20, 'fetch failed'], [1, 5, 'the stream ended']]);
    assert.equal(final.state, 'error');
    assert.equal(final.errors[0].title, 'Unusable event id');
    const html = await openStream({ url: 'x', fetch: async () => new Response('<html>', { headers: { 'Content-Type': 'text/html' } }) });
    assert.equal(html.state, 'error');
    assert.equal(html.status, 200);
    assert.match(html.errors[0].detail, /text\/html/);
});
