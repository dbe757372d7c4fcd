#!/usr/bin/env node
// Server memory of supervisor sessions after their board snapshot: starts a
// Switchboard server over a generated directory (--agents in --groups, with
// --sessions supervisors who watch every group), then from one headless
// Chromium page opens --sessions agent sessions (no watch) and --sessions
// supervisor sessions that each `watch` every group (with `"pieces": true`,
// or as one frame with --whole), and reads the server's VmRSS
// (/proc/PID/status) before and after each step. Prints the memory per
// session of each kind and their difference: what a supervisor costs beyond
// an agent once its snapshot is sent.
//
// Usage (after cargo build --release --workspace and npm ci):
//   node loadtest/board-memory.mjs --agents 5000 --groups 50 --sessions 100 [--whole] [--concurrency 20]
// [--watch-after-logins] [--bin PATH] [--loadtest PATH]
// (--concurrency: sessions opened at once; each login changes the board, so
// each `watch` builds a snapshot of its own, held until it is sent.
// --watch-after-logins: every supervisor logs in first, then they watch one
// after the other, so that they all get the one snapshot the server keeps.)

import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PASSWORD = 'loadtest-pw';

const opt = {
  agents: 5000, groups: 50, sessions: 100, whole: false, concurrency: 20, watchAfterLogins: false,
  bin: path.join(ROOT, 'target', 'release', 'switchboard'),
  loadtest: [path.join(ROOT, 'target', 'release', 'switchboard-loadtest'), path.join(ROOT, 'target', 'debug', 'switchboard-loadtest')]
    .find((p) => existsSync(p)),
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 1) {
  if (argv[i] === '--agents') opt.agents = Number(argv[++i]);
  else if (argv[i] === '--groups') opt.groups = Number(argv[++i]);
  else if (argv[i] === '--sessions') opt.sessions = Number(argv[++i]);
  else if (argv[i] === '--whole') opt.whole = true;
  else if (argv[i] === '--concurrency') opt.concurrency = Number(argv[++i]);
  else if (argv[i] === '--watch-after-logins') opt.watchAfterLogins = true;
  else if (argv[i] === '--bin') opt.bin = argv[++i];
  else if (argv[i] === '--loadtest') opt.loadtest = argv[++i];
  else { console.error(`unknown option ${argv[i]}`); process.exit(2); }
}
const BIN = opt.bin;
const LOADTEST = opt.loadtest;

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

async function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

const settle = () => new Promise((r) => setTimeout(r, 3000));

async function main() {
  if (!existsSync(BIN) || !LOADTEST || !existsSync(LOADTEST)) { console.error('build first: cargo build --release --workspace'); process.exit(2); }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'sb-board-memory-'));
  let server;
  let browser;
  try {
    const dirFile = path.join(tmp, 'directory.toml');
    execFileSync(LOADTEST, ['directory', '--agents', String(opt.agents), '--groups', String(opt.groups),
      '--supervisors', String(opt.sessions), '--out', dirFile], { stdio: 'ignore' });
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    server = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--directory', dirFile, '--data-dir', path.join(tmp, 'data'),
      '--api-key', 'board-memory-api-key-01',
      '--login-attempts-per-ip=0', '--login-attempts-per-user=0'], { cwd: ROOT, stdio: 'ignore', env: { ...process.env, RUST_LOG: 'warn' } });
    for (let i = 0; ; i += 1) {
      try { if ((await fetch(`${base}/healthz`)).ok) break; } catch { /* not yet */ }
      if (i > 200) throw new Error('the server did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${base}/healthz`);
    // Opens sessions for ids; a watcher sends `watch` and waits for its `ok`.
    // Only byte counts are kept in the page.
    const open = (ids, watch) => page.evaluate(async ({ ids, password, watch, concurrency }) => {
      window.__socks = window.__socks || [];
      let bytes = 0;
      const one = async (id) => {
        const res = await fetch('/api/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: id, password }) });
        const { token } = await res.json();
        const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/ws?token=${encodeURIComponent(token)}`);
        window.__socks.push(ws);
        await new Promise((resolve, reject) => {
          ws.onerror = () => reject(new Error(`socket of ${id}`));
          ws.onmessage = (e) => {
            bytes += e.data.length;
            if (e.data.startsWith('{"type":"welcome"')) {
              if (!watch) resolve();
              else ws.send(JSON.stringify(watch === 'pieces' ? { id: 1, type: 'watch', pieces: true } : { id: 1, type: 'watch' }));
            } else if (e.data.startsWith('{"data":') && e.data.endsWith('"id":1,"type":"ok"}')) {
              resolve();
            }
          };
        });
      };
      for (let i = 0; i < ids.length; i += concurrency) await Promise.all(ids.slice(i, i + concurrency).map(one));
      return bytes;
    }, { ids, password: PASSWORD, watch, concurrency: opt.concurrency });
    const n = opt.sessions;
    const agents = Array.from({ length: n }, (_, i) => `a${String(i + 1).padStart(5, '0')}`);
    const sups = Array.from({ length: n }, (_, i) => `s${String(i + 1).padStart(4, '0')}`);
    await settle();
    const r0 = rssKiB(server.pid);
    await open(agents, null);
    await settle();
    const r1 = rssKiB(server.pid);
    const kind = opt.whole ? 'whole' : 'pieces';
    let bytes;
    if (opt.watchAfterLogins) {
      await open(sups, null);
      bytes = await page.evaluate(async ({ n, kind }) => {
        let got = 0;
        for (const ws of window.__socks.slice(-n)) {
          await new Promise((resolve) => {
            ws.onmessage = (e) => {
              got += e.data.length;
              if (e.data.startsWith('{"data":') && e.data.endsWith('"id":1,"type":"ok"}')) resolve();
            };
            ws.send(JSON.stringify(kind === 'pieces' ? { id: 1, type: 'watch', pieces: true } : { id: 1, type: 'watch' }));
          });
        }
        return got;
      }, { n, kind });
    } else {
      bytes = await open(sups, kind);
    }
    await settle();
    const r2 = rssKiB(server.pid);
    const agentKiB = (r1 - r0) / n;
    const supKiB = (r2 - r1) / n;
    console.log(JSON.stringify({
      agents: opt.agents,
      groups: opt.groups,
      sessions_each: n,
      watch: opt.whole ? 'whole snapshot in the ok' : 'pieces',
      opened_at_once: opt.concurrency,
      watch_after_logins: opt.watchAfterLogins,
      received_per_supervisor_kib: Number((bytes / n / 1024).toFixed(1)),
      rss_kib: { start: r0, with_agents: r1, with_supervisors: r2 },
      per_agent_session_kib: Number(agentKiB.toFixed(1)),
      per_supervisor_session_kib: Number(supKiB.toFixed(1)),
      supervisor_beyond_agent_kib: Number((supKiB - agentKiB).toFixed(1)),
    }));
  } finally {
    await browser?.close().catch(() => {});
    server?.kill('SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
