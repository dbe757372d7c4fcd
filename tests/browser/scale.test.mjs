// The consoles at contact-centre scale, against the real server with a
// generated directory of 2,000 agents in 40 groups (`switchboard-loadtest
// directory`). The board: after a churn of a few hundred presence and
// active-cell changes every row on screen shows the last status the server
// sent, only the rows in view are in the DOM, the filters, the search and the
// agent-focused view apply, and the User Dashboard edit still works. The agent
// console: with 1,000 items queued only the rows in view are in the DOM, and
// ticking waits leave the list alone.
// Rewrites docs/img/board-2000.png (the board after the churn).
//
// Functional assertions only, with generous waits: how fast the board is, is
// measured by loadtest/board-bench.mjs, not asserted here.
// Run: cargo build --workspace && node --test --test-concurrency=1 tests/browser/

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ROOT, startServer, launchBrowser, newPage, loginThroughForm, missingPrerequisite, waitForFrame,
} from './harness.mjs';

const LOADTEST = process.env.SWITCHBOARD_LOADTEST_BIN || path.join(ROOT, 'target', 'debug', 'switchboard-loadtest');
const AGENTS = 2000;
const GROUPS = 40;
const PASSWORD = 'loadtest-pw';
const SUPERVISOR = { username: 's0001', password: PASSWORD };
const CHURNERS = 120;
const CHANGES = 400;

const skipReason = missingPrerequisite()
  || (existsSync(LOADTEST) ? null : `${LOADTEST} not built (run cargo build --workspace)`);
let browser;
let dir;

before(async () => {
  if (skipReason) return;
  dir = mkdtempSync(path.join(os.tmpdir(), 'sb-board-scale-'));
  execFileSync(LOADTEST, ['directory', '--agents', String(AGENTS), '--groups', String(GROUPS), '--supervisors', '1',
    '--out', path.join(dir, 'directory.toml')]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Polls fn() every 100 ms until it returns something other than undefined. */
async function waitUntil(fn, { timeout = 30000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last !== undefined) return last;
    if (Date.now() > deadline) throw new Error(`${what} not met in time`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The `watch` snapshot the board's page received: its `ok` (seq, groups) and
 * its agents, from the `watch_agents` pieces before it (or from the `ok`
 * itself when the whole came at once).
 */
function snapshotOf(page) {
  const pieces = [];
  for (const f of page.frames_) {
    if (f.type === 'watch_agents') pieces.push(...f.agents);
    if (f.type === 'ok' && Array.isArray(f.data?.groups) && Array.isArray(f.data?.agents)) {
      return { seq: f.data.seq, groups: f.data.groups, pieces: f.data.pieces, agents: f.data.pieces != null ? pieces : f.data.agents };
    }
  }
  return null;
}

/**
 * The last status of every agent the board's page received: the snapshot,
 * then per agent the push with the highest `seq` (alone or in a batch).
 */
function lastSent(page) {
  const snap = snapshotOf(page);
  const last = new Map(snap.agents.map((a) => [a.agent, { seq: snap.seq, status: a }]));
  const offer = (p) => {
    const had = last.get(p.status.agent);
    if (!had || p.seq > had.seq) last.set(p.status.agent, { seq: p.seq, status: p.status });
  };
  for (const f of page.frames_) {
    if (f.type === 'agent_status') offer(f);
    if (f.type === 'agent_status_batch') f.pushes.forEach(offer);
  }
  return new Map([...last].map(([id, v]) => [id, v.status]));
}

/** What the grid's rows in the DOM show: agent, session, availability and every cell. */
function shownRows(page) {
  return page.evaluate(() => [...document.querySelectorAll('#agent-grid tbody tr[data-agent]')].map((tr) => ({
    agent: tr.dataset.agent,
    loggedIn: tr.dataset.loggedIn === 'true',
    available: tr.dataset.available === 'true',
    cells: Object.fromEntries([...tr.querySelectorAll('td[data-cell]')].map((td) => [td.dataset.cell, td.dataset.state])),
  })));
}

/** The rows that differ from the last status sent, as readable lines (empty when all agree). */
function mismatches(rows, last) {
  const out = [];
  for (const r of rows) {
    const a = last.get(r.agent);
    if (!a) { out.push(`${r.agent}: never sent`); continue; }
    if (r.loggedIn !== a.logged_in) out.push(`${r.agent}: logged_in ${r.loggedIn} != ${a.logged_in}`);
    if (r.available !== a.available) out.push(`${r.agent}: available ${r.available} != ${a.available}`);
    const cells = new Map(a.cells.map((c) => [`${c.group}|${c.channel}`, c.state]));
    for (const [key, s] of Object.entries(r.cells)) {
      const want = cells.get(key) || 'none';
      if (s !== want) out.push(`${r.agent} ${key}: ${s} != ${want}`);
    }
  }
  return out;
}

async function expectRowsMatch(page, what) {
  let rows = [];
  let diff = [];
  try {
    await waitUntil(async () => {
      rows = await shownRows(page);
      diff = mismatches(rows, lastSent(page));
      return rows.length > 0 && diff.length === 0 ? true : undefined;
    }, { what });
  } catch (e) {
    assert.fail(`${what}: ${rows.length} rows shown, ${diff.length} differ from the last status sent: ${diff.slice(0, 10).join('; ')}`);
  }
  return rows;
}

/**
 * Logs in `ids` from a page of the server's origin, opens their console
 * sockets, and makes `changes` changes: availability toggles and chat cell
 * toggles, spread over the agents, at most one request in flight per agent.
 * Resolves with the count of `ok` and `error` answers; the sockets stay open
 * (window.__churn) so that nobody is logged out behind the test's back.
 */
async function churn(page, ids, changes) {
  return page.evaluate(async ({ ids, password, changes }) => {
    const agents = [];
    for (const id of ids) {
      const res = await fetch('/api/login', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: id, password }),
      });
      const { token } = await res.json();
      const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/ws?token=${encodeURIComponent(token)}`);
      const agent = { id, ws, pending: new Map(), next: 1, welcome: null };
      await new Promise((resolve, reject) => {
        ws.onerror = () => reject(new Error(`socket of ${id} failed`));
        ws.onmessage = (e) => {
          const f = JSON.parse(e.data);
          if (f.type === 'welcome') { agent.welcome = f; resolve(); }
          if ((f.type === 'ok' || f.type === 'error') && agent.pending.has(f.id)) {
            agent.pending.get(f.id)(f);
            agent.pending.delete(f.id);
          }
        };
      });
      agent.available = agent.welcome.agent.available;
      agent.chat = Object.fromEntries(agent.welcome.groups.filter((g) => g.cells.chat !== 'na').map((g) => [g.id, g.cells.chat === 'on']));
      agents.push(agent);
    }
    window.__churn = agents;
    const ask = (agent, body) => new Promise((resolve) => {
      const id = agent.next++;
      agent.pending.set(id, resolve);
      agent.ws.send(JSON.stringify({ id, ...body }));
    });
    let seed = 14;
    const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
    const counts = { ok: 0, error: 0 };
    let left = changes;
    while (left > 0) {
      const batch = [];
      const used = new Set();
      while (batch.length < 20 && left > 0) {
        const agent = agents[rand(agents.length)];
        if (used.has(agent.id)) continue;
        used.add(agent.id);
        left -= 1;
        const groups = Object.keys(agent.chat);
        if (rand(2) === 0 || groups.length === 0) {
          agent.available = !agent.available;
          batch.push(ask(agent, { type: 'set_availability', available: agent.available }));
        } else {
          const g = groups[rand(groups.length)];
          agent.chat[g] = !agent.chat[g];
          batch.push(ask(agent, { type: 'set_active', cells: [{ group: g, channel: 'chat', active: agent.chat[g] }] }));
        }
      }
      for (const f of await Promise.all(batch)) counts[f.type] += 1;
    }
    return counts;
  }, { ids, password: PASSWORD, changes });
}

test('board with 2,000 agents: rows follow a churn, filters apply, the User Dashboard edit works', { skip: skipReason || false, timeout: 240000 }, async (t) => {
  const server = await startServer({
    grace: '30s',
    extraArgs: ['--directory', path.join(dir, 'directory.toml'), '--login-attempts-per-ip=0', '--login-attempts-per-user=0'],
  });
  const pages = [];
  try {
    const sup = await newPage(browser);
    pages.push(sup);
    await sup.goto(server.url('/board.html'));
    await loginThroughForm(sup, SUPERVISOR.username, SUPERVISOR.password);
    await sup.locator('body[data-watching=true]').waitFor({ timeout: 60000 });
    const snapshot = snapshotOf(sup);
    assert.ok(snapshot.pieces > 1, `the board came in ${snapshot.pieces} pieces`);
    assert.equal(snapshot.agents.length, AGENTS + 1, 'every agent and the supervisor');

    // A sensible default: one department's groups, not all 41 groups × 3 channels.
    const cardGroups = await sup.locator('#group-cards .group-card').evaluateAll((n) => n.map((x) => x.dataset.group));
    assert.ok(cardGroups.length > 0 && cardGroups.length <= 6, JSON.stringify(cardGroups));
    const headGroups = await sup.locator('#agent-grid thead tr.group-row th').count();
    assert.equal(headGroups, cardGroups.length);
    // Virtualized: far fewer rows in the DOM than the filter matches.
    const inDom = await sup.locator('#agent-grid tbody tr[data-agent]').count();
    const matching = snapshot.agents.filter((a) => a.cells.some((c) => cardGroups.includes(c.group))).length;
    t.diagnostic(`${inDom} rows in the DOM for ${matching} matching agents`);
    assert.ok(inDom > 0 && inDom < matching && inDom < 100, `${inDom} rows in the DOM, ${matching} match`);

    // The churn: agents log in (one push each) and change availability and chat cells.
    const driver = await newPage(browser);
    pages.push(driver);
    await driver.goto(server.url('/healthz'));
    const members = new Set(snapshot.agents.filter((a) => a.cells.some((c) => c.group === cardGroups[0])).map((a) => a.agent));
    const ids = [...members].filter((id) => id.startsWith('a')).slice(0, CHURNERS / 2)
      .concat(snapshot.agents.map((a) => a.agent).filter((id) => id.startsWith('a') && !members.has(id)).slice(0, CHURNERS / 2));
    const counts = await churn(driver, ids, CHANGES);
    t.diagnostic(`churn answers: ${JSON.stringify(counts)}`);
    assert.equal(counts.ok, CHANGES, JSON.stringify(counts));
    // Every change reached the board: the last status it got of each churned
    // agent is the server's (batched pushes keep only the latest per agent).
    const { token } = await server.login(SUPERVISOR.username, SUPERVISOR.password);
    const truth = new Map();
    for (const id of ids) truth.set(id, await server.http('GET', `/api/agents/${id}`, { token }));
    const same = (a, b) => a && a.logged_in === b.logged_in && a.available === b.available
      && JSON.stringify(a.cells.map((c) => c.state)) === JSON.stringify(b.cells.map((c) => c.state));
    await waitUntil(() => {
      const last = lastSent(sup);
      return ids.every((id) => same(last.get(id), truth.get(id))) ? true : undefined;
    }, { what: 'the last status of every churned agent received' });
    const batches = sup.frames_.filter((f) => f.type === 'agent_status_batch').length;
    t.diagnostic(`${batches} agent_status_batch frames for ${ids.length + CHANGES} changes`);
    const rows = await expectRowsMatch(sup, 'rows at the top after the churn');
    assert.ok(rows.some((r) => ids.includes(r.agent) && r.loggedIn), 'some churned agent is on screen');
    await sup.evaluate(() => document.querySelector('#agents-title').scrollIntoView());
    await sup.screenshot({ path: path.join(ROOT, 'docs', 'img', 'board-2000.png') });
    await sup.evaluate(() => window.scrollTo(0, 0));

    // Scrolled to the middle and to the end: the rows there are right too.
    for (const where of [0.5, 1]) {
      await sup.evaluate((f) => { const w = document.querySelector('#grid-wrap'); w.scrollTop = (w.scrollHeight - w.clientHeight) * f; }, where);
      await expectRowsMatch(sup, `rows scrolled to ${where * 100} %`);
    }

    // All departments, then one group: the rows are that group's members, with its three columns.
    await sup.selectOption('#filter-dept', '');
    await waitUntil(async () => ((await sup.locator('#group-cards .group-card').count()) === GROUPS + 1 ? true : undefined),
      { what: 'all groups shown' });
    await sup.selectOption('#filter-group', 'g0007');
    assert.deepEqual(await sup.locator('#group-cards .group-card').evaluateAll((n) => n.map((x) => x.dataset.group)), ['g0007']);
    const g7 = await expectRowsMatch(sup, 'rows of group g0007');
    assert.ok(g7.every((r) => Object.keys(r.cells).length === 3 && Object.keys(r.cells).every((k) => k.startsWith('g0007|'))));
    assert.ok(g7.every((r) => r.cells['g0007|chat'] !== 'none'), 'only members of g0007');
    const g7members = snapshot.agents.filter((a) => a.cells.some((c) => c.group === 'g0007')).length;
    assert.match(await sup.locator('[data-role=row-count]').textContent(), new RegExp(`^${g7members} agents of`));

    // The per group and channel counts agree with the statuses sent.
    const last = lastSent(sup);
    const want = { logged_in: 0, receiving: 0, unavailable: 0 };
    for (const a of last.values()) {
      const cell = a.cells.find((c) => c.group === 'g0007' && c.channel === 'chat');
      if (!cell || cell.state === 'na' || !a.logged_in) continue;
      want.logged_in += 1;
      if (cell.state === 'on' && a.available) want.receiving += 1;
      if (!a.available) want.unavailable += 1;
    }
    const card = sup.locator('.group-card[data-group=g0007]');
    for (const [k, n] of Object.entries(want)) {
      assert.equal((await card.locator(`[data-role=${k}-chat]`).textContent()).trim(), String(n), k);
    }
    assert.ok(await card.locator('[data-role=chart] svg').count() === 1, 'the card has its chart');

    // Search by name, then the agent-focused view: one agent, all its groups.
    const target = g7.find((r) => ids.includes(r.agent) && r.cells['g0007|chat'] !== 'na') || g7[0];
    const targetName = last.get(target.agent).name;
    await sup.fill('#filter-agent', targetName);
    await waitUntil(async () => {
      const shown = await shownRows(sup);
      return shown.length === 1 && shown[0].agent === target.agent ? true : undefined;
    }, { what: 'search by name' });
    await sup.locator(`#agent-grid tr[data-agent="${target.agent}"] [data-action=focus-agent]`).click();
    await sup.locator('#focus-note:not([hidden])').waitFor();
    const groupsOfTarget = [...new Set(last.get(target.agent).cells.map((c) => c.group))].sort();
    const focused = await waitUntil(async () => {
      const shown = await shownRows(sup);
      return shown.length === 1 ? shown[0] : undefined;
    }, { what: 'agent-focused view' });
    assert.deepEqual([...new Set(Object.keys(focused.cells).map((k) => k.split('|')[0]))].sort(), groupsOfTarget);
    assert.equal(mismatches([focused], lastSent(sup)).length, 0);

    // The User Dashboard edit: switch the agent's chat cell in g0007 over and see it on the row and on the server.
    const before = focused.cells['g0007|chat'];
    assert.ok(before === 'on' || before === 'off', before);
    await sup.locator(`#agent-grid tr[data-agent="${target.agent}"] th`).dblclick();
    const dlg = sup.locator('dialog[data-role=active-groups][open]');
    await dlg.waitFor();
    await dlg.locator('[data-cell="g0007|chat"]').setChecked(before === 'off');
    await dlg.locator('[data-action=ok]').click();
    await dlg.waitFor({ state: 'detached' });
    const after = before === 'on' ? 'off' : 'on';
    await sup.locator(`#agent-grid tr[data-agent="${target.agent}"] td[data-cell="g0007|chat"][data-state=${after}]`).waitFor({ timeout: 30000 });
    const status = await server.http('GET', `/api/agents/${target.agent}`, { token });
    assert.equal(status.cells.find((c) => c.group === 'g0007' && c.channel === 'chat').state, after);

    // Back to all agents: the filter (g0007) and the search still apply.
    await sup.locator('[data-action=unfocus]').click();
    await sup.fill('#filter-agent', '');
    await expectRowsMatch(sup, 'rows after leaving the focused view');
    assert.deepEqual(sup.errors_, []);
    await driver.evaluate(() => { for (const a of window.__churn || []) a.ws.close(); });
  } catch (e) {
    for (const p of pages) if (p.errors_.length) t.diagnostic(`page errors: ${p.errors_.join(' | ')}`);
    t.diagnostic(`server output (tail):\n${server.output.slice(-4000)}`);
    throw e;
  } finally {
    for (const p of pages) await p.context().close().catch(() => {});
    await server.stop();
  }
});

test('agent console with 1,000 queued items: only the rows in view are in the DOM, ticking leaves the list alone, take works', { skip: skipReason || false, timeout: 240000 }, async (t) => {
  const server = await startServer({
    grace: '30s',
    extraArgs: ['--directory', path.join(dir, 'directory.toml'), '--login-attempts-per-ip=0', '--login-attempts-per-user=0'],
  });
  const pages = [];
  try {
    // p0001 is a pull group: what is created there waits in its queue. a00001 is one of its members.
    const QUEUED = 1000;
    const created = [];
    for (let i = 0; i < QUEUED; i += 25) {
      const batch = [];
      for (let j = i; j < Math.min(QUEUED, i + 25); j += 1) {
        batch.push(server.createWork({ group: 'p0001', channel: 'ticket', title: `Queued ticket ${String(j).padStart(4, '0')}` }));
      }
      created.push(...await Promise.all(batch));
    }
    assert.ok(created.every((it) => it.state === 'queued'));
    const page = await newPage(browser);
    pages.push(page);
    await page.goto(server.url('/index.html'));
    await loginThroughForm(page, 'a00001', PASSWORD);
    await waitForFrame(page, (f) => f.type === 'welcome', { timeout: 30000 });
    await page.locator('dialog[data-role=active-groups][open]').waitFor();
    await page.keyboard.press('Escape');
    const section = page.locator('.queue-group[data-group=p0001]');
    await section.locator('[data-role=queue-count]', { hasText: `(${QUEUED} waiting)` }).waitFor({ timeout: 30000 });
    const inDom = () => section.locator('li[data-item]').count();
    const first = await inDom();
    t.diagnostic(`${first} of ${QUEUED} queued items in the DOM`);
    assert.ok(first > 0 && first < 100, `${first} rows in the DOM`);
    // Queue order: same priority, oldest first.
    const oldest = [...created].sort((a, b) => a.created_at - b.created_at || a.id - b.id)[0];
    assert.equal(await section.locator('li[data-item]').first().getAttribute('data-item'), String(oldest.id));

    // Two ticks with nothing queued or taken: the timers change, the list's rows do not.
    const watched = await page.evaluate(() => {
      const list = document.querySelector('.queue-group[data-group=p0001] ul.items');
      window.__listMutations = 0;
      new MutationObserver((m) => { window.__listMutations += m.length; }).observe(list, { childList: true });
      return document.querySelector('.queue-group[data-group=p0001] li[data-item] .timer').textContent;
    });
    await page.waitForFunction((before) => {
      const now = document.querySelector('.queue-group[data-group=p0001] li[data-item] .timer')?.textContent;
      return now && now !== before;
    }, watched, { timeout: 10000 });
    await page.waitForTimeout(1200);
    assert.equal(await page.evaluate(() => window.__listMutations), 0, 'ticks re-rendered the list');

    // Scrolled to the end: the newest item is there, still only a window of rows, and it can be taken.
    await page.evaluate(() => { const s = document.querySelector('.queue-group[data-group=p0001] .queue-scroll'); s.scrollTop = s.scrollHeight; });
    const last = [...created].sort((a, b) => a.created_at - b.created_at || a.id - b.id).pop();
    const lastRow = section.locator(`li[data-item="${last.id}"]`);
    await lastRow.waitFor({ timeout: 10000 });
    assert.ok(await inDom() < 100);
    await lastRow.locator('[data-action=take]').click();
    await page.locator(`#my-work [data-item="${last.id}"]`).waitFor({ timeout: 10000 });
    await section.locator('[data-role=queue-count]', { hasText: `(${QUEUED - 1} waiting)` }).waitFor();
    // A new arrival while scrolled to the end shows up at the end.
    const added = await server.createWork({ group: 'p0001', channel: 'ticket', title: 'The latest arrival' });
    await section.locator(`li[data-item="${added.id}"]`).waitFor({ timeout: 10000 });
    await section.locator('[data-role=queue-count]', { hasText: `(${QUEUED} waiting)` }).waitFor();
    assert.deepEqual(page.errors_, []);
  } catch (e) {
    for (const p of pages) if (p.errors_.length) t.diagnostic(`page errors: ${p.errors_.join(' | ')}`);
    t.diagnostic(`server output (tail):\n${server.output.slice(-4000)}`);
    throw e;
  } finally {
    for (const p of pages) await p.context().close().catch(() => {});
    await server.stop();
  }
});
