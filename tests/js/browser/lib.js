/* lib.js: what every page script of tests/js/browser/ shares: the system's Chromium driven by playwright-core,
 * the page's console errors, uncaught exceptions, CSP violations, failed and foreign requests recorded, a
 * full-page screenshot, and one JSON line for tests/integration/test_browser.py, which makes every judgement.
 *
 * usage: node PAGE-SCRIPT.js CONFIG-JSON, CONFIG-JSON {"url": the stack's base URL, "profile": an empty
 * directory for Chromium's profile (the caller made it and removes it), "screenshot": a .png path or "",
 * "chromium": the browser's path (default /usr/bin/chromium), "timeout": seconds for the whole script, ...}
 * env: NODE_MODULES_DIR, the node_modules directory holding playwright-core (tests/integration/nodejs.py).
 * The last line of stdout is "RESULT {json}": {"ok": true|false, "error": message when not ok, "log":
 * what the page reported, "steps": [[ms, what]], ...what the page script returned}. */
'use strict';

const path = require('path');

const modules = process.env.NODE_MODULES_DIR;
if (!modules) {
  console.log('RESULT ' + JSON.stringify({ ok: false, error: 'NODE_MODULES_DIR is not set' }));
  process.exit(2);
}
const { chromium } = require(path.join(modules, 'playwright-core'));

const started = Date.now();
const steps = [];
function step(what) {
  steps.push([Date.now() - started, what]);
}

/* Everything the page says that a test may hold against it. */
function newLog() {
  return { console_errors: [], page_errors: [], csp_violations: [], foreign_requests: [], failed_requests: [], bad_responses: [] };
}

async function launch(config) {
  // --headless=new after Playwright's own --headless (the later switch wins); Playwright adds --no-sandbox (we
  // run as root), --no-first-run and the switches that keep Chromium off the network (no component updates,
  // no background networking, no sync); the profile is the caller's temporary directory.
  return chromium.launchPersistentContext(config.profile, {
    executablePath: config.chromium || '/usr/bin/chromium',
    headless: true,
    args: ['--headless=new', '--no-sandbox', '--no-first-run', '--disable-gpu', '--no-proxy-server',
      '--disable-crash-reporter', '--disable-breakpad'],
    viewport: { width: 1280, height: 900 },
    // Downloads (the playground's returned files) go to Playwright's temporary directory, under TMPDIR.
    acceptDownloads: true,
    timeout: 30000,
  });
}

/* Watch a context's pages: console errors, uncaught exceptions, CSP violations (the document's
 * securitypolicyviolation events, reported through a binding, which the CSP does not govern), requests that
 * leave the stack's origin (aborted: loopback only), failed requests and answers of 400 or more. */
async function watch(context, base, log) {
  const origin = new URL(base).origin;
  await context.exposeBinding('__pysandboxCspViolation', (source, v) => {
    log.csp_violations.push(Object.assign({ page: source.page ? source.page.url() : '' }, v));
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__pysandboxCspViolation({
        directive: e.effectiveDirective, violated: e.violatedDirective, blocked: e.blockedURI,
        source: e.sourceFile, line: e.lineNumber, sample: e.sample, disposition: e.disposition,
      });
    }, true);
  });
  await context.route((u) => u.origin !== origin && u.protocol !== 'blob:' && u.protocol !== 'data:', (route) => {
    log.foreign_requests.push(route.request().url());
    return route.abort('blockedbyclient');
  });
  const onPage = (page) => {
    page.on('console', (m) => {
      if (m.type() === 'error') log.console_errors.push({ page: page.url(), text: m.text(), location: m.location() });
    });
    page.on('pageerror', (e) => log.page_errors.push({ page: page.url(), text: String(e && e.stack || e) }));
    page.on('requestfailed', (r) => {
      const f = r.failure();
      log.failed_requests.push({ url: r.url(), method: r.method(), error: f ? f.errorText : '' });
    });
    page.on('response', (r) => {
      if (r.status() >= 400) log.bad_responses.push({ url: r.url(), method: r.request().method(), status: r.status() });
    });
  };
  context.pages().forEach(onPage);
  context.on('page', onPage);
}

/* Run body(page, config, tools) and print its RESULT line; the browser is closed whatever happens. */
function main(body) {
  let config;
  try {
    config = JSON.parse(process.argv[2] || '');
  } catch (e) {
    console.log('RESULT ' + JSON.stringify({ ok: false, error: 'usage: node SCRIPT CONFIG-JSON (' + e.message + ')' }));
    process.exit(2);
  }
  const log = newLog();
  const out = { ok: false, log, steps };
  let context = null;
  let finished = false;
  const finish = (code) => {
    if (finished) return;
    finished = true;
    out.elapsed_ms = Date.now() - started;
    console.log('RESULT ' + JSON.stringify(out));
    process.exitCode = code;
  };
  // A watchdog: a page that never answers must not hang the suite (the caller has its own timeout as well).
  const watchdog = setTimeout(() => {
    out.error = 'timed out after ' + (config.timeout || 60) + ' s; last step: ' + JSON.stringify(steps[steps.length - 1] || null);
    finish(3);
    const closing = context ? context.close().catch(() => {}) : Promise.resolve();
    closing.finally(() => process.exit(3));
  }, (config.timeout || 60) * 1000);
  (async () => {
    try {
      context = await launch(config);
      out.browser = context.browser() ? context.browser().version() : null;
      step('launched');
      await watch(context, config.url, log);
      const page = context.pages()[0] || await context.newPage();
      try {
        Object.assign(out, await body(page, config, { step, log, context }));
        out.ok = true;
      } catch (e) {
        out.error = String(e && e.stack || e);
      }
      if (config.screenshot) {
        try {
          await page.screenshot({ path: config.screenshot, fullPage: true, animations: 'disabled' });
          out.screenshot = config.screenshot;
          step('screenshot');
        } catch (e) {
          out.screenshot_error = String(e && e.message || e);
        }
      }
    } catch (e) {
      out.ok = false;
      out.error = String(e && e.stack || e);
    } finally {
      if (context) await context.close().catch((e) => { out.close_error = String(e); });
      clearTimeout(watchdog);
    }
    finish(out.ok ? 0 : 1);
  })();
}

/* Poll fn (in the page) until it returns something truthy; the value, or an Error naming what was awaited. */
async function waitFor(page, what, fn, arg, timeoutMs) {
  try {
    const handle = await page.waitForFunction(fn, arg, { timeout: timeoutMs || 15000, polling: 50 });
    return await handle.jsonValue();
  } catch (e) {
    throw new Error('waiting for ' + what + ': ' + (e && e.message ? e.message.split('\n')[0] : e));
  }
}

module.exports = { main, waitFor };
