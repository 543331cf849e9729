// Measures where things land on passerelle's pages in Debian's chromium,
// and prints one JSON report on stdout for the Go test to judge:
//   node layout.mjs URL...
// For each page, at a phone and a desktop width, once everything that
// loads has loaded: the page top of every element the Go side asks about
// (article dl: the date and the place) and the event banner's box and
// whether its image decoded.
import { chromium } from 'playwright-core';

const urls = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  timeout: 60000,
});
const report = [];
try {
  for (const [label, viewport] of [['phone', { width: 390, height: 844 }], ['desktop', { width: 1280, height: 900 }]]) {
    // The pages' own CSP stays in force: the layout must hold without
    // script, as visitors get it.
    const context = await browser.newContext({ viewport, locale: 'en-GB' });
    const page = await context.newPage();
    // Every request the page makes; those to another origin are reported.
    let external = [];
    page.on('request', (req) => external.push(req.url()));
    for (const url of urls) {
      external = [];
      await page.goto(url, { waitUntil: 'load' });
      await page.waitForLoadState('networkidle');
      const measured = await page.evaluate(([viewport, url]) => {
        const top = (sel) => {
          const el = document.querySelector(sel);
          return el ? el.getBoundingClientRect().top + window.scrollY : -1;
        };
        const img = document.querySelector('img.banner');
        const box = img ? img.getBoundingClientRect() : null;
        return {
          viewport, url,
          detailsTop: top('article dl'),
          titleTop: top('article h1'),
          banner: img ? { top: box.top + window.scrollY, height: box.height, width: box.width,
            loaded: img.complete && img.naturalWidth > 0, src: img.getAttribute('src') } : null,
        };
      }, [label, url]);
      measured.external = external.filter((u) => new URL(u).origin !== new URL(url).origin);
      report.push(measured);
    }
    await context.close();
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report) + '\n');
