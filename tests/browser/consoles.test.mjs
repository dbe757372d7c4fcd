// Browser tests of the consoles in static/, against the real server.
// Run: cargo build && node --test --test-concurrency=1 tests/browser/
// (or ./scripts/test.sh, which installs chromium and playwright-core if missing).
// Each run rewrites the screenshots in docs/img (1280x800): console, board,
// visitor (the three pages at rest), and visitor-chat, visitor-queue,
// visitor-offline, console-chat, console-transfer, console-call, board-explain.
//
// Each test starts its own server (in memory, built-in demo directory, grace 2 s)
// so that tests do not share presence or active flags.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  ROOT, startServer, launchBrowser, newPage, waitForFrame, loginThroughForm, missingPrerequisite,
} from './harness.mjs';

// Demo logins (the built-in demo directory src/demo_directory.toml; every
// password is "demo"). Override with env SB_AGENT=user:password etc.
// alice: member of billing-l1, billing-l2 and support-web, so her Active Groups
// show on, off and N/A cells; bob shares billing-l1 with her; ada is an admin
// (may set anyone's cells) and a member of billing-l1 (may watch it); maria
// manages billing-l1 and billing-l2.
function account(envName, fallback) {
  const [username, password] = (process.env[envName] || fallback).split(':');
  return { username, password };
}
const AGENT = account('SB_AGENT', 'alice:demo');
const AGENT2 = account('SB_AGENT2', 'bob:demo');
const SUPERVISOR = account('SB_SUPERVISOR', 'ada:demo');
const MANAGER = account('SB_MANAGER', 'maria:demo');

const CHANNELS = ['chat', 'ticket', 'voice'];
const IMG = path.join(ROOT, 'docs', 'img');

const skipReason = missingPrerequisite();
let browser;

before(async () => {
  if (skipReason) return;
  mkdirSync(IMG, { recursive: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

/** Starts a server, runs fn(server), stops the server and closes the test's pages. */
async function withServer(t, fn) {
  const server = await startServer({ grace: '2s' });
  const pages = [];
  const open = async (file, opts) => {
    const page = await newPage(browser, opts);
    pages.push(page);
    await page.goto(server.url(`/${file}`));
    return page;
  };
  try {
    await fn(server, open);
  } catch (e) {
    for (const p of pages) if (p.errors_.length) t.diagnostic(`page errors: ${p.errors_.join(' | ')}`);
    t.diagnostic(`server output (tail):\n${server.output.slice(-4000)}`);
    throw e;
  } finally {
    for (const p of pages) await p.context().close().catch(() => {});
    await server.stop();
  }
}

/** Logs an agent into index.html and waits for the welcome and the Active Groups dialog. */
async function agentConsole(open, who) {
  const page = await open('index.html');
  await loginThroughForm(page, who.username, who.password);
  const welcome = await waitForFrame(page, (f) => f.type === 'welcome');
  await page.locator('dialog[data-role=active-groups][open]').waitFor();
  await page.locator('#conn[data-state=connected]').waitFor();
  return { page, welcome };
}

/** Logs a supervisor into board.html and waits for the watch snapshot to be rendered. */
async function board(open, who = SUPERVISOR) {
  const page = await open('board.html');
  await loginThroughForm(page, who.username, who.password);
  await page.locator('body[data-watching=true]').waitFor();
  return page;
}

/** Polls fn() every 25 ms until it returns something other than undefined. */
async function waitUntil(fn, { timeout = 5000 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function cellState(page, group, channel) {
  const cell = page.locator(`dialog[open] [data-cell="${group}|${channel}"]`);
  const tag = await cell.evaluate((n) => n.tagName.toLowerCase());
  if (tag === 'input') return (await cell.isChecked()) ? 'on' : 'off';
  assert.equal((await cell.textContent()).trim(), 'N/A');
  return 'na';
}

// ------------------------------------------------------------------ a

test('a. agent login opens Active Groups with the right checked, unchecked and N/A cells', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const { page, welcome } = await agentConsole(open, AGENT);
    const dialog = page.locator('dialog[data-role=active-groups][open]');
    assert.equal(await dialog.locator('h2').textContent(), 'Active Groups');
    const heads = await dialog.locator('thead th').allTextContents();
    assert.deepEqual(heads.map((h) => h.trim()), ['Department', 'Group', 'Live Chat', 'Tickets', 'VOIP']);
    assert.ok(welcome.groups.length > 0, 'the demo agent is a member of some group');
    assert.equal(await dialog.locator('tbody tr').count(), welcome.groups.length);

    const seen = { on: 0, off: 0, na: 0 };
    for (const g of welcome.groups) {
      const row = dialog.locator(`tbody tr[data-group="${g.id}"]`);
      assert.equal((await row.locator('th').textContent()).trim(), g.name);
      assert.equal((await row.locator('td.dept').textContent()).trim(), g.department);
      for (const ch of CHANNELS) {
        const shown = await cellState(page, g.id, ch);
        assert.equal(shown, g.cells[ch], `${g.id} ${ch}`);
        seen[shown] += 1;
      }
    }
    // The demo agent is chosen to show every kind of cell.
    assert.ok(seen.on > 0 && seen.off > 0 && seen.na > 0, `cells seen: ${JSON.stringify(seen)}`);

    // And as the demo directory has it (src/demo_directory.toml), for the default agent.
    if (!process.env.SB_AGENT) {
      const expected = {
        'billing-l1': { chat: 'on', ticket: 'on', voice: 'na' }, // voice disabled in the group
        'billing-l2': { chat: 'na', ticket: 'on', voice: 'na' }, // chat disabled; alice excluded from voice
        'support-web': { chat: 'on', ticket: 'off', voice: 'off' }, // active = ["chat"]
      };
      for (const [group, cells] of Object.entries(expected)) {
        for (const ch of CHANNELS) assert.equal(await cellState(page, group, ch), cells[ch], `demo ${group} ${ch}`);
      }
    }

    // The same view from the server's status of the agent (HTTP), as a cross-check.
    const { token } = await server.login(AGENT.username, AGENT.password);
    const status = await server.http('GET', `/api/agents/${welcome.agent.id}`, { token });
    for (const c of status.cells) {
      assert.equal(welcome.groups.find((g) => g.id === c.group).cells[c.channel], c.state);
    }

    // Keyboard: focus starts inside and stays inside (Tab wraps both ways).
    const inDialog = () => page.evaluate(() => !!document.activeElement?.closest('dialog[open]'));
    assert.ok(await inDialog());
    await page.keyboard.press('Shift+Tab');
    assert.ok(await inDialog());
    for (let i = 0; i < 20; i += 1) {
      await page.keyboard.press('Tab');
      assert.ok(await inDialog(), `focus left the dialog after ${i + 1} Tab presses`);
    }
    // Esc cancels, the dialog closes and nothing was sent.
    await page.keyboard.press('Escape');
    await page.locator('dialog[data-role=active-groups]').waitFor({ state: 'detached' });
    assert.equal(page.frames_.filter((f) => f.type === 'ok' && f.data?.cells).length, 0);
    assert.deepEqual(page.errors_, []);
  });
});

// ------------------------------------------------------------------ b

test('b. supervisor switches an agent inactive in the User Dashboard; the agent sees it within a second', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const { page: agent, welcome } = await agentConsole(open, AGENT);
    const me = welcome.agent.id;
    const sup = await board(open);
    const row = sup.locator(`#agent-grid tr[data-agent="${me}"]`);
    await row.waitFor();
    assert.equal(await row.getAttribute('data-logged-in'), 'true');

    // Open the User Dashboard dialog for the agent by double-clicking its row.
    await row.locator('th').dblclick();
    const dlg = sup.locator('dialog[data-role=active-groups][open]');
    await dlg.waitFor();
    assert.match(await dlg.locator('h2').textContent(), new RegExp(welcome.agent.name));

    // Pick an "on" cell of the agent that the supervisor's dialog shows.
    const onCell = welcome.groups.flatMap((g) => CHANNELS.filter((ch) => g.cells[ch] === 'on').map((ch) => `${g.id}|${ch}`))
      .find(() => true);
    assert.ok(onCell, 'the agent is active somewhere');
    const supBox = dlg.locator(`[data-cell="${onCell}"]`);
    assert.equal(await supBox.isChecked(), true);
    await supBox.uncheck();
    await dlg.locator('[data-action=ok]').click();
    const t0 = Date.now();
    await dlg.waitFor({ state: 'detached' });

    // The agent's console (its Active Groups dialog is still open) flips within a second.
    await agent.locator(`dialog[open] [data-cell="${onCell}"]:not(:checked)`).waitFor({ timeout: 1000 });
    t.diagnostic(`agent saw the change ${Date.now() - t0} ms after OK`);
    const [group, channel] = onCell.split('|');
    await agent.locator(`.queue-group[data-group="${group}"] .chip[data-channel="${channel}"][data-state=off]`).waitFor({ timeout: 1000 });
    await sup.locator(`#agent-grid tr[data-agent="${me}"] td[data-cell="${onCell}"][data-state=off]`).waitFor({ timeout: 1000 });

    // Column header: check then uncheck switches the whole column off.
    await sup.locator(`#agent-grid tr[data-agent="${me}"] [data-action=edit-active-groups]`).click();
    await dlg.waitFor();
    const col = CHANNELS.find((ch) => welcome.groups.some((g) => g.cells[ch] !== 'na'));
    const head = dlg.locator(`thead input[data-column="${col}"]`);
    await head.check();
    await head.uncheck();
    const boxes = dlg.locator(`tbody input[data-cell$="|${col}"]`);
    for (const box of await boxes.all()) assert.equal(await box.isChecked(), false);
    const sentBefore = sup.frames_.length;
    await sup.keyboard.press('Enter'); // Enter = OK
    await dlg.waitFor({ state: 'detached' });
    for (const g of welcome.groups) {
      if (g.cells[col] === 'na') continue;
      await agent.locator(`dialog[open] [data-cell="${g.id}|${col}"]:not(:checked)`).waitFor({ timeout: 1000 });
    }
    assert.ok(sup.frames_.length > sentBefore);

    // The audit shows who did it.
    const { token } = await server.login(SUPERVISOR.username, SUPERVISOR.password);
    const entries = await server.audit(token, { agent: me, group });
    assert.ok(entries.some((e) => e.what === 'active' && e.channel === channel && e.old === 'on' && e.new === 'off'),
      JSON.stringify(entries));

    // The same on the board's agent-group activity view.
    await sup.selectOption('#audit-agent', me);
    await sup.selectOption('#audit-group', group);
    await sup.click('#audit-form button[type=submit]');
    const auditRow = sup.locator('#audit-table tbody tr[data-what=active]').first();
    await auditRow.waitFor();
    const cellsText = (await auditRow.locator('td').allTextContents()).map((x) => x.trim());
    assert.equal(cellsText[1], welcome.agent.name);
    assert.equal(cellsText[5], 'active');
    assert.equal(cellsText[6], 'inactive');
    assert.equal(cellsText[7], 'Ada Admin');
    assert.deepEqual(agent.errors_, []);
    assert.deepEqual(sup.errors_, []);
  });
});

// ------------------------------------------------------------------ c

test('c. two consoles take the same queued ticket: one wins, the other is told who', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const a = await agentConsole(open, AGENT);
    const b = await agentConsole(open, AGENT2);
    // A group and channel both can see (not N/A for either), tickets preferred.
    let target = null;
    for (const ch of ['ticket', 'chat', 'voice']) {
      const g = a.welcome.groups.find((ga) => ga.cells[ch] !== 'na' &&
        b.welcome.groups.some((gb) => gb.id === ga.id && gb.cells[ch] !== 'na'));
      if (g) { target = { group: g.id, channel: ch }; break; }
    }
    assert.ok(target, 'the two demo agents share a group and a channel');

    // Both go inactive there (each in its own Active Groups dialog), so that the
    // new item waits in the queue instead of being routed to one of them.
    for (const c of [a, b]) {
      const box = c.page.locator(`dialog[open] [data-cell="${target.group}|${target.channel}"]`);
      await box.uncheck();
      await c.page.locator('dialog[open] [data-action=ok]').click();
      await c.page.locator('dialog[data-role=active-groups]').waitFor({ state: 'detached' });
    }

    let outcome = null;
    for (let attempt = 0; attempt < 3 && !outcome; attempt += 1) {
      const item = await server.createWork({ ...target, title: `Printer on fire ${attempt}` });
      assert.equal(item.state, 'queued', JSON.stringify(item));
      const sel = `#queues [data-item="${item.id}"] [data-action=take]`;
      await a.page.locator(sel).waitFor();
      await b.page.locator(sel).waitFor();
      // Click both at (nearly) the same moment.
      const clicked = await Promise.all([a.page, b.page].map((p) => p.evaluate((s) => {
        const btn = document.querySelector(s);
        if (!btn) return false;
        btn.click();
        return true;
      }, sel)));
      if (!clicked.every(Boolean)) {
        t.diagnostic('one console saw the item leave before its click; trying again');
        continue;
      }
      const mine = (p) => p.locator(`#my-work [data-item="${item.id}"]`);
      const lost = (p) => p.locator(`#queues [data-item="${item.id}"] [data-role=taken-by]`);
      // Wait (polling, so that no waiter is left behind) until one of them holds it.
      const aWon = await waitUntil(async () => {
        if (await mine(a.page).count()) return true;
        if (await mine(b.page).count()) return false;
        return undefined;
      });
      const [winner, loser] = aWon ? [a, b] : [b, a];
      await lost(loser.page).waitFor();
      outcome = { winner, loser, text: (await lost(loser.page).textContent()).trim() };
      assert.equal(await mine(loser.page).count(), 0, 'the loser does not hold the item');
      assert.equal(outcome.text, `Taken by ${winner.welcome.agent.name}`);
    }
    assert.ok(outcome, 'the two clicks raced in one of three attempts');
    assert.deepEqual(a.page.errors_, []);
    assert.deepEqual(b.page.errors_, []);
  });
});

// ------------------------------------------------------------------ d

test('d. a reload of the agent console within the grace does not log the agent out', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const { page, welcome } = await agentConsole(open, AGENT);
    const me = welcome.agent.id;
    await page.keyboard.press('Escape');
    const sup = await board(open);
    const row = () => sup.locator(`#agent-grid tr[data-agent="${me}"]`);
    await sup.locator(`#agent-grid tr[data-agent="${me}"][data-logged-in=true]`).waitFor();

    const reloadAt = Date.now();
    await page.reload();
    // The reload resumes from sessionStorage: no login form, a new session.
    await page.locator('#conn[data-state=connected]').waitFor();
    assert.equal(await page.locator('#login').isHidden(), true);
    await waitForFrame(page, (f) => f.type === 'welcome');
    assert.equal(await page.locator('dialog[data-role=active-groups]').count(), 0, 'a reload is not a login: no dialog');

    // Proving an absence: wait until the grace (2 s) after the reload is over,
    // plus a margin, so that a logout would have happened by now.
    const graceMs = welcome.grace_ms;
    const left = reloadAt + graceMs + 500 - Date.now();
    if (left > 0) await new Promise((r) => setTimeout(r, left));

    const { token } = await server.login(SUPERVISOR.username, SUPERVISOR.password);
    const entries = await server.audit(token, { agent: me });
    assert.equal(entries.filter((e) => e.what === 'logout').length, 0, JSON.stringify(entries));
    assert.equal(entries.filter((e) => e.what === 'login').length, 1, JSON.stringify(entries));
    assert.equal(await row().getAttribute('data-logged-in'), 'true');
    const statuses = sup.frames_.flatMap((f) => (f.type === 'agent_status' ? [f] : f.type === 'agent_status_batch' ? f.pushes : []));
    assert.ok(!statuses.some((f) => f.status.agent === me && f.status.logged_in === false),
      'the board never saw the agent logged out');
    assert.deepEqual(page.errors_, []);
  });
});

// ------------------------------------------------------------------ f

test('f. console: column switch in one request, receiving-nothing banner, menu, availability, take/accept/close', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const { page, welcome } = await agentConsole(open, AGENT);
    const dlg = page.locator('dialog[data-role=active-groups][open]');
    // Switch every column off with its header checkbox (check, then uncheck), Enter = OK.
    for (const ch of CHANNELS) {
      const head = dlg.locator(`thead input[data-column="${ch}"]`);
      if (await head.isDisabled()) continue;
      await head.check();
      await head.uncheck();
    }
    await dlg.locator(`thead input[data-column="chat"]`).focus();
    await page.keyboard.press('Enter');
    await page.locator('dialog[data-role=active-groups]').waitFor({ state: 'detached' });
    const setActive = page.sent_.filter((f) => f.type === 'set_active');
    assert.equal(setActive.length, 1, 'one atomic request');
    const wasOn = welcome.groups.flatMap((g) => CHANNELS.filter((ch) => g.cells[ch] === 'on').map((ch) => `${g.id}|${ch}`)).sort();
    assert.deepEqual(setActive[0].cells.map((c) => `${c.group}|${c.channel}`).sort(), wasOn, 'only the changed cells are sent');
    assert.ok(setActive[0].cells.every((c) => c.active === false));
    await page.locator('#receiving-banner:not([hidden])').waitFor();
    assert.match(await page.locator('#receiving-banner').textContent(), /Logged in, receiving nothing/);

    // The monogram menu reopens Active Groups; Cancel discards.
    assert.equal((await page.locator('#me [data-role=initials]').textContent()).trim(), 'AA');
    await page.click('#me');
    await page.click('#me-menu [data-action=active-groups]');
    await dlg.waitFor();
    assert.equal(await dlg.locator('tbody input:checked').count(), 0);
    await dlg.locator('tbody input').first().check();
    await dlg.locator('[data-action=cancel]').click();
    await page.locator('dialog[data-role=active-groups]').waitFor({ state: 'detached' });
    assert.equal(page.sent_.filter((f) => f.type === 'set_active').length, 1, 'Cancel sent nothing');

    // Availability switch.
    const sw = page.locator('#availability');
    assert.equal(await sw.getAttribute('aria-checked'), 'true');
    await sw.click();
    await page.locator('#availability[aria-checked=false]').waitFor();
    assert.equal((await sw.textContent()).trim(), 'Unavailable');
    assert.deepEqual(page.sent_.filter((f) => f.type === 'set_availability').map((f) => f.available), [false]);

    // Nobody receives tickets in billing-l1 now: a new one waits; take, accept, close it.
    const item = await server.createWork({ group: 'billing-l1', channel: 'ticket', title: 'Card declined' });
    assert.equal(item.state, 'queued');
    const row = page.locator(`#queues [data-item="${item.id}"]`);
    await row.waitFor();
    await page.waitForFunction(() => /^\d+:\d\d$/.test(document.querySelector('#queues .timer')?.textContent || ''));
    await row.locator('[data-action=take]').click();
    const mine = page.locator(`#my-work [data-item="${item.id}"]`);
    await mine.waitFor();
    await page.waitForFunction(() => document.title === '(1) Switchboard');
    assert.equal(await row.count(), 0);
    await mine.locator('[data-action=accept]').click();
    await page.locator(`#my-work [data-item="${item.id}"][data-state=active]`).waitFor();
    await page.waitForFunction(() => document.title === 'Switchboard');
    assert.equal(await mine.locator('[data-slot=transfer]').count(), 1, 'a place for transfer controls');
    await mine.locator('[data-action=close]').click();
    await mine.waitFor({ state: 'detached' });

    assert.deepEqual(page.errors_, []);
  });
});

// ------------------------------------------------------------------ g

test('g. a pull-group arrival beeps and counts in the title; mute is remembered', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    // heidi picks chats and tickets in the pull group "support-escalations".
    const { page, welcome } = await agentConsole(open, { username: 'heidi', password: 'demo' });
    const pullGroup = welcome.groups.find((g) => g.distribution.ticket === 'pull' && g.cells.ticket !== 'na');
    assert.ok(pullGroup, 'heidi is in a pull group');
    await page.keyboard.press('Escape');
    const item = await server.createWork({ group: pullGroup.id, channel: 'ticket', title: 'Server down' });
    const pushed = await waitForFrame(page, (f) => f.type === 'queue' && f.op === 'added' && f.item.id === item.id);
    assert.equal(pushed.sound, true);
    await page.locator('body[data-last-beep]').waitFor({ state: 'attached' });
    await page.waitForFunction(() => document.title === '(1) Switchboard');
    await page.click('#mute');
    await page.locator('#mute[aria-pressed=true]').waitFor();
    await page.reload();
    await page.locator('#conn[data-state=connected]').waitFor();
    assert.equal(await page.locator('#mute').getAttribute('aria-pressed'), 'true');
    await page.waitForFunction(() => document.title === '(1) Switchboard');
  });
});

// ------------------------------------------------------------------ h

test('h. connection state: Connected, Reconnecting… then Offline when the server goes away; a refused token asks for a login', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const { page } = await agentConsole(open, AGENT);
    assert.equal((await page.locator('#conn').textContent()).trim(), 'Connected');
    await server.stop();
    await page.locator('#conn[data-state=reconnecting]').waitFor({ timeout: 5000 });
    assert.equal((await page.locator('#conn').textContent()).trim(), 'Reconnecting…');
    await page.locator('#conn[data-state=offline]').waitFor({ timeout: 10000 });
    assert.equal((await page.locator('#conn').textContent()).trim(), 'Offline');

    // A new server on the same address does not know the old token (memory store):
    // the console stops retrying and asks for a login, in words.
    const again = await startServer({ grace: '2s', port: server.port });
    try {
      await page.locator('#login:not([hidden])').waitFor({ timeout: 10000 });
      assert.match(await page.locator('#login-form [data-role=login-error]').textContent(), /session has ended/i);
      assert.equal(await page.evaluate(() => sessionStorage.getItem('switchboard.session')), null);
      await loginThroughForm(page, AGENT.username, AGENT.password);
      await page.locator('#conn[data-state=connected]').waitFor();
    } finally {
      await again.stop();
    }
  });
});

// ------------------------------------------------------------------ i

test('i. the three pages fit a 375 px wide phone without sideways scrolling', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const narrow = { width: 375, height: 740 };
    const overflow = (p) => p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    const c = await open('index.html', narrow);
    await loginThroughForm(c, AGENT.username, AGENT.password);
    const dlg = c.locator('dialog[data-role=active-groups][open]');
    await dlg.waitFor();
    const box = await dlg.boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= 375, `dialog fits: ${JSON.stringify(box)}`);
    await c.keyboard.press('Escape');
    await server.createWork({ group: 'billing-l1', channel: 'ticket', title: 'A rather long ticket title that has to wrap on a phone' });
    await c.locator('#my-work [data-item]').first().waitFor();
    assert.equal(await overflow(c), 0, 'console');
    const b = await open('board.html', narrow);
    await loginThroughForm(b, MANAGER.username, MANAGER.password);
    await b.locator('body[data-watching=true]').waitFor();
    assert.equal(await overflow(b), 0, 'board (its grid scrolls inside its own box)');
    const v = await open('visitor.html?group=billing-l1', narrow);
    await v.waitForFunction(() => !document.querySelector('[data-role=status-text]').textContent.startsWith('Checking'));
    assert.equal(await overflow(v), 0, 'visitor');
    // In a chat, on both sides.
    await startVisitorChat(v, 'Narrow Visitor', 'A question typed on a phone, long enough to wrap over a few lines');
    const id = await v.evaluate(() => JSON.parse(sessionStorage.getItem('switchboard.visitorChat')).item);
    await c.locator(`#my-work [data-item="${id}"] [data-action=accept]`).click();
    await v.locator('#transcript [data-role=agent-joined]').waitFor();
    await c.locator(`#chats [data-chat="${id}"] .msg`).first().waitFor();
    assert.equal(await overflow(v), 0, 'visitor in a chat');
    assert.equal(await overflow(c), 0, 'console with a chat panel');
  });
});

// ------------------------------------------------------------------ j

test('j. a refused change is shown in words and the dialog stays open', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    // trent may not manage his own status (manage_own_status = false in the demo).
    const { page } = await agentConsole(open, { username: 'trent', password: 'demo' });
    const dlg = page.locator('dialog[data-role=active-groups][open]');
    const box = dlg.locator('tbody input[type=checkbox]').first();
    await box.setChecked(!(await box.isChecked()));
    await dlg.locator('[data-action=ok]').click();
    const answer = await waitForFrame(page, (f) => f.type === 'error');
    const shown = dlg.locator('[data-role=dialog-error]');
    await page.waitForFunction(() => document.querySelector('dialog[open] [data-role=dialog-error]')?.textContent.length > 0);
    assert.equal((await shown.textContent()).trim(), answer.message);
    assert.equal(answer.code, 'forbidden');
    assert.equal(await dlg.count(), 1);
  });
});

// ------------------------------------------------------------------ k

test('k. board: queue depth and longest wait follow group_status; filters by department and group', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    // marco manages four groups in two departments (Technical Support, Sales).
    const sup = await board(open, { username: 'marco', password: 'demo' });
    const cards = sup.locator('#group-cards .group-card');
    const all = await cards.count();
    assert.ok(all >= 3, `marco watches ${all} groups`);
    const item = await server.createWork({ group: 'support-escalations', channel: 'ticket', title: 'Data loss' });
    assert.equal(item.state, 'queued', 'a pull group queues everything');
    const card = sup.locator('#group-cards .group-card[data-group="support-escalations"]');
    await card.locator('[data-role=depth-ticket]', { hasText: '1' }).waitFor();
    await sup.waitForFunction(() => /^\d+:\d\d$/.test(
      document.querySelector('.group-card[data-group="support-escalations"] [data-role=depth-ticket] + dd')?.textContent || ''));

    await sup.selectOption('#filter-dept', 'Sales');
    const shown = await cards.evaluateAll((n) => n.map((x) => x.dataset.group));
    assert.ok(shown.length > 0 && shown.length < all, JSON.stringify(shown));
    assert.ok(shown.every((g) => g.startsWith('sales-')), JSON.stringify(shown));
    // Only members of the shown groups remain in the grid, with only those groups' columns.
    const agents = await sup.locator('#agent-grid tbody tr').evaluateAll((n) => n.map((x) => x.dataset.agent));
    assert.ok(agents.includes('mallory') && !agents.includes('grace'), JSON.stringify(agents));
    assert.equal(await sup.locator('#agent-grid td[data-cell^="support-web|"]').count(), 0);

    await sup.selectOption('#filter-group', 'sales-leads');
    assert.deepEqual(await cards.evaluateAll((n) => n.map((x) => x.dataset.group)), ['sales-leads']);
    const leads = await sup.locator('#agent-grid tbody tr').evaluateAll((n) => n.map((x) => x.dataset.agent));
    assert.ok(leads.includes('trent') && !leads.includes('mallory'), JSON.stringify(leads));
    assert.deepEqual(sup.errors_, []);
  });
});

// ------------------------------------------------------------------ l

test('l. a manager changes only the groups it manages; the column switch skips the others', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    // maria manages billing-l1 and billing-l2; alice is also in support-web.
    const sup = await board(open, MANAGER);
    await sup.locator('#agent-grid tr[data-agent=alice] [data-action=edit-active-groups]').click();
    const dlg = sup.locator('dialog[data-role=active-groups][open]');
    await dlg.waitFor();
    assert.equal(await dlg.locator('[data-cell="support-web|chat"]').isDisabled(), true);
    assert.equal(await dlg.locator('[data-cell="billing-l1|chat"]').isDisabled(), false);
    const head = dlg.locator('thead input[data-column=chat]');
    await head.check();
    await head.uncheck();
    assert.equal(await dlg.locator('[data-cell="support-web|chat"]').isChecked(), true, 'not managed: untouched');
    await dlg.locator('[data-action=ok]').click();
    await dlg.waitFor({ state: 'detached' });
    const sent = sup.sent_.filter((f) => f.type === 'set_active');
    assert.equal(sent.length, 1);
    assert.equal(sent[0].agent, 'alice');
    assert.deepEqual(sent[0].cells, [{ group: 'billing-l1', channel: 'chat', active: false }]);
    const answer = await waitForFrame(sup, (f) => f.id === sent[0].id);
    assert.equal(answer.type, 'ok', JSON.stringify(answer));
    await sup.locator('#agent-grid tr[data-agent=alice] td[data-cell="billing-l1|chat"][data-state=off]').waitFor();
  });
});

// ------------------------------------------------------------------ m

test('m. visitor page: online/offline from the group status, the matching form', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const probe = await fetch(server.url('/api/groups/billing-l1/status'));
    const settled = () => !document.querySelector('[data-role=status-text]').textContent.startsWith('Checking');
    if (probe.status === 404 && !(probe.headers.get('content-type') || '').includes('json')) {
      // The server has no such endpoint yet: the page says so plainly and offers
      // the message form (which never promises a live answer).
      t.diagnostic('GET /api/groups/{id}/status is not served yet: checking the fallback only');
      const v = await open('visitor.html?group=billing-l1');
      await v.waitForFunction(settled);
      assert.equal(await v.locator('#group-status').getAttribute('data-online'), 'unknown');
      assert.equal(await v.locator('#ticket-form').isVisible(), true);
      assert.equal(await v.locator('#chat-form').isVisible(), false);
      return;
    }
    // Nobody logged in: offline, leave a message.
    const v = await open('visitor.html?group=billing-l1');
    await v.waitForFunction(settled);
    assert.equal(await v.locator('#group-status').getAttribute('data-online'), 'false');
    assert.equal(await v.locator('#ticket-form').isVisible(), true);
    // An available agent active for chat in the group: online, start a chat.
    const { page } = await agentConsole(open, AGENT);
    await page.keyboard.press('Escape');
    const v2 = await open('visitor.html?group=billing-l1');
    await v2.waitForFunction(settled);
    assert.equal(await v2.locator('#group-status').getAttribute('data-online'), 'true');
    assert.equal(await v2.locator('#chat-form').isVisible(), true);
  });
});

test('m2. visitor page without ?group says what it needs', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const v = await open('visitor.html');
    await v.locator('#no-group:not([hidden])').waitFor();
    assert.equal(await v.locator('#chat-form').isVisible(), false);
    assert.equal(await v.locator('#ticket-form').isVisible(), false);
  });
});

test('m3. visitor page with an unknown group offers no form at all', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const v = await open('visitor.html?group=no-such-group');
    await v.waitForFunction(() => document.querySelector('#group-status')?.dataset.online === 'unknown'
      && !document.querySelector('[data-role=status-text]').textContent.startsWith('Checking'));
    assert.match(await v.locator('[data-role=status-text]').textContent(), /not set up/);
    assert.equal(await v.locator('#chat-form').isVisible(), false);
    assert.equal(await v.locator('#ticket-form').isVisible(), false);
  });
});

// ------------------------------------------------------------------ n

test('n. a dropped socket reconnects with the same token within the grace: no logout', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const page = await open('index.html');
    // Pass the console's sockets through Playwright, so that the test can cut one.
    const routes = [];
    await page.routeWebSocket(/\/ws\?token=/, (ws) => {
      ws.connectToServer();
      routes.push(ws);
    });
    await loginThroughForm(page, AGENT.username, AGENT.password);
    await page.locator('dialog[data-role=active-groups][open]').waitFor();
    await page.keyboard.press('Escape');
    await page.locator('#conn[data-state=connected]').waitFor();
    const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('switchboard.session')).token);

    const cutAt = Date.now();
    await routes[0].close({ code: 1006, reason: 'cut by the test' }).catch(() => routes[0].close());
    await page.locator('#conn[data-state=reconnecting]').waitFor({ timeout: 2000 });
    await page.locator('#conn[data-state=connected]').waitFor({ timeout: 3000 });
    t.diagnostic(`reconnected after ${Date.now() - cutAt} ms`);
    assert.equal(routes.length, 2, 'one new socket');
    assert.equal(new URL(routes[1].url()).searchParams.get('token'), token, 'the same token');
    // "Connected" shows when the socket opens; its welcome may still be on the way.
    await waitUntil(() => (page.frames_.filter((f) => f.type === 'welcome').length === 2 ? true : undefined), { timeout: 3000 });

    // Past the grace (2 s) the agent must still be logged in, without a logout entry.
    const left = cutAt + 2500 - Date.now();
    if (left > 0) await new Promise((r) => setTimeout(r, left));
    const sup = await server.login(SUPERVISOR.username, SUPERVISOR.password);
    const entries = await server.audit(sup.token, { agent: 'alice' });
    assert.deepEqual(entries.map((e) => e.what), ['login'], JSON.stringify(entries));
    const status = await server.http('GET', '/api/agents/alice', { token: sup.token });
    assert.equal(status.logged_in, true);
  });
});

// ------------------------------------------------------------------ e

/** Opens visitor.html for a group and waits until it has read the group's status. */
async function visitorPage(open, group) {
  const v = await open(`visitor.html?group=${group}`);
  await v.waitForFunction(() => !document.querySelector('[data-role=status-text]').textContent.startsWith('Checking'));
  return v;
}

/** Fills and submits the visitor's chat form; returns the new chat's item id. */
async function startVisitorChat(v, name, text) {
  await v.locator('#chat-form').waitFor();
  await v.fill('#chat-name', name);
  await v.fill('#chat-question', text);
  await v.click('#chat-form button[type=submit]');
  await v.locator('#chat:not([hidden])').waitFor();
  return v.evaluate(() => JSON.parse(sessionStorage.getItem('switchboard.visitorChat')).item);
}

const transcript = (p, sel) => p.locator(sel).evaluateAll((n) => n.map((x) => x.querySelector('.msg-text')?.textContent ?? x.textContent));

// alice is eligible for chats in billing-l1 (active for chat there by default, available at login).
test('e. a visitor chats with an agent: routed, accepted, messages both ways, reload rejoins, closed', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const { page: agent, welcome } = await agentConsole(open, AGENT);
    assert.equal(welcome.groups.find((g) => g.id === 'billing-l1').cells.chat, 'on');
    await agent.keyboard.press('Escape');
    assert.equal(await agent.locator('#availability').getAttribute('aria-checked'), 'true');

    const v = await visitorPage(open, 'billing-l1');
    assert.equal(await v.locator('#group-status').getAttribute('data-online'), 'true');
    const id = await startVisitorChat(v, 'Ann Visitor', 'My invoice shows the wrong amount');
    assert.ok(Number.isInteger(id), `item id ${id}`);
    // The visitor's first message is in the thread; the chat went to alice at once.
    await v.locator('#transcript .msg[data-from=visitor]', { hasText: 'My invoice shows the wrong amount' }).waitFor();
    await v.locator('#chat-position[data-phase=connecting]', { hasText: 'Connecting you to an agent…' }).waitFor();

    // The agent's console shows it in My work, with a chat panel waiting for the accept.
    const row = agent.locator(`#my-work [data-item="${id}"]`);
    await row.waitFor();
    const panel = agent.locator(`#chats [data-chat="${id}"]`);
    await panel.waitFor();
    assert.equal(await panel.locator('[data-role=chat-input]').isDisabled(), true, 'no reply before the accept');
    await row.locator('[data-action=accept]').click();
    await agent.locator(`#my-work [data-item="${id}"][data-state=active]`).waitFor();
    await panel.locator('.msg[data-from=visitor]', { hasText: 'My invoice shows the wrong amount' }).waitFor();
    assert.match(await panel.locator('[data-role=chat-title]').textContent(), /Ann Visitor/);

    // The visitor learns who joined.
    await v.locator('#transcript [data-role=agent-joined]', { hasText: `${welcome.agent.name} joined the chat` }).waitFor();

    // Visitor -> agent.
    await v.fill('#compose-text', 'Hello, anyone there?');
    await v.click('#compose button[type=submit]');
    await panel.locator('.msg[data-from=visitor]', { hasText: 'Hello, anyone there?' }).waitFor();
    await v.locator('#transcript .msg[data-from=visitor]', { hasText: 'Hello, anyone there?' }).waitFor();
    // Agent -> visitor.
    await panel.locator('[data-role=chat-input]').fill('Hi Ann, let me look at it.');
    await panel.locator('[data-action=send]').click();
    await v.locator('#transcript .msg[data-from=agent]', { hasText: 'Hi Ann, let me look at it.' }).waitFor();
    await panel.locator('.msg[data-from=agent]', { hasText: 'Hi Ann, let me look at it.' }).waitFor();
    const expected = ['My invoice shows the wrong amount', 'Hello, anyone there?', 'Hi Ann, let me look at it.'];
    // Both sides show each message once (the echo of one's own message is not a duplicate).
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(await transcript(v, '#transcript .msg:not(.system)'), expected);
    assert.deepEqual(await transcript(agent, `#chats [data-chat="${id}"] .msg`), expected);
    assert.equal(await v.locator('#transcript .msg[data-from=agent] .msg-who').textContent(), welcome.agent.name);

    // A reload of the visitor's tab rejoins the same chat (sessionStorage).
    await v.reload();
    await v.locator('#chat:not([hidden])').waitFor();
    await v.locator('#transcript .msg[data-from=agent]', { hasText: 'Hi Ann, let me look at it.' }).waitFor();
    assert.deepEqual(await transcript(v, '#transcript .msg:not(.system)'), expected);
    await v.locator('#chat-position[data-phase=active]').waitFor();
    assert.equal(await v.locator('#chat-form').isVisible(), false);
    await v.fill('#compose-text', 'Still here after a reload');
    await v.click('#compose button[type=submit]');
    await panel.locator('.msg[data-from=visitor]', { hasText: 'Still here after a reload' }).waitFor();
    await v.screenshot({ path: path.join(IMG, 'visitor-chat.png') });
    await agent.screenshot({ path: path.join(IMG, 'console-chat.png') });

    // The agent closes: the visitor is told and the token is forgotten.
    await row.locator('[data-action=close]').click();
    await v.locator('#transcript [data-role=closed]', { hasText: 'The chat has ended' }).waitFor();
    assert.equal(await v.locator('#compose').isVisible(), false);
    assert.equal(await v.evaluate(() => sessionStorage.getItem('switchboard.visitorChat')), null);
    await panel.waitFor({ state: 'detached' });
    assert.deepEqual(agent.errors_, []);
    assert.deepEqual(v.errors_, []);
  });
});

// frank picks chats in billing-l1 (chat = "pull"): the group is online with him
// logged in, but nobody is assigned a chat, so visitors wait in the queue.
test('e2. visitors see their live queue position; a take moves them up; connecting, then joined', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const { page: frank } = await agentConsole(open, { username: 'frank', password: 'demo' });
    await frank.keyboard.press('Escape');
    const v1 = await visitorPage(open, 'billing-l1');
    assert.equal(await v1.locator('#group-status').getAttribute('data-online'), 'true');
    const id1 = await startVisitorChat(v1, 'First Visitor', 'Question one');
    await v1.locator('#chat-position[data-phase=queued]', { hasText: 'You are number 1 in the queue' }).waitFor();
    const v2 = await visitorPage(open, 'billing-l1');
    const id2 = await startVisitorChat(v2, 'Second Visitor', 'Question two');
    await v2.locator('#chat-position', { hasText: 'You are number 2 in the queue' }).waitFor();
    await v2.screenshot({ path: path.join(IMG, 'visitor-queue.png') });

    // frank takes the first chat from the queue: the second visitor moves up.
    await frank.locator(`#queues [data-item="${id1}"] [data-action=take]`).click();
    await v1.locator('#chat-position[data-phase=connecting]', { hasText: 'Connecting you to an agent…' }).waitFor();
    await v2.locator('#chat-position', { hasText: 'You are number 1 in the queue' }).waitFor();
    await frank.locator(`#my-work [data-item="${id1}"] [data-action=accept]`).click();
    await v1.locator('#transcript [data-role=agent-joined]', { hasText: 'Frank Fischer joined the chat' }).waitFor();
    await v1.locator('#chat-position[data-phase=active]').waitFor();
    assert.ok(await frank.locator(`#queues [data-item="${id2}"]`).count() === 1);
    assert.deepEqual(v1.errors_, []);
    assert.deepEqual(v2.errors_, []);
  });
});

test('e3. an offline group answers 409: the visitor is offered the ticket form, which creates a ticket', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    // alice is online for chat in billing-l1 when the visitor opens the page ...
    const { page: agent } = await agentConsole(open, AGENT);
    // ... but inactive for tickets there, so that the ticket waits in the queue.
    await agent.locator('dialog[open] [data-cell="billing-l1|ticket"]').uncheck();
    await agent.locator('dialog[open] [data-action=ok]').click();
    await agent.locator('dialog[data-role=active-groups]').waitFor({ state: 'detached' });
    const v = await visitorPage(open, 'billing-l1');
    assert.equal(await v.locator('#group-status').getAttribute('data-online'), 'true');
    await v.locator('#chat-form').waitFor();
    // ... and goes unavailable before the visitor presses Start chat.
    await agent.locator('#availability').click();
    await agent.locator('#availability[aria-checked=false]').waitFor();
    const status = await server.http('GET', '/api/groups/billing-l1/status');
    assert.equal(status.online, false);

    await v.fill('#chat-name', 'Olga Offline');
    await v.fill('#chat-question', 'Please call me back about invoice 77');
    await v.click('#chat-form button[type=submit]');
    await v.locator('#ticket-form:not([hidden])').waitFor();
    assert.equal(await v.locator('#chat-form').isVisible(), false);
    assert.equal(await v.locator('#group-status').getAttribute('data-online'), 'false');
    // What the visitor wrote is kept.
    assert.equal(await v.inputValue('#ticket-name'), 'Olga Offline');
    assert.equal(await v.inputValue('#ticket-question'), 'Please call me back about invoice 77');
    await v.fill('#ticket-email', 'olga@example.com');
    await v.screenshot({ path: path.join(IMG, 'visitor-offline.png') });
    await v.click('#ticket-form button[type=submit]');
    await v.locator('#sent:not([hidden])').waitFor();
    assert.match(await v.locator('#sent').textContent(), /Thank you/);

    // The ticket is in billing-l1's queue (seen by a member's token), with the reply address.
    const { token } = await server.login(AGENT2.username, AGENT2.password);
    const queue = await server.http('GET', '/api/groups/billing-l1/queue', { token });
    const ticket = queue.items.find((i) => i.channel === 'ticket' && i.title.includes('invoice 77'));
    assert.ok(ticket, JSON.stringify(queue));
    assert.match(ticket.title, /olga@example\.com/);
    // And alice's console (a member) sees it arrive in the queue.
    await agent.locator(`#queues [data-item="${ticket.id}"]`).waitFor();
    assert.deepEqual(v.errors_, []);
  });
});

// ------------------------------------------------------------------ s: statuses with reasons

test('s. status menu: the agent picks Lunch, the board shows it with its time and the audit names it; back to Available in one click', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const { page: agent, welcome } = await agentConsole(open, AGENT);
    await agent.locator('dialog[open] [data-action=ok]').click();
    await agent.locator('dialog[data-role=active-groups]').waitFor({ state: 'detached' });
    const me = welcome.agent.id;
    const sup = await board(open, SUPERVISOR);
    const row = sup.locator(`#agent-grid tr[data-agent="${me}"]`);
    await sup.locator(`#agent-grid tr[data-agent="${me}"][data-logged-in=true]`).waitFor();

    // The menu lists the help desk's statuses, the current one chosen.
    const options = await agent.locator('#status option').evaluateAll((os) => os.map((o) => o.value));
    assert.deepEqual(options, welcome.statuses.map((s) => s.name));
    assert.equal(await agent.locator('#status').inputValue(), 'Available');

    await agent.locator('#status').selectOption('Lunch');
    await agent.locator('#availability[aria-checked=false]').waitFor();
    assert.equal((await agent.locator('#availability').textContent()).trim(), 'Lunch');
    assert.deepEqual(agent.sent_.filter((f) => f.type === 'set_status').map((f) => f.status), ['Lunch']);

    await sup.locator(`#agent-grid tr[data-agent="${me}"][data-status=Lunch]`).waitFor();
    assert.equal((await row.locator('td[data-role=availability]').textContent()).trim(), 'Lunch');
    const timer = await row.locator('td.timer').textContent();
    assert.match(timer.trim(), /\d/, `time in status shown: ${timer}`);

    const { token } = await server.login(SUPERVISOR.username, SUPERVISOR.password);
    const audit = await server.http('GET', `/api/audit?agent=${me}`, { token });
    const entry = audit.entries.find((e) => e.what === 'status');
    assert.ok(entry, JSON.stringify(audit));
    assert.equal(entry.old, 'Available');
    assert.equal(entry.new, 'Lunch');

    // One click on the switch: back to Available.
    await agent.locator('#availability').click();
    await agent.locator('#availability[aria-checked=true]').waitFor();
    assert.equal(await agent.locator('#status').inputValue(), 'Available');
    await sup.locator(`#agent-grid tr[data-agent="${me}"][data-status=Available]`).waitFor();
    assert.deepEqual(agent.errors_, []);
    assert.deepEqual(sup.errors_, []);
  });
});

test('s2. wrap-up: closing a ticket shows a countdown and holds the next ticket; "I\'m ready" ends it and the ticket comes', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const { token } = await server.login(SUPERVISOR.username, SUPERVISOR.password);
    await server.http('PATCH', '/api/admin/groups/billing-l1', { token, body: { channels: { ticket: { wrap_up_ms: 120000 } } } });
    const { page: agent, welcome } = await agentConsole(open, AGENT);
    await agent.locator('dialog[open] [data-action=ok]').click();
    await agent.locator('dialog[data-role=active-groups]').waitFor({ state: 'detached' });
    const me = welcome.agent.id;
    await agent.locator(`#availability[aria-checked=true]`).waitFor();

    const first = await server.createWork({ group: 'billing-l1', channel: 'ticket', title: 'Refund please' });
    if (first.state === 'queued') {
      await agent.locator(`#queues [data-item="${first.id}"] [data-action=take]`).click();
    } else {
      assert.equal(first.assignee, me, JSON.stringify(first));
    }
    const mine = agent.locator(`#my-work [data-item="${first.id}"]`);
    await mine.waitFor();
    await mine.locator('[data-action=accept]').click();
    await agent.locator(`#my-work [data-item="${first.id}"][data-state=active]`).waitFor();
    assert.equal(await agent.locator('#work-state').isVisible(), false);
    await mine.locator('[data-action=close]').click();
    await mine.waitFor({ state: 'detached' });

    const banner = agent.locator('#work-state[data-kind=wrap-up]:not([hidden])');
    await banner.waitFor();
    assert.match(await banner.textContent(), /no new tickets for \d+:\d\d/);
    // The board shows it too.
    const sup = await board(open, SUPERVISOR);
    await sup.locator(`#agent-grid tr[data-agent="${me}"][data-wrap-up=ticket]`).waitFor();

    // The next ticket waits while she wraps up (nobody else takes tickets there now).
    const second = await server.createWork({ group: 'billing-l1', channel: 'ticket', title: 'Second refund' });
    if (second.state !== 'queued') {
      assert.notEqual(second.assignee, me, 'not offered to an agent in wrap-up');
    }
    await banner.locator('[data-action=ready]').click();
    await agent.locator('#work-state').waitFor({ state: 'hidden' });
    assert.deepEqual(agent.sent_.filter((f) => f.type === 'ready').length, 1);
    await sup.locator(`#agent-grid tr[data-agent="${me}"][data-wrap-up=""]`).waitFor();
    if (second.state === 'queued') {
      await agent.locator(`#my-work [data-item="${second.id}"]`).waitFor();
    }
    assert.deepEqual(agent.errors_, []);
    assert.deepEqual(sup.errors_, []);
  });
});

// ------------------------------------------------------------------ o: transfer, take-over

test('o. transfer: a refused transfer is shown in words; a transfer to a named member shows who and why', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const a = await agentConsole(open, AGENT);
    await a.page.keyboard.press('Escape');
    // Only alice is logged in: the ticket is routed to her.
    const item = await server.createWork({ group: 'billing-l1', channel: 'ticket', title: 'Double charge' });
    assert.equal(item.assignee, a.welcome.agent.id, JSON.stringify(item));
    const b = await agentConsole(open, AGENT2);
    await b.page.keyboard.press('Escape');

    const row = a.page.locator(`#my-work [data-item="${item.id}"]`);
    await row.locator('[data-slot=transfer] [data-action=transfer]').click();
    const dlg = a.page.locator('dialog[data-role=transfer][open]');
    await dlg.waitFor();
    assert.deepEqual((await dlg.locator('[data-role=transfer-group] option').evaluateAll((n) => n.map((o) => o.value))).sort(),
      a.welcome.groups.map((g) => g.id).sort());
    // A member that does not exist: refused, in words, and the dialog stays.
    await dlg.locator('[data-role=transfer-agent]').fill('nobody-here');
    await dlg.locator('[data-action=ok]').click();
    const err = await waitForFrame(a.page, (f) => f.type === 'error');
    await a.page.waitForFunction(() => document.querySelector('dialog[open] [data-role=transfer-error]')?.textContent.length > 0);
    const shown = await dlg.locator('[data-role=transfer-error]').textContent();
    t.diagnostic(`refused: ${err.code} ${err.message} -> "${shown}"`);
    assert.ok(shown.includes(err.message), shown);
    assert.equal(await dlg.count(), 1);

    // To bob, with a note.
    await dlg.locator('[data-role=transfer-group]').selectOption('billing-l1');
    await dlg.locator('[data-role=transfer-agent]').fill(b.welcome.agent.id);
    await dlg.locator('[data-role=transfer-note]').fill('Customer asked for Bob');
    await a.page.screenshot({ path: path.join(IMG, 'console-transfer.png') });
    await dlg.locator('[data-action=ok]').click();
    await dlg.waitFor({ state: 'detached' });
    await row.waitFor({ state: 'detached' });
    await a.page.locator('#notices [data-role=work-notice]', { hasText: `transferred to ${b.welcome.agent.name}` }).waitFor();
    const sent = a.page.sent_.filter((f) => f.type === 'transfer').pop();
    // A write carries an idempotency key (a fresh one per request).
    assert.match(sent.key, /^[\x21-\x7e]{1,128}$/);
    assert.deepEqual({ ...sent, id: undefined, key: undefined }, { id: undefined, key: undefined, type: 'transfer', item: item.id, group: 'billing-l1', agent: 'bob', note: 'Customer asked for Bob' });

    const bRow = b.page.locator(`#my-work [data-item="${item.id}"]`);
    await bRow.waitFor();
    assert.equal((await bRow.locator('[data-role=transfer-note]').textContent()).trim(),
      `transferred by ${a.welcome.agent.name}: Customer asked for Bob`);

    // A manager takes it over from bob: it leaves bob's work with a notice.
    const m = await agentConsole(open, MANAGER);
    await m.page.keyboard.press('Escape');
    const answer = await m.page.evaluate(async (id) => {
      const { token } = JSON.parse(sessionStorage.getItem('switchboard.session'));
      const ws = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(token)}`);
      return new Promise((resolve, reject) => {
        ws.onmessage = (ev) => {
          const f = JSON.parse(ev.data);
          if (f.type === 'welcome') ws.send(JSON.stringify({ id: 'to', type: 'take_over', item: id }));
          if (f.id === 'to') { ws.close(); resolve(f); }
        };
        ws.onerror = () => reject(new Error('socket error'));
      });
    }, item.id);
    assert.equal(answer.type, 'ok', JSON.stringify(answer));
    await bRow.waitFor({ state: 'detached' });
    await b.page.locator('#notices [data-role=work-notice][data-kind=taken-over]', { hasText: 'taken over by Maria Lopez' }).waitFor();
    await m.page.locator(`#my-work [data-item="${item.id}"]`).waitFor();
    for (const p of [a.page, b.page, m.page]) assert.deepEqual(p.errors_, []);
  });
});

// ------------------------------------------------------------------ p: calls

test('p. an incoming call rings with Answer / Decline; decline stops it; answer makes it active', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const { page } = await agentConsole(open, AGENT);
    // alice takes calls in Web Support (off in the demo directory).
    await page.locator('dialog[open] [data-cell="support-web|voice"]').check();
    await page.locator('dialog[open] [data-action=ok]').click();
    await page.locator('dialog[data-role=active-groups]').waitFor({ state: 'detached' });

    const call = await server.createWork({ group: 'support-web', channel: 'voice', title: 'Caller +44 20 7946 0000' });
    assert.equal(call.state, 'assigned', JSON.stringify(call));
    const row = page.locator(`#my-work [data-item="${call.id}"]`);
    await row.waitFor();
    await page.locator('body[data-ringing=true]').waitFor();
    assert.equal((await row.locator('.state').textContent()).trim(), 'Incoming call');
    assert.equal(await row.locator('[data-action=accept]').count(), 0);
    // The ring repeats.
    const first = await page.locator('body').getAttribute('data-last-beep');
    await page.waitForFunction((b) => document.body.dataset.lastBeep !== b, first, { timeout: 4000 });
    await page.screenshot({ path: path.join(IMG, 'console-call.png') });
    // Decline: it goes on (to the queue: nobody else takes calls there), and the ringing stops.
    await row.locator('[data-action=decline]').click();
    await row.waitFor({ state: 'detached' });
    await page.locator('body:not([data-ringing])').waitFor();
    assert.equal(await page.locator('#notices [data-role=work-notice]').count(), 0, 'no "taken from you" notice for my own decline');

    const call2 = await server.createWork({ group: 'support-web', channel: 'voice', title: 'Caller +44 20 7946 0001' });
    const row2 = page.locator(`#my-work [data-item="${call2.id}"]`);
    await row2.locator('[data-action=answer]').click();
    await page.locator(`#my-work [data-item="${call2.id}"][data-state=active]`).waitFor();
    await page.locator('body:not([data-ringing])').waitFor();
    assert.deepEqual(page.errors_, []);
  });
});

// ------------------------------------------------------------------ q: board explain

test('q. board: a supervisor opens a group\'s waiting items and sees why each member does not get one', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    // bob is logged in but inactive for tickets in billing-l1; nobody else is logged in.
    const b = await agentConsole(open, AGENT2);
    await b.page.locator('dialog[open] [data-cell="billing-l1|ticket"]').uncheck();
    await b.page.locator('dialog[open] [data-action=ok]').click();
    await b.page.locator('dialog[data-role=active-groups]').waitFor({ state: 'detached' });
    const item = await server.createWork({ group: 'billing-l1', channel: 'ticket', title: 'Refund not received' });
    assert.equal(item.state, 'queued');

    // ada (an admin member of billing-l1, active nowhere) watches: her login takes nothing.
    const sup = await board(open, SUPERVISOR);
    const card = sup.locator('.group-card[data-group="billing-l1"]');
    await card.locator('[data-role=depth-ticket]', { hasText: '1' }).waitFor();
    await card.locator('[data-action=toggle-queue]').click();
    await card.locator(`[data-action=explain][data-item="${item.id}"]`).click();
    const dlg = sup.locator('dialog[data-role=explain][open]');
    await dlg.waitFor();
    const answer = await waitForFrame(sup, (f) => f.type === 'ok' && Array.isArray(f.data?.members));
    const verdicts = Object.fromEntries(answer.data.members.map((m) => [m.agent, m.verdict]));
    t.diagnostic(JSON.stringify(verdicts));
    assert.equal(verdicts.bob, 'inactive');
    assert.equal(verdicts.alice, 'logged_out');
    assert.equal(await dlg.locator('tbody tr').count(), answer.data.members.length);
    assert.equal((await dlg.locator('tr[data-agent=bob] td').textContent()).trim(), 'Inactive for this channel here');
    assert.equal(await dlg.locator('tr[data-agent=erin]').getAttribute('data-verdict'), verdicts.erin);
    await sup.screenshot({ path: path.join(IMG, 'board-explain.png') });
    await dlg.locator('[data-action=close]').click();
    await dlg.waitFor({ state: 'detached' });

    // The list follows the queue: once bob takes the ticket, it is gone from the card.
    await b.page.locator(`#queues [data-item="${item.id}"] [data-action=take]`).click();
    await card.locator(`[data-action=explain][data-item="${item.id}"]`).waitFor({ state: 'detached' });
    assert.deepEqual(sup.errors_, []);
  });
});

// ------------------------------------------------------------------ screenshots

test('screenshots of the three pages (docs/img)', { skip: skipReason || false }, async (t) => {
  mkdirSync(IMG, { recursive: true });
  await withServer(t, async (server, open) => {
    const { page } = await agentConsole(open, AGENT);
    await page.keyboard.press('Escape');
    // Some work to show (demo directory): a chat and a ticket routed to alice, a
    // ticket queued in a group where she is inactive for tickets, a call queued
    // where nobody takes calls.
    const routedChat = await server.createWork({ group: 'billing-l1', channel: 'chat', title: 'Refund for order 1182' });
    const routedTicket = await server.createWork({ group: 'billing-l2', channel: 'ticket', title: 'Invoice address is wrong' });
    const queued = await server.createWork({ group: 'support-web', channel: 'ticket', priority: 1, title: 'Password reset link expired' });
    await server.createWork({ group: 'billing-l2', channel: 'voice', title: 'Caller +44 20 7946 0958' });
    for (const it of [routedChat, routedTicket, queued]) await page.locator(`[data-item="${it.id}"]`).first().waitFor();
    await page.locator(`#my-work [data-item="${routedTicket.id}"] [data-action=accept]`).click();
    await page.locator(`#my-work [data-item="${routedTicket.id}"][data-state=active]`).waitFor();
    await page.waitForFunction(() => [...document.querySelectorAll('#main .timer')].every((n) => n.textContent));
    await page.screenshot({ path: path.join(IMG, 'console.png') });

    const sup = await board(open, MANAGER);
    await sup.locator('.group-card[data-group="billing-l2"] [data-role=depth-voice]', { hasText: '1' }).waitFor();
    await sup.screenshot({ path: path.join(IMG, 'board.png') });

    const visitor = await open('visitor.html?group=billing-l1');
    await visitor.waitForFunction(() => !document.querySelector('[data-role=status-text]').textContent.startsWith('Checking'));
    await visitor.screenshot({ path: path.join(IMG, 'visitor.png') });
  });
});
