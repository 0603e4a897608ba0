/* environments.js: /playground/environments. Creates config.name (config.description, config.setup_script)
 * through the form, follows its build log on the page until #build-status settles, and returns the log lines,
 * every state #build-status went through (with when the first log line containing config.expect_line showed),
 * the table row of the environment once the list has refreshed, a full-page screenshot of this page
 * (config.screenshot_environments); then opens /playground and returns the options of its #environment select,
 * with config.name selected (the final screenshot, config.screenshot, shows that). */
'use strict';

const { main, waitFor } = require('./lib');
const { environments } = require('./playground');

main(async (page, config, { step }) => {
  await page.goto(config.url + '/playground/environments', { waitUntil: 'load' });
  await waitFor(page, 'the first load of the list', () => {
    const first = document.querySelector('#env-table tbody tr');
    return first && !/Loading/.test(first.textContent);
  });
  step('loaded');
  // What #build-status and #build-log go through, as it happens (not only how they end).
  await page.evaluate((expect) => {
    const t0 = performance.now();
    const seen = window.__pysandboxSeen = { states: [], line_at: null, line_status: null };
    const status = document.getElementById('build-status');
    const log = document.getElementById('build-log');
    const note = () => {
      const s = status.dataset.status;
      const last = seen.states[seen.states.length - 1];
      if (!last || last[1] !== s) seen.states.push([Math.round(performance.now() - t0), s, status.textContent]);
      if (seen.line_at === null && log.textContent.includes(expect)) {
        seen.line_at = Math.round(performance.now() - t0);
        seen.line_status = s;
      }
    };
    new MutationObserver(note).observe(status, { attributes: true, childList: true, characterData: true, subtree: true });
    new MutationObserver(note).observe(log, { childList: true, subtree: true, characterData: true });
    note();
  }, config.expect_line);

  await page.locator('#env-name').fill(config.name);
  await page.locator('#env-description').fill(config.description);
  await page.locator('#env-script').fill(config.setup_script);
  await page.locator('#env-create').click();
  step('created');
  const final = await waitFor(page, 'the build to end on the page', () => {
    const s = document.getElementById('build-status').dataset.status;
    return ['ready', 'failed', 'deleted'].includes(s) ? s : null;
  }, null, 90000);
  step('built: ' + final);
  const row = await waitFor(page, 'the row of ' + config.name + ' to leave "building"', (name) => {
    const tr = Array.from(document.querySelectorAll('#env-table tbody tr')).find((r) => r.dataset.name === name);
    return tr && tr.dataset.status !== 'building'
      ? { status: tr.dataset.status, cells: Array.from(tr.cells).map((c) => c.textContent.trim()) } : null;
  }, config.name, 15000);
  const shown = await page.evaluate(() => ({
    seen: window.__pysandboxSeen,
    build_status: document.getElementById('build-status').dataset.status,
    build_status_text: document.getElementById('build-status').textContent,
    build_name: document.getElementById('build-name').textContent,
    log_lines: Array.from(document.querySelectorAll('#build-log span.log-line')).map((l) => [l.dataset.stream, l.textContent]),
    message: document.getElementById('env-message').hidden ? '' : document.getElementById('env-message').textContent,
  }));
  if (config.screenshot_environments) {
    await page.screenshot({ path: config.screenshot_environments, fullPage: true, animations: 'disabled' });
    shown.screenshot_environments = config.screenshot_environments;
    step('screenshot of the environments page');
  }

  const playground = await environments(page, config);
  const listed = playground.options.some(([value]) => value === config.name);
  if (listed) await page.locator('#environment').selectOption(config.name);
  step('playground');
  return Object.assign({ final, row, playground, selected: await page.locator('#environment').inputValue() }, shown);
});
