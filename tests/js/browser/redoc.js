/* redoc.js: /redoc (ReDoc 3). Its sidebar shows one tag's operations at a time and its middle panel renders
 * only the sections near the one navigated to, so: open each tag of the sidebar, list its operation items
 * ([href, method badge, label]), click each item and read the operation section it brings up ([METHOD, path,
 * heading]). Returns {tags, items, sections, title}. */
'use strict';

const { main, waitFor } = require('./lib');

/* The sidebar's operation items under one tag, once their number has held for 300 ms. */
async function itemsOf(page, tagHref) {
  return waitFor(page, 'the sidebar items of ' + tagHref, (href) => {
    const items = Array.from(document.querySelectorAll('.menu-item-type-operation > a'))
      .filter((a) => (a.getAttribute('href') || '').startsWith(href + '/'))
      .map((a) => [a.getAttribute('href'), ((a.querySelector('[data-component-name="Tags/HttpTag"]') || {}).textContent || '').trim(),
        a.innerText.replace(/\s+/g, ' ').trim()]);
    const key = '__pysandboxItems' + href;
    const w = window[key] || { n: -1, since: 0 };
    if (items.length !== w.n) window[key] = { n: items.length, since: Date.now() };
    return items.length > 0 && items.length === w.n && Date.now() - w.since > 300 ? items : null;
  }, tagHref);
}

main(async (page, config, { step }) => {
  await page.goto(config.url + '/redoc', { waitUntil: 'load' });
  step('loaded');
  await page.waitForSelector('[data-component-name="Menu/MenuItem"].menu-item-type-group > a', { timeout: 20000 });
  step('rendered');
  const title = await page.evaluate(() => (document.querySelector('h1') || {}).textContent || '');
  const tags = await page.$$eval('.menu-item-type-group > a', (as) => as.map((a) => a.getAttribute('href')));
  const items = [];
  const sections = [];
  // The sidebar's links are clicked as DOM clicks (ReDoc's own handlers run; Playwright's pointer clicks would
  // wait out every expand animation, several seconds in all).
  const click = (selector) => page.$eval(selector, (a) => a.click());
  for (const tag of tags) {
    await click(`.menu-item-type-group > a[href="${tag}"]`);
    const mine = await itemsOf(page, tag);
    items.push(...mine);
    for (const [href] of mine) {
      await click(`.menu-item-type-operation > a[href="${href}"]`);
      sections.push(await waitFor(page, 'the section of ' + href, (id) => {
        const s = document.querySelector(`[data-item-kind="httpItem"][data-section-id="${id}"]`);
        const head = s && s.querySelector('[data-testid="right-panel"] [data-component-name="Panel/PanelHeader"] button[aria-haspopup="menu"]');
        const method = head && head.querySelector('[data-component-name="Tag/Tag"]');
        const path = head && head.querySelector(':scope > span');
        const h2 = s && s.querySelector('h2');
        return method && path && h2 ? [id, method.textContent.trim(), path.textContent.trim(), h2.textContent.trim()] : null;
      }, href.slice(1)));
    }
    step('tag ' + tag);
  }
  // The screenshot: the page from its top, the first tag open in the sidebar. (ReDoc scrolls back to the item
  // last navigated to when the full-page screenshot resizes the window, and the sticky link bar and sidebar
  // are drawn where the page is scrolled to: so the last item navigated to is the top one.)
  await click(`.menu-item-type-group > a[href="${tags[0]}"]`);
  await itemsOf(page, tags[0]);
  await click('.menu-item-type-default > a[href="#/"]');
  await page.waitForTimeout(300);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForTimeout(200);
  return { title, tags, items, sections };
});
