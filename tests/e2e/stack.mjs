// Helpers for the browser end-to-end test: installing playwright-core into
// tests/e2e/node_modules, starting the three daemons on free ports (as
// tests/integration/harness.py does) and stopping them again, optionally
// with a private MariaDB for the auditor on which the test is root (to
// tamper with the stored log), and a step runner that prints what it is
// doing. The checks on a page (axe, screenshots, layout, network) are in
// pagecheck.mjs and exported from here too.
//
// Node's standard library only: this module is loaded before playwright-core
// is known to be installed.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

import { BIN, HERE, SRC } from './paths.mjs';

export { BIN, BUILD, CHROMIUM, HERE, SRC } from './paths.mjs';
export { checkA11y, dropNetwork, formatViolations, horizontalOverflow, screenshot } from './pagecheck.mjs';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------- dependencies ----------

// True when every package the lock file names is installed at its locked
// version. Reads a few small JSON files, so it costs nothing when all is there.
function depsInstalled() {
  const lockPath = path.join(HERE, 'package-lock.json');
  if (!fs.existsSync(lockPath)) return false;
  const lock = JSON.parse(fs.readFileSync(lockPath, 'utf8'));
  for (const [where, pkg] of Object.entries(lock.packages || {})) {
    if (!where) continue; // the root project
    try {
      const installed = JSON.parse(fs.readFileSync(path.join(HERE, where, 'package.json'), 'utf8'));
      if (installed.version !== pkg.version) return false;
    } catch {
      return false;
    }
  }
  return true;
}

// Installs the test's npm packages (playwright-core, axe-core) into
// tests/e2e/node_modules when one is missing or not the locked version, then
// imports playwright-core.
export async function loadPlaywright() {
  if (!depsInstalled()) {
    const hasLock = fs.existsSync(path.join(HERE, 'package-lock.json'));
    const args = [hasLock ? 'ci' : 'install', '--no-audit', '--no-fund', '--loglevel=error'];
    console.log(`# installing the test's npm packages: npm ${args.join(' ')} (in ${HERE})`);
    const r = spawnSync('npm', args, { cwd: HERE, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`npm ${args[0]} failed (status ${r.status}, ${r.error || 'no error'})`);
  }
  return import('playwright-core');
}

// ---------- processes ----------

const live = new Set(); // child processes to kill if we leave early
const cleanups = [];    // synchronous clean-ups for any way out

// Registers fn to run (synchronously) when the process exits, however.
export function onExit(fn) { cleanups.push(fn); }

function killAll() {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
  live.clear();
  for (const fn of cleanups.splice(0)) {
    try { fn(); } catch { /* best effort */ }
  }
}

process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`# ${sig}: stopping`);
    killAll();
    process.exit(1);
  });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    sock.setTimeout(1000);
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
    sock.once('timeout', () => { sock.destroy(); resolve(false); });
  });
}

function tail(file, n = 40) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-n - 1).join('\n');
  } catch {
    return '';
  }
}

// Records how proc ends in holder.exit ({code, signal}, or with error when
// it could not start; null until then) and returns a promise of it.
function watchExit(holder, proc) {
  holder.exit = null;
  return new Promise((resolve) => {
    const gone = (exit) => {
      live.delete(proc);
      holder.exit = exit;
      resolve(exit);
    };
    proc.once('exit', (code, signal) => gone({ code, signal }));
    proc.once('error', (error) => gone({ code: null, signal: null, error }));
  });
}

// What promise gives, or 'timeout' after ms.
async function within(promise, ms) {
  let timer;
  const timeout = new Promise((resolve) => { timer = setTimeout(resolve, ms, 'timeout'); });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

class Daemon {
  constructor(name, env, logdir, port) {
    this.name = name;
    this.port = port;
    this.logPath = path.join(logdir, `${name}.log`);
    const log = fs.openSync(this.logPath, 'w');
    this.proc = spawn(path.join(BIN, `auditlog-${name}`), [], {
      cwd: SRC, env, stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    live.add(this.proc);
    this.exited = watchExit(this, this.proc);
  }

  async waitListening(timeoutMs = 30000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exit) throw new Error(`${this.name} exited (${describeExit(this.exit)}):\n${this.tail()}`);
      if (await canConnect(this.port)) return;
      if (Date.now() > deadline) throw new Error(`${this.name} did not listen on ${this.port} within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  // SIGTERM, then wait; returns the exit, or throws if it does not stop.
  async stop(timeoutMs = 20000) {
    if (!this.exit) {
      this.proc.kill('SIGTERM');
      if (await within(this.exited, timeoutMs) === 'timeout') {
        this.proc.kill('SIGKILL');
        await this.exited;
        throw new Error(`${this.name} did not stop within ${timeoutMs} ms of SIGTERM`);
      }
    }
    return this.exit;
  }

  tail(n) { return tail(this.logPath, n); }
}

function describeExit(e) {
  if (e.error) return `could not start: ${e.error.message}`;
  return e.signal ? `signal ${e.signal}` : `status ${e.code}`;
}

// ---------- the auditor's private database ----------

// The auditor's own MariaDB server, on which this test is root: made and
// driven by auditor_db_ctl.py (whose header says the protocol) over its
// stdin and stdout, its messages in <logdir>/auditor-db.log. Commands go one
// at a time in order; each answer settles the oldest one waiting.
export class AuditorDb {
  // Makes the server; resolves once it is ready, with env (what the auditor
  // needs to use it) and dir (its temporary folder).
  static async start(logdir, timeoutMs = 120000) {
    const db = new AuditorDb(logdir);
    try {
      ({ env: db.env, dir: db.dir } = await db.answer(timeoutMs, 'the server to be made'));
    } catch (err) {
      await db.close().catch(() => {});
      throw err;
    }
    return db;
  }

  constructor(logdir) {
    this.logPath = path.join(logdir, 'auditor-db.log');
    const log = fs.openSync(this.logPath, 'w');
    this.proc = spawn(process.env.AUDITLOG_PYTHON || 'python3', [path.join(HERE, 'auditor_db_ctl.py')], {
      cwd: SRC, stdio: ['pipe', 'pipe', log],
    });
    fs.closeSync(log);
    this.waiting = []; // {resolve, reject, timer, abandoned} per command, oldest first
    this.exited = watchExit(this, this.proc).then((exit) => {
      for (const w of this.waiting.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error(`auditor_db_ctl.py ended (${describeExit(exit)}):\n${tail(this.logPath)}`));
      }
      return exit;
    });
    this.proc.stdin.on('error', () => {}); // EPIPE once it is gone: the exit says why
    readline.createInterface({ input: this.proc.stdout }).on('line', (line) => this.settle(line));
    // Not among the processes killAll SIGKILLs: that would leave its
    // mariadbd running. Asked instead; it also stops when its stdin closes,
    // i.e. when this process is gone however it ended.
    onExit(() => { if (!this.exit) this.proc.kill('SIGTERM'); });
  }

  answer(timeoutMs, what) {
    return new Promise((resolve, reject) => {
      if (this.exit) {
        reject(new Error(`auditor_db_ctl.py is not running (${describeExit(this.exit)}): ${what}`));
        return;
      }
      const w = { resolve, reject };
      // Left in the queue when it times out: its late answer is its own.
      w.timer = setTimeout(() => {
        w.abandoned = true;
        reject(new Error(`auditor_db_ctl.py: no answer within ${timeoutMs} ms to ${what}:\n${tail(this.logPath)}`));
      }, timeoutMs);
      this.waiting.push(w);
    });
  }

  settle(line) {
    const w = this.waiting.shift();
    if (!w) return; // the answer to quit, not waited for
    clearTimeout(w.timer);
    if (w.abandoned) return;
    let doc;
    try {
      doc = JSON.parse(line);
    } catch {
      w.reject(new Error(`auditor_db_ctl.py answered ${JSON.stringify(line)}`));
      return;
    }
    if (doc.error) w.reject(new Error(`auditor_db_ctl.py: ${doc.error}`));
    else w.resolve(doc);
  }

  // One command line; its answer, or throws with the error it answered.
  command(line, timeoutMs = 90000) {
    const answer = this.answer(timeoutMs, JSON.stringify(line));
    if (!this.exit) this.proc.stdin.write(`${line}\n`);
    return answer;
  }

  // Changes the stored actor id of the event (as the tampering suite's
  // "actor id changed"): GET /verify then answers 409 hash-mismatch at its
  // position. Resolves to {event, log, seq, actor: {was, now}, pending}.
  tamperActor(eventId) { return this.command(`tamper actor ${eventId}`); }

  // Undoes the last change not undone yet, byte for byte (throws if a
  // table's rows do not have their saved checksum again). Resolves to
  // {event, restored: [{table, rows, checksum, same}], pending}.
  undo() { return this.command('undo'); }

  // For diagnostics: one SQL statement as root on the auditor's database;
  // its rows as arrays of strings.
  async sql(statement) {
    if (/[\r\n]/.test(statement)) throw new Error('one line of SQL');
    return (await this.command(`sql ${statement}`)).rows;
  }

  // Stops the server and removes its folder; returns the exit of
  // auditor_db_ctl.py (status 0 when all went well).
  async close(timeoutMs = 60000) {
    if (!this.exit) {
      this.proc.stdin.end('quit\n');
      if (await within(this.exited, timeoutMs) === 'timeout') {
        this.proc.kill('SIGTERM');
        if (await within(this.exited, timeoutMs) === 'timeout') this.proc.kill('SIGKILL');
      }
    }
    return this.exited;
  }
}

// ---------- a proxy whose connections can be cut ----------

// A TCP proxy to 127.0.0.1:targetPort whose open connections can be cut, as
// a dropped network ends a stream (context.setOffline does not: see
// dropNetwork in pagecheck.mjs).
export class CutProxy {
  static async start(targetPort) {
    const proxy = new CutProxy(targetPort);
    await new Promise((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', resolve);
    });
    proxy.port = proxy.server.address().port;
    return proxy;
  }

  constructor(targetPort) {
    this.targetPort = targetPort;
    this.pairs = new Set(); // [client, upstream] of each open connection
    this.refusing = false;
    this.server = net.createServer((client) => this.accept(client));
  }

  accept(client) {
    if (this.refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    const pair = [client, upstream];
    this.pairs.add(pair);
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const sock of pair) sock.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  // Closes every open connection; returns how many there were.
  cut() {
    const n = this.pairs.size;
    for (const pair of [...this.pairs]) for (const sock of pair) sock.destroy();
    this.pairs.clear();
    return n;
  }

  // down(): cuts, and closes each new connection at once until up().
  down() {
    this.refusing = true;
    return this.cut();
  }

  up() { this.refusing = false; }

  close() {
    this.down();
    return new Promise((resolve) => this.server.close(resolve));
  }
}

// ---------- the stack ----------

// The three daemons on free ports, in the environment of the caller (which
// names the test databases and vhost under ./run.sh test).
export class Stack {
  constructor() {
    this.logdir = fs.mkdtempSync(path.join(os.tmpdir(), 'auditlog-e2e-'));
    this.daemons = {};
    this.auditorDb = null; // an AuditorDb with privateAuditorDb
    this.apiProxy = null;  // a CutProxy with apiProxy
  }

  // privateAuditorDb: the auditor uses a MariaDB server of its own, made
  // for this run (this.auditorDb, on which the test is root), and a log key
  // of its own in logdir: a new log. Otherwise the auditor uses the test
  // database and key of the environment.
  // apiProxy: the UI reaches the API through this.apiProxy (its
  // config.json names the proxy), whose connections dropNetwork can cut;
  // url('api') stays the API itself.
  // env: more environment for the three daemons (settings).
  async start({ privateAuditorDb = false, apiProxy = false, env: extra = {} } = {}) {
    this.ports = { api: await freePort(), auditor: await freePort(), web: await freePort() };
    if (apiProxy) this.apiProxy = await CutProxy.start(this.ports.api);
    const browserApi = this.apiProxy ? this.apiProxy.port : this.ports.api;
    const env = {
      ...process.env,
      AUDITLOG_API_PORT: String(this.ports.api),
      AUDITLOG_AUDITOR_PORT: String(this.ports.auditor),
      AUDITLOG_WEB_PORT: String(this.ports.web),
      AUDITLOG_AUDITOR_URL: `http://127.0.0.1:${this.ports.auditor}`,
      AUDITLOG_API_URL: `http://127.0.0.1:${this.ports.api}`, // the auditor's token introspection
      AUDITLOG_PUBLIC_API_URL: `http://127.0.0.1:${browserApi}`, // the web's config.json
      AUDITLOG_SPOOL_DIR: path.join(this.logdir, 'spool'), // one API per spool
      ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:exitcode=66',
      UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
      ...extra,
    };
    const envs = { api: env, auditor: env, web: env };
    if (privateAuditorDb) {
      this.auditorDb = await AuditorDb.start(this.logdir);
      envs.auditor = {
        ...env, ...this.auditorDb.env,
        AUDITLOG_LOG_KEY: path.join(this.logdir, 'log-signer.key'), // made by the auditor
      };
    }
    for (const name of ['auditor', 'api', 'web']) {
      const d = (this.daemons[name] = new Daemon(name, envs[name], this.logdir, this.ports[name]));
      await d.waitListening();
    }
    return this;
  }

  url(name, p = '/') { return `http://127.0.0.1:${this.ports[name]}${p}`; }

  // The size of the auditor's latest signed checkpoint (0 before the first).
  async checkpointSize() {
    const res = await fetch(this.url('auditor', '/checkpoint'));
    if (res.status === 503) return 0;
    if (res.status !== 200) throw new Error(`GET /checkpoint: ${res.status} ${await res.text()}`);
    return Number((await res.text()).split('\n')[1]);
  }

  // Waits until the latest checkpoint covers at least size positions:
  // GET /verify checks the log up to it, so a change at position seq shows
  // once it covers seq + 1. Resolves to its size.
  async waitForCheckpoint(size, timeout = 20000) {
    const got = await eventually(async () => {
      const now = await this.checkpointSize();
      return { ok: now >= size, size: now };
    }, { timeout, interval: 100, what: `a checkpoint of size >= ${size}` });
    return got.size;
  }

  // Stops every daemon with SIGTERM, then the auditor's private database;
  // returns the problems (a daemon that died early, did not stop, or exited
  // non-zero, e.g. on a leak report; a database that did not stop cleanly).
  async stop() {
    const problems = [];
    if (this.apiProxy) {
      await this.apiProxy.close();
      this.apiProxy = null;
    }
    for (const [name, d] of Object.entries(this.daemons)) {
      const diedEarly = d.exit;
      try {
        const e = await d.stop();
        if (diedEarly) problems.push(`${name} died during the test (${describeExit(e)}):\n${d.tail()}`);
        else if (e.code !== 0) problems.push(`${name} exited with ${describeExit(e)} on SIGTERM:\n${d.tail()}`);
      } catch (err) {
        problems.push(`${err.message}:\n${d.tail()}`);
      }
    }
    this.daemons = {};
    if (this.auditorDb) {
      // After the auditor: it stores the records of its last reads as it stops.
      const e = await this.auditorDb.close();
      if (e.code !== 0) problems.push(`auditor_db_ctl.py exited with ${describeExit(e)}:\n${tail(this.auditorDb.logPath)}`);
      this.auditorDb = null;
    }
    return problems;
  }

  // Throws if a daemon is not running any more.
  checkAlive() {
    for (const [name, d] of Object.entries(this.daemons)) {
      if (d.exit) throw new Error(`${name} died (${describeExit(d.exit)}):\n${d.tail()}`);
    }
  }

  // Other auditlog-auditor processes on this machine (not ours): one that
  // consumes the same vhost takes a share of our events (a concurrent test run).
  foreignAuditors() {
    const ours = new Set(Object.values(this.daemons).map((d) => d.proc.pid));
    const found = [];
    for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      try {
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
        if (cmd.endsWith('/auditlog-auditor') && !ours.has(Number(pid))) found.push(`${pid} ${cmd}`);
      } catch { /* gone, or not ours to read */ }
    }
    return found;
  }

  printLogs(n = 30) {
    for (const [name, d] of Object.entries(this.daemons)) {
      console.error(`---- ${name} log (${d.logPath}) ----\n${d.tail(n)}`);
    }
    if (this.auditorDb) {
      console.error(`---- auditor's database (${this.auditorDb.logPath}) ----\n${tail(this.auditorDb.logPath, n)}`);
    }
  }
}

// ---------- steps ----------

let stepNo = 0;
export let currentStep = '';

// Runs one named step, printing its name and how long it took.
export async function step(name, fn) {
  stepNo += 1;
  currentStep = name;
  const t0 = Date.now();
  console.log(`[${String(stepNo).padStart(2)}] ${name} ...`);
  try {
    const value = await fn();
    console.log(`     ok (${((Date.now() - t0) / 1000).toFixed(2)} s)`);
    return value;
  } catch (err) {
    console.log(`     FAILED (${((Date.now() - t0) / 1000).toFixed(2)} s)`);
    err.step = err.step || name;
    throw err;
  }
}

// Runs main; if it throws, prints the step it failed in and why, then awaits
// onFailure(err) (e.g. to print the daemons' logs). Returns whether it passed.
export async function runMain(main, onFailure = () => {}) {
  try {
    await main();
    return true;
  } catch (err) {
    console.error(`\nFAILED in step "${err.step || '?'}":\n${err.stack || err}`);
    await onFailure(err);
    return false;
  }
}

// Polls fn until it returns an object whose ok is true; returns that, or throws with
// the last value seen.
export async function eventually(fn, { timeout = 20000, interval = 250, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last && last.ok) return last;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout / 1000} s waiting for ${what}; last seen: ${JSON.stringify(last).slice(0, 3000)}`);
    }
    await sleep(interval);
  }
}
