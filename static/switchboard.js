// Switchboard protocol client, shared by the consoles (index.html, board.html).
//
// Implements docs/protocol.md and nothing else:
//  - HTTP: login, logout, and authenticated JSON calls (`api`), errors as `ProtocolError`;
//  - WebSocket `/ws?token=…` on the page's own host: requests answered by `id`
//    (promises), pushes dispatched by `type`, connection state events, and
//    automatic reconnect with exponential backoff (250 ms doubling to 5 s, with
//    jitter) that reuses the token, so that a reconnect within the server's
//    grace is not a logout;
//  - the token is kept in sessionStorage, so a reload of the tab resumes
//    without logging in again (a new tab must log in: sessionStorage is per tab).
//
// No framework, no build step: a plain ES module.

/** Channels in the order the consoles show them, with the product's labels. */
export const CHANNELS = ['chat', 'ticket', 'voice'];
export const CHANNEL_LABELS = { chat: 'Live Chat', ticket: 'Tickets', voice: 'VOIP' };
export const CHANNEL_NOUNS = { chat: 'Chat', ticket: 'Ticket', voice: 'Call' };

const SESSION_KEY = 'switchboard.session';
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 5000;
const REQUEST_TIMEOUT_MS = 15000;

/** An error answered by the server (HTTP error body or WebSocket `error` frame),
 *  or raised locally with a code of our own (`disconnected`, `timeout`, `network`). */
/** Requests that change nothing: sent without an idempotency key. */
const READ_ONLY = new Set(['ping', 'watch', 'unwatch', 'explain']);
/** Wait before sending a write of unknown outcome again with its key. */
const UNKNOWN_RETRY_MS = 1000;

/** A random idempotency key (a UUID where the browser has one). */
function newKey() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
}

export class ProtocolError extends Error {
  constructor(code, message, details = null, status = null) {
    super(message || code);
    this.name = 'ProtocolError';
    this.code = code;
    this.details = details;
    this.status = status;
  }
}

// ---------------------------------------------------------------- session storage

/** The saved `{token, agent}` of this tab, or null. */
export function savedSession() {
  try {
    const raw = sessionStorage.getItem(SESSION_KEY);
    if (!raw) return null;
    const s = JSON.parse(raw);
    return s && typeof s.token === 'string' ? s : null;
  } catch {
    return null;
  }
}

export function saveSession(session) {
  try { sessionStorage.setItem(SESSION_KEY, JSON.stringify(session)); } catch { /* private mode */ }
}

export function clearSession() {
  try { sessionStorage.removeItem(SESSION_KEY); } catch { /* ignore */ }
}

// ---------------------------------------------------------------- HTTP

/** A JSON HTTP call. Resolves with the parsed body (or null for 204 / non-JSON),
 *  rejects with a ProtocolError carrying the server's code and message. */
export async function api(path, { method = 'GET', token = null, body = undefined, headers = {} } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ProtocolError('network', 'The server cannot be reached. Check your connection.', null, null);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (!res.ok) {
    const err = data && typeof data === 'object' && data.error ? data.error : null;
    throw new ProtocolError(
      err?.code || `http_${res.status}`,
      err?.message || `The server answered ${res.status} ${res.statusText}`.trim(),
      err?.details ?? null,
      res.status,
    );
  }
  return data;
}

/** POST /api/login; saves the session in sessionStorage and returns `{token, agent}`. */
export async function login(username, password) {
  const data = await api('/api/login', { method: 'POST', body: { username, password } });
  const session = { token: data.token, agent: data.agent };
  saveSession(session);
  return session;
}

/** POST /api/logout (best effort) and forget the saved session. */
export async function logout(token) {
  clearSession();
  if (!token) return;
  try { await api('/api/logout', { method: 'POST', token }); } catch { /* the token may be gone already */ }
}

// ---------------------------------------------------------------- WebSocket client

/**
 * Connection states, as shown to the user:
 *  - `connecting`   first attempt of this page;
 *  - `connected`    the socket is open (a `welcome` follows at once);
 *  - `reconnecting` the socket dropped, retrying while the server's grace
 *                   (`welcome.grace_ms`) still keeps us logged in;
 *  - `offline`      still retrying, but past the grace or the browser is offline;
 *  - `closed`       stopped for good: `close()` was called or the token was refused.
 */
export const STATES = ['connecting', 'connected', 'reconnecting', 'offline', 'closed'];

export class SwitchboardClient {
  /**
   * @param {object} opts
   * @param {string} opts.token  console token from `login`
   * @param {string} [opts.agentId] own agent id, used to check a refused token
   * @param {string} [opts.url]  WebSocket URL; default `/ws` on the page's host
   */
  constructor({ token, agentId = null, url = null }) {
    this.token = token;
    this.agentId = agentId;
    this.url = url || defaultWsUrl(token);
    this.state = 'closed';
    this.lastSeq = null;
    this.graceMs = 10000;
    this.clockOffsetMs = 0; // server time minus local time, from `ping`
    this._ws = null;
    this._nextId = 1;
    this._pending = new Map(); // id -> {resolve, reject, timer}
    this._handlers = new Map(); // push type -> Set(fn)
    this._stateHandlers = new Set();
    this._attempt = 0;
    this._retryTimer = null;
    this._droppedAt = null;
    this._stopped = true;
    this._onOnline = () => { if (!this._stopped && this.state !== 'connected') this._reconnectNow(); };
    this._onOffline = () => { if (!this._stopped && this.state !== 'connected') this._setState('offline'); };
  }

  /** Opens the socket (and keeps it open until `close()`). */
  connect() {
    if (!this._stopped) return;
    this._stopped = false;
    window.addEventListener('online', this._onOnline);
    window.addEventListener('offline', this._onOffline);
    this._setState('connecting');
    this._open();
  }

  /** Closes the socket for good: no reconnect. Pending requests are rejected. */
  close() {
    this._stopped = true;
    window.removeEventListener('online', this._onOnline);
    window.removeEventListener('offline', this._onOffline);
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    if (this._ws) {
      const ws = this._ws;
      this._ws = null;
      try { ws.close(1000, 'bye'); } catch { /* ignore */ }
    }
    this._failPending('disconnected', 'The connection was closed.');
    this._setState('closed');
  }

  /** Current server time estimate in ms since the epoch. */
  now() { return Date.now() + this.clockOffsetMs; }

  /** Sends a request; resolves with its `data`, rejects with a ProtocolError. */
  request(type, fields = {}) {
    // Every write carries an idempotency key: when the server cannot tell
    // whether it was applied (`outcome_unknown`), it is sent once more with
    // the same key, and the server answers what the first one did.
    const key = READ_ONLY.has(type) ? undefined : newKey();
    return this._request(type, fields, key).catch((e) => {
      if (!key || e.code !== 'outcome_unknown') throw e;
      return new Promise((r) => setTimeout(r, UNKNOWN_RETRY_MS)).then(() => this._request(type, fields, key));
    });
  }

  _request(type, fields, key) {
    return new Promise((resolve, reject) => {
      if (!this._ws || this._ws.readyState !== WebSocket.OPEN) {
        reject(new ProtocolError('disconnected', 'Not connected to the server. Try again when the connection is back.'));
        return;
      }
      const id = this._nextId++;
      const timer = setTimeout(() => {
        if (this._pending.delete(id)) {
          reject(new ProtocolError('timeout', 'The server did not answer in time.'));
        }
      }, REQUEST_TIMEOUT_MS);
      this._pending.set(id, { resolve, reject, timer });
      try {
        this._ws.send(JSON.stringify(key ? { ...fields, id, type, key } : { ...fields, id, type }));
      } catch (e) {
        clearTimeout(timer);
        this._pending.delete(id);
        reject(new ProtocolError('disconnected', 'Not connected to the server.'));
      }
    });
  }

  /** Subscribes to pushes of one `type` (`welcome`, `agent_status`, `item`, `queue`,
   *  `group_status`, `closing`, or `*` for all). Returns an unsubscribe function. */
  on(type, fn) {
    if (!this._handlers.has(type)) this._handlers.set(type, new Set());
    this._handlers.get(type).add(fn);
    return () => this._handlers.get(type)?.delete(fn);
  }

  /** Subscribes to connection state changes: fn(state, info). Called at once with the current state. */
  onState(fn) {
    this._stateHandlers.add(fn);
    fn(this.state, {});
    return () => this._stateHandlers.delete(fn);
  }

  // -------------------------------------------------------------- internals

  _setState(state, info = {}) {
    if (this.state === state && !info.force) return;
    this.state = state;
    for (const fn of this._stateHandlers) {
      try { fn(state, info); } catch (e) { console.error(e); }
    }
  }

  _emit(type, frame) {
    for (const key of [type, '*']) {
      const set = this._handlers.get(key);
      if (!set) continue;
      for (const fn of [...set]) {
        try { fn(frame); } catch (e) { console.error(e); }
      }
    }
  }

  _open() {
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this._scheduleReconnect(false);
      return;
    }
    this._ws = ws;
    let opened = false;
    ws.onopen = () => {
      if (this._ws !== ws) return;
      opened = true;
      this._attempt = 0;
      this._droppedAt = null;
      this._setState('connected');
      this._syncClock();
    };
    ws.onmessage = (ev) => {
      if (this._ws !== ws) return;
      this._onFrame(ev.data);
    };
    ws.onclose = (ev) => {
      if (this._ws !== ws) return;
      this._ws = null;
      this._failPending('disconnected', 'The connection to the server was lost.');
      if (this._stopped) return;
      this._scheduleReconnect(opened, ev);
    };
    ws.onerror = () => { /* onclose follows and handles it */ };
  }

  _onFrame(raw) {
    let frame;
    try { frame = JSON.parse(raw); } catch { return; }
    if (!frame || typeof frame !== 'object') return;
    if (typeof frame.seq === 'number') this.lastSeq = frame.seq;
    if (frame.type === 'ok' || frame.type === 'error') {
      const p = frame.id != null ? this._pending.get(frame.id) : null;
      if (!p) {
        // An error without a usable id (e.g. our frame was unreadable): tell listeners.
        this._emit('unmatched', frame);
        return;
      }
      this._pending.delete(frame.id);
      clearTimeout(p.timer);
      if (frame.type === 'ok') p.resolve(frame.data ?? {});
      else p.reject(new ProtocolError(frame.code, frame.message, frame.details ?? null));
      return;
    }
    if (frame.type === 'welcome' && typeof frame.grace_ms === 'number') this.graceMs = frame.grace_ms;
    if (frame.type === 'closing') {
      if (frame.reason === 'revoked' || frame.reason === 'logged_out') {
        // Disabled account or logged-out token: it is no good, do not retry with it.
        this._stopped = true;
        this._emit('closing', frame);
        this._emit('unauthorized', frame);
        this.close();
        return;
      }
    }
    this._emit(frame.type, frame);
  }

  async _syncClock() {
    try {
      const t0 = Date.now();
      const data = await this.request('ping');
      const t1 = Date.now();
      if (data && typeof data.now === 'number') this.clockOffsetMs = data.now - Math.round((t0 + t1) / 2);
    } catch { /* ping is a nicety */ }
  }

  _failPending(code, message) {
    for (const [, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(new ProtocolError(code, message));
    }
    this._pending.clear();
  }

  async _scheduleReconnect(wasOpen) {
    if (this._droppedAt == null) this._droppedAt = Date.now();
    // A socket that never opened may have been refused with 401 (a browser cannot
    // see the status of a refused upgrade): ask the HTTP API whether the token is
    // still good before retrying with it.
    if (!wasOpen && this._attempt >= 1 && this.agentId) {
      try {
        await api(`/api/agents/${encodeURIComponent(this.agentId)}`, { token: this.token });
      } catch (e) {
        if (e.status === 401) {
          this._emit('unauthorized', { reason: e.code, message: e.message });
          this.close();
          return;
        }
      }
      if (this._stopped) return;
    }
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this._attempt);
    const delay = Math.round(base / 2 + Math.random() * base / 2); // "equal jitter"
    this._attempt += 1;
    const withinGrace = Date.now() - this._droppedAt < this.graceMs;
    const browserOffline = typeof navigator !== 'undefined' && navigator.onLine === false;
    this._setState(withinGrace && !browserOffline ? 'reconnecting' : 'offline', { retryInMs: delay, force: true });
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      if (!this._stopped) this._open();
    }, delay);
  }

  _reconnectNow() {
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    if (this._ws) return;
    this._open();
  }
}

function defaultWsUrl(token) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/ws?token=${encodeURIComponent(token)}`;
}

// ---------------------------------------------------------------- small shared helpers

/** "Alice Archer" -> "AA"; "bob" -> "B". */
export function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return '?';
  const first = parts[0][0] || '';
  const last = parts.length > 1 ? parts[parts.length - 1][0] : '';
  return (first + last).toUpperCase();
}

/** 75000 -> "1:15"; 3725000 -> "1:02:05". Negative counts as 0. */
export function formatDuration(ms) {
  let s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const pad = (n) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** Spoken form for screen readers: 75000 -> "1 minute 15 seconds". */
export function spokenDuration(ms) {
  let s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const part = (n, w) => (n ? `${n} ${w}${n === 1 ? '' : 's'}` : '');
  return [part(h, 'hour'), part(m, 'minute'), part(s, 'second')].filter(Boolean).join(' ') || '0 seconds';
}

/** document.createElement with attributes and children. `text` sets textContent;
 *  `on*` functions become listeners; `class`, `dataset`, `aria-*` as expected. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'text') node.textContent = v;
    else if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, '');
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Shared login form wiring for both consoles. `form` has #username, #password, an
 *  error element [data-role=login-error]; resolves via onLoggedIn(session). */
export function wireLoginForm(form, onLoggedIn) {
  const errorEl = form.querySelector('[data-role=login-error]');
  const button = form.querySelector('button[type=submit]');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const username = form.querySelector('#username').value.trim();
    const password = form.querySelector('#password').value;
    errorEl.textContent = '';
    if (!username || !password) {
      errorEl.textContent = 'Enter your username and password.';
      return;
    }
    button.disabled = true;
    try {
      const session = await login(username, password);
      form.querySelector('#password').value = '';
      await onLoggedIn(session, { fresh: true });
    } catch (e) {
      errorEl.textContent = e.code === 'invalid_credentials'
        ? 'Wrong username or password.'
        : (e.message || 'Login failed.');
      form.querySelector('#password').focus();
    } finally {
      button.disabled = false;
    }
  });
}

/** Text of a connection state for the status pill. */
export function stateLabel(state) {
  return {
    connecting: 'Connecting…',
    connected: 'Connected',
    reconnecting: 'Reconnecting…',
    offline: 'Offline',
    closed: 'Offline',
  }[state] || state;
}
