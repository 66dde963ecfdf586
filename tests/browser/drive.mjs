// Drives the system Chromium through a plan of steps and prints what it saw as JSON.
//
//   node drive.mjs plan.json > result.json
//
// plan: {"chromium": "/usr/bin/chromium", "base": "http://127.0.0.1:PORT", "out": "DIR",
//        "steps": [{"goto": "/path"} | {"select": [css, value]} | {"fill": [css, value]} |
//                  {"click": css} | {"viewport": [width, height]} | {"snapshot": "name"} |
//                  {"nojs": "/path", "snapshot": "name"}]}
// A snapshot records the URL, console errors, failed requests, the page's width (the window's
// and the document's scrollWidth), every table's cells and widths, every
// SVG chart (size, polylines and their point counts), axe-core's violations, and a full-page
// screenshot OUT/NAME.png. One browser for the whole plan, a fresh profile directory removed after.
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
const profile = mkdtempSync(join(tmpdir(), "sloctl-chromium-"));

const browser = await chromium.launchPersistentContext(profile, {
  executablePath: plan.chromium,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 1280, height: 900 },
  // axe is injected into our pages, whose Content-Security-Policy allows no script.
  bypassCSP: true,
});
const results = [];
let errors = [];
let failed = [];
function watch(page) {
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("requestfailed", (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
  page.on("response", (r) => { if (r.status() >= 400) failed.push(`${r.url()} ${r.status()}`); });
}

async function snapshot(page, name, withAxe = true) {
  const seen = await page.evaluate(() => ({
    url: location.pathname + location.search,
    title: document.title,
    width: { window: document.documentElement.clientWidth, scroll: document.documentElement.scrollWidth },
    tableWidths: Object.fromEntries([...document.querySelectorAll("table")].map((t, i) => [
      t.id || `table${i}`, { client: t.clientWidth, scroll: t.scrollWidth },
    ])),
    tables: Object.fromEntries([...document.querySelectorAll("table")].map((t, i) => [
      t.id || `table${i}`,
      [...t.querySelectorAll("tbody tr")].map((tr) => ({
        attrs: Object.fromEntries([...tr.attributes].map((a) => [a.name, a.value])),
        cells: [...tr.children].map((c) => c.textContent.trim()),
        links: [...tr.querySelectorAll("a")].map((a) => a.getAttribute("href")),
      })),
    ])),
    charts: [...document.querySelectorAll("svg")].map((s) => {
      const box = s.getBoundingClientRect();
      return {
        label: s.getAttribute("aria-label"),
        width: box.width, height: box.height,
        lines: [...s.querySelectorAll("polyline")].map((p) => ({
          name: p.querySelector("title")?.textContent ?? "",
          points: (p.getAttribute("points") || "").trim().split(/\s+/).filter(Boolean).length,
          cls: p.getAttribute("class") || "",
        })),
      };
    }),
    links: [...document.querySelectorAll("a")].map((a) => a.getAttribute("href")),
  }));
  let axe = null;
  if (withAxe) {
    await page.addScriptTag({ content: axeSource });
    axe = await page.evaluate(async () => {
      const r = await window.axe.run(document, { resultTypes: ["violations"] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                                        nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
    });
  }
  const shot = join(plan.out, `${name}.png`);
  await page.screenshot({ path: shot, fullPage: true });
  results.push({ name, ...seen, axe, screenshot: shot, errors, failed });
  errors = [];
  failed = [];
}

try {
  let page = await browser.newPage();
  watch(page);
  for (const step of plan.steps) {
    if (step.nojs !== undefined) {
      // A page of its own with the page's scripts turned off (what a reader without JavaScript gets).
      const other = await browser.newPage();
      watch(other);
      const cdp = await browser.newCDPSession(other);
      await cdp.send("Emulation.setScriptExecutionDisabled", { value: true });
      await other.goto(plan.base + step.nojs);
      await snapshot(other, step.snapshot, false);
      await other.close();
    } else if (step.viewport !== undefined) {
      await page.setViewportSize({ width: step.viewport[0], height: step.viewport[1] });
    } else if (step.goto !== undefined) {
      await page.goto(plan.base + step.goto);
    } else if (step.select !== undefined) {
      await page.selectOption(step.select[0], step.select[1]);
    } else if (step.fill !== undefined) {
      await page.fill(step.fill[0], step.fill[1]);
    } else if (step.click !== undefined) {
      await Promise.all([page.waitForLoadState("load"), page.click(step.click)]);
      await page.waitForLoadState("load");
    } else if (step.snapshot !== undefined) {
      await snapshot(page, step.snapshot);
    }
  }
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(results, null, 1));
