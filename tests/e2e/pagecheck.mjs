// Checks on a page of the browser test, each a function of a playwright-core
// Page or BrowserContext: accessibility (axe-core), screenshots, horizontal
// overflow, and dropping the network. stack.mjs exports them too.
//
// Node's standard library only at load time: axe-core's source is read from
// tests/e2e/node_modules when first needed (loadPlaywright() installs it).

import fs from 'node:fs';
import path from 'node:path';

import { BUILD, HERE } from './paths.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------- accessibility ----------

const AXE = path.join(HERE, 'node_modules', 'axe-core', 'axe.min.js');
let axeSource = null;

// The UI's CSP (script-src 'self', no 'unsafe-inline' or 'unsafe-eval')
// refuses page.addScriptTag({content}). page.evaluate(source) is not subject
// to it: Chromium does not apply the page's CSP to what DevTools evaluates
// (Runtime.evaluate), so axe runs in the page's main world while the page's
// own scripts stay under the policy. pagecheck.selftest.mjs checks both
// halves in this Chromium: axe finds a violation on a page served with the
// UI's CSP, and afterwards that page still cannot run inline script, eval
// from its own script, or take an injected script tag.
async function injectAxe(page) {
  // Once per document: a navigation takes it away.
  if (await page.evaluate(() => typeof window.axe?.run === 'function')) return;
  axeSource ??= fs.readFileSync(AXE, 'utf8');
  await page.evaluate(axeSource);
}

// Runs axe on the page (or on include minus exclude: a CSS selector or a
// list of them) with the rules of tags (e.g. ['wcag2a', 'wcag2aa']; all of
// axe's default rules when not given) and returns the violations, most
// serious first: [{id, impact, help, helpUrl, nodes: [{target, html,
// summary}]}], target being a CSS selector of the node.
export async function checkA11y(page, { include, exclude, tags } = {}) {
  await injectAxe(page);
  const list = (x) => (x === undefined || x === null ? undefined : [].concat(x));
  const arg = { include: list(include), exclude: list(exclude), tags: list(tags) };
  const violations = await page.evaluate(async ({ include, exclude, tags }) => {
    const context = include || exclude ? { ...(include && { include }), ...(exclude && { exclude }) } : document;
    const options = { resultTypes: ['violations'], ...(tags && { runOnly: { type: 'tag', values: tags } }) };
    const result = await window.axe.run(context, options);
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({ target: n.target.flat().join(' >>> '), html: n.html, summary: n.failureSummary })),
    }));
  }, arg);
  const rank = ['critical', 'serious', 'moderate', 'minor'];
  return violations.sort((a, b) => rank.indexOf(a.impact) - rank.indexOf(b.impact));
}

// The violations as text for an assertion's message, one paragraph each.
export function formatViolations(violations) {
  if (!violations.length) return 'no accessibility violations';
  return violations.map((v) => {
    const nodes = v.nodes.map((n) => `    ${n.target}  ${n.html.replace(/\s+/g, ' ').slice(0, 160)}` +
      (n.summary ? `\n      ${n.summary.replace(/:\n\s*/g, ': ').replace(/\n\s*/g, '; ')}` : ''));
    return [`${v.impact} ${v.id}: ${v.help} (${v.helpUrl})`, ...nodes].join('\n');
  }).join('\n');
}

// ---------- screenshots ----------

// Saves a PNG of the page (the whole page, or with fullPage false the viewport) as <name>.png in $AUDITLOG_E2E_SHOTS,
// or else in <build dir>/e2e-screenshots (update-screenshots.sh points it
// at docs/screenshots); returns the file's path. Animations are stopped and
// the caret hidden, so that the same page gives the same picture.
export async function screenshot(page, name, { fullPage = true } = {}) {
  const dir = path.resolve(process.env.AUDITLOG_E2E_SHOTS || path.join(BUILD, 'e2e-screenshots'));
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name.replace(/\.png$/, '').replace(/[^A-Za-z0-9._-]+/g, '-')}.png`);
  await page.screenshot({ path: file, fullPage, animations: 'disabled', caret: 'hide' });
  return file;
}

// ---------- layout ----------

// Whether the page scrolls sideways, and what sticks out past the right
// edge of the viewport: {scrollWidth, clientWidth (of the document), offenders:
// [{selector, right, width}]} (CSS pixels, right in page coordinates). An
// offender that lies within another, offending, ancestor's right edge is not
// listed again. Not looked into: the insides of an element that scrolls
// sideways on purpose (overflow-x auto or scroll, marked data-scroll) and of
// one that clips them (overflow-x hidden or clip); the insides of an element
// that scrolls without the mark are, as that scrolling is likely a mistake.
// "No horizontal scrolling": scrollWidth <= clientWidth.
export async function horizontalOverflow(page) {
  return page.evaluate(() => {
    const root = document.documentElement;
    const clientWidth = root.clientWidth;
    const selectorOf = (el) => {
      const parts = [];
      for (let e = el; e && e !== root; e = e.parentElement) {
        if (e.id) {
          parts.unshift(`#${CSS.escape(e.id)}`);
          break;
        }
        let part = e.localName + [...e.classList].slice(0, 2).map((c) => `.${CSS.escape(c)}`).join('');
        const same = [...(e.parentElement?.children || [])].filter((s) => s.localName === e.localName);
        if (same.length > 1) part += `:nth-of-type(${same.indexOf(e) + 1})`;
        parts.unshift(part);
      }
      return parts.join(' > ');
    };
    const offenders = [];
    const walk = (el, bound) => {
      for (const child of el.children) {
        const style = getComputedStyle(child);
        if (style.display === 'none') continue;
        const r = child.getBoundingClientRect();
        const right = r.right + window.scrollX;
        let inner = bound;
        if ((r.width > 0 || r.height > 0) && right > bound + 0.5) {
          offenders.push({ selector: selectorOf(child), right: Math.round(right), width: Math.round(r.width) });
          inner = right;
        }
        const x = style.overflowX;
        const onPurpose = child.hasAttribute('data-scroll') && (x === 'auto' || x === 'scroll');
        if (!onPurpose && x !== 'hidden' && x !== 'clip') walk(child, inner);
      }
    };
    if (document.body) walk(document.body, clientWidth);
    return { scrollWidth: root.scrollWidth, clientWidth, offenders };
  });
}

// ---------- the network ----------

// Takes the browser off the network for ms, then back. Measured in this
// Chromium (156, playwright-core 1.65.1; pagecheck.selftest.mjs measures it
// again): context.setOffline(true) makes navigator.onLine false and fires
// "offline", and a fetch() started while offline fails at once ("TypeError:
// Failed to fetch", 3-5 ms); but a response already streaming (a
// text/event-stream read through fetch() or an EventSource) goes on as if
// nothing happened: a chunk every 200 ms, 50 of 50 arrived during 10 s
// offline, no error, and the server saw no close. Closing the connections
// is what ends such a stream: the reader's read() then rejects with
// "TypeError: network error" 7-15 ms later, an EventSource reports an error
// at once and retries 3 s later. So with proxy (a CutProxy, e.g.
// Stack.start({apiProxy: true}).apiProxy, which carries the browser's
// connections to the API), its open connections are cut and new ones
// refused until the network is back.
export async function dropNetwork(context, ms, proxy = null) {
  await context.setOffline(true);
  proxy?.down();
  try {
    await sleep(ms);
  } finally {
    proxy?.up();
    await context.setOffline(false);
  }
}
