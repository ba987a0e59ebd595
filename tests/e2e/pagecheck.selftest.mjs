// Self-test of pagecheck.mjs, run by hand (no daemons, no databases):
//
//   node tests/e2e/pagecheck.selftest.mjs
//
// A tiny Node server serves pages under the UI's Content-Security-Policy
// (services/web/main.c) to headless Chromium, and this checks that
// checkA11y finds a real violation there without weakening the policy,
// that horizontalOverflow names what sticks out at 375 px and passes over a
// data-scroll scroller, that screenshot writes a PNG, and measures what
// context.setOffline and dropNetwork do to a streaming response (the
// comment above dropNetwork says what was measured).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { checkA11y, dropNetwork, formatViolations, horizontalOverflow, screenshot } from './pagecheck.mjs';
import { CHROMIUM, CutProxy, loadPlaywright, onExit, runMain, sleep, step } from './stack.mjs';

// As services/web/main.c sends it.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src *; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

const PAGES = {
  '/': ['text/html', `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pagecheck self-test</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/style.css"><script src="/app.js" defer></script></head>
<body><main>
<h1>Self-test</h1>
<section id="labelled"><label for="named">Name</label> <input id="named" type="text"></section>
<section id="unlabelled"><input id="nameless" type="text"></section>
<button id="try-eval" type="button">try eval</button>
<div class="scroller" data-scroll><div class="wide-table">wide on purpose</div></div>
<div class="scroller"><div class="wide-table">scrolls by mistake</div></div>
<div class="clipper"><div class="wide-table">clipped</div></div>
<div id="too-wide">too wide</div>
</main><script>window.inlineRan = true;</script></body></html>`],
  '/style.css': ['text/css', `body { margin: 0; font: 16px sans-serif; }
.scroller { overflow-x: auto; } .clipper { overflow-x: hidden; } .wide-table { width: 900px; }
#too-wide { width: 600px; }`],
  // The page's own script: eval on a click, as an app could try.
  '/app.js': ['text/javascript', `document.getElementById('try-eval').addEventListener('click', () => {
  try { window.evalResult = String(eval('1 + 1')); } catch (e) { window.evalResult = e.name; }
});`],
};

function serve(req, res) {
  if (req.url.startsWith('/stream')) { // a chunk every 100 ms until the client goes
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    let n = 0;
    const timer = setInterval(() => res.write(`data: ${n++}\n\n`), 100);
    res.on('close', () => clearInterval(timer));
    return;
  }
  const page = PAGES[req.url];
  if (!page) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'Content-Type': page[0], 'Content-Security-Policy': CSP });
  res.end(page[1]);
}

// In the page: reads /stream through fetch() and through an EventSource,
// logging [ms, what] in window.net.
function startStreams() {
  window.net = [];
  const log = (what) => window.net.push([Math.round(performance.now()), what]);
  (async () => {
    try {
      const reader = (await fetch('/stream?fetch')).body.getReader();
      while (!(await reader.read()).done) log('fetch chunk');
      log('fetch done');
    } catch (e) {
      log(`fetch error: ${e.name}: ${e.message}`);
    }
  })();
  const es = new EventSource('/stream?es');
  es.onopen = () => log('es open');
  es.onmessage = () => log('es message');
  es.onerror = () => log('es error');
}

const netSince = (page, t) => page.evaluate((since) => window.net.filter(([ms]) => ms >= since), t);
const pageNow = (page) => page.evaluate(() => Math.round(performance.now()));

async function main() {
  const { chromium } = await step('load playwright-core and axe-core (npm ci if missing)', loadPlaywright);
  const server = http.createServer(serve);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  onExit(() => server.close());
  const base = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const context = await browser.newContext({ viewport: { width: 375, height: 700 } });
    const page = await context.newPage();
    await page.goto(`${base}/`);

    await step('the CSP is in force: no inline script, no addScriptTag({content})', async () => {
      assert.equal(await page.evaluate(() => window.inlineRan), undefined);
      await assert.rejects(page.addScriptTag({ content: 'window.tagRan = true' }), /Content Security Policy/);
    });

    await step('checkA11y finds the unlabelled <input> (and only within include)', async () => {
      const t0 = Date.now();
      const all = await checkA11y(page);
      console.log(`     ${Date.now() - t0} ms with the injection:\n${formatViolations(all).replace(/^/gm, '     | ')}`);
      const label = all.find((v) => v.id === 'label');
      assert.ok(label, formatViolations(all));
      assert.equal(label.impact, 'critical');
      assert.deepEqual(label.nodes.map((n) => n.target), ['#nameless']);
      assert.ok(label.help && label.helpUrl.startsWith('https://'), JSON.stringify(label));
      const t1 = Date.now();
      const part = await checkA11y(page, { include: '#labelled', tags: ['wcag2a', 'wcag2aa'] });
      console.log(`     ${Date.now() - t1} ms injected already`);
      assert.deepEqual(part, [], formatViolations(part));
      const without = await checkA11y(page, { exclude: ['#unlabelled'] });
      assert.ok(!without.some((v) => v.id === 'label'), formatViolations(without));
    });

    await step('the page\'s CSP is not weakened by the injection', async () => {
      await page.click('#try-eval');
      assert.equal(await page.evaluate(() => window.evalResult), 'EvalError', 'eval from the page\'s own script');
      await assert.rejects(page.addScriptTag({ content: 'window.tagRan = true' }), /Content Security Policy/);
      assert.equal(await page.evaluate(() => window.tagRan), undefined);
    });

    await step('horizontalOverflow at 375 px: #too-wide and an unmarked scroller\'s inside, ' +
      'not a data-scroll scroller\'s or a clipper\'s', async () => {
      const wide = await horizontalOverflow(page);
      console.log(`     ${JSON.stringify(wide)}`);
      assert.equal(wide.clientWidth, 375);
      assert.ok(wide.scrollWidth > wide.clientWidth);
      assert.deepEqual(wide.offenders, [
        { selector: 'body > main > div.scroller:nth-of-type(2) > div.wide-table', right: 900, width: 900 },
        { selector: '#too-wide', right: 600, width: 600 },
      ]);
      await page.evaluate(() => {
        document.getElementById('too-wide').remove();
        document.querySelector('.scroller:not([data-scroll])').remove();
      });
      assert.deepEqual(await horizontalOverflow(page), { scrollWidth: 375, clientWidth: 375, offenders: [] });
    });

    await step('screenshot writes a full-page PNG', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'auditlog-pagecheck-'));
      onExit(() => fs.rmSync(dir, { recursive: true, force: true }));
      process.env.AUDITLOG_E2E_SHOTS = dir;
      const file = await screenshot(page, 'self test: 375px');
      assert.equal(file, path.join(dir, 'self-test-375px.png'));
      assert.deepEqual([...fs.readFileSync(file).subarray(1, 4)], [...Buffer.from('PNG')]);
      console.log(`     ${file}: ${fs.statSync(file).size} bytes`);
    });

    await step('context.setOffline(true) for 2 s: new fetches fail, a streaming response goes on', async () => {
      await page.evaluate(startStreams);
      await sleep(700);
      const t = await pageNow(page);
      await context.setOffline(true);
      const failed = await page.evaluate(async () => {
        const t0 = performance.now();
        try {
          await fetch('/stream?new');
          return 'it did not fail';
        } catch (e) {
          return `${e.name}: ${e.message} after ${Math.round(performance.now() - t0)} ms`;
        }
      });
      await sleep(2000);
      await context.setOffline(false);
      const during = await netSince(page, t);
      const count = (what) => during.filter(([, w]) => w === what).length;
      console.log(`     a fetch started offline: ${failed}; while offline the open streams got ` +
        `${count('fetch chunk')} fetch chunks and ${count('es message')} EventSource messages; ` +
        `errors: ${JSON.stringify(during.filter(([, w]) => /error/.test(w)))}`);
      assert.match(failed, /^TypeError: Failed to fetch/);
      const stale = 'dropNetwork\'s comment in pagecheck.mjs is out of date';
      assert.ok(count('fetch chunk') >= 10 && count('es message') >= 10, stale);
      assert.ok(!during.some(([, w]) => /error/.test(w)), stale);
    });

    await step('dropNetwork(context, 1500, proxy) ends the streams at once; the EventSource comes back', async () => {
      const proxy = await CutProxy.start(server.address().port);
      await page.goto(`http://127.0.0.1:${proxy.port}/`);
      await page.evaluate(startStreams);
      await sleep(700);
      const t = await pageNow(page);
      const dropped = dropNetwork(context, 1500, proxy);
      await sleep(300);
      const early = await netSince(page, t);
      await dropped;
      await sleep(4000);
      const after = await netSince(page, t);
      await proxy.close();
      const at = (re, list) => list.find(([, w]) => re.test(w));
      const fetchError = at(/^fetch error/, early);
      console.log(`     after the cut: ${JSON.stringify(after.filter(([, w]) => !/chunk|message/.test(w))
        .map(([ms, w]) => [ms - t, w]))} (ms since the cut)`);
      assert.ok(fetchError, `the fetch stream did not fail within 300 ms: ${JSON.stringify(early.slice(0, 5))}`);
      assert.match(fetchError[1], /TypeError: network error/);
      assert.ok(at(/^es error/, early), 'the EventSource saw no error within 300 ms');
      const reopened = after.filter(([ms, w]) => w === 'es open' && ms > t + 1500);
      assert.ok(reopened.length, 'the EventSource did not reopen within 4 s of the network coming back');
    });
  } finally {
    await browser.close();
    server.close();
  }
}

const passed = await runMain(main);
console.log(`${passed ? 'PASS' : 'FAIL'} pagecheck.selftest.mjs`);
process.exitCode = passed ? 0 : 1;
