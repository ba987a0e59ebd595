// Browser end-to-end test of the auditlog web UI.
//
//   node tests/e2e/ui.test.mjs
//
// Starts auditlog-api, auditlog-auditor (on a private MariaDB where this
// test is root, so it can tamper with the stored log as the tampering suite
// does) and auditlog-web on free ports, opens the UI in headless Chromium
// (playwright-core; axe-core for accessibility) and uses it as people would:
// one tab watches a user's timeline while another creates, edits and
// deletes that user, and every event must appear live with the right diff.
// It saves a screenshot of each main view (stack.mjs screenshot()). Exit
// status 0 means every step passed and every daemon exited with status 0
// on SIGTERM.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  BIN, CHROMIUM, Stack, checkA11y, currentStep, eventually, formatViolations, horizontalOverflow,
  loadPlaywright, onExit, screenshot, sleep, step,
} from './stack.mjs';

const t0 = Date.now();
const unique = `${Date.now()}${process.pid}`;
const XSS_NAME = '<img src=x onerror="window.__xss=1">';

const stack = new Stack();
let context;
let profileDir;
const pages = [];   // every page opened, for the final checks
const problems = { console: [], pageErrors: [], dialogs: [] };
let expectedDialog = null; // { message, accept } for the next window.confirm()
const created = new Set();  // user ids made by this run and not deleted yet
const gone = new Set();     // user ids this run deleted

// ---------- the API, called directly (not through a page) ----------

let apiToken;
async function apiFetch(p, method = 'GET', body) {
  apiToken ??= await (await fetch(stack.url('api', '/tokens/1'))).text();
  const headers = { Authorization: `Bearer ${apiToken}`, Accept: 'application/vnd.api+json' };
  if (body !== undefined) headers['Content-Type'] = 'application/vnd.api+json';
  return fetch(stack.url('api', p), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function apiJson(p, method = 'GET', body) {
  const res = await apiFetch(p, method, body);
  assert.ok(res.ok, `${method} ${p}: ${res.status}`);
  return res.status === 204 ? null : res.json();
}

// Publishes events to the broker as another producer would (tests/tools/mqtool).
function publish(events) {
  const url = process.env.AUDITLOG_AMQP_URL || 'amqp://dev:dev@localhost:5672/';
  for (const ev of events) {
    execFileSync(path.join(BIN, 'mqtool'), ['publish', url, 'api-stream', 'api.data.mutated', ev.id],
      { input: JSON.stringify(ev) });
  }
}

// A UUIDv7 (RFC 9562 §5.7) for time ms.
function uuid7(ms) {
  const hex = ms.toString(16).padStart(12, '0') + '7' +
    [...crypto.getRandomValues(new Uint8Array(10))].map((b) => b.toString(16).padStart(2, '0')).join('').slice(0, 19);
  const v = (8 + (parseInt(hex[16], 16) & 3)).toString(16);
  const h = hex.slice(0, 16) + v + hex.slice(17);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

// ---------- pages ----------

async function newPage(name) {
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') {
      problems.console.push({ page: name, step: currentStep, type: msg.type(), text: msg.text(), url: msg.location().url });
    }
  });
  page.on('pageerror', (err) => problems.pageErrors.push({ page: name, step: currentStep, text: String(err) }));
  page.on('dialog', async (dialog) => {
    const want = expectedDialog;
    expectedDialog = null;
    if (!want || dialog.type() !== 'confirm') {
      problems.dialogs.push(`unexpected ${dialog.type()}: ${dialog.message()}`);
      await dialog.dismiss();
      return;
    }
    if (dialog.message() !== want.message) problems.dialogs.push(`confirm said ${JSON.stringify(dialog.message())}, expected ${JSON.stringify(want.message)}`);
    await (want.accept ? dialog.accept() : dialog.dismiss());
  });
  pages.push(page);
  return page;
}

async function signIn(page, id) {
  await page.locator('[data-testid=sign-in-form]').waitFor();
  await page.fill('#user-id-input', String(id));
  await page.click('[data-testid=sign-in]');
  await page.locator('[data-testid=who-name]').waitFor();
}

// The events a list shows, each as the test reads it.
async function readEvents(page) {
  return page.$$eval('[data-testid=events] li.event', (lis) => lis.map((li) => ({
    id: li.dataset.eventId,
    action: li.dataset.action,
    seq: li.dataset.seq,
    head: li.querySelector('.event-head').textContent,
    changes: [...li.querySelectorAll(':scope > ul.changes > li')].map((c) => c.textContent.replace(/\s+/g, ' ').trim()),
    grouped: Boolean(li.closest('details.group')),
  })));
}

// Waits until the page's list satisfies test(events); returns them.
async function waitEvents(page, test, what, timeout = 20000) {
  const { events } = await eventually(async () => {
    const events = await readEvents(page);
    return { ok: test(events), events };
  }, { timeout, interval: 200, what });
  return events;
}

const mutations = (events) => events.filter((e) => e.action !== 'viewed');

// Submits the users view's create form, already filled for u, and waits
// for u's row: u.id is set and the user is deleted when the run ends.
async function submitNewUser(page, u) {
  await page.click('[data-testid=create-submit]');
  const row = page.locator('[data-testid=users-table] tr', { hasText: u.email });
  await row.waitFor();
  u.id = await row.getAttribute('data-user-id');
  created.add(u.id);
  return row;
}

async function assertA11y(page, view) {
  const violations = await checkA11y(page, {});
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.equal(serious.length, 0, `axe on ${view}: ${formatViolations(serious)}`);
  return violations.length;
}

async function assertNoOverflow(page, view) {
  const o = await horizontalOverflow(page);
  assert.ok(o.scrollWidth <= o.clientWidth && !o.offenders.length,
    `${view} at ${o.clientWidth} px scrolls sideways: ${JSON.stringify(o).slice(0, 1500)}`);
}

// ---------- the test ----------

async function main() {
  const { chromium } = await step('load playwright-core and axe-core (npm ci into tests/e2e/node_modules if missing)', loadPlaywright);

  await step('start the daemons (the auditor on a private MariaDB)', async () => {
    // The checker flags a mutation 1 s after it is stored (not 10 s).
    await stack.start({ privateAuditorDb: true, apiProxy: true, env: { AUDITLOG_CHECK_GRACE_MS: '1000' } });
    console.log(`     web ${stack.url('web')}  api ${stack.url('api')}  logs in ${stack.logdir}`);
  });

  await step('launch headless Chromium', async () => {
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);
    profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'auditlog-e2e-chromium-'));
    onExit(() => fs.rmSync(profileDir, { recursive: true, force: true }));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 900 },
      acceptDownloads: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--disable-dev-shm-usage'],
      timeout: 30000,
    });
    // CSP violations as the page sees them (an init script is not itself
    // subject to the page's CSP).
    await context.addInitScript(() => {
      window.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`);
      });
    });
    for (const p of context.pages()) await p.close();
  });

  const watcher = await newPage('watcher'); // keeps a timeline open
  const editor = await newPage('editor');   // changes things

  await step('a deep link while signed out shows the sign-in form and keeps the URL', async () => {
    const res = await watcher.goto(stack.url('web', '/?view=activity&actor=users:1'));
    assert.equal(res.status(), 200);
    await watcher.locator('[data-testid=sign-in-form]').waitFor();
    assert.ok(await watcher.isVisible('[data-testid=return-to]'));
    assert.ok(await watcher.isHidden('[data-testid=integrity-badge]'), 'no badge while signed out');
    await assertA11y(watcher, 'sign-in');
    await screenshot(watcher, 'signin');
  });

  await step('signing in as user 1 lands on the page asked for, with who and until when', async () => {
    await signIn(watcher, 1);
    assert.equal(new URL(watcher.url()).search, '?view=activity&actor=users:1');
    await watcher.locator('h1', { hasText: 'Activity of' }).waitFor();
    const who = await watcher.textContent('#whoami');
    assert.match(who, /\(users:1 · auditor\)/);
    assert.match(who, /session ends in (19|20) minutes/);
  });

  await step('an unknown user id is refused with the API\'s 404, shown in the form', async () => {
    await editor.goto(stack.url('web', '/'));
    await editor.fill('#user-id-input', '999999999');
    await editor.click('[data-testid=sign-in]');
    await editor.locator('[data-testid=sign-in-errors] .error').waitFor();
    const res = await fetch(stack.url('api', '/tokens/999999999'));
    const apiError = (await res.json()).errors[0];
    assert.equal(await editor.textContent('[data-testid=sign-in-errors] .error p'), `${apiError.title}: ${apiError.detail}`);
    assert.equal(await editor.getAttribute('#user-id-input', 'aria-invalid'), 'true');
    await signIn(editor, 1);
    await editor.locator('[data-testid=users-table] tr[data-user-id="1"]').waitFor();
  });

  // User 1's name as the API has it (the demo's seed is James Chavo; a
  // test run that failed midway may have left another).
  let user1Name;
  const user = { name: `E2E Ann ${unique}`, email: `e2e-${unique}@example.com` };
  await step('create a user; a taken email and an empty name show the API\'s errors beside their fields', async () => {
    const me = await apiJson('/api/users/1');
    user1Name = me.data.attributes.name;
    await editor.fill('[data-testid=create-name]', 'Dup');
    await editor.fill('[data-testid=create-email]', me.data.attributes.email);
    await editor.click('[data-testid=create-submit]');
    await editor.locator('[data-testid=create-email-error]:not(:empty)').waitFor();
    assert.equal(await editor.textContent('[data-testid=create-email-error]'), 'Another user already has this email.');
    assert.equal(await editor.getAttribute('[data-testid=create-email]', 'aria-invalid'), 'true');
    await editor.fill('[data-testid=create-name]', '');
    await editor.fill('[data-testid=create-email]', user.email);
    await editor.click('[data-testid=create-submit]');
    await editor.locator('[data-testid=create-name-error]:not(:empty)').waitFor();
    assert.match(await editor.textContent('[data-testid=create-name-error]'), /name.*at least 1 character/);
    assert.equal(await editor.textContent('[data-testid=create-email-error]'), '', 'the email error is gone');

    await editor.fill('[data-testid=create-name]', user.name);
    await submitNewUser(editor, user);
    assert.match(user.id, /^[1-9][0-9]*$/);
    assert.equal(await editor.inputValue('[data-testid=create-email]'), '', 'the form is reset');
    await screenshot(editor, 'users', { fullPage: false }); // the test database holds many users
    await assertA11y(editor, 'users');
  });

  const target = () => `users:${user.id}`;
  await step('the watcher opens its timeline: the creation with its initial values', async () => {
    await watcher.goto(stack.url('web', `/?view=timeline&target=${target()}`));
    const events = await waitEvents(watcher, (ev) => ev.some((e) => e.action === 'created'), 'the created event');
    const c = events.find((e) => e.action === 'created');
    assert.ok(c.head.startsWith(`Created by ${user1Name} v1`), c.head);
    assert.deepEqual(c.changes, ['agreedTos set to false', `email set to ${user.email}`, `name set to ${user.name}`], 'initial values');
    await watcher.locator('[data-testid=live-status][data-state=open]').waitFor();
    await watcher.evaluate(() => { window.__marker = 'not reloaded'; });
  });

  const oldName = user.name;
  user.name = `E2E Zoë Ñandú 名前 ${unique}`; // non-ASCII on purpose
  const times = {};
  await step('the editor renames it: the change appears live on the watcher\'s timeline, as a diff', async () => {
    const row = editor.locator(`[data-testid=users-table] tr[data-user-id="${user.id}"]`);
    await row.locator('.edit-user').click();
    assert.equal(await editor.inputValue('[data-testid=edit-name]'), oldName);
    await editor.fill('[data-testid=edit-name]', user.name);
    await editor.click('[data-testid=edit-submit]');
    await editor.locator('[data-testid=edit-form]').waitFor({ state: 'hidden' });
    await row.locator('td.name', { hasText: user.name }).waitFor();
    const events = await waitEvents(watcher, (ev) => ev.some((e) => e.action === 'changed'), 'the rename, live');
    const c = events.find((e) => e.action === 'changed');
    assert.ok(c.head.startsWith(`Changed by ${user1Name} v2`), c.head);
    assert.deepEqual(c.changes, [`name changed from ${oldName} → to ${user.name}`]);
    assert.equal(await watcher.evaluate(() => window.__marker), 'not reloaded', 'the timeline was not reloaded');
    times.renamed = Number(await watcher.getAttribute(`li.event[data-event-id="${c.id}"] time`, 'data-ms'));
    user.renameEvent = c.id;
  });

  await step('the network drops; a change made meanwhile arrives once it is back, once', async () => {
    await sleep(1100); // the next change a second later than the rename (the state test below)
    // Offline, and the open stream cut (setOffline alone leaves a response
    // that is already streaming alone: pagecheck.mjs dropNetwork).
    await context.setOffline(true);
    stack.apiProxy.down();
    await watcher.locator('[data-testid=live-status][data-state=reconnecting]').waitFor({ timeout: 20000 });
    user.email = `e2e-moved-${unique}@example.com`;
    const old = `e2e-${unique}@example.com`;
    await apiJson(`/api/users/${user.id}`, 'PATCH', { data: { type: 'users', id: user.id, attributes: { email: user.email } } });
    await sleep(1500);
    stack.apiProxy.up();
    await context.setOffline(false);
    const events = await waitEvents(watcher, (ev) => ev.filter((e) => e.action === 'changed').length === 2, 'the change made while offline');
    const c = events.filter((e) => e.action === 'changed')[0];
    assert.deepEqual(c.changes, [`email changed from ${old} → to ${user.email}`]);
    await watcher.locator('[data-testid=live-status][data-state=open]').waitFor();
    const ids = events.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, 'no event twice');
    assert.equal(await watcher.evaluate(() => window.__marker), 'not reloaded');
  });

  await step('the editor ticks the terms: agreedTos false → true appears live', async () => {
    const box = editor.locator(`[data-testid=users-table] tr[data-user-id="${user.id}"] .toggle-tos`);
    await box.check();
    await editor.waitForFunction((id) => {
      const b = document.querySelector(`[data-testid=users-table] tr[data-user-id="${id}"] .toggle-tos`);
      return b && b.checked && !b.disabled;
    }, user.id);
    const events = await waitEvents(watcher, (ev) => ev.filter((e) => e.action === 'changed').length === 3, 'the terms change, live');
    assert.deepEqual(events.filter((e) => e.action === 'changed')[0].changes, ['agreedTos changed from false → to true']);
    assert.deepEqual((await apiJson(`/api/users/${user.id}`)).data.attributes, { name: user.name, email: user.email, agreedTos: true });
  });

  await step('the record at a moment between the rename and the email change is what it was then; the instant survives a reload', async () => {
    const at = new Date(Math.floor(times.renamed / 1000) * 1000 + 1000); // the second after the rename
    const local = (d) => {
      const p = (n) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    };
    await watcher.fill('[data-testid=state-at]', local(at));
    await watcher.dispatchEvent('[data-testid=state-at]', 'change');
    const read = async () => watcher.$$eval('[data-testid=state-attrs] dd', (dds) => Object.fromEntries(dds.map((d) => [d.dataset.field, d.textContent])));
    const want = { agreedTos: 'false', email: `e2e-${unique}@example.com`, name: user.name };
    await eventually(async () => { const got = await read(); return { ok: JSON.stringify(got) === JSON.stringify(want), got }; },
      { what: 'the state after the rename' });
    assert.equal(new URL(watcher.url()).searchParams.get('at'), at.toISOString());
    await screenshot(watcher, 'timeline');
    await assertA11y(watcher, 'timeline');
    await watcher.reload();
    await eventually(async () => { const got = await read(); return { ok: JSON.stringify(got) === JSON.stringify(want), got }; },
      { what: 'the same state after a reload' });
    // Now: the record as it is.
    await watcher.click('[data-testid=state-now]');
    await eventually(async () => { const got = await read(); return { ok: got.agreedTos === 'true' && got.email === user.email, got }; },
      { what: 'the state now' });
    // Step back change by change to the creation (asked of the auditor, not
    // looked up among the events loaded), and no further.
    const oldEmail = `e2e-${unique}@example.com`;
    for (const want of [
      { agreedTos: 'false', email: user.email, name: user.name },
      { agreedTos: 'false', email: oldEmail, name: user.name },
      { agreedTos: 'false', email: oldEmail, name: oldName },
    ]) {
      await watcher.click('[data-testid=state-earlier]');
      await eventually(async () => { const got = await read(); return { ok: JSON.stringify(got) === JSON.stringify(want), got }; },
        { what: `the state ${JSON.stringify(want)}` });
    }
    await watcher.click('[data-testid=state-earlier]');
    await watcher.locator('[data-testid=state-warning]', { hasText: 'No earlier change.' }).waitFor();
    await watcher.click('[data-testid=state-later]');
    await eventually(async () => { const got = await read(); return { ok: got.name === user.name && got.email === oldEmail, got }; },
      { what: 'the state after the rename again' });
  });

  await step('a filter is in the URL and survives a reload', async () => {
    await watcher.check('[data-testid=filter-action-changed]');
    await watcher.fill('[data-testid=filter-field]', 'email');
    await watcher.click('[data-testid=filter-apply]');
    await watcher.waitForURL((u) => u.searchParams.get('action') === 'changed' && u.searchParams.get('field') === 'email');
    const only = (ev) => ev.length === 1 && ev[0].action === 'changed' && ev[0].changes[0].startsWith('email changed');
    await waitEvents(watcher, only, 'only the email change');
    await watcher.reload();
    await waitEvents(watcher, only, 'only the email change after a reload');
    assert.ok(await watcher.isChecked('[data-testid=filter-action-changed]'));
    assert.equal(await watcher.inputValue('[data-testid=filter-field]'), 'email');
    await watcher.click('[data-testid=filter-clear]');
    await watcher.waitForURL((u) => !u.searchParams.get('action'));
    await waitEvents(watcher, (ev) => mutations(ev).length === 4, 'all events again');
    await watcher.locator('[data-testid=live-status][data-state=open]').waitFor();
    await watcher.evaluate(() => { window.__marker = 'not reloaded'; });
  });

  await step('export the view as CSV and as NDJSON', async () => {
    for (const [format, check] of [
      ['csv', (text) => { const lines = text.trim().split('\n'); assert.ok(lines[0].includes('action')); return lines.length - 1; }],
      ['ndjson', (text) => text.trim().split('\n').map((l) => JSON.parse(l)).length],
    ]) {
      const [download] = await Promise.all([watcher.waitForEvent('download'), watcher.click(`[data-testid=export-${format}]`)]);
      assert.equal(download.suggestedFilename(), `history-users-${user.id}.${format}`);
      const file = await download.path();
      const text = fs.readFileSync(file, 'utf8');
      const n = check(text);
      assert.ok(n >= 4, `${format}: ${n} events`);
      assert.ok(text.includes(user.email), `${format} holds the new email`);
    }
  });

  await step('the rename\'s proof checks out in the browser (Web Crypto)', async () => {
    const li = watcher.locator(`li.event[data-event-id="${user.renameEvent}"]`);
    await li.locator('[data-testid=verify-event]').click();
    const proof = li.locator('[data-testid=proof]');
    await proof.waitFor();
    assert.equal(await proof.getAttribute('data-ok'), 'true', await proof.textContent());
    const steps = await li.locator('.proof-steps li').allTextContents();
    assert.ok(steps.length >= 5, steps.join('\n'));
  });

  await step('the editor deletes it: the deletion appears live with its last values', async () => {
    const row = editor.locator(`[data-testid=users-table] tr[data-user-id="${user.id}"]`);
    expectedDialog = { message: `Delete user ${user.id} (${user.name})?`, accept: true };
    await row.locator('.delete-user').click();
    await row.waitFor({ state: 'detached' });
    assert.equal(expectedDialog, null, 'a confirm dialog was shown');
    created.delete(user.id);
    gone.add(user.id);
    const events = await waitEvents(watcher, (ev) => ev.some((e) => e.action === 'deleted'), 'the deletion, live');
    const d = events.find((e) => e.action === 'deleted');
    assert.deepEqual(d.changes, ['agreedTos was true', `email was ${user.email}`, `name was ${user.name}`]);
    assert.equal(events[0].action, 'deleted', 'newest first');
    assert.equal(await watcher.evaluate(() => window.__marker), 'not reloaded');
    await watcher.locator('[data-testid=current-record]', { hasText: 'does not exist now' }).waitFor();
  });

  await step('the actor view lists what user 1 did, linking to each target\'s timeline', async () => {
    await watcher.goto(stack.url('web', '/?view=activity&actor=users:1&action=created,changed,deleted'));
    const events = await waitEvents(watcher, (ev) => ev.filter((e) => e.head.includes(user.name)).length >= 3, 'user 1\'s changes to our user');
    assert.ok(events.every((e) => ['created', 'changed', 'deleted'].includes(e.action)));
    await screenshot(watcher, 'activity');
    await assertA11y(watcher, 'activity');
    await watcher.locator('li.event a.name', { hasText: user.name }).first().click();
    await watcher.waitForURL((u) => u.searchParams.get('view') === 'timeline' && u.searchParams.get('target') === target());
    await waitEvents(watcher, (ev) => ev.some((e) => e.action === 'deleted'), 'the target\'s timeline');
  });

  await step('another producer\'s history: a missing version and a drifted value shown live, then flagged; an erased value shown as erased', async () => {
    const thing = `things:e2e-${unique}`;
    const base = { actorType: 'services', actorId: 'e2e-producer', targetType: 'things', targetId: `e2e-${unique}` };
    await watcher.goto(stack.url('web', `/?view=timeline&target=${thing}`));
    // Nothing of it yet but this page's own reads (recorded with it as target).
    await watcher.locator('[data-testid=live-status][data-state=open]').waitFor();
    assert.equal(mutations(await readEvents(watcher)).length, 0);
    await watcher.evaluate(() => { window.__marker = 'not reloaded'; });
    const now = Date.now();
    publish([
      { ...base, id: uuid7(now - 2000), action: 'created', timestamp: now - 2000, targetVersion: 1, changes: { colour: { prev: null, next: 'red' } } },
      // Version 2 never arrives; version 3 says the colour was blue.
      { ...base, id: uuid7(now - 1000), action: 'changed', timestamp: now - 1000, targetVersion: 3, changes: { colour: { prev: 'blue', next: 'green' } } },
    ]);
    await waitEvents(watcher, (ev) => mutations(ev).length === 2, 'the producer\'s two events, live');
    assert.match(await watcher.textContent('[data-testid=gap]'), /Version 2 is missing/);
    await assertA11y(watcher, 'a timeline with a gap');
    // The checker's flags (after its grace, 1 s here) reach the open page
    // without a reload (it asks again 12 s after a live change).
    const flags = await eventually(async () => {
      const kinds = await watcher.$$eval('li.event .flag', (fs) => fs.map((f) => f.dataset.kind).sort());
      return { ok: kinds.length === 2, kinds };
    }, { what: 'the gap and drift flags, live', timeout: 30000, interval: 500 });
    assert.deepEqual(flags.kinds, ['drift', 'gap']);
    assert.equal(await watcher.evaluate(() => window.__marker), 'not reloaded');
    assert.equal(await watcher.locator('li.event.flagged').count(), 1);
    assert.match(await watcher.textContent('li.event.flagged'), /gap before this version/);
    // Erase the colour's values: the events say erased, not "none".
    const res = await apiFetch('/logs/erasures', 'POST', { data: { type: 'erasures', attributes: { target: thing, field: 'colour', reason: 'e2e' } } });
    assert.equal(res.status, 201, await res.text());
    await watcher.reload();
    const events = await waitEvents(watcher, (ev) => mutations(ev).length === 2, 'the events after the erasure');
    assert.deepEqual(mutations(events).map((e) => e.changes), [['colour had values that were erased'], ['colour had values that were erased']]);
  });

  await step('the integrity badge: verified; tampering with a stored event turns it bad; undoing it good again', async () => {
    const badge = watcher.locator('[data-testid=integrity-badge]');
    await eventually(async () => ({ ok: (await badge.getAttribute('data-verdict')) === 'good', v: await badge.textContent() }), { what: 'a good badge' });
    assert.match(await badge.textContent(), /Log verified · [\d,]+ events/);
    await badge.click();
    await watcher.locator('[data-testid=check-verify][data-ok=true]').waitFor();
    await screenshot(watcher, 'integrity');
    await assertA11y(watcher, 'integrity');

    await stack.auditorDb.tamperActor(user.renameEvent);
    await watcher.click('[data-testid=check-again]');
    await watcher.locator('[data-testid=check-verify][data-ok=false]').waitFor();
    assert.equal(await badge.getAttribute('data-verdict'), 'bad');
    assert.match(await badge.textContent(), /Log check failed/);
    assert.match(await watcher.textContent('[data-testid=check-verify]'), /position \d+ \(hash-mismatch\)/);
    await screenshot(watcher, 'integrity-tampered');
    // The tampered event's own proof fails in the browser.
    await watcher.goto(stack.url('web', `/?view=timeline&target=${target()}&action=changed&field=name`));
    const li = watcher.locator(`li.event[data-event-id="${user.renameEvent}"]`);
    await li.locator('[data-testid=verify-event]').click();
    await li.locator('[data-testid=proof]').waitFor();
    assert.equal(await li.locator('[data-testid=proof]').getAttribute('data-ok'), 'false');

    await stack.auditorDb.undo();
    await watcher.goto(stack.url('web', '/?view=integrity'));
    await watcher.click('[data-testid=check-again]');
    await watcher.locator('[data-testid=check-verify][data-ok=true]').waitFor();
    assert.equal(await badge.getAttribute('data-verdict'), 'good');
  });

  await step('at 375 px wide nothing scrolls sideways (users, timeline, activity, integrity)', async () => {
    await watcher.setViewportSize({ width: 375, height: 800 });
    for (const [name, url] of [
      ['users', '/?view=users'],
      ['timeline', `/?view=timeline&target=${target()}`],
      ['activity', '/?view=activity&actor=users:1'],
      ['integrity', '/?view=integrity'],
    ]) {
      await watcher.goto(stack.url('web', url));
      await watcher.locator('main h1').waitFor();
      await watcher.locator('[data-testid=events] li, [data-testid=users-table] tr[data-user-id], [data-testid=check-verify]').first().waitFor({ state: 'attached' });
      await sleep(500);
      await assertNoOverflow(watcher, name);
      if (name === 'timeline' || name === 'users') await screenshot(watcher, `${name}-375`, { fullPage: false });
    }
    await watcher.setViewportSize({ width: 1280, height: 900 });
  });

  await step('a user deleted while signed in is sent to sign in, keeping the page', async () => {
    const doomed = await apiJson('/api/users', 'POST', { data: { type: 'users', attributes: { name: `E2E Doomed ${unique}`, email: `e2e-doomed-${unique}@example.com`, agreedTos: false } } });
    created.add(doomed.data.id);
    const page = await newPage('doomed');
    await page.goto(stack.url('web', `/?view=timeline&target=users:${doomed.data.id}`));
    await signIn(page, doomed.data.id);
    await page.locator('[data-testid=live-status][data-state=open]').waitFor();
    await apiJson(`/api/users/${doomed.data.id}`, 'DELETE');
    created.delete(doomed.data.id);
    gone.add(doomed.data.id);
    // The auditor ends the stream of a user that no longer exists; its
    // reconnection gets 401.
    await page.locator('[data-testid=sign-in-form]').waitFor({ timeout: 20000 });
    assert.match(await page.textContent('[data-testid=notice]'), /signed out/i);
    assert.equal(new URL(page.url()).searchParams.get('target'), `users:${doomed.data.id}`, 'the page is kept');
    await page.close();
  });

  const evil = { name: XSS_NAME, email: `e2e-xss-${unique}@example.com` };
  await step(`a user named ${XSS_NAME} is shown as text everywhere, never as HTML`, async () => {
    // Made through the form: the table shows it at once (after a reload it
    // may be past the first page: the test database holds thousands of users).
    await editor.goto(stack.url('web', '/?view=users'));
    await editor.fill('[data-testid=create-name]', evil.name);
    await editor.fill('[data-testid=create-email]', evil.email);
    const row = await submitNewUser(editor, evil);
    assert.equal(await row.locator('td.name').textContent(), XSS_NAME);
    await editor.goto(stack.url('web', `/?view=timeline&target=users:${evil.id}`));
    await waitEvents(editor, (ev) => ev.some((e) => e.action === 'created'), 'its creation');
    await editor.locator('h1', { hasText: XSS_NAME }).waitFor();
    // Signed in as that user: "who am I" shows the name from the token.
    await editor.click('#sign-out');
    await signIn(editor, evil.id);
    await editor.locator('[data-testid=who-name]', { hasText: XSS_NAME }).waitFor();
    assert.equal(await editor.textContent('[data-testid=who-name]'), XSS_NAME);
    await sleep(300);
    assert.equal(await editor.locator('img').count(), 0, 'no <img> element anywhere');
    assert.equal(await editor.evaluate(() => window.__xss), undefined, 'onerror never ran');
  });

  await step('an expired session leads back to sign-in on the same page, and back after signing in', async () => {
    // The clock is the whole context's (Playwright's page.clock is its
    // context's), so this runs last: every page's time jumps.
    const page = await newPage('clock');
    await page.clock.install();
    await page.goto(stack.url('web', '/?view=activity&actor=users:1&action=deleted'));
    await signIn(page, 1);
    await page.locator('h1', { hasText: 'Activity of' }).waitFor();
    await page.clock.fastForward('20:05');
    await page.locator('[data-testid=sign-in-form]').waitFor();
    assert.match(await page.textContent('[data-testid=notice]'), /session expired/);
    assert.equal(new URL(page.url()).search, '?view=activity&actor=users:1&action=deleted');
    // Back to the real time (a new token would look expired 20 minutes
    // ahead), then pick user 1 among the users this browser signed in as.
    await page.clock.setSystemTime(Date.now());
    const recent = await page.locator('[data-testid=recent-user]').allTextContents();
    assert.ok(recent.includes(`${user1Name} (users:1)`), JSON.stringify(recent));
    assert.ok(recent.includes(`${XSS_NAME} (users:${evil.id})`), 'a name shown as text in its button');
    await page.locator('[data-testid=recent-user]', { hasText: '(users:1)' }).click();
    await page.locator('h1', { hasText: 'Activity of' }).waitFor();
    assert.equal(new URL(page.url()).search, '?view=activity&actor=users:1&action=deleted', 'back on the same page');
    await page.close();
  });

  await step('no console errors, page errors, CSP violations or stray dialogs', async () => {
    const csp = [];
    for (const p of pages) if (!p.isClosed()) csp.push(...await p.evaluate(() => window.__csp || []));
    const unexpected = problems.console.filter((m) => !justified(m));
    const ignored = problems.console.length - unexpected.length;
    if (ignored) console.log(`     ${ignored} console message(s) expected and ignored`);
    assert.deepEqual({ console: unexpected, pageErrors: problems.pageErrors, csp, dialogs: problems.dialogs },
      { console: [], pageErrors: [], csp: [], dialogs: [] });
  });
}

// Console messages that are expected: Chromium logs every HTTP error answer
// as a console error, and some steps cause them on purpose.
function justified(m) {
  if (m.type !== 'error') return false;
  // Reading a user deleted during the run (its record, its name, its state
  // now) is a 404 by design.
  const read = (m.url || '').match(/\/(?:api|logs\/state)\/users\/(\d+)(?:$|\?)/);
  if (read && gone.has(read[1]) && m.text.includes('status of 404')) return true;
  const s = m.step;
  if (s.startsWith('an unknown user id') && m.text.includes('status of 404')) return true;
  if (s.startsWith('create a user') && /status of (409|422)/.test(m.text)) return true;
  if (s.startsWith('the network drops') && /net::ERR_/.test(m.text)) return true;
  if (s.startsWith('the integrity badge') && m.text.includes('status of 409')) return true;
  // The state of a thing before any event of it: it did not exist.
  if (s.startsWith('another producer') && m.url.includes('/logs/state/things/') && m.text.includes('status of 404')) return true;
  if (s.startsWith('a user deleted while signed in') && /status of (401|404)/.test(m.text)) return true;
  // The clock jumps past the token's expiry: a request the page makes before
  // it notices (the live stream reconnecting, say) is refused, by design.
  if (s.startsWith('an expired session') && m.text.includes('status of 401')) return true;
  return false;
}

// ---------- run, clean up, report ----------

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  console.error(`\nFAILED in step "${err.step || '?'}":\n${err.stack || err}`);
  for (const [i, page] of pages.entries()) {
    const shot = path.join(stack.logdir, `failure-${i}.png`);
    await page.screenshot({ path: shot, fullPage: true }).then(() => console.error(`screenshot: ${shot}`), () => {});
  }
  if (problems.console.length || problems.pageErrors.length) console.error('page console:', JSON.stringify(problems, null, 1));
  stack.printLogs();
}
if (context) await context.close().catch(() => {});
for (const id of created) {
  const res = await apiFetch(`/api/users/${id}`, 'DELETE').catch((e) => ({ status: e.message }));
  if (res.status === 204) console.log(`# deleted user ${id}, made by this run, through the API`);
  else if (res.status !== 404) console.error(`# could not delete user ${id}: ${res.status}`);
}
if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
const stopProblems = await stack.stop();
if (stopProblems.length) {
  failed = true;
  console.error(`\nFAILED when stopping the daemons:\n${stopProblems.join('\n')}`);
}
console.log(`${failed ? 'FAIL' : 'PASS'} ui.test.mjs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
if (!failed) fs.rmSync(stack.logdir, { recursive: true, force: true });
process.exitCode = failed ? 1 : 0;
