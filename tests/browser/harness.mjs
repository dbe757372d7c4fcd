// Test harness for the browser tests: starts the real Switchboard server on a
// free port (a fresh data directory, built-in demo directory), launches Debian's chromium
// through playwright-core, and offers small helpers for the HTTP API.
//
// Assumes `cargo build` has produced target/debug/switchboard (override with
// SWITCHBOARD_BIN) and chromium is at /usr/bin/chromium (override with CHROMIUM).

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = process.env.SWITCHBOARD_BIN || path.join(ROOT, 'target', 'debug', 'switchboard');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const API_KEY = 'browser-test-api-key-0001';

/** Why the suite cannot run here, or null. */
export function missingPrerequisite() {
  if (!existsSync(BIN)) return `server binary ${BIN} not built (run cargo build)`;
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} missing (apt-get install chromium)`;
  return null;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts `switchboard serve` and waits for GET /healthz = 200 (on `port` when
 * given, e.g. to restart a server where pages expect it).
 * @returns {Promise<Server>}
 */
export async function startServer({ grace = '2s', extraArgs = [], port: fixedPort = null } = {}) {
  let lastError;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = fixedPort ?? await freePort();
    const server = new Server(port, grace, extraArgs);
    try {
      await server.ready();
      return server;
    } catch (e) {
      lastError = e;
      await server.stop();
    }
  }
  throw lastError;
}

export class Server {
  constructor(port, grace, extraArgs) {
    this.port = port;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.apiKey = API_KEY;
    this.output = '';
    this.exited = null;
    // Each server gets a fresh data directory (the default, durable mode), so
    // no test sees another's state.
    this.dataDir = mkdtempSync(path.join(os.tmpdir(), 'sb-browser-data-'));
    this.proc = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--api-key', API_KEY, '--grace', grace,
      '--data-dir', this.dataDir, ...extraArgs], {
      cwd: ROOT, // the server serves static/ relative to the repo root
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
    });
    const keep = (chunk) => {
      this.output += chunk.toString();
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    };
    this.proc.stdout.on('data', keep);
    this.proc.stderr.on('data', keep);
    this.exitPromise = new Promise((resolve) => this.proc.on('exit', (code, signal) => {
      this.exited = { code, signal };
      resolve(this.exited);
    }));
  }

  async ready(timeoutMs = 20000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`server exited early (${JSON.stringify(this.exited)}):\n${this.output}`);
      try {
        const res = await fetch(`${this.baseUrl}/healthz`);
        if (res.status === 200) return;
      } catch { /* not listening yet */ }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`server did not answer /healthz within ${timeoutMs} ms:\n${this.output}`);
  }

  async stop() {
    if (!this.exited) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => { if (!this.exited) this.proc.kill('SIGKILL'); }, 3000);
      await this.exitPromise;
      clearTimeout(t);
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  url(p) { return `${this.baseUrl}${p}`; }

  /** JSON HTTP call; throws with the server's error body on a non-2xx answer. */
  async http(method, p, { body, token, apiKey } = {}) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = `Bearer ${token}`;
    if (apiKey) headers['X-Api-Key'] = apiKey;
    const res = await fetch(this.url(p), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = text; }
    if (!res.ok) {
      const err = new Error(`${method} ${p} -> ${res.status} ${text}`);
      err.status = res.status;
      err.body = data;
      throw err;
    }
    return data;
  }

  /** POST /api/login -> {token, agent}. */
  login(username, password) { return this.http('POST', '/api/login', { body: { username, password } }); }

  /** POST /api/work with the API key -> the Item. */
  async createWork({ group, channel = 'ticket', priority = 0, title }) {
    const body = { group, channel, priority };
    if (title) body.title = title;
    const data = await this.http('POST', '/api/work', { body, apiKey: this.apiKey });
    return data.item;
  }

  /** GET /api/audit with a manager's or admin's token. */
  async audit(token, query = {}) {
    const qs = new URLSearchParams(Object.entries(query).filter(([, v]) => v != null).map(([k, v]) => [k, String(v)]));
    const data = await this.http('GET', `/api/audit?${qs}`, { token });
    return data.entries;
  }
}

/** Launches Debian's chromium headless. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
}

/**
 * A new page in its own context (own sessionStorage and localStorage), 1280x800
 * unless told otherwise. Records the WebSocket frames the page receives in
 * `page.frames_` and those it sends in `page.sent_` (parsed JSON), and page
 * errors in `page.errors_`.
 */
export async function newPage(browser, { width = 1280, height = 800 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.frames_ = [];
  page.sent_ = [];
  page.errors_ = [];
  page.on('pageerror', (e) => page.errors_.push(e.message));
  page.on('websocket', (ws) => {
    ws.on('framereceived', ({ payload }) => {
      try { page.frames_.push(JSON.parse(typeof payload === 'string' ? payload : payload.toString())); } catch { /* binary */ }
    });
    ws.on('framesent', ({ payload }) => {
      try { page.sent_.push(JSON.parse(typeof payload === 'string' ? payload : payload.toString())); } catch { /* binary */ }
    });
  });
  return page;
}

/** Waits until the page has received a frame matching `pred` (polls the recorded frames). */
export async function waitForFrame(page, pred, { timeout = 5000 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const f = page.frames_.find(pred);
    if (f) return f;
    if (Date.now() > deadline) throw new Error('no matching WebSocket frame received in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Logs in through the page's login form. */
export async function loginThroughForm(page, username, password) {
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#login-form button[type=submit]');
}
