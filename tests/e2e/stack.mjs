// Helpers for the browser end-to-end test: installing playwright-core into
// tests/e2e/node_modules, starting the three daemons on free ports (as
// tests/integration/harness.py does) and stopping them again, and a step
// runner that prints what it is doing.
//
// Node's standard library only: this module is loaded before playwright-core
// is known to be installed.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SRC = path.resolve(process.env.AUDITLOG_SOURCE_DIR || path.join(HERE, '../..'));
export const BIN = path.resolve(process.env.AUDITLOG_BIN_DIR || path.join(SRC, 'build/bin'));
export const CHROMIUM = process.env.AUDITLOG_CHROMIUM || '/usr/bin/chromium';

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

// Installs playwright-core into tests/e2e/node_modules when it is missing or
// not the locked version, then imports it.
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

class Daemon {
  constructor(name, env, logdir, port) {
    this.name = name;
    this.port = port;
    this.logPath = path.join(logdir, `${name}.log`);
    const log = fs.openSync(this.logPath, 'w');
    this.exit = null; // {code, signal} once it exited
    this.proc = spawn(path.join(BIN, `auditlog-${name}`), [], {
      cwd: SRC, env, stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    live.add(this.proc);
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        live.delete(this.proc);
        this.exit = { code, signal };
        resolve(this.exit);
      });
      this.proc.once('error', (err) => {
        live.delete(this.proc);
        this.exit = { code: null, signal: null, error: err };
        resolve(this.exit);
      });
    });
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
      let timer;
      const timeout = new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs, 'timeout'); });
      const first = await Promise.race([this.exited, timeout]);
      clearTimeout(timer);
      if (first === 'timeout') {
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

// The three daemons on free ports, in the environment of the caller (which
// names the test databases and vhost under ./run.sh test).
export class Stack {
  constructor() {
    this.logdir = fs.mkdtempSync(path.join(os.tmpdir(), 'auditlog-e2e-'));
    this.daemons = {};
  }

  async start() {
    this.ports = { api: await freePort(), auditor: await freePort(), web: await freePort() };
    const env = {
      ...process.env,
      AUDITLOG_API_PORT: String(this.ports.api),
      AUDITLOG_AUDITOR_PORT: String(this.ports.auditor),
      AUDITLOG_WEB_PORT: String(this.ports.web),
      AUDITLOG_AUDITOR_URL: `http://127.0.0.1:${this.ports.auditor}`,
      AUDITLOG_API_URL: `http://127.0.0.1:${this.ports.api}`, // the auditor's token introspection
      AUDITLOG_PUBLIC_API_URL: `http://127.0.0.1:${this.ports.api}`,
      AUDITLOG_SPOOL_DIR: path.join(this.logdir, 'spool'), // one API per spool
      ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:exitcode=66',
      UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
    };
    for (const name of ['auditor', 'api', 'web']) {
      const d = (this.daemons[name] = new Daemon(name, env, this.logdir, this.ports[name]));
      await d.waitListening();
    }
    return this;
  }

  url(name, p = '/') { return `http://127.0.0.1:${this.ports[name]}${p}`; }

  // Stops every daemon with SIGTERM; returns the problems (a daemon that
  // died early, did not stop, or exited non-zero, e.g. on a leak report).
  async stop() {
    const problems = [];
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
