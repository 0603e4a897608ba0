/* docs.js: /docs (Swagger UI). config.task "render": the operation blocks it shows ([METHOD, path] each) and
 * what it says of the description; config.task "try": "Try it out" on POST /execute with config.body, Execute,
 * and the live answer Swagger UI shows (status and body text) with the request it sent. */
'use strict';

const { main, waitFor } = require('./lib');

async function open(page, config, step) {
  await page.goto(config.url + '/docs', { waitUntil: 'load' });
  step('loaded');
  // Swagger UI fetches /openapi.json and then renders every operation at once: wait until the count holds.
  await waitFor(page, 'Swagger UI operation blocks', () => {
    const n = document.querySelectorAll('#swagger-ui .opblock').length;
    const w = window.__pysandboxLast || { n: -1, since: 0 };
    if (n !== w.n) window.__pysandboxLast = { n, since: Date.now() };
    return n > 0 && n === w.n && Date.now() - w.since > 300 ? n : 0;
  });
  step('rendered');
}

async function render(page, config, { step }) {
  await open(page, config, step);
  return page.evaluate(() => ({
    operations: Array.from(document.querySelectorAll('#swagger-ui .opblock')).map((b) => [
      (b.querySelector('.opblock-summary-method') || {}).textContent || '',
      (b.querySelector('.opblock-summary-path') || { dataset: {} }).dataset.path || '',
    ]),
    title: (document.querySelector('#swagger-ui .info .title') || {}).textContent || '',
    tags: Array.from(document.querySelectorAll('#swagger-ui .opblock-tag')).map((t) => t.dataset.tag || t.textContent.trim()),
    // Swagger UI's own list of problems with the description (absent when there are none).
    spec_errors: Array.from(document.querySelectorAll('#swagger-ui .errors-wrapper')).map((e) => e.textContent.trim()),
  }));
}

async function tryIt(page, config, { step }) {
  const sent = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/execute') sent.push({ method: r.method(), body: r.postData(), content_type: r.headers()['content-type'] || '' });
  });
  await open(page, config, step);
  const block = page.locator('#swagger-ui .opblock.opblock-post', { has: page.locator('.opblock-summary-path[data-path="/execute"]') });
  await block.locator('.opblock-summary-control').click();
  await block.locator('.opblock-body').waitFor();
  step('expanded');
  // docs-init.js opens "Try it out" on every operation (tryItOutEnabled); a page without that shows the button.
  const tryButton = block.locator('button.try-out__btn');
  const before = (await tryButton.count()) ? (await tryButton.first().textContent()).trim() : '';
  if (/try it out/i.test(before)) await tryButton.first().click();
  const editor = block.locator('textarea.body-param__text');
  await editor.waitFor();
  await editor.fill(config.body);
  step('body written');
  await block.locator('button.execute').click();
  step('executed');
  const response = await waitFor(page, 'the live response of POST /execute', () => {
    const table = document.querySelector('.opblock-post .live-responses-table');
    const status = table && table.querySelector('.response .response-col_status');
    const code = table && table.querySelector('.response .response-col_description .highlight-code');
    const body = code && (code.querySelector('pre') || code);
    return status && body ? { status: status.textContent.trim(), body: body.textContent } : null;
  }, null, 30000);
  step('answered');
  await block.locator('.live-responses-table').scrollIntoViewIfNeeded();
  return {
    try_button_before: before,
    try_button_after: (await tryButton.count()) ? (await tryButton.first().textContent()).trim() : '',
    body_in_editor: await editor.inputValue(),
    sent,
    response,
  };
}

main((page, config, tools) => (config.task === 'try' ? tryIt : render)(page, config, tools));
