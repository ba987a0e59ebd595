// Self-test of Stack.start({privateAuditorDb: true}) and stack.auditorDb,
// run by hand in the environment ./run.sh test gives a test (the test
// databases and vhost; no browser):
//
//   node tests/e2e/tamper.selftest.mjs
//
// Creates a user through the API, waits for its "created" event to be
// stored and checkpointed, changes the event's stored actor as the
// database's root (auditor_db_ctl.py), and checks that GET /verify answers
// 409 hash-mismatch at its position, then that undo restores the row and
// /verify answers 200 again.

import assert from 'node:assert/strict';
import fs from 'node:fs';

import { Stack, eventually, runMain, step } from './stack.mjs';

const t0 = Date.now();
const stack = new Stack();
let token;
let userId = null;

async function call(name, method, p, body) {
  const headers = { Authorization: `Bearer ${token}`, Accept: 'application/vnd.api+json' };
  if (body) headers['Content-Type'] = 'application/vnd.api+json';
  const res = await fetch(stack.url(name, p), { method, headers, body: body && JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, doc: text ? JSON.parse(text) : null };
}

async function verify() {
  const { status, doc } = await call('auditor', 'GET', '/verify?log=0');
  if (status === 200) return { status, to: doc.data.attributes.to };
  const meta = doc.errors?.[0]?.meta || {};
  return { status, seq: meta.seq, reason: meta.reason, detail: doc.errors?.[0]?.detail };
}

async function main() {
  await step('start the stack with a private MariaDB for the auditor', async () => {
    await stack.start({ privateAuditorDb: true });
    console.log(`     auditor's database on port ${stack.auditorDb.env.AUDITLOG_MYSQL_PORT}; logs in ${stack.logdir}`);
    token = await (await fetch(stack.url('api', '/tokens/1'))).text(); // user 1 has the auditor role
  });

  let event;
  await step('create a user through the API; its "created" event is stored and checkpointed', async () => {
    const unique = `${Date.now()}${process.pid}`;
    const made = await call('api', 'POST', '/api/users',
      { data: { type: 'users', attributes: { name: `Tamper ${unique}`, email: `tamper-${unique}@example.com`, agreedTos: false } } });
    assert.equal(made.status, 201, JSON.stringify(made.doc));
    userId = made.doc.data.id;
    const found = await eventually(async () => {
      const { status, doc } = await call('auditor', 'GET', `/api/users/${userId}/data-events`);
      const created = status === 200 && doc.data.find((e) => e.attributes.action === 'created');
      return { ok: Boolean(created), created, status };
    }, { what: `the created event of user ${userId}` });
    event = found.created;
    const { seq } = event.attributes;
    const size = await stack.waitForCheckpoint(seq + 1);
    console.log(`     event ${event.id} at seq ${seq}; checkpoint size ${size}`);
    const rows = await stack.auditorDb.sql(`SELECT COUNT(*) FROM data_events WHERE actor_id = '1'`);
    console.log(`     sql: ${JSON.stringify(rows)} stored events of actor 1`);
    assert.deepEqual(await verify(), { status: 200, to: size });
  });

  await step('tamperActor: GET /verify answers 409 hash-mismatch at its position', async () => {
    const t = await stack.auditorDb.tamperActor(event.id);
    console.log(`     ${JSON.stringify(t)}`);
    assert.equal(t.event, event.id);
    assert.deepEqual(t.actor, { was: '1', now: 'mallory' });
    const v = await verify();
    console.log(`     /verify: ${JSON.stringify(v)}`);
    assert.equal(v.status, 409);
    assert.equal(v.reason, 'hash-mismatch');
    assert.equal(v.seq, t.seq);
  });

  await step('undo: the row is back byte for byte and GET /verify answers 200', async () => {
    const u = await stack.auditorDb.undo();
    console.log(`     ${JSON.stringify(u)}`);
    assert.deepEqual(u.restored.map((r) => [r.table, r.rows, r.same]), [['data_events', 1, true]]);
    const v = await verify();
    assert.equal(v.status, 200, JSON.stringify(v));
    await assert.rejects(stack.auditorDb.undo(), /nothing to undo/);
    await assert.rejects(stack.auditorDb.tamperActor('not-an-id'), /not an event id/);
  });
}

let failed = !(await runMain(main, () => stack.printLogs()));
if (userId) await call('api', 'DELETE', `/api/users/${userId}`).catch(() => {});
const dbDir = stack.auditorDb?.dir;
const problems = await stack.stop();
if (dbDir && fs.existsSync(dbDir)) problems.push(`the auditor's database folder ${dbDir} is still there`);
if (problems.length) {
  failed = true;
  console.error(`\nFAILED when stopping:\n${problems.join('\n')}`);
}
console.log(`${failed ? 'FAIL' : 'PASS'} tamper.selftest.mjs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
if (!failed) fs.rmSync(stack.logdir, { recursive: true, force: true });
process.exitCode = failed ? 1 : 0;
