// Browser end-to-end test of the auditlog web UI.
//
//   node tests/e2e/ui.test.mjs
//
// Starts auditlog-api, auditlog-auditor and auditlog-web on free ports (from
// $AUDITLOG_BIN_DIR, default build/bin) against the MariaDB and RabbitMQ of
// the environment (./run.sh test exports the test databases and vhost), opens
// the UI in headless Chromium (/usr/bin/chromium, driven by playwright-core,
// which this script installs into tests/e2e/node_modules when missing) and
// uses it as a person would. Exit status 0 means every step passed and every
// daemon exited with status 0 on SIGTERM.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { CHROMIUM, Stack, currentStep, eventually, loadPlaywright, onExit, sleep, step } from './stack.mjs';

const t0 = Date.now();
const unique = `${Date.now()}${process.pid}`;
const XSS_NAME = '<img src=x onerror="window.__xss=1">';

const stack = new Stack();
let context;          // the browser (a persistent context in a temp profile)
let page;
let profileDir;

// Everything the page says that may mean trouble, with the step it happened in.
const problems = { console: [], pageErrors: [], csp: [], dialogs: [] };
let expectedDialog = null; // { message, accept } for the next window.confirm()
const created = new Set();  // ids of users this run made and has not deleted yet

// ---------- small helpers over the page ----------

const row = (id) => page.locator(`#users-table tbody tr[data-user-id="${id}"]`);
const cellText = async (id, n) => (await row(id).locator(`td:nth-child(${n})`).textContent()).trim();

// Waits until the element matching selector is shown and its text satisfies
// test (polled from here: the page's CSP forbids eval, so no predicate is
// sent into it as source).
async function waitForText(selector, test, what, timeout = 10000) {
  const deadline = Date.now() + timeout;
  let text;
  for (;;) {
    const node = page.locator(selector).first();
    text = (await node.count()) ? await node.textContent() : null;
    if (text !== null && !(await node.isHidden()) && test(text)) return text;
    if (Date.now() > deadline) throw new Error(`waiting for ${what}: ${selector} shows ${JSON.stringify(text)}`);
    await sleep(50);
  }
}

// The user id of the table row whose email cell is email (waits for it).
async function rowIdByEmail(email) {
  const handle = await page.waitForFunction((want) => {
    for (const tr of document.querySelectorAll('#users-table tbody tr[data-user-id]')) {
      if (tr.children[2].textContent === want) return tr.dataset.userId;
    }
    return null;
  }, email, { timeout: 10000 });
  return handle.jsonValue();
}

async function createUser(name, email, agreedTos = false) {
  await page.fill('#create-name', name);
  await page.fill('#create-email', email);
  await page.setChecked('#create-tos', agreedTos);
  await page.click('#create-submit');
}

// Opens the history of a user and reads both lists once they have loaded.
async function readHistory(id) {
  await row(id).locator('.history-user').click();
  await page.locator('#history').waitFor({ state: 'visible' });
  // Each list holds events or a single "No events." once its request is done.
  await page.waitForFunction(() => ['#history-for', '#history-by'].every(
    (sel) => document.querySelector(sel).children.length > 0) &&
    !document.querySelector('#history-for-more').disabled &&
    !document.querySelector('#history-by-more').disabled);
  return page.evaluate(() => {
    const read = (sel) => [...document.querySelectorAll(`${sel} > li`)].map((li) => ({
      id: li.dataset.eventId,
      empty: li.classList.contains('empty'),
      text: li.textContent,
      action: li.querySelector('.action')?.textContent,
      who: li.querySelector('.who')?.textContent,
      time: li.querySelector('time')?.dateTime,
      changes: [...li.querySelectorAll('li.change')].map((c) => c.textContent),
    }));
    return {
      heading: document.querySelector('#history-heading').textContent,
      for: read('#history-for'),
      by: read('#history-by'),
      error: document.querySelector('#error').hidden ? null : document.querySelector('#error').textContent,
    };
  });
}

// The API called directly (not through the page), as user 1.
let apiToken;
async function apiFetch(p, method = 'GET', body) {
  apiToken ??= await (await fetch(stack.url('api', '/tokens/1'))).text();
  const headers = { Authorization: `Bearer ${apiToken}`, Accept: 'application/vnd.api+json' };
  if (body !== undefined) headers['Content-Type'] = 'application/vnd.api+json';
  return fetch(stack.url('api', p), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function apiGet(p) {
  const res = await apiFetch(p);
  assert.equal(res.status, 200, `GET ${p}`);
  return res.json();
}

function count(events, action) {
  return events.filter((e) => e.action === action).length;
}

// ---------- the test ----------

async function main() {
  const { chromium } = await step('load playwright-core (npm ci into tests/e2e/node_modules if missing)', loadPlaywright);

  await step('start auditlog-api, auditlog-auditor and auditlog-web on free ports', async () => {
    await stack.start();
    console.log(`     web ${stack.url('web')}  api ${stack.url('api')}  logs in ${stack.logdir}`);
  });

  await step('launch headless Chromium', async () => {
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);
    profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'auditlog-e2e-chromium-'));
    onExit(() => fs.rmSync(profileDir, { recursive: true, force: true }));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--disable-dev-shm-usage'],
      timeout: 30000,
    });
    page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(10000);
    // CSP violations as the page sees them (an init script is not itself
    // subject to the page's CSP).
    await page.addInitScript(() => {
      window.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`);
      });
    });
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') {
        problems.console.push({ step: currentStep, type: msg.type(), text: msg.text(), url: msg.location().url });
      }
    });
    page.on('pageerror', (err) => problems.pageErrors.push({ step: currentStep, text: String(err) }));
    page.on('dialog', async (dialog) => {
      const want = expectedDialog;
      expectedDialog = null;
      if (!want || dialog.type() !== 'confirm') {
        problems.dialogs.push(`unexpected ${dialog.type()}: ${dialog.message()}`);
        await dialog.dismiss();
        return;
      }
      if (dialog.message() !== want.message) {
        problems.dialogs.push(`confirm said ${JSON.stringify(dialog.message())}, expected ${JSON.stringify(want.message)}`);
      }
      await (want.accept ? dialog.accept() : dialog.dismiss());
    });
  });

  await step('open the UI: not signed in, empty table', async () => {
    const res = await page.goto(stack.url('web', '/'));
    assert.equal(res.status(), 200);
    await waitForText('#whoami', (t) => t === 'Not signed in.', '"Not signed in."');
    assert.equal(await page.locator('#users-table tbody tr[data-user-id]').count(), 0);
  });

  let me; // user 1 as the table shows it: { name, email }
  await step('get a token for user 1: "who am I" shows user 1, the table lists user 1', async () => {
    await page.fill('#user-id-input', '1');
    await page.click('#get-token');
    await waitForText('#whoami', (t) => t.startsWith('Signed in as ') && t.includes('(id 1)'), 'who am I = user 1');
    await row(1).waitFor();
    me = { name: await cellText(1, 2), email: await cellText(1, 3) };
    assert.ok(me.name && me.email.includes('@'), JSON.stringify(me));
    assert.equal((await page.textContent('#whoami .who-name')).trim(), me.name);
    assert.ok((await page.textContent('#whoami')).includes(`<${me.email}>`));
    assert.ok(await page.isVisible('#sign-out'));
    assert.ok(await page.isHidden('#error'));
  });

  const user = { name: `E2E User ${unique}`, email: `e2e-${unique}@example.com` };
  await step(`create user "${user.name}" <${user.email}>`, async () => {
    await createUser(user.name, user.email, false);
    user.id = await rowIdByEmail(user.email);
    created.add(user.id);
    assert.match(user.id, /^[1-9][0-9]*$/);
    assert.equal(await cellText(user.id, 2), user.name);
    assert.equal(await row(user.id).locator('.toggle-tos').isChecked(), false);
    await waitForText('#status', (t) => /^Created user \d+\.$/.test(t), 'the "Created" status');
    assert.equal(await page.textContent('#status'), `Created user ${user.id}.`);
    assert.equal(await page.inputValue('#create-email'), '', 'the create form is reset');
    console.log(`     created user ${user.id}`);
  });

  const oldName = user.name;
  user.name = `E2E Zoë Ñandú 名前 ${unique}`; // non-ASCII on purpose
  await step('edit its name', async () => {
    await row(user.id).locator('.edit-user').click();
    await page.locator('#edit-section').waitFor({ state: 'visible' });
    assert.equal(await page.textContent('#edit-heading'), `Edit user ${user.id}`);
    assert.equal(await page.inputValue('#edit-name'), oldName);
    assert.equal(await page.inputValue('#edit-email'), user.email);
    await page.fill('#edit-name', user.name);
    await page.click('#edit-submit');
    await page.locator('#edit-section').waitFor({ state: 'hidden' });
    await waitForText('#status', (t) => t.startsWith('Saved user'), 'the "Saved" status');
    assert.equal(await page.textContent('#status'), `Saved user ${user.id}.`);
    assert.equal(await cellText(user.id, 2), user.name);
  });

  await step('toggle its agreedTos checkbox on', async () => {
    const box = row(user.id).locator('.toggle-tos');
    await box.check();
    // The PATCH is done when the table was redrawn from the server's answer.
    await page.waitForFunction((id) => {
      const b = document.querySelector(`#users-table tr[data-user-id="${id}"] .toggle-tos`);
      return b && b.checked && !b.disabled;
    }, user.id);
    assert.ok(await page.isHidden('#error'), await page.textContent('#error'));
    // Stored, not just drawn: ask the API directly.
    const doc = await apiGet(`/api/users/${user.id}`);
    assert.deepEqual(doc.data.attributes, { name: user.name, email: user.email, agreedTos: true });
  });

  await step(`its history shows created, changed (name, agreedTos) and viewed events (poll <= 20 s)`, async () => {
    const wantChanges = [
      `name: ${JSON.stringify(oldName)} → ${JSON.stringify(user.name)}`,
      'agreedTos: false → true',
    ];
    // The events travel API -> RabbitMQ -> auditor: reopen the history until
    // all have arrived (1 created, 2 changed, a view for each of the 3 answers
    // that contained the user and for the direct GET), then check them.
    const h = await eventually(async () => {
      const got = await readHistory(user.id);
      const ok = count(got.for, 'created') >= 1 && count(got.for, 'changed') >= 2 && count(got.for, 'viewed') >= 4;
      return { ok, got };
    }, { timeout: 20000, interval: 500, what: `the events of user ${user.id}` }).catch((err) => {
      const others = stack.foreignAuditors();
      if (others.length) {
        err.message += `\nNOTE: other auditors are running (${others.join('; ')}); one consuming the same ` +
          'vhost takes a share of our events into its own database (a concurrent test run?)';
      }
      throw err;
    });
    const { got } = h;
    assert.equal(got.error, null);
    assert.equal(got.heading, `History of user ${user.id} (${user.name})`);
    assert.equal(count(got.for, 'created'), 1, 'one created');
    assert.equal(count(got.for, 'changed'), 2, 'two changed');
    assert.equal(count(got.for, 'deleted'), 0, 'none deleted');
    assert.equal(got.for.at(-1).action, 'created', 'oldest (last) is created');
    const changed = got.for.filter((e) => e.action === 'changed').map((e) => e.changes);
    // Newest first: the agreedTos change, then the name change, one field each.
    assert.deepEqual(changed, [[wantChanges[1]], [wantChanges[0]]]);
    for (const e of got.for) {
      assert.equal(e.who, `users:1 → users:${user.id}`, e.text);
      assert.ok(e.id, 'each event carries its id');
      assert.ok(Math.abs(Date.parse(e.time) - Date.now()) < 10 * 60 * 1000, `event time ${e.time} is now`);
    }
    assert.deepEqual(got.by.map((e) => e.text), ['No events.'], 'the new user did nothing');
    assert.ok(await page.isHidden('#history-for-more'));
  });

  await step('"what this user did" for user 1 shows its events; "Load more" adds the next page', async () => {
    const got = await readHistory(1);
    assert.equal(got.error, null);
    assert.ok(got.by.length > 0 && !got.by[0].empty, 'user 1 did things');
    for (const e of got.by) assert.ok(e.who.startsWith('users:1 → '), e.text);
    if (got.by.length === 50) {
      // A full page: there must be a next one (user 1 has viewed every user in the table).
      assert.ok(await page.isVisible('#history-by-more'), 'Load more is offered after a full page');
      await page.click('#history-by-more');
      await page.waitForFunction((n) => document.querySelectorAll('#history-by > li.event').length > n, got.by.length);
      await page.waitForFunction(() => !document.querySelector('#history-by-more').disabled);
      assert.ok(await page.isHidden('#error'), await page.textContent('#error'));
      const ids = await page.$$eval('#history-by > li.event', (lis) => lis.map((li) => li.dataset.eventId));
      assert.equal(new Set(ids).size, ids.length, 'no event twice');
      console.log(`     ${ids.length} events after Load more`);
    } else {
      console.log(`     ${got.by.length} events (one page)`);
    }
    await page.click('#history-close');
    assert.ok(await page.isHidden('#history'));
  });

  await step(`creating a user with a taken email (${me.email}) shows the API's error`, async () => {
    // What the API itself answers to the same request.
    const res = await apiFetch('/api/users', 'POST',
      { data: { type: 'users', attributes: { name: 'Dup', email: me.email, agreedTos: false } } });
    assert.equal(res.status, 409);
    const apiError = (await res.json()).errors[0];
    assert.ok(apiError.title && apiError.detail, JSON.stringify(apiError));

    await createUser('Dup', me.email);
    await waitForText('#error', (t) => t.length > 0, 'the error box');
    assert.equal(await page.textContent('#error strong'), apiError.title);
    assert.equal(await page.textContent('#error p'), `${apiError.title}: ${apiError.detail}`);
    assert.equal(await page.inputValue('#create-email'), me.email, 'the form keeps what was typed');
    assert.equal(await page.locator('#users-table tbody tr[data-user-id]').evaluateAll(
      (trs, email) => trs.filter((tr) => tr.children[2].textContent === email).length, me.email), 1);
    await page.fill('#create-name', '');
    await page.fill('#create-email', '');
  });

  await step('asking a token for an unknown user shows the API\'s 404 and keeps the session', async () => {
    const res = await fetch(stack.url('api', '/tokens/999999999'));
    assert.equal(res.status, 404);
    const apiError = (await res.json()).errors[0];
    const before = await page.textContent('#whoami');
    await page.fill('#user-id-input', '999999999');
    await page.click('#get-token');
    await waitForText('#error', (t) => t.length > 0, 'the error box');
    assert.equal(await page.textContent('#error p'), `${apiError.title}: ${apiError.detail}`);
    assert.equal(await page.textContent('#whoami'), before, 'still signed in as before');
    await page.fill('#user-id-input', '1');
  });

  await step('delete it: cancelling the confirm keeps it; accepting removes it from the table', async () => {
    expectedDialog = { message: `Delete user ${user.id} (${user.name})?`, accept: false };
    await row(user.id).locator('.delete-user').click();
    await sleep(200);
    assert.equal(expectedDialog, null, 'a confirm dialog was shown');
    assert.equal(await row(user.id).count(), 1, 'still listed after Cancel');

    expectedDialog = { message: `Delete user ${user.id} (${user.name})?`, accept: true };
    await row(user.id).locator('.delete-user').click();
    await row(user.id).waitFor({ state: 'detached' });
    assert.equal(expectedDialog, null, 'a confirm dialog was shown');
    await waitForText('#status', (t) => t.startsWith('Deleted user'), 'the "Deleted" status');
    assert.equal(await page.textContent('#status'), `Deleted user ${user.id}.`);
    assert.ok(await page.isHidden('#error'), await page.textContent('#error'));
    assert.equal((await apiFetch(`/api/users/${user.id}`)).status, 404, 'gone from the API too');
    created.delete(user.id);
  });

  const evil = { name: XSS_NAME, email: `e2e-xss-${unique}@example.com` };
  await step(`a user named ${XSS_NAME} is shown as text, never as HTML`, async () => {
    await createUser(evil.name, evil.email);
    evil.id = await rowIdByEmail(evil.email);
    created.add(evil.id);
    assert.ok(await page.isHidden('#error'), await page.textContent('#error'));
    assert.equal(await cellText(evil.id, 2), XSS_NAME);
    // The edit form, the history heading and the delete confirm show it as text too.
    await row(evil.id).locator('.edit-user').click();
    assert.equal(await page.inputValue('#edit-name'), XSS_NAME);
    await page.click('#edit-cancel');
    const h = await readHistory(evil.id);
    assert.equal(h.heading, `History of user ${evil.id} (${XSS_NAME})`);
    await page.click('#history-close');
    expectedDialog = { message: `Delete user ${evil.id} (${XSS_NAME})?`, accept: false };
    await row(evil.id).locator('.delete-user').click();
    await sleep(200);
    assert.equal(expectedDialog, null, 'a confirm dialog was shown');
    // Sign in as that user: "who am I" shows the name from the token as text.
    await page.fill('#user-id-input', evil.id);
    await page.click('#get-token');
    await waitForText('#whoami', (t) => t.includes('<img src=x'), 'who am I = the XSS user');
    assert.equal(await page.textContent('#whoami .who-name'), XSS_NAME);
    await sleep(300); // give an injected <img> time to fail to load
    assert.equal(await page.locator('img').count(), 0, 'no <img> element anywhere');
    assert.equal(await page.evaluate(() => window.__xss), undefined, 'onerror never ran');
    // Back to user 1 (this reloads the table). This user is deleted at the
    // end, through the API: after a reload the table may not list it, as
    // app.js loadUsers() shows one page of 1000 users and ignores links.next.
    await page.fill('#user-id-input', '1');
    await page.click('#get-token');
    await waitForText('#whoami', (t) => t.includes('(id 1)'), 'who am I = user 1');
    await row(1).waitFor();
  });

  await step('no console errors, page errors, CSP violations or stray dialogs', async () => {
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    const csp = await page.evaluate(() => window.__csp);
    const unexpected = problems.console.filter((m) => !justified(m));
    const report = { console: unexpected, pageErrors: problems.pageErrors, csp, dialogs: problems.dialogs };
    const ignored = problems.console.length - unexpected.length;
    if (ignored) console.log(`     ${ignored} console message(s) expected and ignored: ${problems.console.filter(justified).map((m) => m.text).join(' | ')}`);
    assert.deepEqual(report, { console: [], pageErrors: [], csp: [], dialogs: [] });
  });
}

// Console messages that are expected: Chromium logs every HTTP error answer
// as a console error, and
// - the duplicate-email step makes the API answer 409 on purpose;
// - the unknown-user step makes it answer 404 on purpose;
// - Chromium asks for /favicon.ico on its own, and the UI has none (404).
function justified(m) {
  if (m.type !== 'error') return false;
  if (m.step.startsWith('creating a user with a taken email') &&
      m.url === stack.url('api', '/api/users') && m.text.includes('status of 409')) return true;
  if (m.step.startsWith('asking a token for an unknown user') &&
      m.url === stack.url('api', '/tokens/999999999') && m.text.includes('status of 404')) return true;
  return m.url === stack.url('web', '/favicon.ico') && m.text.includes('status of 404');
}

// ---------- run, clean up, report ----------

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  console.error(`\nFAILED in step "${err.step || '?'}":\n${err.stack || err}`);
  if (page) {
    const shot = path.join(stack.logdir, 'failure.png');
    await page.screenshot({ path: shot, fullPage: true }).then(() => console.error(`screenshot: ${shot}`), () => {});
  }
  if (problems.console.length || problems.pageErrors.length) {
    console.error('page console:', JSON.stringify(problems, null, 1));
  }
  stack.printLogs();
}
if (context) await context.close().catch(() => {});
// Remove the users this run made and did not delete through the UI.
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
