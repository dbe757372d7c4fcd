// Browser tests of the Admin page (static/admin.html), against the real server.
// Run: cargo build && node --test --test-concurrency=1 tests/browser/admin.test.mjs
// Each run rewrites docs/img/admin.png (1280x800) and docs/img/admin-phone.png (375x740).
//
// Each test starts its own server (fresh data directory, built-in demo
// directory; every demo password is "demo").

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT, startServer, launchBrowser, newPage, loginThroughForm, missingPrerequisite } from './harness.mjs';

const ADMIN = { username: 'ada', password: 'demo' }; // admin, member of billing-l1 (so its board watches it)
const MANAGER = { username: 'maria', password: 'demo' }; // manages billing-l1 and billing-l2, no admin
const IMG = path.join(ROOT, 'docs', 'img');
const WAIT = { timeout: 60000 }; // generous: a debug build hashes passwords (argon2) slowly on a busy machine

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

async function withServer(t, fn, extraArgs = []) {
  const server = await startServer({ grace: '2s', extraArgs });
  const pages = [];
  const open = async (file, opts) => {
    const page = await newPage(browser, opts);
    pages.push(page);
    await page.goto(server.url(`/${file}`));
    return page;
  };
  try {
    await fn(server, open);
    for (const p of pages) assert.deepEqual(p.errors_, [], 'no script errors on the pages');
  } catch (e) {
    for (const p of pages) if (p.errors_.length) t.diagnostic(`page errors: ${p.errors_.join(' | ')}`);
    t.diagnostic(`server output (tail):\n${server.output.slice(-4000)}`);
    throw e;
  } finally {
    for (const p of pages) await p.context().close().catch(() => {});
    await server.stop();
  }
}

/** Logs in on admin.html and waits for the agents table. */
async function adminPage(open, who, opts) {
  const page = await open('admin.html', opts);
  await loginThroughForm(page, who.username, who.password);
  await page.locator('[data-table=agents][data-loaded=true]').waitFor(WAIT);
  return page;
}

/** Opens the Integrations tab's "New integration" dialog. */
async function newIntegrationDialog(page) {
  await page.locator('#tab-integrations').click();
  await page.locator('[data-action=new-integration]').click();
  const dlg = page.locator('dialog[data-role=new-integration][open]');
  await dlg.waitFor(WAIT);
  return dlg;
}

/** Waits for the open dialog to close, or fails with the error it shows. */
async function dialogClosed(page) {
  const deadline = Date.now() + WAIT.timeout;
  while (Date.now() < deadline) {
    if (await page.locator('dialog[open]').count() === 0) return;
    const err = await page.locator('dialog[open] [data-role=dialog-error]').textContent().catch(() => '');
    if (err) throw new Error(`the dialog shows an error: ${err}`);
    await page.waitForTimeout(50);
  }
  const role = await page.locator('dialog[open]').getAttribute('data-role').catch(() => '?');
  throw new Error(`the dialog ${role} did not close`);
}

test('an admin creates an agent and a membership on the Admin page; the board shows the new member', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    // The supervisor board, open in its own page, watching billing-l1.
    const board = await open('board.html');
    await loginThroughForm(board, ADMIN.username, ADMIN.password);
    await board.locator('body[data-watching=true]').waitFor(WAIT);
    await board.locator('#admin-link').waitFor({ state: 'visible', ...WAIT });
    assert.equal(await board.locator('#agent-grid tr[data-agent=zoe]').count(), 0);

    const page = await adminPage(open, ADMIN);
    assert.equal(await page.locator('[data-table=agents] tr[data-key=alice]').count(), 1, 'the demo agents are listed');

    // New agent; a too short password is refused by the server, in words, on its field.
    await page.click('[data-action=new-agent]');
    const dlg = page.locator('dialog[data-role=new-agent][open]');
    await dlg.waitFor(WAIT);
    await dlg.locator('input[name=id]').fill('zoe');
    await dlg.locator('input[name=name]').fill('Zoe Zimmer');
    await dlg.locator('input[name=password]').fill('short');
    await dlg.locator('input[name=password]').press('Enter');
    await dlg.locator('input[name=password][aria-invalid=true]').waitFor(WAIT);
    const refusal = (await dlg.locator('[data-role=dialog-error]').textContent()).trim();
    assert.ok(refusal.length > 10, `the refusal is said in words: ${refusal}`);
    assert.equal(await page.evaluate(() => document.activeElement?.name), 'password', 'the named field has the focus');
    await dlg.locator('input[name=password]').fill('zoe-password-2026');
    await dlg.locator('button[data-action=submit]').click();
    await dialogClosed(page);

    // The new agent is in the table (searched for) and can log in.
    await page.fill('#agents-q', 'zimmer');
    await page.waitForFunction(() => document.querySelectorAll('[data-table=agents] tbody tr').length === 1, null, WAIT);
    assert.equal(await page.locator('[data-table=agents] tbody tr[data-key=zoe]').count(), 1, 'the search finds the new agent alone');
    const zoe = await server.login('zoe', 'zoe-password-2026');
    assert.equal(zoe.agent.name, 'Zoe Zimmer');

    // A membership in billing-l1, from the Memberships tab, with the keyboard's Enter.
    await page.click('#tab-memberships');
    await page.locator('[data-table=memberships][data-loaded=true]').waitFor(WAIT);
    await page.selectOption('#memberships-group', 'billing-l1');
    await page.click('[data-action=new-membership]');
    const add = page.locator('dialog[data-role=new-membership][open]');
    await add.waitFor(WAIT);
    await add.locator('input[name=agent]').fill('zoe');
    assert.equal(await add.locator('select[name=group]').inputValue(), 'billing-l1', 'the group filter is the default');
    await add.locator('select[name="handling.chat"]').selectOption('secondary');
    await add.locator('input[name=active][value=ticket]').check();
    await add.locator('input[name=agent]').press('Enter');
    await dialogClosed(page);
    const row = page.locator('[data-table=memberships] tr[data-key="billing-l1/zoe"]');
    await row.waitFor(WAIT);
    assert.match(await row.textContent(), /Secondary/);

    // The server has it, and the board shows the new member live.
    const { token } = await server.login(ADMIN.username, ADMIN.password);
    const m = await server.http('GET', '/api/admin/memberships?group=billing-l1&agent=zoe', { token });
    assert.equal(m.memberships.length, 1);
    assert.equal(m.memberships[0].handling.chat, 'secondary');
    await board.locator('#agent-grid tr[data-agent=zoe]').waitFor(WAIT);
    assert.match(await board.locator('#agent-grid tr[data-agent=zoe]').textContent(), /Zoe Zimmer/);

    await page.click('#tab-agents');
    await page.fill('#agents-q', '');
    await page.waitForFunction(() => document.querySelectorAll('[data-table=agents] tbody tr').length > 1, null, WAIT);
    await page.screenshot({ path: path.join(IMG, 'admin.png') });
  });
});

test('a refused change is said in words; the board links managers to the Admin page signed in', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    // The board's Admin link, for a manager, opens the page with the board's login.
    const page = await open('board.html');
    await loginThroughForm(page, MANAGER.username, MANAGER.password);
    await page.locator('body[data-watching=true]').waitFor(WAIT);
    await page.click('#admin-link');
    await page.waitForURL(/admin\.html/, WAIT);
    await page.locator('#workspace').waitFor({ state: 'visible', ...WAIT });
    assert.equal(await page.locator('#login').isVisible(), false, 'no second login');
    await page.locator('[data-table=agents][data-loaded=true]').waitFor(WAIT);

    // A manager may not create agents: the server refuses and the page says so.
    await page.click('[data-action=new-agent]');
    const dlg = page.locator('dialog[data-role=new-agent][open]');
    await dlg.waitFor(WAIT);
    await dlg.locator('input[name=id]').fill('yuri');
    await dlg.locator('input[name=name]').fill('Yuri Young');
    await dlg.locator('input[name=password]').fill('yuri-password-2026');
    await dlg.locator('button[data-action=submit]').click();
    const error = dlg.locator('[data-role=dialog-error]');
    await page.waitForFunction(() => document.querySelector('dialog[open] [data-role=dialog-error]')?.textContent, null, WAIT);
    const shown = (await error.textContent()).trim();
    const { token } = await server.login(MANAGER.username, MANAGER.password);
    const refused = await server.http('POST', '/api/admin/agents', {
      token, body: { id: 'yuri', name: 'Yuri Young', password: 'yuri-password-2026' },
    }).then(() => null, (e) => e);
    assert.ok(refused, 'the server refuses a manager creating an agent');
    assert.equal(refused.status, 403);
    assert.ok(shown.startsWith('Not allowed: '), `a refusal is called one: ${shown}`);
    assert.ok(shown.includes(refused.body.error.message), `the server's message is shown: ${shown}`);
    await assert.rejects(server.login('yuri', 'yuri-password-2026'), 'no agent was created');

    // Escape closes the dialog and gives the focus back to the button that opened it.
    await page.keyboard.press('Escape');
    await page.locator('dialog[open]').waitFor({ state: 'detached', ...WAIT });
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.action), 'new-agent');
  });
});

test('the Admin page at a phone width: no sideways scrolling, labelled rows, keyboard dialogs', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const page = await adminPage(open, ADMIN, { width: 375, height: 740 });
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(await overflow() <= 0, 'the agents tab fits the width');
    // Rows become cards whose cells say what they are.
    const label = await page.locator('[data-table=agents] tr[data-key=alice] td').first().evaluate((td) => getComputedStyle(td, '::before').content);
    assert.equal(label, '"Agent"');

    // The keyboard alone: arrows move between tabs, Enter opens and submits, Escape closes.
    await page.focus('#tab-agents');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'tab-groups');
    await page.locator('[data-table=groups] tr[data-key=billing-l1]').waitFor(WAIT);
    assert.ok(await overflow() <= 0, 'the groups tab fits the width');
    await page.locator('[data-table=groups] tr[data-key=billing-l1] [data-action=edit]').focus();
    await page.keyboard.press('Enter');
    const dlg = page.locator('dialog[data-role=edit-group][open]');
    await dlg.waitFor(WAIT);
    const box = await dlg.boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= 375, 'the dialog fits the width');
    await dlg.locator('input[name=no_response_ms]').fill('45');
    await dlg.locator('input[name=no_response_ms]').press('Enter');
    await dialogClosed(page);
    const { token } = await server.login(ADMIN.username, ADMIN.password);
    const g = await server.http('GET', '/api/admin/groups/billing-l1', { token });
    assert.equal(g.no_response_ms, 45000, 'the new timer is saved');
    await page.locator('[data-table=groups] tr[data-key=billing-l1]', { hasText: '45 s' }).waitFor(WAIT);
    // The focus is back on the row's Edit button, drawn anew with the saved group.
    await page.waitForFunction(() => document.activeElement?.dataset.action === 'edit'
      && document.activeElement.closest('tr')?.dataset.key === 'billing-l1', null, WAIT);
    await page.screenshot({ path: path.join(IMG, 'admin-phone.png') });

    // A channel's own settings alone (wrap-up, cross-channel capacity) are saved too.
    await page.locator('[data-table=groups] tr[data-key=billing-l1] [data-action=edit]').click();
    await dlg.waitFor(WAIT);
    await dlg.locator('input[name="channels.chat.wrap_up_ms"]').fill('30');
    await dlg.locator('input[name="channels.chat.blocked_by.voice"]').fill('1');
    await dlg.locator('input[name="channels.chat.blocked_by.voice"]').press('Enter');
    await dialogClosed(page);
    const saved = await server.http('GET', '/api/admin/groups/billing-l1', { token });
    assert.equal(saved.channels.chat.wrap_up_ms, 30000, 'the wrap-up is saved');
    assert.deepEqual(saved.channels.chat.blocked_by, { chat: 0, ticket: 0, voice: 1 }, 'a call in progress blocks new chats');
    assert.equal(saved.no_response_ms, 45000, 'the rest is unchanged');
  });
});

test('an admin makes an integration that may set presence; its key sets an agent\'s status', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const page = await adminPage(open, ADMIN);
    const dlg = await newIntegrationDialog(page);
    await dlg.locator('input[name=name]').fill('wfm');
    await dlg.locator('label', { hasText: 'Only these groups:' }).click();
    await dlg.locator('.group-checks label', { hasText: 'Billing L1' }).click();
    await dlg.locator('input[name=set_presence]').check();
    await dlg.locator('button[type=submit]').click();
    const keyInput = page.locator('dialog[open] [data-role=new-key]');
    await keyInput.waitFor(WAIT);
    const key = await keyInput.inputValue();
    assert.match(key, /^[0-9a-f]{64}$/);
    await page.keyboard.press('Escape');
    await page.locator('[data-table=integrations] tr[data-key=wfm]', { hasText: 'set agents’ status' }).waitFor(WAIT);

    // The key sets a member's status in its group, and nobody's outside it.
    const status = await server.http('PUT', '/api/agents/alice/status', { apiKey: key, body: { status: 'Lunch' } });
    assert.equal(status.status, 'Lunch');
    const { token } = await server.login(ADMIN.username, ADMIN.password);
    const saved = await server.http('GET', '/api/admin/integrations', { token });
    const wfm = saved.integrations.find((i) => i.name === 'wfm');
    assert.deepEqual([wfm.groups, wfm.set_presence, wfm.override_capacity], [['billing-l1'], true, false]);
  });
});

test('an integration\'s webhooks set on the Admin page; a failed delivery shows as a dead letter and is tried again', { skip: skipReason || false }, async (t) => {
  await withServer(t, async (server, open) => {
    const page = await adminPage(open, ADMIN);
    const dlg = await newIntegrationDialog(page);
    await dlg.locator('input[name=name]').fill('crm');
    await dlg.locator('label', { hasText: 'All groups' }).click();
    // Nothing listens on port 9 of loopback: every delivery fails.
    await dlg.locator('textarea[name=webhook_urls]').fill('http://127.0.0.1:9/hook');
    await dlg.locator('button[type=submit]').click();
    const secret = page.locator('dialog[open] [data-role=new-secret]');
    await secret.waitFor(WAIT);
    assert.ok((await secret.inputValue()).length >= 16, 'the drawn secret is shown once');
    await page.keyboard.press('Escape');
    await page.locator('[data-table=integrations] tr[data-key=crm]', { hasText: 'http://127.0.0.1:9/hook' }).waitFor(WAIT);

    // Work in its groups makes events; the one attempt fails; a dead letter.
    await server.createWork({ group: 'billing-l1', title: 'refund' });
    const { token } = await server.login(ADMIN.username, ADMIN.password);
    const deadline = Date.now() + WAIT.timeout;
    while ((await server.http('GET', '/api/admin/integrations/crm/dead-letters', { token })).dead_letters.length === 0) {
      assert.ok(Date.now() < deadline, 'a dead letter within the wait');
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.locator('[data-table=integrations] tr[data-key=crm] [data-action=dead-letters]').click();
    const letters = page.locator('dialog[data-role=dead-letters][open]');
    await letters.waitFor(WAIT);
    await letters.locator('td', { hasText: 'http://127.0.0.1:9/hook' }).first().waitFor(WAIT);
    await letters.locator('button[type=submit]').click();
    await dialogClosed(page);
    const after = await server.http('GET', '/api/admin/integrations/crm/dead-letters', { token });
    assert.ok(after.dead_letters.length > 0, 'still failing, still listed');
  }, ['--webhook-attempts', '1']);
});
