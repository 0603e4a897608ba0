/* playground.js: /playground. Writes config.code, config.stdin, config.args (a list) and config.run_timeout into the
 * form, picks config.input_file with the file picker, runs, and returns what the page shows (#status and its
 * data-status, #exit-code, #time, #stdout, #stderr, #error, the returned-file links with their blobs' content
 * as the page hands them out), the input files it listed and the request body it sent. With config.environment,
 * it only opens the page and returns the options of #environment (the environments page's script calls it so). */
'use strict';

const fs = require('fs');
const path = require('path');
const { main, waitFor } = require('./lib');

/* The page has loaded its environments (the select filled, or a note why not). */
async function environments(page, config) {
  await page.goto(config.url + '/playground', { waitUntil: 'load' });
  return waitFor(page, 'the list of environments', () => {
    const note = document.getElementById('environment-note').textContent;
    const options = Array.from(document.querySelectorAll('#environment option')).map((o) => [o.value, o.textContent]);
    return options.length > 1 || note ? { options, note } : null;
  });
}

async function run(page, config, { step }) {
  const sent = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/execute' && r.method() === 'POST') sent.push(JSON.parse(r.postData() || 'null'));
  });
  const env = await environments(page, config);
  step('loaded');
  await page.locator('#code').fill(config.code);
  await page.locator('#stdin').fill(config.stdin);
  await page.locator('#args').fill((config.args || []).join('\n'));
  await page.locator('#timeout').fill(String(config.run_timeout));
  await page.locator('#file-input').setInputFiles(config.input_file);
  const inputName = path.basename(config.input_file);
  // The picked file is read (base64) before the run can send it: its row loses "reading…".
  const listed = await waitFor(page, 'the picked file in #input-files', (name) => {
    const li = Array.from(document.querySelectorAll('#input-files li')).find((l) => l.dataset.name === name);
    return li && !/reading/.test(li.textContent) ? li.textContent : null;
  }, inputName);
  step('form filled');
  await page.locator('#run').click();
  const status = await waitFor(page, 'the end of the run', () => {
    const s = document.getElementById('status').dataset.status;
    return s !== 'idle' && s !== 'running' ? s : null;
  }, null, 30000);
  step('ran');
  const shown = await page.evaluate(() => {
    const text = (id) => document.getElementById(id).textContent;
    return {
      status_text: text('status'), success: document.getElementById('status').dataset.success,
      exit_code: text('exit-code'), time: text('time'), stdout: text('stdout'), stderr: text('stderr'), error: text('error'),
      files: Array.from(document.querySelectorAll('#files a.returned-file')).map((a) => ({ download: a.getAttribute('download'), href: a.getAttribute('href'), text: a.textContent })),
    };
  });
  // Each link's blob, as a person gets it: a click and a download. (A fetch() of the blob: URL from the page
  // would be refused: the page's CSP has connect-src 'self', which does not cover blob:.)
  for (const f of shown.files) {
    const link = page.locator('#files a.returned-file').filter({ hasText: f.text }).first();
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 10000 }), link.click()]);
    f.suggested_filename = download.suggestedFilename();
    f.download_url = download.url();
    const saved = await download.path();
    f.content = fs.readFileSync(saved, 'latin1');
    await download.delete();
  }
  step('files downloaded');
  return Object.assign({ status, listed, sent, environments_before: env }, shown);
}

if (require.main === module) main(run);
module.exports = { environments };
