// Opens the `hslambda view` page in Debian's headless Chromium, logs in, browses to each dataset in h5web's
// explorer, waits for its plot, checks the DOM and takes a screenshot. Prints one JSON line with what it
// saw; exits non-zero on any failure (the caller, tests/interop/test_browser.py, asserts on the JSON too).
//
// Usage: node h5web-shot.mjs URL USER PASSWORD OUTDIR PATH=VIS [PATH=VIS ...]
//   e.g. ... /line=Line /maps/image=Heatmap   (VIS: the visualization h5web must pick for the dataset)
import { chromium } from 'playwright-core';
import { join } from 'node:path';

const [url, user, password, outdir, ...targets] = process.argv.slice(2);
if (!url || !outdir || targets.length === 0) {
  console.error('usage: node h5web-shot.mjs URL USER PASSWORD OUTDIR PATH=VIS...');
  process.exit(2);
}

// The machine's flags for Chromium (no sandbox as root, no GPU, no network beyond loopback); launch() gives
// it a fresh, empty profile directory of its own.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const result = { url, shots: [], failedRequests: [], httpErrors: [], consoleErrors: [] };
let failed = null;
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
try {
  page.on('requestfailed', (r) => result.failedRequests.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) result.httpErrors.push(`${r.status()} ${r.url()}`); });
  page.on('console', (m) => { if (m.type() === 'error') result.consoleErrors.push(m.text()); });

  await page.goto(url);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');

  for (const target of targets) {
    const [path, vis] = target.split('=');
    // Browse: open each parent group in the explorer, then the dataset.
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i += 1) {
      const p = `/${parts.slice(0, i).join('/')}`;
      const item = page.locator(`[role=treeitem][data-path="${p}"]`);
      await item.waitFor({ timeout: 30000 });
      if (i < parts.length && (await item.getAttribute('aria-expanded')) === 'true') continue;
      await item.click();
    }
    const tab = page.locator('[role=tablist][aria-label=Visualization] [role=tab][aria-selected=true]');
    await tab.waitFor({ timeout: 30000 });
    // Plotted: the value arrived ("Loading data..." gone) and the canvas is drawn.
    await page.locator('[data-testid=LoadingDatasetValue]').waitFor({ state: 'detached', timeout: 60000 });
    await page.locator('canvas').first().waitFor({ timeout: 30000 });
    await page.waitForTimeout(1000); // WebGL draws on the next frames
    const dom = await page.evaluate(() => ({
      canvases: document.querySelectorAll('canvas').length,
      svgs: document.querySelectorAll('svg').length,
      errors: [...document.querySelectorAll('[class*="_error_"], [class*="_detailedError_"], [class*="_errorMessage_"]')]
        .map((e) => e.textContent),
      selected: document.querySelector('[role=treeitem][aria-selected=true]')?.getAttribute('data-path'),
      text: document.body.innerText.slice(0, 2000),
    }));
    const file = join(outdir, `h5web${path.replaceAll('/', '_')}-${vis.toLowerCase()}.png`);
    await page.screenshot({ path: file });
    const shot = { path, expected: vis, vis: (await tab.innerText()).trim(), file, ...dom };
    result.shots.push(shot);
    if (shot.vis !== vis) throw new Error(`${path}: h5web shows ${shot.vis}, expected ${vis}`);
    if (shot.selected !== path) throw new Error(`${path}: the explorer has ${shot.selected} selected`);
    if (shot.canvases === 0) throw new Error(`${path}: no canvas: nothing plotted`);
    if (shot.errors.length > 0) throw new Error(`${path}: h5web shows errors: ${shot.errors.join(' | ')}`);
  }
  if (result.failedRequests.length || result.httpErrors.length) {
    throw new Error(`requests failed: ${[...result.failedRequests, ...result.httpErrors].join('; ')}`);
  }
} catch (e) {
  failed = String(e?.message || e);
  result.failureShot = join(outdir, 'h5web-failure.png');
  await page.screenshot({ path: result.failureShot }).catch(() => {});
} finally {
  await browser.close();
}
result.error = failed;
console.log(JSON.stringify(result));
process.exit(failed ? 1 : 0);
