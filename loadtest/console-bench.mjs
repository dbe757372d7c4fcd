#!/usr/bin/env node
// Browser benchmark of the agent console with a large queue: starts a
// Switchboard server over a generated directory, queues --queued tickets in
// the pull group p0001 (nobody is routed them: they wait), logs a00001 (one of
// its members) into index.html in headless Chromium, then creates tickets in
// p0001 at --rate items/s for --duration seconds, and reports:
//
// - first render: from the `welcome` arriving at the page to the first frame
//   painted with queued items;
// - main-thread busy share: time in long tasks (Long Tasks API, tasks over
//   50 ms) during the arrivals, divided by their duration;
// - arrival -> painted, p50/p99: from just before `POST /api/work` to the end
//   of the first frame the console painted after it received the `queue`
//   push of that item;
// - JS heap used after a garbage collection, after the first render and at
//   the end.
//
// Usage (cargo build --release --workspace; npm ci):
//   node loadtest/console-bench.mjs --queued 1000 --rate 20 --duration 30 [--static-from main] [--json]
// Options as loadtest/board-bench.mjs: --bin, --loadtest, --chromium.

import { spawn, execFileSync, execSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const API_KEY = 'console-bench-api-key-001';
const PASSWORD = 'loadtest-pw';

function args() {
  const a = {
    queued: 1000, rate: 20, duration: 30, staticFrom: null, json: false,
    bin: path.join(ROOT, 'target', 'release', 'switchboard'),
    loadtest: [path.join(ROOT, 'target', 'release', 'switchboard-loadtest'), path.join(ROOT, 'target', 'debug', 'switchboard-loadtest')]
      .find((p) => existsSync(p)),
    chromium: process.env.CHROMIUM || '/usr/bin/chromium',
  };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 1) {
    const k = argv[i];
    const v = () => argv[++i];
    if (k === '--queued') a.queued = Number(v());
    else if (k === '--rate') a.rate = Number(v());
    else if (k === '--duration') a.duration = Number(v());
    else if (k === '--static-from') a.staticFrom = v();
    else if (k === '--bin') a.bin = v();
    else if (k === '--loadtest') a.loadtest = v();
    else if (k === '--chromium') a.chromium = v();
    else if (k === '--json') a.json = true;
    else { console.error(`unknown option ${k}`); process.exit(2); }
  }
  return a;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

/** Resolves with fn's value, or with `fallback` when it takes longer than ms (a frozen page). */
function within(ms, promise, fallback = null) {
  return Promise.race([promise, new Promise((r) => setTimeout(() => r(fallback), ms))]);
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// Installed in the console page before its scripts run: records when the
// welcome and each `queue` push arrive, when they are painted, and long tasks.
function consoleHook() {
  const b = { welcomeAt: null, firstPaintAt: null, added: [], longtasks: [] };
  window.__bench = b;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) b.longtasks.push([performance.timeOrigin + e.startTime, e.duration]);
  }).observe({ type: 'longtask', buffered: true });
  const afterPaint = (fn) => requestAnimationFrame(() => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => fn(Date.now());
    ch.port2.postMessage(0);
  });
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...a) {
      super(...a);
      this.addEventListener('message', (ev) => {
        const at = Date.now();
        const text = typeof ev.data === 'string' ? ev.data : '';
        if (b.welcomeAt == null && text.startsWith('{"type":"welcome"')) b.welcomeAt = at;
        if (!text.startsWith('{"type":"queue"')) return;
        const f = JSON.parse(text);
        if (f.op !== 'added') return;
        const got = { item: f.item.id, at, painted: null };
        b.added.push(got);
        setTimeout(() => afterPaint((t) => { got.painted = t; }), 0);
      });
    }
  };
  const mo = new MutationObserver(() => {
    if (b.welcomeAt == null || !document.querySelector('.queue-group [data-item]')) return;
    mo.disconnect();
    afterPaint((t) => { b.firstPaintAt = t; });
  });
  document.addEventListener('DOMContentLoaded', () => mo.observe(document.body, { childList: true, subtree: true }));
}

async function main() {
  const a = args();
  for (const [what, p] of [['server', a.bin], ['load tester', a.loadtest], ['chromium', a.chromium]]) {
    if (!p || !existsSync(p)) { console.error(`${what} not found (${p}); see the usage at the top of this file`); process.exit(2); }
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'sb-console-bench-'));
  let server;
  let browser;
  try {
    const dirFile = path.join(tmp, 'directory.toml');
    execFileSync(a.loadtest, ['directory', '--agents', '100', '--groups', '10', '--out', dirFile], { stdio: 'ignore' });
    let cwd = ROOT;
    if (a.staticFrom) {
      cwd = path.join(tmp, 'root');
      execSync(`mkdir -p '${cwd}' && git -C '${ROOT}' archive '${a.staticFrom}' static | tar -x -C '${cwd}'`);
    }
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    server = spawn(a.bin, ['serve', '--listen', `127.0.0.1:${port}`, '--directory', dirFile, '--api-key', API_KEY,
      '--login-attempts-per-ip=0', '--login-attempts-per-user=0'], { cwd, stdio: 'ignore', env: { ...process.env, RUST_LOG: 'warn' } });
    for (let i = 0; ; i += 1) {
      try { if ((await fetch(`${base}/healthz`)).ok) break; } catch { /* not yet */ }
      if (i > 200) throw new Error('the server did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    const create = async (title) => {
      const res = await fetch(`${base}/api/work`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Api-Key': API_KEY },
        body: JSON.stringify({ group: 'p0001', channel: 'ticket', title }),
      });
      if (res.status !== 201) throw new Error(`POST /api/work: ${res.status} ${await res.text()}`);
      return (await res.json()).item.id;
    };
    for (let i = 0; i < a.queued; i += 25) {
      await Promise.all(Array.from({ length: Math.min(25, a.queued - i) }, (_, j) => create(`Waiting ticket ${i + j}`)));
    }
    browser = await chromium.launch({
      executablePath: a.chromium,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.addInitScript(consoleHook);
    const cdp = await context.newCDPSession(page);
    await page.goto(`${base}/index.html`);
    await page.fill('#username', 'a00001');
    await page.fill('#password', PASSWORD);
    await page.click('#login-form button[type=submit]');
    const rendered = await within(90000, page.waitForFunction(() => window.__bench.firstPaintAt != null, null, { timeout: 90000, polling: 100 })
      .then(() => true).catch(() => false), false);
    const first = rendered ? await within(20000, page.evaluate(() => window.__bench.firstPaintAt - window.__bench.welcomeAt)) : null;
    await within(5000, page.keyboard.press('Escape')); // the Active Groups dialog of a login
    const heap = async () => within(30000, (async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      return (await cdp.send('Runtime.getHeapUsage')).usedSize;
    })());
    const heapStart = rendered ? await heap() : null;

    // Arrivals at the rate, from here: send time just before each POST.
    const sent = new Map();
    const t0 = Date.now();
    const total = Math.round(a.rate * a.duration);
    const posts = [];
    for (let n = 0; n < total; n += 1) {
      const due = t0 + (n * 1000) / a.rate;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const at = Date.now();
      posts.push(create(`Arrival ${n}`).then((id) => sent.set(id, at)));
    }
    await Promise.all(posts);
    const t1 = Date.now();
    await new Promise((r) => setTimeout(r, 2000));
    const b = await within(30000, page.evaluate(() => ({ added: window.__bench.added, longtasks: window.__bench.longtasks })));
    const heapEnd = await heap();
    let busy = null;
    const lat = [];
    let unpainted = 0;
    if (b) {
      busy = b.longtasks.reduce((sum, [start, d]) => sum + Math.max(0, Math.min(start + d, t1) - Math.max(start, t0)), 0) / (t1 - t0);
      for (const g of b.added) {
        const at = sent.get(g.item);
        if (at == null) continue;
        if (g.painted == null) unpainted += 1;
        else lat.push(g.painted - at);
      }
    }
    lat.sort((x, y) => x - y);
    const result = {
      console: a.staticFrom ? `static/ of ${a.staticFrom}` : 'static/ of the working tree',
      queued_before: a.queued,
      rate: a.rate,
      duration_s: a.duration,
      arrivals: total,
      first_render_ms: first,
      busy_share: busy == null ? null : Number(busy.toFixed(3)),
      arrivals_painted: lat.length,
      arrivals_received_not_painted: b ? unpainted : null,
      arrival_to_paint_p50_ms: percentile(lat, 50),
      arrival_to_paint_p99_ms: percentile(lat, 99),
      heap_after_render_mb: heapStart == null ? null : Number((heapStart / 1048576).toFixed(1)),
      heap_end_mb: heapEnd == null ? null : Number((heapEnd / 1048576).toFixed(1)),
    };
    if (a.json) console.log(JSON.stringify(result));
    else for (const [k, v] of Object.entries(result)) console.log(`${k.padEnd(30)} ${v ?? 'n/a (the page did not answer)'}`);
  } finally {
    await browser?.close().catch(() => {});
    server?.kill('SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
