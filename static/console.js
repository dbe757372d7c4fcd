// Agent console (index.html): login, Active Groups, availability, my work, my
// groups' live queues with Take, sounds and title count, connection state;
// visitor chats (thread and reply box), ringing calls (Answer / Decline),
// Transfer, and notices when work is taken from me.
// Speaks only docs/protocol.md through switchboard.js.

import {
  CHANNELS, CHANNEL_LABELS, CHANNEL_NOUNS, SwitchboardClient, savedSession, clearSession, logout,
  wireLoginForm, stateLabel, initials, formatDuration, spokenDuration, el,
} from './switchboard.js';
import { openActiveGroups } from './active-groups.js';

const $ = (sel, root = document) => root.querySelector(sel);
const DIALOG_SHOWN_KEY = 'switchboard.activeGroupsShownFor';
const MUTE_KEY = 'switchboard.muted';
const TAKE_NOTICE_MS = 10000;
const NOTICE_MS = 12000;
const RING_EVERY_MS = 2000;
const APP_TITLE = 'Switchboard';

/** Everything the page knows; rebuilt from each `welcome`. */
const state = {
  session: null, // {token, agent}
  client: null,
  me: null, // welcome.agent
  status: null, // last AgentStatus of myself
  statuses: [], // welcome.statuses: what the status menu offers
  groups: [], // welcome.groups, cells kept current from agent_status pushes
  work: new Map(), // item id -> Item I hold
  queues: new Map(), // group id -> Map(item id -> Item)
  takeNotices: new Map(), // item id -> {item, text, until}
  pendingTakes: new Set(),
  dialog: null,
  chats: new Map(), // item id -> {messages: [Message…], keys: Set, loaded: bool}
  movedByMe: new Set(), // item ids I transferred or declined myself (no "taken from you" notice)
  ringTimer: null,
  transfer: null, // the open Transfer dialog {item, dialog}
};

const isRinging = (it) => it.channel === 'voice' && it.state === 'assigned';

/**
 * Actions on an item of "My work". Each is {id, label, when(item), run(item)}.
 * Transfer lives in the row's transfer slot (see workRow).
 */
const WORK_ACTIONS = [
  { id: 'accept', label: 'Accept', primary: true, when: (it) => it.state === 'assigned' && it.channel !== 'voice', run: (it) => itemRequest('accept', it) },
  { id: 'answer', label: 'Answer', primary: true, when: isRinging, run: (it) => itemRequest('answer', it) },
  { id: 'decline', label: 'Decline', when: isRinging, run: (it) => itemRequest('decline', it) },
  { id: 'close', label: 'Close', when: (it) => !isRinging(it) && (it.state === 'assigned' || it.state === 'active'), run: (it) => itemRequest('close', it) },
];

// ---------------------------------------------------------------- start

document.addEventListener('DOMContentLoaded', () => {
  wireLoginForm($('#login-form'), (session) => start(session, { fresh: true }));
  wireChrome();
  const saved = savedSession();
  if (saved) start(saved, { fresh: false });
  else showLogin();
  setInterval(tick, 1000);
});

function showLogin(message = '') {
  $('#login').hidden = false;
  $('#workspace').hidden = true;
  $('#signed-in').hidden = true;
  if (message) $('#login-form [data-role=login-error]').textContent = message;
  $('#username').focus();
  setConn('closed');
  updateTitle();
}

function start(session, { fresh }) {
  state.session = session;
  if (fresh) sessionStorage.removeItem(DIALOG_SHOWN_KEY);
  unlockAudio();
  $('#login').hidden = true;
  $('#workspace').hidden = false;
  $('#signed-in').hidden = false;
  renderMe(session.agent);
  const client = new SwitchboardClient({ token: session.token, agentId: session.agent?.id });
  state.client = client;
  client.onState((s) => setConn(s));
  client.on('welcome', onWelcome);
  // An administrator changed this agent's groups: the whole view again.
  client.on('groups_changed', onWelcome);
  client.on('agent_status', onAgentStatus);
  client.on('item', onItemPush);
  client.on('queue', onQueuePush);
  client.on('message', onMessagePush);
  client.on('closing', (f) => {
    if (f.reason === 'slow_consumer') showError('The server dropped the connection because it fell behind; reconnecting.');
    if (f.reason === 'server_going_away') showError('The server is restarting; reconnecting.');
    if (f.reason === 'cut_off') showError('This server lost touch with the others; reconnecting.');
  });
  client.on('unmatched', (f) => { if (f.type === 'error') showError(f.message || f.code); });
  client.on('unauthorized', () => {
    stop();
    clearSession();
    showLogin('Your session has ended. Please sign in again.');
  });
  client.connect();
}

function stop() {
  state.client?.close();
  state.client = null;
  state.dialog?.close();
  state.transfer?.dialog.close();
  state.work.clear();
  state.chats.clear();
  state.movedByMe.clear();
  updateRing();
  renderChats();
  state.queues.clear();
  state.takeNotices.clear();
  state.pendingTakes.clear();
  state.groups = [];
  state.status = null;
  state.me = null;
}

// ---------------------------------------------------------------- pushes

function onWelcome(w) {
  state.me = w.agent;
  state.statuses = w.statuses || [];
  state.groups = (w.groups || []).map((g) => ({ ...g, cells: { ...g.cells } }));
  state.work = new Map((w.work || []).map((it) => [it.id, it]));
  state.queues = new Map(state.groups.map((g) => [g.id, new Map()]));
  for (const it of w.queues || []) queueOf(it.group).set(it.id, it);
  // A reload in the middle of a visitor chat: its conversation comes back.
  for (const c of w.chats || []) {
    addChatMessages(c.item, c.messages || []);
    chatOf(c.item).loaded = true;
  }
  state.status = {
    ...(state.status || {}),
    agent: w.agent.id,
    available: w.agent.available,
    receiving: anyOn(state.groups),
  };
  renderMe(w.agent);
  renderAvailability();
  renderBanner();
  renderWorkState();
  renderWork();
  renderQueues();
  if (state.dialog?.isOpen) state.dialog.update(state.groups);
  // The product opens Active Groups at once on login (not on a reload or reconnect).
  if (sessionStorage.getItem(DIALOG_SHOWN_KEY) !== state.session.token) {
    sessionStorage.setItem(DIALOG_SHOWN_KEY, state.session.token);
    openDialog();
  }
}

function onAgentStatus({ status }) {
  if (!state.me || status.agent !== state.me.id) return;
  applyMyStatus(status);
}

function applyMyStatus(status) {
  state.status = status;
  state.me.available = status.available;
  state.me.status = status.status;
  state.me.wrap_up = status.wrap_up || {};
  for (const c of status.cells || []) {
    const g = state.groups.find((x) => x.id === c.group);
    if (g) g.cells[c.channel] = c.state;
  }
  renderAvailability();
  renderBanner();
  renderWorkState();
  renderQueueHeads();
  if (state.dialog?.isOpen) state.dialog.update(state.groups);
  if (status.change?.what === 'active' && status.change.by && status.change.by !== state.me.id) {
    announce(`Your active groups were changed by ${status.change.by}.`);
  }
  const byOther = status.change?.by && status.change.by !== state.me.id;
  if (['status', 'availability'].includes(status.change?.what) && byOther) {
    announce(`Your status was set to ${status.status} by ${status.change.by}.`);
  }
}

function onItemPush({ item, reason }) {
  if (!state.me) return;
  const mine = item.assignee === state.me.id && item.state !== 'closed';
  const had = state.work.get(item.id);
  if (mine) {
    state.work.set(item.id, item);
    state.movedByMe.delete(item.id);
    if (!had && isRinging(item)) {
      announce(`Incoming call: ${item.title || `#${item.id}`}.`);
    } else if (!had && (reason === 'routed' || reason === 'drained' || reason === 'handed_off')) {
      beep();
      announce(`New ${CHANNEL_NOUNS[item.channel].toLowerCase()} assigned to you: ${item.title || `#${item.id}`}.`);
    } else if (reason === 'visitor_left') {
      announce(`The visitor of chat #${item.id} closed the page.`);
    } else if (!had && reason === 'transferred') {
      beep();
      const h = lastTransfer(item);
      showNotice(`${CHANNEL_NOUNS[item.channel]} #${item.id} was transferred to you${h?.by_name || h?.by ? ` by ${h.by_name || h.by}` : ''}.`, 'transferred-in');
    }
  } else {
    state.work.delete(item.id);
    const byMe = state.movedByMe.delete(item.id);
    if (had && !byMe) {
      const noun = CHANNEL_NOUNS[item.channel];
      const who = item.assignee_name || item.assignee;
      if (reason === 'taken' && item.assignee) {
        showError(`${noun} #${item.id} was taken by ${who}.`);
      } else if (reason === 'taken_over') {
        showNotice(`${noun} #${item.id} was taken over by ${who || 'a manager'}.`, 'taken-over');
      } else if (reason === 'handed_off') {
        const why = item.history?.[item.history.length - 1]?.why;
        const because = why === 'disconnected' ? 'you were away too long' : why === 'logged_out' ? 'you were logged out before accepting it' : why === 'ring_timeout' ? 'it was not answered in time' : 'it was not accepted in time';
        showNotice(`${noun} #${item.id} went ${who ? `to ${who}` : 'back to the queue'} because ${because}.`, 'handed-off');
      } else if (reason === 'transferred') {
        const h = lastTransfer(item);
        showNotice(`${noun} #${item.id} was transferred ${who ? `to ${who}` : `to ${groupName(item.group)}`}${h?.by_name ? ` by ${h.by_name}` : ''}.`, 'transferred-out');
      } else if (reason === 'closed' && item.state === 'closed') {
        showNotice(`${noun} #${item.id} was closed by someone else.`, 'closed');
      }
    }
  }
  // An item I hold is no longer queued anywhere.
  if (item.state !== 'queued') queueOf(item.group).delete(item.id);
  renderWork();
  renderQueues();
}

function onMessagePush({ item, message }) {
  if (!message) return;
  addChatMessages(item, [message]);
  const it = state.work.get(item);
  if (it && message.from === 'visitor' && document.hidden) beep();
  renderChats();
}

function onQueuePush({ op, item, sound }) {
  const q = queueOf(item.group);
  if (op === 'added') {
    q.set(item.id, item);
    if (sound) {
      beep();
      announce(`New ${CHANNEL_NOUNS[item.channel].toLowerCase()} waiting in ${groupName(item.group)}.`);
    }
  } else if (op === 'updated') {
    if (q.has(item.id)) q.set(item.id, item);
  } else if (op === 'removed') {
    q.delete(item.id);
  }
  renderQueues();
}

// ---------------------------------------------------------------- requests

async function itemRequest(type, item) {
  if (type === 'close' || type === 'decline') state.movedByMe.add(item.id);
  try {
    const updated = await state.client.request(type, { item: item.id });
    if (type === 'accept' && Array.isArray(updated?.messages)) {
      addChatMessages(item.id, updated.messages);
      chatOf(item.id).loaded = true;
    }
    if (updated && updated.id) {
      if (updated.state === 'closed' || updated.assignee !== state.me.id) state.work.delete(updated.id);
      else state.work.set(updated.id, updated);
      renderWork();
    }
  } catch (e) {
    state.movedByMe.delete(item.id);
    showError(e.message);
  }
}

async function take(item) {
  if (state.pendingTakes.has(item.id)) return;
  state.pendingTakes.add(item.id);
  renderQueues();
  try {
    const got = await state.client.request('take', { item: item.id });
    queueOf(item.group).delete(item.id);
    if (got && got.id) state.work.set(got.id, got);
    announce(`You took ${CHANNEL_NOUNS[item.channel].toLowerCase()} #${item.id}.`);
  } catch (e) {
    if (e.code === 'already_taken') {
      const who = e.details?.winner_name || e.details?.winner || 'someone else';
      queueOf(item.group).delete(item.id);
      state.takeNotices.set(item.id, { item, text: `Taken by ${who}`, until: Date.now() + TAKE_NOTICE_MS });
      announce(`${CHANNEL_NOUNS[item.channel]} #${item.id} was taken by ${who}.`);
    } else {
      showError(e.message);
    }
  } finally {
    state.pendingTakes.delete(item.id);
    renderWork();
    renderQueues();
  }
}

async function setStatus(name) {
  const select = $('#status');
  select.disabled = true;
  try {
    const status = await state.client.request('set_status', { status: name });
    if (status && status.agent) applyMyStatus(status);
  } catch (e) {
    showError(e.message);
    renderAvailability();
  } finally {
    select.disabled = false;
  }
}

async function ready() {
  const btn = $('#work-state [data-action=ready]');
  btn.disabled = true;
  try {
    const status = await state.client.request('ready', {});
    if (status && status.agent) applyMyStatus(status);
  } catch (e) {
    showError(e.message);
  } finally {
    btn.disabled = false;
  }
}

const CHANNEL_PLURALS = { chat: 'chats', ticket: 'tickets', voice: 'calls' };

/**
 * Not Responding and wrap-up, said plainly with one button to be ready:
 * both keep new work away until the agent acts or the countdown ends.
 */
function renderWorkState() {
  const box = $('#work-state');
  if (!state.me) { box.hidden = true; return; }
  const now = state.client ? state.client.now() : Date.now();
  const wraps = Object.entries(state.me.wrap_up || {}).filter(([, until]) => until > now);
  let text = '';
  if (state.me.status === 'Not Responding') {
    box.dataset.kind = 'not-responding';
    text = 'Not Responding: offers ran out without an answer, so you get no new work until you are ready.';
  } else if (wraps.length) {
    box.dataset.kind = 'wrap-up';
    text = `Wrap-up: ${wraps.map(([ch, until]) => `no new ${CHANNEL_PLURALS[ch] || ch} for ${formatDuration(until - now)}`).join(', ')}.`;
  }
  const kind = text ? box.dataset.kind : '';
  // Said once when it starts (the countdown itself is not read every second).
  if (kind && kind !== state.workStateKind) {
    announce(kind === 'not-responding' ? 'You are Not Responding: no new work until you are ready.' : 'Wrap-up started.');
  }
  state.workStateKind = kind;
  box.hidden = !text;
  const node = box.querySelector('[data-role=work-state-text]');
  if (node.textContent !== text) node.textContent = text;
}

async function setAvailability(available) {
  const btn = $('#availability');
  btn.disabled = true;
  try {
    const status = await state.client.request('set_availability', { available });
    if (status && status.agent) applyMyStatus(status);
  } catch (e) {
    showError(e.message);
  } finally {
    btn.disabled = false;
  }
}

function openDialog() {
  if (!state.me) return;
  state.dialog = openActiveGroups({
    title: 'Active Groups',
    description: 'Tick a box to receive that kind of work from the group. N/A: not offered in this group.',
    groups: state.groups,
    onSubmit: async (cells) => {
      const status = await state.client.request('set_active', { cells });
      if (status && status.agent) applyMyStatus(status);
    },
    onClose: () => { state.dialog = null; },
  });
}

// ---------------------------------------------------------------- rendering

function renderMe(agent) {
  if (!agent) return;
  $('#me [data-role=initials]').textContent = initials(agent.name || agent.id);
  $('#me [data-role=me-label]').textContent = `Account menu for ${agent.name || agent.id}`;
  $('#me').title = agent.name || agent.id;
  $('[data-role=me-name]').textContent = agent.name || agent.id;
}

function renderAvailability() {
  const on = !!state.me?.available;
  const btn = $('#availability');
  btn.setAttribute('aria-checked', String(on));
  btn.dataset.on = String(on);
  const name = state.me?.status || (on ? 'Available' : 'Unavailable');
  $('[data-role=availability-label]').textContent = name;
  renderStatusMenu(name);
}

/** The status menu: the help desk's statuses, the current one chosen. */
function renderStatusMenu(current) {
  const select = $('#status');
  const names = (state.statuses || []).map((s) => s.name);
  if (select.dataset.names !== names.join('\n')) {
    select.replaceChildren(...(state.statuses || []).map((s) => el('option', {
      value: s.name,
      text: s.takes_chats || s.name === 'Available' ? s.name : `${s.name} (no new chats)`,
    })));
    select.dataset.names = names.join('\n');
  }
  if (!names.includes(current)) {
    // A reason an admin has since removed: still shown until changed.
    select.append(el('option', { value: current, text: current }));
    select.dataset.names = '';
  }
  select.value = current;
}

function renderBanner() {
  const loggedIn = !!state.me;
  const receiving = state.status?.receiving ?? anyOn(state.groups);
  $('#receiving-banner').hidden = !loggedIn || receiving;
}

function renderWork() {
  const lists = $('[data-role=work-lists]');
  const focusedKey = document.activeElement?.dataset?.focusKey;
  lists.replaceChildren();
  const items = [...state.work.values()].sort((a, b) => (a.assigned_at ?? a.created_at) - (b.assigned_at ?? b.created_at));
  for (const ch of CHANNELS) {
    const mine = items.filter((it) => it.channel === ch);
    if (mine.length === 0) continue;
    const headingId = `work-${ch}`;
    lists.append(
      el('h3', { id: headingId, class: 'list-head', text: { chat: 'Chats', ticket: 'Tickets', voice: 'Calls' }[ch] }),
      el('ul', { class: 'items', 'aria-labelledby': headingId }, mine.map(workRow)),
    );
  }
  $('[data-role=work-empty]').hidden = items.length > 0;
  $('[data-role=work-count]').textContent = items.length ? `(${items.length})` : '';
  if (focusedKey) lists.querySelector(`[data-focus-key="${focusedKey}"]`)?.focus();
  updateTitle();
  tickTimers();
  updateRing();
  renderChats();
}

function workRow(it) {
  const awaiting = it.state === 'assigned';
  const actions = el('div', { class: 'item-actions', role: 'group', 'aria-label': `Actions for ${itemLabel(it)}` });
  for (const a of WORK_ACTIONS) {
    if (!a.when(it)) continue;
    actions.append(el('button', {
      type: 'button',
      class: `btn small${a.primary ? ' primary' : ''}`,
      'data-action': a.id,
      'data-focus-key': `${a.id}-${it.id}`,
      'aria-label': `${a.label} ${itemLabel(it)}`,
      text: a.label,
      onclick: () => a.run(it),
    }));
  }
  const slot = el('span', { class: 'transfer-slot', 'data-slot': 'transfer' });
  if (!isRinging(it)) {
    slot.append(el('button', {
      type: 'button',
      class: 'btn small',
      'data-action': 'transfer',
      'data-focus-key': `transfer-${it.id}`,
      'aria-label': `Transfer ${itemLabel(it)}`,
      'aria-haspopup': 'dialog',
      text: 'Transfer…',
      onclick: () => openTransfer(it),
    }));
  }
  actions.append(slot);
  const ringing = isRinging(it);
  const h = lastTransfer(it);
  const stateText = ringing ? 'Incoming call' : awaiting ? 'Awaiting accept' : 'Active';
  return el('li', { class: `item${awaiting ? ' attention' : ''}${ringing ? ' ringing' : ''}`, 'data-item': it.id, 'data-state': it.state },
    el('div', { class: 'item-main' },
      el('span', { class: `chan chan-${it.channel}`, text: CHANNEL_NOUNS[it.channel] }),
      el('span', { class: 'item-title', text: it.title || `#${it.id}` }),
      el('span', { class: 'item-meta' },
        `#${it.id} · ${groupName(it.group)}${it.priority ? ` · priority ${it.priority}` : ''} · `,
        el('span', { class: 'state', text: stateText }),
        ' · ',
        el('span', { class: 'timer', 'data-since': it.created_at, title: 'Time since the work was created' })),
      h ? el('span', { class: 'item-note', 'data-role': 'transfer-note',
        text: `transferred by ${h.by_name || h.by || 'someone'}${h.note ? `: ${h.note}` : ''}` }) : null,
      it.visitor_left_at ? el('span', { class: 'item-note visitor-left', 'data-role': 'visitor-left',
        text: 'The visitor has closed the chat page (they may come back)' }) : null,
    ),
    actions,
  );
}

/** Queue rows rendered above and below the ones scrolled into view. */
const QUEUE_OVERSCAN = 6;

/**
 * The queue lists on the page: per group its section, its scroll box and its
 * list, kept across renders so that a push redraws only the rows in view and
 * a list keeps its scroll position. `key` names the groups the sections were
 * built for (a welcome may change them).
 */
const queueView = { frame: 0, key: '', groups: new Map() };

/**
 * The queues changed: the title count now (a hidden tab shows it), the lists
 * at the next animation frame, once however many pushes arrived meanwhile.
 */
function renderQueues() {
  updateTitle();
  if (!queueView.frame) queueView.frame = requestAnimationFrame(drawQueues);
}

function drawQueues() {
  queueView.frame = 0;
  const root = $('[data-role=queue-groups]');
  // Drop expired "Taken by" notices.
  const now = Date.now();
  for (const [id, n] of state.takeNotices) if (n.until <= now) state.takeNotices.delete(id);
  const focusedKey = document.activeElement?.dataset?.focusKey;
  $('[data-role=queues-empty]').hidden = state.groups.length > 0;
  const groups = sortedGroups();
  const key = groups.map((g) => g.id).join('\n');
  if (key !== queueView.key) {
    queueView.key = key;
    queueView.groups.clear();
    root.replaceChildren();
    for (const g of groups) {
      const v = queueSection(g);
      queueView.groups.set(g.id, v);
      root.append(v.section);
    }
  }
  for (const g of groups) drawQueueGroup(g, queueView.groups.get(g.id));
  if (focusedKey && !document.activeElement?.isConnected) {
    root.querySelector(`[data-focus-key="${focusedKey}"]`)?.focus();
  }
  updateTitle();
}

function queueSection(g) {
  const headingId = `q-${cssId(g.id)}`;
  const count = el('span', { class: 'count', 'data-role': 'queue-count' });
  const list = el('ul', { class: 'items', 'aria-labelledby': headingId });
  const scroller = el('div', { class: 'queue-scroll' }, list);
  const empty = el('p', { class: 'empty small', text: 'No one waiting.' });
  const section = el('section', { class: 'queue-group', 'data-group': g.id, 'aria-labelledby': headingId },
    el('div', { class: 'queue-head' },
      el('h3', { id: headingId },
        g.name || g.id,
        el('span', { class: 'dept', text: g.department ? ` · ${g.department}` : '' }),
        count),
      cellChips(g)),
    scroller,
    empty);
  const v = { section, count, scroller, list, empty, rowH: 0 };
  scroller.addEventListener('scroll', () => {
    if (!v.scrollFrame) v.scrollFrame = requestAnimationFrame(() => { v.scrollFrame = 0; drawQueueGroup(v.group, v); });
  }, { passive: true });
  return v;
}

/**
 * Redraws one group's list: the "Taken by" notices, then of the queued items
 * only those scrolled into view (plus {@link QUEUE_OVERSCAN}), between two
 * spacers that keep the scroll height of the whole queue.
 */
function drawQueueGroup(g, v) {
  v.group = g;
  const items = [...queueOf(g.id).values()].sort(queueOrder);
  const notices = [...state.takeNotices.values()].filter((n) => n.item.group === g.id);
  v.count.textContent = ` (${items.length} waiting)`;
  v.section.querySelector('.chips').replaceWith(cellChips(g));
  const any = items.length > 0 || notices.length > 0;
  v.scroller.hidden = !any;
  v.empty.hidden = any;
  const rowH = v.rowH || 56;
  const first = Math.max(0, Math.floor(v.scroller.scrollTop / rowH) - QUEUE_OVERSCAN);
  const count = Math.ceil((v.scroller.clientHeight || 480) / rowH) + 2 * QUEUE_OVERSCAN;
  const shown = items.slice(first, first + count);
  const rows = shown.map((it) => queueRow(it, g));
  const above = el('li', { class: 'spacer', 'aria-hidden': 'true' });
  const below = el('li', { class: 'spacer', 'aria-hidden': 'true' });
  above.style.height = `${first * rowH}px`;
  below.style.height = `${Math.max(0, items.length - first - shown.length) * rowH}px`;
  v.list.replaceChildren(
    ...notices.map((n) => el('li', { class: 'item taken', 'data-item': n.item.id },
      el('div', { class: 'item-main' },
        el('span', { class: `chan chan-${n.item.channel}`, text: CHANNEL_NOUNS[n.item.channel] }),
        el('span', { class: 'item-title', text: n.item.title || `#${n.item.id}` }),
        el('span', { class: 'item-meta', 'data-role': 'taken-by', text: n.text })))),
    above,
    ...rows,
    below);
  tickTimers(v.list);
  // The row pitch (height and gap), measured once rows are laid out.
  if (rows.length > 1 && !v.rowH && v.scroller.offsetParent) {
    const pitch = (rows[rows.length - 1].getBoundingClientRect().top - rows[0].getBoundingClientRect().top) / (rows.length - 1);
    v.rowH = Math.max(24, pitch);
    if (Math.abs(v.rowH - rowH) > 1) drawQueueGroup(g, v);
  }
}

function renderQueueHeads() {
  for (const g of state.groups) {
    const sec = document.querySelector(`.queue-group[data-group="${CSS.escape(g.id)}"] .chips`);
    if (sec) sec.replaceWith(cellChips(g));
  }
}

function cellChips(g) {
  const wrap = el('ul', { class: 'chips', 'aria-label': `Your status in ${g.name || g.id}` });
  for (const ch of CHANNELS) {
    const s = g.cells?.[ch] ?? 'na';
    const pull = g.distribution?.[ch] === 'pull';
    const text = s === 'na' ? 'N/A' : s === 'on' ? 'active' : 'inactive';
    wrap.append(el('li', { class: `chip chip-${s}`, 'data-channel': ch, 'data-state': s },
      `${CHANNEL_LABELS[ch]}: ${text}${pull && s !== 'na' ? ' (pick from queue)' : ''}`));
  }
  return wrap;
}

function queueRow(it, g) {
  const pending = state.pendingTakes.has(it.id);
  const label = itemLabel(it);
  return el('li', { class: 'item', 'data-item': it.id },
    el('div', { class: 'item-main' },
      el('span', { class: `chan chan-${it.channel}`, text: CHANNEL_NOUNS[it.channel] }),
      el('span', { class: 'item-title', text: it.title || `#${it.id}` }),
      el('span', { class: 'item-meta' },
        `#${it.id}${it.priority ? ` · priority ${it.priority}` : ''} · waiting `,
        el('span', { class: 'timer', 'data-since': it.created_at }))),
    el('div', { class: 'item-actions' },
      el('button', {
        type: 'button',
        class: 'btn small',
        'data-action': 'take',
        'data-focus-key': `take-${it.id}`,
        'aria-label': `Take ${label} from ${g.name || g.id}`,
        disabled: pending,
        text: pending ? 'Taking…' : 'Take',
        onclick: () => take(it),
      })),
  );
}

/** Updates the wait timers in the DOM under `root`: only the rows on screen exist there. */
function tickTimers(root = document) {
  const now = state.client ? state.client.now() : Date.now();
  for (const node of root.querySelectorAll('[data-since]')) {
    const ms = now - Number(node.dataset.since);
    node.textContent = formatDuration(ms);
    node.setAttribute('aria-label', spokenDuration(ms));
  }
}

function tick() {
  if (!state.client) return;
  tickTimers();
  renderWorkState();
  if ([...state.takeNotices.values()].some((n) => n.until <= Date.now())) renderQueues();
}

function updateTitle() {
  let n = 0;
  for (const it of state.work.values()) if (it.state === 'assigned') n += 1;
  for (const g of state.groups) {
    for (const it of queueOf(g.id).values()) {
      if (g.distribution?.[it.channel] === 'pull' && g.cells?.[it.channel] !== 'na') n += 1;
    }
  }
  document.title = n > 0 ? `(${n}) ${APP_TITLE}` : APP_TITLE;
}

// ---------------------------------------------------------------- chrome: menu, mute, errors, connection

function wireChrome() {
  const me = $('#me');
  const menu = $('#me-menu');
  const items = () => [...menu.querySelectorAll('[role=menuitem]')];
  const closeMenu = (focusButton = false) => {
    menu.hidden = true;
    me.setAttribute('aria-expanded', 'false');
    if (focusButton) me.focus();
  };
  const openMenu = () => {
    menu.hidden = false;
    me.setAttribute('aria-expanded', 'true');
    items()[0]?.focus();
  };
  me.addEventListener('click', () => (menu.hidden ? openMenu() : closeMenu()));
  me.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown') { ev.preventDefault(); openMenu(); }
  });
  menu.addEventListener('keydown', (ev) => {
    const list = items();
    const i = list.indexOf(document.activeElement);
    if (ev.key === 'Escape') { ev.preventDefault(); closeMenu(true); }
    else if (ev.key === 'ArrowDown') { ev.preventDefault(); list[(i + 1) % list.length].focus(); }
    else if (ev.key === 'ArrowUp') { ev.preventDefault(); list[(i - 1 + list.length) % list.length].focus(); }
    else if (ev.key === 'Tab') closeMenu();
  });
  document.addEventListener('click', (ev) => {
    if (!menu.hidden && !menu.contains(ev.target) && !me.contains(ev.target)) closeMenu();
  });
  document.addEventListener('click', (ev) => {
    const action = ev.target.closest?.('[data-action]')?.dataset.action;
    if (action === 'active-groups') { closeMenu(); openDialog(); }
    if (action === 'logout') { closeMenu(); doLogout(); }
  });

  $('#availability').addEventListener('click', () => setAvailability(!state.me?.available));
  $('#status').addEventListener('change', (e) => setStatus(e.target.value));
  $('#work-state [data-action=ready]').addEventListener('click', ready);

  const mute = $('#mute');
  const renderMute = () => {
    const muted = isMuted();
    mute.setAttribute('aria-pressed', String(muted));
    mute.title = muted ? 'Sounds are off (click to turn on)' : 'Sounds are on (click to mute)';
    mute.dataset.muted = String(muted);
    $('[data-role=mute-label]', mute).textContent = 'Mute sounds';
  };
  mute.addEventListener('click', () => {
    try { localStorage.setItem(MUTE_KEY, isMuted() ? '0' : '1'); } catch { /* ignore */ }
    renderMute();
    unlockAudio();
  });
  renderMute();
  // Browsers start audio only after a user gesture: unlock on the first one.
  document.addEventListener('pointerdown', unlockAudio, { once: true });
  document.addEventListener('keydown', unlockAudio, { once: true });
}

async function doLogout() {
  const token = state.session?.token;
  stop();
  sessionStorage.removeItem(DIALOG_SHOWN_KEY);
  await logout(token);
  showLogin();
}

function setConn(s) {
  const node = $('#conn');
  node.dataset.state = s;
  node.textContent = stateLabel(s);
}

function showError(message) {
  const box = $('#errors');
  const note = el('div', { class: 'error-note' },
    el('span', { text: message }),
    el('button', { type: 'button', class: 'link-btn', 'aria-label': 'Dismiss message', text: 'Dismiss', onclick: () => note.remove() }));
  box.append(note);
  setTimeout(() => note.remove(), 10000);
}

function announce(text) {
  const a = $('#announcer');
  a.textContent = '';
  setTimeout(() => { a.textContent = text; }, 30);
}

// ---------------------------------------------------------------- sound

let audioCtx = null;
function isMuted() {
  try { return localStorage.getItem(MUTE_KEY) === '1'; } catch { return false; }
}
function unlockAudio() {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!audioCtx) audioCtx = new Ctx();
    if (audioCtx.state === 'suspended') audioCtx.resume().catch(() => {});
  } catch { /* no audio */ }
}
/** A short two-tone beep; silent when muted or audio is not allowed yet. */
function beep() {
  document.body.dataset.lastBeep = String(Date.now()); // observable by tests
  if (isMuted() || !audioCtx || audioCtx.state !== 'running') return;
  const t = audioCtx.currentTime;
  for (const [freq, at] of [[880, 0], [1175, 0.12]]) {
    const osc = audioCtx.createOscillator();
    const gain = audioCtx.createGain();
    osc.type = 'sine';
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, t + at);
    gain.gain.exponentialRampToValueAtTime(0.15, t + at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + at + 0.11);
    osc.connect(gain).connect(audioCtx.destination);
    osc.start(t + at);
    osc.stop(t + at + 0.12);
  }
}

// ---------------------------------------------------------------- helpers

function queueOf(group) {
  if (!state.queues.has(group)) state.queues.set(group, new Map());
  return state.queues.get(group);
}
function queueOrder(a, b) { return (b.priority ?? 0) - (a.priority ?? 0) || a.created_at - b.created_at || a.id - b.id; }
function sortedGroups() {
  return [...state.groups].sort((a, b) =>
    (a.department || '').localeCompare(b.department || '') || (a.name || a.id).localeCompare(b.name || b.id));
}
function groupName(id) { return state.groups.find((g) => g.id === id)?.name || id; }
function itemLabel(it) { return `${CHANNEL_NOUNS[it.channel].toLowerCase()} #${it.id}${it.title ? ` “${it.title}”` : ''}`; }
function anyOn(groups) { return groups.some((g) => CHANNELS.some((c) => g.cells?.[c] === 'on')); }
function cssId(s) { return String(s).replace(/[^a-zA-Z0-9_-]/g, '_'); }


// ---------------------------------------------------------------- notices

/** A short notice about my work (not an error), dismissed after a while. */
function showNotice(message, kind = '') {
  const box = $('#notices');
  const note = el('div', { class: 'info-note', 'data-role': 'work-notice', 'data-kind': kind },
    el('span', { text: message }),
    el('button', { type: 'button', class: 'link-btn', 'aria-label': 'Dismiss notice', text: 'Dismiss', onclick: () => note.remove() }));
  box.append(note);
  announce(message);
  setTimeout(() => note.remove(), NOTICE_MS);
}

/** The last change of hands of an item when it was a transfer, else null. */
function lastTransfer(it) {
  const h = it.history?.[it.history.length - 1];
  return h && h.why === 'transferred' ? h : null;
}

// ---------------------------------------------------------------- calls: ringing

/** Rings (a repeating beep) while one of my calls is ringing; `beep` is silent when muted. */
function updateRing() {
  const ringing = [...state.work.values()].some(isRinging);
  if (ringing && !state.ringTimer) {
    beep();
    state.ringTimer = setInterval(beep, RING_EVERY_MS);
  } else if (!ringing && state.ringTimer) {
    clearInterval(state.ringTimer);
    state.ringTimer = null;
  }
  if (ringing) document.body.dataset.ringing = 'true';
  else delete document.body.dataset.ringing;
}

// ---------------------------------------------------------------- chats

function chatOf(id) {
  if (!state.chats.has(id)) state.chats.set(id, { messages: [], keys: new Set(), loaded: false });
  return state.chats.get(id);
}

/** Adds messages to a chat's thread, once each (an echo or a replay shows nothing twice). */
function addChatMessages(id, messages) {
  const c = chatOf(id);
  for (const m of messages) {
    const key = `${m.at}|${m.from}|${m.text}`;
    if (c.keys.has(key)) continue;
    c.keys.add(key);
    c.messages.push(m);
  }
  c.messages.sort((a, b) => a.at - b.at);
}

/** The chat panels: one per chat I hold, updated in place so that a draft and focus survive pushes. */
function renderChats() {
  const root = $('[data-role=chat-panels]');
  if (!root) return;
  const chats = [...state.work.values()].filter((it) => it.channel === 'chat')
    .sort((a, b) => (a.assigned_at ?? a.created_at) - (b.assigned_at ?? b.created_at));
  const ids = new Set(chats.map((it) => String(it.id)));
  for (const panel of [...root.children]) if (!ids.has(panel.dataset.chat)) panel.remove();
  for (const id of [...state.chats.keys()]) if (!ids.has(String(id))) state.chats.delete(id);
  for (const it of chats) {
    let panel = root.querySelector(`[data-chat="${it.id}"]`);
    if (!panel) {
      panel = chatPanel(it);
      root.append(panel);
    }
    updateChatPanel(panel, it);
  }
  $('#chats').hidden = chats.length === 0;
}

function chatPanel(it) {
  const titleId = `chat-${it.id}-title`;
  const input = el('input', { 'data-role': 'chat-input', autocomplete: 'off', maxlength: 2000, 'aria-label': `Reply in chat #${it.id}`, placeholder: 'Type a reply' });
  const form = el('form', { class: 'compose', 'data-role': 'chat-compose', novalidate: true },
    input, el('button', { type: 'submit', class: 'btn primary', 'data-action': 'send', text: 'Send' }));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); sendChat(it.id, input, form); });
  return el('section', { class: 'chat-panel', 'data-chat': it.id, 'aria-labelledby': titleId },
    el('h3', { id: titleId, 'data-role': 'chat-title' }),
    el('ol', { class: 'transcript', 'data-role': 'thread', 'aria-live': 'polite', 'aria-label': `Messages of chat #${it.id}` }),
    el('p', { class: 'empty small', 'data-role': 'chat-hint' }),
    el('p', { class: 'form-error', 'data-role': 'chat-error', role: 'alert' }),
    form);
}

function updateChatPanel(panel, it) {
  const c = chatOf(it.id);
  const visitor = c.messages.find((m) => m.from === 'visitor')?.name;
  $('[data-role=chat-title]', panel).textContent = `Chat #${it.id}${visitor ? ` with ${visitor}` : ''} · ${groupName(it.group)}`;
  const thread = $('[data-role=thread]', panel);
  const shown = Number(thread.dataset.count || 0);
  if (shown > c.messages.length || (shown && thread.dataset.first !== String(c.messages[0]?.at))) {
    thread.replaceChildren();
    thread.dataset.count = '0';
  }
  for (const m of c.messages.slice(Number(thread.dataset.count || 0))) {
    const mine = m.from === 'agent';
    thread.append(el('li', { class: `msg ${mine ? 'me' : 'agent'}`, 'data-from': m.from },
      el('span', { class: 'msg-who', text: m.name || (mine ? 'Agent' : 'Visitor') }),
      el('span', { class: 'msg-text', text: m.text })));
  }
  if (c.messages.length !== shown) thread.scrollTop = thread.scrollHeight;
  thread.dataset.count = String(c.messages.length);
  thread.dataset.first = String(c.messages[0]?.at ?? '');
  const active = it.state === 'active';
  const hint = $('[data-role=chat-hint]', panel);
  hint.textContent = !active
    ? 'Accept the chat to see the conversation and reply.'
    : !c.loaded && c.messages.length === 0 ? 'Earlier messages are not shown after a reload; new ones appear here.' : '';
  hint.hidden = !hint.textContent;
  const input = $('[data-role=chat-input]', panel);
  input.disabled = !active;
  $('[data-action=send]', panel).disabled = !active;
  panel.dataset.state = it.state;
}

async function sendChat(id, input, form) {
  const text = input.value.trim();
  if (!text) return;
  const err = $('[data-role=chat-error]', form.parentElement);
  err.textContent = '';
  try {
    const data = await state.client.request('message', { item: id, text });
    if (input.value.trim() === text) input.value = '';
    if (data?.message) addChatMessages(id, [data.message]);
    renderChats();
  } catch (e) {
    err.textContent = e.message;
  }
}

// ---------------------------------------------------------------- transfer

const TRANSFER_ERRORS = {
  not_found: 'There is no such agent or group.',
  forbidden: 'You may not transfer this item there.',
  at_capacity: 'That agent cannot take more of this kind of work right now.',
  invalid_state: 'This item cannot be transferred in its current state.',
  invalid_field: 'Please check the fields.',
  disconnected: 'Not connected to the server. Try again when the connection is back.',
};

/** The Transfer dialog: one of my groups, optionally a named member, and a note. */
function openTransfer(it) {
  state.transfer?.dialog.close();
  const groups = sortedGroups();
  const select = el('select', { id: 'transfer-group', 'data-role': 'transfer-group', required: true },
    groups.map((g) => el('option', { value: g.id, text: `${g.name || g.id}${g.department ? ` (${g.department})` : ''}` })));
  select.value = it.group;
  const agent = el('input', { id: 'transfer-agent', 'data-role': 'transfer-agent', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false', maxlength: 64 });
  const note = el('textarea', { id: 'transfer-note', 'data-role': 'transfer-note', maxlength: 500, rows: 3 });
  const error = el('p', { class: 'dialog-error', 'data-role': 'transfer-error', role: 'alert' });
  const ok = el('button', { type: 'submit', class: 'btn primary', 'data-action': 'ok', text: 'Transfer' });
  const form = el('form', { method: 'dialog', novalidate: true },
    el('h2', { id: 'transfer-title', text: `Transfer ${itemLabel(it)}` }),
    el('p', { class: 'dialog-desc', text: 'Send it to a group, which routes it by its own rules, or to a named member of that group.' }),
    el('div', { class: 'field' }, el('label', { for: 'transfer-group', text: 'Group' }), select),
    el('div', { class: 'field' }, el('label', { for: 'transfer-agent', text: 'Member (optional)' }), agent,
      el('span', { class: 'hint', text: 'An agent id such as “bob”; leave empty to let the group route it.' })),
    el('div', { class: 'field' }, el('label', { for: 'transfer-note', text: 'Note (optional)' }), note),
    error,
    el('div', { class: 'dialog-actions' },
      el('button', { type: 'button', class: 'btn', 'data-action': 'cancel', text: 'Cancel', onclick: () => dialog.close() }),
      ok));
  const dialog = el('dialog', { 'data-role': 'transfer', 'aria-labelledby': 'transfer-title' }, form);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    const fields = { item: it.id, group: select.value };
    if (agent.value.trim()) fields.agent = agent.value.trim();
    if (note.value.trim()) fields.note = note.value.trim();
    ok.disabled = true;
    state.movedByMe.add(it.id);
    try {
      const moved = await state.client.request('transfer', fields);
      dialog.close();
      if (moved?.id && moved.assignee !== state.me?.id) {
        state.work.delete(moved.id);
        renderWork();
      }
      const to = moved?.assignee_name || moved?.assignee;
      showNotice(`${CHANNEL_NOUNS[it.channel]} #${it.id} was transferred ${to ? `to ${to}` : `to the queue of ${groupName(fields.group)}`}.`, 'transferred-out');
    } catch (e) {
      state.movedByMe.delete(it.id);
      const words = TRANSFER_ERRORS[e.code];
      error.textContent = words && e.message && e.message !== e.code ? `${words} (${e.message})` : (words || e.message);
    } finally {
      ok.disabled = false;
    }
  });
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (state.transfer?.dialog === dialog) state.transfer = null;
    document.querySelector(`#my-work [data-focus-key="transfer-${it.id}"]`)?.focus();
  });
  document.body.append(dialog);
  state.transfer = { item: it.id, dialog };
  dialog.showModal();
  select.focus();
}
