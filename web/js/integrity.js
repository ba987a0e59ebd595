// Is the log intact? The header's badge and the integrity view.
//
// The browser checks what it can itself, with Web Crypto (lib/):
// - the latest checkpoint's Ed25519 signature, by the log's verifier key,
//   which this browser remembers from the first time it saw it (a changed
//   key is shown, not trusted silently);
// - that each new checkpoint extends the largest one this browser saw
//   before (an RFC 9162 consistency proof), as a witness would: a log
//   rolled back or rewritten since is caught here, whatever the server says;
// - one event at a time (its "Check proof" button): its values against
//   their commitments, its leaf, its inclusion proof up to the signed root
//   of the event's own log (each partition has a log of its own: README
//   "Partitions and several auditors"), whose latest checkpoint is checked
//   here too, and must extend the one this browser kept for that log.
// And it asks the auditor's GET /verify (auditor role), which re-hashes
// every stored log, and shows what it answered.

import { ApiError, enc, request, text } from './api.js';
import { absoluteTime, count, el, errorBlock, relativeTime, timeNode } from './dom.js';
import { isAuditor } from './session.js';
import { b64decode, b64encode, verifyConsistency } from './lib/merkle.js';
import { parseCheckpoint, parseVerifierKey, verifyNote } from './lib/note.js';
import { checkEvent } from './lib/proof.js';

const KEY_PIN = 'auditlog.vkey';        // the verifier key line first seen
const WITNESS = 'auditlog.witness';     // {origin, size, root} largest checkpoint seen of log 0
// ... and of log N > 0, under WITNESS + '.' + N (an event's "Check proof").
const witnessKey = (log) => (log ? `${WITNESS}.${log}` : WITNESS);

const listeners = [];
const state = {
    loading: false,
    checkpoint: null,   // {origin, size, root (b64), text, signedAt (ms|null)}
    vkeyLine: null,
    keyName: null,
    signature: null,    // {ok: true|false|null, reason}
    keyPin: null,       // {ok, reason}
    witness: null,      // {ok, reason}
    verify: null,       // {ok: true|false|null, text, at, seq, reason}
    error: null,        // an error reading the checkpoint or key
};
let pollTimer = null;

export function integrityState() {
    return state;
}

export function onIntegrityChange(fn) {
    listeners.push(fn);
}

function changed() {
    renderBadge();
    for (const fn of listeners) fn(state);
}

// 'good', 'bad', 'partial' (nothing failed, something not checked) or 'unknown'.
export function verdict() {
    const parts = [state.signature, state.keyPin, state.witness, state.verify];
    if (state.error) return 'bad';
    if (parts.some((p) => p && p.ok === false)) return 'bad';
    if (!state.checkpoint || !state.signature) return 'unknown';
    if (parts.every((p) => p && p.ok === true)) return 'good';
    return 'partial';
}

function renderBadge() {
    const badge = document.getElementById('integrity-badge');
    if (!badge) return;
    const v = verdict();
    const cp = state.checkpoint;
    const size = cp ? `${count(cp.size)} events` : '';
    const label = {
        good: `Log verified · ${size}`,
        partial: `Checkpoint signed · ${size}`,
        bad: 'Log check failed',
        unknown: state.loading ? 'Checking the log…' : 'Log not checked',
    }[v];
    badge.className = `badge badge-${v}`;
    badge.dataset.verdict = v;
    badge.querySelector('.badge-icon').textContent = { good: '✓', partial: '✓', bad: '✗', unknown: '…' }[v];
    badge.querySelector('.badge-text').textContent = label;
    badge.title = cp ? `Checkpoint of ${size}, signed ${cp.signedAt ? absoluteTime(cp.signedAt) : 'at an unknown time'}` : label;
}

// ---------- the checks ----------

async function readKey() {
    const { text: line } = await text('/logs/.well-known/auditlog-vkey');
    const vkey = line.trim();
    const parsed = await parseVerifierKey(vkey);
    const pinned = localStorage.getItem(KEY_PIN);
    if (!pinned) {
        localStorage.setItem(KEY_PIN, vkey);
        state.keyPin = { ok: true, reason: `First seen now; this browser will warn if it changes (${parsed.name}).` };
    } else if (pinned === vkey) {
        state.keyPin = { ok: true, reason: `The same key this browser has seen before (${parsed.name}).` };
    } else {
        state.keyPin = { ok: false, reason: 'The log\'s verifier key is not the one this browser saw before. If the log was moved to a new key on purpose, trust the new key; otherwise someone may be signing in the log\'s name.' };
    }
    state.vkeyLine = pinned && pinned !== vkey ? pinned : vkey;
    state.keyName = `${parsed.name}+${parsed.keyIdHex}`;
}

async function readCheckpoint() {
    const { text: note, headers } = await text('/logs/checkpoint');
    const cp = parseCheckpoint(note);
    const lm = headers.get('Last-Modified');
    const signedAt = lm ? Date.parse(lm) : NaN;
    state.checkpoint = {
        origin: cp.origin, size: cp.size, root: b64encode(cp.root), text: note,
        signedAt: Number.isNaN(signedAt) ? null : signedAt,
    };
    const sig = await verifyNote(note, state.vkeyLine);
    state.signature = { ok: sig.ok, reason: sig.reason };
    if (sig.ok !== false) state.witness = await witness(cp, 0);
}

// A checkpoint of log `log` must extend the largest this browser saw of
// that log; it becomes the one kept when it does. Returns {ok, reason}.
async function witness(cp, log) {
    let seen = null;
    try { seen = JSON.parse(localStorage.getItem(witnessKey(log)) || 'null'); } catch { seen = null; }
    const root = b64encode(cp.root);
    const keep = () => localStorage.setItem(witnessKey(log), JSON.stringify({ origin: cp.origin, size: cp.size, root }));
    if (!seen || seen.origin !== cp.origin) {
        keep();
        return { ok: true, reason: `First checkpoint this browser keeps for ${cp.origin} (size ${count(cp.size)}).` };
    }
    if (cp.size < seen.size)
        return { ok: false, reason: `The log has ${count(cp.size)} events, but this browser saw a checkpoint of ${count(seen.size)}: it was rolled back or truncated.` };
    if (cp.size === seen.size) {
        return root === seen.root
            ? { ok: true, reason: `Unchanged since the checkpoint this browser kept (size ${count(seen.size)}).` }
            : { ok: false, reason: `Two different roots were signed for size ${count(seen.size)}: the log was rewritten.` };
    }
    let proof;
    try {
        const { text: body } = await text(`/logs/consistency?log=${log}&from=${seen.size}&to=${cp.size}`);
        proof = body.split('\n').filter(Boolean).map((h) => b64decode(h));
    } catch (e) {
        return { ok: null, reason: `The consistency proof could not be read: ${e.message}` };
    }
    const ok = await verifyConsistency(seen.size, cp.size, b64decode(seen.root), cp.root, proof).catch(() => false);
    if (!ok)
        return { ok: false, reason: `Does not extend the checkpoint of ${count(seen.size)} events this browser kept: the consistency proof fails. The log was rewritten.` };
    keep();
    return { ok: true, reason: `Extends the checkpoint of ${count(seen.size)} events this browser kept (RFC 9162 consistency proof checked here).` };
}

async function runVerify() {
    if (!isAuditor()) {
        state.verify = { ok: null, text: 'The full re-verification (GET /verify) needs the auditor role.' };
        return;
    }
    state.verify = { ok: null, running: true, text: 'Re-hashing the whole stored log…' };
    changed();
    try {
        // It re-hashes every log: as long as the API lets it (10 minutes).
        // One verification per log (README "Partitions and several auditors").
        const doc = await request('/logs/verify', { timeout: 600000 });
        const all = doc && Array.isArray(doc.data) ? doc.data : doc && doc.data ? [doc.data] : [];
        const attrs = all.map((r) => (r && r.attributes) || {});
        const valid = attrs.length > 0 && attrs.every((a) => a.valid === true);
        const sum = (k) => attrs.reduce((n, a) => n + (Number(a[k]) || 0), 0);
        const logs = attrs.length === 1 ? '' : ` of ${count(attrs.length)} logs`;
        state.verify = {
            ok: valid, at: Date.now(),
            text: valid ? `All ${count(sum('events'))} events${logs} and ${count(sum('checkpoints'))} checkpoints re-hashed and checked.` : 'The auditor did not say the log is valid.',
        };
    } catch (e) {
        if (e instanceof ApiError && e.status === 409) {
            // One error per log that does not verify, each naming its log.
            const errs = e.errors.length ? e.errors : [{}];
            const several = errs.length > 1 || (errs[0].meta && errs[0].meta.log);
            const line = (err) => {
                const meta = err.meta || {};
                const where = several && meta.log !== undefined ? ` in log ${meta.log}` : '';
                return `${err.title || 'Verification failed'}${where}${meta.seq !== undefined ? ` at position ${meta.seq}` : ''}${meta.reason ? ` (${meta.reason})` : ''}: ${err.detail || ''}`;
            };
            const meta = errs[0].meta || {};
            state.verify = {
                ok: false, at: Date.now(), seq: meta.seq, reason: meta.reason,
                text: errs.map(line).join(' '),
            };
        } else {
            state.verify = { ok: null, at: Date.now(), text: `/verify could not run: ${e.message}` };
        }
    }
}

// Reads the key and the checkpoint and checks them; with full, also asks
// /verify. Never throws: failures end up in state.
export async function refresh({ full = false } = {}) {
    if (state.loading) return;
    state.loading = true;
    state.error = null;
    changed();
    try {
        if (!state.vkeyLine || full) await readKey();
        await readCheckpoint();
        if (full) await runVerify();
    } catch (e) {
        state.error = e instanceof ApiError ? e.message : `The checkpoint could not be checked: ${e.message}`;
    } finally {
        state.loading = false;
        changed();
    }
}

// Checks at sign-in, then the checkpoint every 30 s.
export function start() {
    stop();
    refresh({ full: true });
    pollTimer = setInterval(() => refresh(), 30000);
}

export function stop() {
    clearInterval(pollTimer);
    pollTimer = null;
}

// After the person chose to trust a new key: forget the old one (and the
// checkpoint kept under it).
export function trustNewKey() {
    localStorage.removeItem(KEY_PIN);
    localStorage.removeItem(WITNESS);
    state.vkeyLine = null;
    return refresh({ full: true });
}

// ---------- one event ----------

// The latest checkpoint of log `log`, parsed, its note's text kept.
async function logCheckpoint(log) {
    const { text: note } = await text(`/logs/checkpoint?log=${log}`);
    return { ...parseCheckpoint(note), text: note };
}

// The event's own log's latest checkpoint, checked here: signed by the
// key, and an extension of the one this browser kept for that log. A step
// of the proof's panel.
async function logStep(cp, log) {
    const sig = await verifyNote(cp.text, state.vkeyLine);
    if (sig.ok === false)
        return { id: 'log', ok: false, text: `Log ${log}'s latest checkpoint: ${sig.reason}` };
    const w = await witness(cp, log);
    return { id: 'log', ok: w.ok === false ? false : sig.ok === null ? null : w.ok, text: `Log ${log}'s latest checkpoint (${count(cp.size)} events): ${w.reason}` };
}

// Fetches what checking ev takes and checks it here; shows each step in panel.
// The proof is asked against the latest checkpoint of the event's own log,
// which this browser checks first.
export async function checkEventProof(ev, panel, button) {
    if (button) button.disabled = true;
    panel.replaceChildren(el('p.muted', {}, 'Checking in this browser…'));
    try {
        if (!state.vkeyLine) await readKey();
        const attrs = (ev && ev.attributes) || {};
        const log = Number.isInteger(attrs.log) ? attrs.log : 0;
        const leafLine = (await text(`/logs/data-events/${enc(ev.id)}/leaf`, { accept: 'application/json' })).text;
        let cp = null;
        for (let tries = 0; ; tries++) {
            cp = await logCheckpoint(log);
            // Not yet covered by a checkpoint: one is signed within a second.
            if (!(Number.isInteger(attrs.seq) && attrs.seq >= cp.size) || tries >= 4) break;
            await new Promise((r) => setTimeout(r, 700));
        }
        const proofText = (await text(`/logs/data-events/${enc(ev.id)}/proof?size=${cp.size}`)).text;
        const result = await checkEvent({ event: ev, leafLine, proofText, vkeyLine: state.vkeyLine });
        const steps = [...(result.steps || []), await logStep(cp, log)];
        if (!proofText.endsWith(cp.text))
            steps.push({ id: 'log', ok: false, text: `The proof is not against log ${log}'s latest checkpoint.` });
        const ok = steps.some((st) => st.ok === false) ? false : steps.some((st) => st.ok === null) ? null : true;
        panel.replaceChildren(proofNode({ ok, steps }));
    } catch (e) {
        panel.replaceChildren(errorBlock(e, { testid: 'proof-error' }));
    } finally {
        if (button) button.disabled = false;
    }
}

function proofNode(result) {
    const ok = result.ok;
    return el(`div.proof.proof-${ok === true ? 'good' : ok === false ? 'bad' : 'partial'}`, { 'data-testid': 'proof', dataset: { ok: String(ok) } },
        el('p.proof-verdict', {}, ok === true ? '✓ This event is in the signed log, exactly as shown.'
            : ok === false ? '✗ This event does not check out against the signed log.'
                : 'Partly checked: see below.'),
        el('ol.proof-steps', {}, (result.steps || []).map((s) => el(`li.step-${s.ok === true ? 'good' : s.ok === false ? 'bad' : 'partial'}`, {
            dataset: { step: s.id || '' },
        }, el('span.step-icon', { 'aria-hidden': 'true' }, s.ok === true ? '✓ ' : s.ok === false ? '✗ ' : '– '),
        el('span.sr-only', {}, s.ok === true ? 'passed: ' : s.ok === false ? 'failed: ' : 'not checked: '), s.text))));
}

// ---------- the integrity view ----------

function checkRow(title, part, testid) {
    const ok = part ? part.ok : null;
    const cls = ok === true ? 'good' : ok === false ? 'bad' : 'partial';
    return el(`li.check.check-${cls}`, { 'data-testid': testid, dataset: { ok: String(ok) } },
        el('span.step-icon', { 'aria-hidden': 'true' }, ok === true ? '✓ ' : ok === false ? '✗ ' : '– '),
        el('strong', {}, title), el('span.sr-only', {}, ok === true ? ' (passed)' : ok === false ? ' (failed)' : ' (not checked)'),
        ': ', part ? part.text || part.reason || '' : 'not checked yet');
}

export function renderIntegrityView(main) {
    const body = el('div');
    const again = el('button', { type: 'button', 'data-testid': 'check-again' }, 'Check again');
    again.addEventListener('click', () => refresh({ full: true }));
    const draw = () => {
        const cp = state.checkpoint;
        const items = [];
        if (state.error) items.push(errorBlock(new Error(state.error)));
        if (cp) {
            items.push(el('dl.kv', { 'data-testid': 'checkpoint' },
                el('dt', {}, 'Log'), el('dd', {}, cp.origin),
                el('dt', {}, 'Events (tree size)'), el('dd', { 'data-testid': 'checkpoint-size' }, count(cp.size)),
                el('dt', {}, 'Signed'), el('dd', {}, cp.signedAt ? timeNode(cp.signedAt) : 'time not given'),
                el('dt', {}, 'Root hash'), el('dd.mono', {}, cp.root),
                el('dt', {}, 'Key'), el('dd.mono', {}, state.keyName || '?')));
        }
        const list = el('ul.checks', {},
            checkRow('Signature (checked in this browser)', state.signature, 'check-signature'),
            checkRow('Verifier key', state.keyPin, 'check-key'),
            checkRow('Append-only since this browser last looked', state.witness, 'check-witness'),
            checkRow('Whole log re-hashed by the auditor (GET /verify)', state.verify, 'check-verify'));
        items.push(list);
        if (state.verify && state.verify.at) items.push(el('p.muted', {}, `Last full check ${relativeTime(state.verify.at)}.`));
        if (state.keyPin && state.keyPin.ok === false) {
            items.push(el('button.danger', { type: 'button', onclick: () => trustNewKey() }, 'Trust the new key'));
        }
        if (cp) items.push(el('details', {}, el('summary', {}, 'The checkpoint as signed'), el('pre.note', {}, cp.text)));
        body.replaceChildren(...items);
        again.disabled = state.loading;
    };
    listeners.push(draw);
    draw();
    main.replaceChildren(
        el('h1', { tabindex: '-1' }, 'Integrity of the log'),
        el('p.lead', {}, 'Every stored event has a position in a Merkle tree whose root the auditor signs (RFC 9162, C2SP checkpoints). This page checks the latest signed checkpoint in your browser, checks that it extends what your browser saw before, and shows the auditor\'s full re-verification. Each event in a timeline has a "Check proof" button that checks that one event in your browser.'),
        el('div.row', {}, again),
        body);
    return () => { const i = listeners.indexOf(draw); if (i >= 0) listeners.splice(i, 1); };
}
