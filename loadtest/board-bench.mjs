#!/usr/bin/env node
// Browser benchmark of the supervisor board: starts a Switchboard server over a
// generated directory, logs the first supervisor (s0001, who watches every
// group) into board.html in headless Chromium, and, while agents toggle their
// availability at --rate changes/s in total, reports:
//
// - first render: from the `watch` answer's `ok` arriving at the page to the
//   first frame painted with agent rows in the grid;
// - main-thread busy share: the time in long tasks (Long Tasks API, tasks over
//   50 ms) over the churn, divided by the churn's duration;
// - change -> painted, p50/p99: from the driver sending a change to the end of
//   the first frame the board painted after it received that change (changes
//   the server coalesced away, or that never reached the page, are not
//   counted: `changes_not_received`);
// - JS heap used after a garbage collection, after the first render, every
//   --heap-every seconds during the churn (0: never) and at its end. The
//   tool's own record of what the page received does not stay in the page: it
//   is drained to this process every --drain-every seconds (default 5), so the
//   heap figures are the board's own (plus the hook's few records not yet
//   drained).
//
// The churn comes from a driver page in the same browser (its own context):
// --churners agents log in and open their console sockets, then send
// `set_availability` toggles round robin, so that send and paint times come
// from one clock.
//
// Usage (build the server in release first: cargo build --release --workspace):
//   node loadtest/board-bench.mjs --agents 2000 --groups 40 --rate 20 --duration 30
//   node loadtest/board-bench.mjs ... --static-from eabe5f2   # the board of another git revision
//   node loadtest/board-bench.mjs ... --all-groups            # the board opened on every group (board.html?dept=*)
//   node loadtest/board-bench.mjs ... --duration 600 --heap-every 60   # the heap over ten minutes
// Options: --bin PATH (default target/release/switchboard), --loadtest PATH
// (default target/release/switchboard-loadtest, else target/debug), --churners N
// (default 200; Chromium opens at most 255 WebSockets), --chromium PATH (default /usr/bin/chromium), --json.

import { spawn, execFileSync, execSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const API_KEY = 'board-bench-api-key-0001';
const PASSWORD = 'loadtest-pw';

function args() {
  const a = {
    agents: 2000, groups: 40, rate: 20, duration: 30, churners: 200, staticFrom: null, json: false,
    allGroups: false, heapEvery: 0, drainEvery: 5,
    bin: path.join(ROOT, 'target', 'release', 'switchboard'),
    loadtest: [path.join(ROOT, 'target', 'release', 'switchboard-loadtest'), path.join(ROOT, 'target', 'debug', 'switchboard-loadtest')]
      .find((p) => existsSync(p)),
    chromium: process.env.CHROMIUM || '/usr/bin/chromium',
  };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 1) {
    const k = argv[i];
    const v = () => argv[++i];
    if (k === '--agents') a.agents = Number(v());
    else if (k === '--groups') a.groups = Number(v());
    else if (k === '--rate') a.rate = Number(v());
    else if (k === '--duration') a.duration = Number(v());
    else if (k === '--churners') a.churners = Number(v());
    else if (k === '--static-from') a.staticFrom = v();
    else if (k === '--bin') a.bin = v();
    else if (k === '--loadtest') a.loadtest = v();
    else if (k === '--chromium') a.chromium = v();
    else if (k === '--json') a.json = true;
    else if (k === '--all-groups') a.allGroups = true;
    else if (k === '--heap-every') a.heapEvery = Number(v());
    else if (k === '--drain-every') a.drainEvery = Number(v());
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

// Installed in the board page before its scripts run: records when frames
// arrive, when the first rows are painted, and long tasks.
function boardHook() {
  const b = { okAt: null, firstPaintAt: null, statuses: [], longtasks: [] };
  window.__bench = b;
  // Hands the records over to the tool and forgets them, so that they do not
  // grow the page's heap: all of them at the end, else those painted (or
  // received more than 10 s ago and still not painted, which stay so).
  b.drain = (all) => {
    const now = Date.now();
    const out = [];
    const keep = [];
    for (const s of b.statuses) (all || s.painted != null || now - s.at > 10000 ? out : keep).push(s);
    b.statuses = keep;
    const longtasks = b.longtasks;
    b.longtasks = [];
    return { statuses: out.map((s) => [s.agent, s.available, s.at, s.painted]), longtasks };
  };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) b.longtasks.push([performance.timeOrigin + e.startTime, e.duration]);
  }).observe({ type: 'longtask', buffered: true });
  // The end of the next frame painted after now: a message posted from a rAF
  // callback runs once that frame's rendering is done.
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
        if (b.okAt == null && text.startsWith('{"data":{') && text.includes('"groups":')) b.okAt = at;
        if (!text.startsWith('{"type":"agent_status')) return;
        const f = JSON.parse(text);
        const pushes = f.type === 'agent_status_batch' ? f.pushes : [f];
        const got = pushes.map((p) => ({ agent: p.status.agent, available: p.status.available, at, painted: null }));
        b.statuses.push(...got);
        // After the page's own handler (a timer runs after the whole dispatch).
        setTimeout(() => afterPaint((t) => { for (const g of got) g.painted = t; }), 0);
      });
    }
  };
  const seen = () => document.querySelector('#agent-grid tbody tr[data-agent]');
  const mo = new MutationObserver(() => {
    if (b.okAt == null || !seen()) return;
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
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'sb-board-bench-'));
  let server;
  let browser;
  try {
    const dirFile = path.join(tmp, 'directory.toml');
    execFileSync(a.loadtest, ['directory', '--agents', String(a.agents), '--groups', String(a.groups), '--supervisors', '1', '--out', dirFile],
      { stdio: 'ignore' });
    // The pages come from static/ in the server's working directory.
    let cwd = ROOT;
    if (a.staticFrom) {
      cwd = path.join(tmp, 'root');
      execSync(`mkdir -p '${cwd}' && git -C '${ROOT}' archive '${a.staticFrom}' static | tar -x -C '${cwd}'`);
    }
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    server = spawn(a.bin, ['serve', '--listen', `127.0.0.1:${port}`, '--directory', dirFile, '--data-dir', path.join(tmp, 'data'),
      '--api-key', API_KEY, '--grace', '120s',
      '--login-attempts-per-ip=0', '--login-attempts-per-user=0'], { cwd, stdio: 'ignore', env: { ...process.env, RUST_LOG: 'warn' } });
    for (let i = 0; ; i += 1) {
      try { if ((await fetch(`${base}/healthz`)).ok) break; } catch { /* not yet */ }
      if (i > 200) throw new Error('the server did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    browser = await chromium.launch({
      executablePath: a.chromium,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });

    // The driver: log the churners in and open their sockets first, so that
    // their logins are not part of the measured churn.
    const driver = await (await browser.newContext()).newPage();
    await driver.goto(`${base}/healthz`);
    const churners = Array.from({ length: Math.min(a.churners, a.agents) }, (_, i) => `a${String(Math.floor((i * a.agents) / Math.min(a.churners, a.agents)) + 1).padStart(5, '0')}`);
    await driver.evaluate(async ({ ids, password }) => {
      const open = async (id) => {
        const res = await fetch('/api/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: id, password }) });
        const { token } = await res.json();
        const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/ws?token=${encodeURIComponent(token)}`);
        return new Promise((resolve, reject) => {
          ws.onerror = () => reject(new Error(`socket of ${id}`));
          ws.onmessage = (e) => {
            const f = JSON.parse(e.data);
            if (f.type === 'welcome') resolve({ id, ws, available: f.agent.available });
          };
        });
      };
      window.__agents = [];
      for (let i = 0; i < ids.length; i += 50) window.__agents.push(...await Promise.all(ids.slice(i, i + 50).map(open)));
    }, { ids: churners, password: PASSWORD });

    // The board.
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const board = await context.newPage();
    await board.addInitScript(boardHook);
    const cdp = await context.newCDPSession(board);
    await board.goto(`${base}/board.html${a.allGroups ? '?dept=*' : ''}`);
    await board.fill('#username', 's0001');
    await board.fill('#password', PASSWORD);
    await board.click('#login-form button[type=submit]');
    const rendered = await within(90000, board.waitForFunction(() => window.__bench.firstPaintAt != null, null, { timeout: 90000, polling: 100 })
      .then(() => true).catch(() => false), false);
    const first = rendered ? await within(20000, board.evaluate(() => window.__bench.firstPaintAt - window.__bench.okAt)) : null;
    const heap = async () => within(30000, (async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      return (await cdp.send('Runtime.getHeapUsage')).usedSize;
    })());
    const heapStart = rendered ? await heap() : null;
    const statuses = [];
    const longtasks = [];
    let drainFailed = false;
    const drain = async (all) => {
      const got = await within(30000, board.evaluate((x) => window.__bench.drain(x), all));
      if (!got) { drainFailed = true; return; }
      for (const [agent, available, at, painted] of got.statuses) statuses.push({ agent, available, at, painted });
      longtasks.push(...got.longtasks);
    };

    // The churn, from the driver: toggles at the rate, round robin.
    const t0 = Date.now();
    const heapSamples = [];
    let churning = true;
    const churn = driver.evaluate(async ({ rate, durationMs }) => {
      const agents = window.__agents;
      const log = [];
      const start = Date.now();
      let sent = 0;
      let next = 0;
      await new Promise((resolve) => {
        const timer = setInterval(() => {
          const due = Math.min(Math.floor(((Date.now() - start) / 1000) * rate), Math.floor((durationMs / 1000) * rate));
          while (sent < due) {
            const ag = agents[next % agents.length];
            next += 1;
            ag.available = !ag.available;
            ag.ws.send(JSON.stringify({ id: sent, type: 'set_availability', available: ag.available }));
            log.push([ag.id, ag.available, Date.now()]);
            sent += 1;
          }
          if (Date.now() - start >= durationMs) { clearInterval(timer); resolve(); }
        }, 5);
      });
      return log;
    }, { rate: a.rate, durationMs: a.duration * 1000 }).finally(() => { churning = false; });
    // Meanwhile: drain the page's records, sample its heap.
    let lastDrain = Date.now();
    let lastHeap = Date.now();
    while (churning && rendered) {
      await Promise.race([churn.catch(() => {}), new Promise((r) => setTimeout(r, 250))]);
      if (!churning) break;
      if (a.drainEvery > 0 && !drainFailed && Date.now() - lastDrain >= a.drainEvery * 1000) {
        lastDrain = Date.now();
        await drain(false);
      }
      if (a.heapEvery > 0 && !drainFailed && Date.now() - lastHeap >= a.heapEvery * 1000) {
        lastHeap = Date.now();
        const used = await heap();
        heapSamples.push([Math.round((Date.now() - t0) / 1000), used == null ? null : Number((used / 1048576).toFixed(2))]);
      }
    }
    const sends = await churn;
    const t1 = Date.now();
    // Let the last changes arrive and paint.
    await new Promise((r) => setTimeout(r, 2000));
    if (rendered) await drain(true);
    const b = rendered && !drainFailed ? { statuses, longtasks } : null;
    const heapEnd = await heap();

    let busy = null;
    const lat = [];
    let received = 0;
    let unpainted = 0;
    if (b) {
      busy = b.longtasks.reduce((sum, [start, d]) => sum + Math.max(0, Math.min(start + d, t1) - Math.max(start, t0)), 0) / (t1 - t0);
      const byAgent = new Map();
      for (const [id, avail, at] of sends) {
        if (!byAgent.has(id)) byAgent.set(id, []);
        byAgent.get(id).push([avail, at]);
      }
      for (const s of b.statuses) {
        const mine = byAgent.get(s.agent);
        if (!mine || s.at < t0) continue;
        const sent = mine.filter(([v, at]) => v === s.available && at <= s.at).pop();
        if (!sent) continue;
        received += 1;
        if (s.painted == null) unpainted += 1;
        else lat.push(s.painted - sent[1]);
      }
    }
    lat.sort((x, y) => x - y);
    const result = {
      board: a.staticFrom ? `static/ of ${a.staticFrom}` : 'static/ of the working tree',
      filter: a.allGroups ? 'all groups' : 'default',
      agents: a.agents,
      groups: a.groups,
      rate: a.rate,
      duration_s: a.duration,
      changes_sent: sends.length,
      first_render_ms: first,
      busy_share: busy == null ? null : Number(busy.toFixed(3)),
      changes_painted: lat.length,
      changes_received_not_painted: b ? unpainted : null,
      changes_not_received: b ? sends.length - received : null,
      change_to_paint_p50_ms: percentile(lat, 50),
      change_to_paint_p99_ms: percentile(lat, 99),
      heap_after_render_mb: heapStart == null ? null : Number((heapStart / 1048576).toFixed(2)),
      heap_during_churn_mb: a.heapEvery > 0 ? heapSamples : undefined,
      heap_end_mb: heapEnd == null ? null : Number((heapEnd / 1048576).toFixed(2)),
    };
    if (a.json) console.log(JSON.stringify(result));
    else for (const [k, v] of Object.entries(result)) if (v !== undefined) console.log(`${k.padEnd(30)} ${Array.isArray(v) ? JSON.stringify(v) : v ?? 'n/a (the page did not answer)'}`);
  } finally {
    await browser?.close().catch(() => {});
    server?.kill('SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
