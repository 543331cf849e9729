// Walks passerelle's public pages in Debian's chromium as a visitor would,
// and prints one JSON report on stdout for the Go test to judge:
//   node walk.mjs BASE_URL SCREENSHOT_DIR EMAIL
// Home → first event → "Download (.ics)" → "answer by email" form, at a
// phone and a desktop width, with an axe-core check of every page.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const [base, shots, email] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  timeout: 60000,
});
const report = { pages: [], violations: [], screenshots: [], ics: null, answered: null, external: [] };

async function audit(page, name) {
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  for (const v of result.violations) {
    report.violations.push({ page: name, id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length });
  }
}

try {
  for (const [label, viewport] of [['phone', { width: 390, height: 844 }], ['desktop', { width: 1280, height: 900 }]]) {
    // bypassCSP lets axe-core be injected: the pages' own policy forbids
    // every script, which is what we want for visitors.
    const context = await browser.newContext({ viewport, locale: label === 'phone' ? 'fr-FR' : 'en-GB', bypassCSP: true });
    const page = await context.newPage();
    // Privacy first: the pages must ask nothing of any other host.
    page.on('request', (req) => {
      const u = new URL(req.url());
      if (u.origin !== new URL(base).origin) report.external.push(req.url());
    });

    await page.goto(base + '/', { waitUntil: 'load' });
    report.pages.push({ viewport: label, url: page.url(), title: await page.title(), lang: await page.getAttribute('html', 'lang') });
    const home = path.join(shots, `home-${label}.png`);
    await page.screenshot({ path: home, fullPage: true });
    report.screenshots.push(home);
    await audit(page, `home-${label}`);

    await page.locator('ul.events a.title').first().click();
    await page.waitForLoadState('load');
    report.pages.push({ viewport: label, url: page.url(), title: await page.title() });
    const event = path.join(shots, `event-${label}.png`);
    await page.screenshot({ path: event, fullPage: true });
    report.screenshots.push(event);
    await audit(page, `event-${label}`);

    const icsHref = await page.locator('a[download]').first().getAttribute('href');
    const ics = await page.request.get(new URL(icsHref, page.url()).toString());
    const body = await ics.text();
    report.ics = { status: ics.status(), type: ics.headers()['content-type'], hasEvent: body.includes('BEGIN:VEVENT') };

    if (label === 'desktop') {
      await page.fill('#email', email);
      await page.click('form button[type=submit]');
      await page.waitForLoadState('load');
      report.answered = { url: page.url(), status: await page.locator('[role=status]').textContent() };
      const sent = path.join(shots, `answered-${label}.png`);
      await page.screenshot({ path: sent, fullPage: true });
      report.screenshots.push(sent);
      await audit(page, `answered-${label}`);
    }

    const sourceLink = await page.goto(base + '/', { waitUntil: 'load' });
    if (sourceLink && (await page.locator('a[href^="/sources/"]').count()) > 0) {
      await page.locator('a[href^="/sources/"]').first().click();
      await page.waitForLoadState('load');
      await audit(page, `source-${label}`);
    }
    await context.close();
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report) + '\n');
