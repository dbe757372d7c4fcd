// Supervisor board (board.html): `watch` all groups the supervisor may watch,
// a live grid of agents × status, group queue depth and longest wait, the User
// Dashboard (Active Groups of another agent), the agent-group activity audit,
// and per group the queued items, each with its routing explanation (`explain`).
// Speaks only docs/protocol.md through switchboard.js.

import {
  CHANNELS, CHANNEL_LABELS, CHANNEL_NOUNS, SwitchboardClient, savedSession, clearSession, logout, api,
  wireLoginForm, stateLabel, initials, formatDuration, spokenDuration, el,
} from './switchboard.js';
import { openActiveGroups, groupsFromStatusCells } from './active-groups.js';

const $ = (sel, root = document) => root.querySelector(sel);
const SHORT = { chat: 'Chat', ticket: 'Tkt', voice: 'VOIP' };

const state = {
  session: null,
  client: null,
  groups: new Map(), // id -> GroupStatus
  agents: new Map(), // id -> AgentStatus
  selected: null, // agent id
  dialog: null, // {agent, api}
  filterDept: '',
  filterGroup: '',
  openQueues: new Set(), // group ids whose queued items are shown
  queueItems: new Map(), // group id -> [Item…] (GET /api/groups/{id}/queue)
  queueErrors: new Map(), // group id -> message
  refetch: new Map(), // group id -> timer
};

const VERDICTS = {
  logged_out: 'Logged out',
  channel_disabled: 'Channel not offered in this group',
  excluded: 'Excluded from this channel',
  pull_only: 'Picks from the queue only (pull)',
  inactive: 'Inactive for this channel here',
  unavailable: 'Unavailable',
  at_capacity: 'At capacity',
  on_call: 'On a call',
  declined: 'Declined it or let it ring out',
  holds: 'Holds it',
  eligible: 'Eligible',
};

document.addEventListener('DOMContentLoaded', () => {
  wireLoginForm($('#login-form'), (session) => start(session));
  $('[data-action=logout]').addEventListener('click', doLogout);
  $('#filter-dept').addEventListener('change', (e) => {
    state.filterDept = e.target.value;
    state.filterGroup = '';
    renderFilters();
    render();
  });
  $('#filter-group').addEventListener('change', (e) => { state.filterGroup = e.target.value; render(); });
  $('#audit-form').addEventListener('submit', (e) => { e.preventDefault(); loadAudit(); });
  const saved = savedSession();
  if (saved) start(saved);
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
}

function start(session) {
  state.session = session;
  $('#login').hidden = true;
  $('#workspace').hidden = false;
  $('#signed-in').hidden = false;
  const name = session.agent?.name || session.agent?.id || '';
  $('#me').textContent = initials(name);
  $('#me').title = name;
  $('[data-role=me-label]').textContent = `Signed in as ${name}`;
  const roles = session.agent?.roles || [];
  if (!roles.includes('manager') && !roles.includes('admin')) {
    showError('The board is for managers and admins; this login may not watch any group.');
  }
  const client = new SwitchboardClient({ token: session.token, agentId: session.agent?.id });
  state.client = client;
  client.onState(setConn);
  // Every (re)connection starts with a welcome: (re)subscribe then.
  client.on('welcome', () => watch());
  client.on('agent_status', ({ status }) => {
    state.agents.set(status.agent, status);
    renderGrid();
    if (state.dialog?.agent === status.agent) {
      state.dialog.api.update(groupsFromStatusCells(status.cells, state.groups));
    }
  });
  client.on('group_status', ({ group }) => {
    state.groups.set(group.id, group);
    if (state.openQueues.has(group.id)) scheduleQueueFetch(group.id);
    renderGroups();
  });
  client.on('unauthorized', () => {
    stop();
    clearSession();
    showLogin('Your session has ended. Please sign in again.');
  });
  client.connect();
}

async function watch() {
  try {
    const snap = await state.client.request('watch', {});
    state.groups = new Map((snap.groups || []).map((g) => [g.id, g]));
    state.agents = new Map((snap.agents || []).map((a) => [a.agent, a]));
    renderFilters();
    render();
    renderAuditChoices();
    document.body.dataset.watching = 'true';
  } catch (e) {
    showError(e.message);
  }
}

function stop() {
  state.client?.close();
  state.client = null;
  state.dialog?.api.close();
  state.groups.clear();
  state.agents.clear();
  delete document.body.dataset.watching;
}

async function doLogout() {
  const token = state.session?.token;
  stop();
  await logout(token);
  showLogin();
}

// ---------------------------------------------------------------- filters

function shownGroups() {
  return [...state.groups.values()]
    .filter((g) => !state.filterDept || g.department === state.filterDept)
    .filter((g) => !state.filterGroup || g.id === state.filterGroup)
    .sort((a, b) => (a.department || '').localeCompare(b.department || '') || (a.name || a.id).localeCompare(b.name || b.id));
}

function renderFilters() {
  const depts = [...new Set([...state.groups.values()].map((g) => g.department).filter(Boolean))].sort();
  fillSelect($('#filter-dept'), 'All departments', depts.map((d) => [d, d]), state.filterDept);
  const groups = [...state.groups.values()].filter((g) => !state.filterDept || g.department === state.filterDept)
    .sort((a, b) => (a.name || a.id).localeCompare(b.name || b.id));
  fillSelect($('#filter-group'), 'All groups', groups.map((g) => [g.id, g.name || g.id]), state.filterGroup);
}

function fillSelect(select, allLabel, options, value) {
  select.replaceChildren(el('option', { value: '', text: allLabel }), ...options.map(([v, t]) => el('option', { value: v, text: t })));
  select.value = options.some(([v]) => v === value) ? value : '';
}

// ---------------------------------------------------------------- rendering

function render() {
  renderGroups();
  renderGrid();
}

function renderGroups() {
  const root = $('#group-cards');
  const focusKey = document.activeElement?.dataset?.focusKey;
  root.replaceChildren();
  for (const g of shownGroups()) {
    const dl = el('dl');
    dl.append(el('dt', { text: '' }), el('dt', { text: 'Waiting' }), el('dt', { text: 'Longest wait' }));
    for (const ch of CHANNELS) {
      const q = g.queues?.[ch] || { depth: 0, oldest_created_at: null };
      dl.append(
        el('dt', { text: CHANNEL_LABELS[ch] }),
        el('dd', { class: q.depth > 0 ? 'busy' : '', 'data-role': `depth-${ch}`, text: String(q.depth) }),
        q.oldest_created_at != null
          ? el('dd', { class: 'timer', 'data-since': q.oldest_created_at })
          : el('dd', { text: '–' }),
      );
    }
    const total = CHANNELS.reduce((n, ch) => n + (g.queues?.[ch]?.depth || 0), 0);
    const open = state.openQueues.has(g.id);
    const listId = `queue-${g.id.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
    root.append(el('article', { class: 'card group-card', 'data-group': g.id, 'aria-label': `${g.name || g.id} queues` },
      el('h3', { text: g.name || g.id }),
      el('span', { class: 'dept', text: g.department || '' }),
      dl,
      el('button', {
        type: 'button',
        class: 'link-btn queue-toggle',
        'data-action': 'toggle-queue',
        'data-focus-key': `toggle-${g.id}`,
        'aria-expanded': String(open),
        'aria-controls': listId,
        disabled: !open && total === 0,
        text: open ? 'Hide waiting items' : `Show waiting items${total ? ` (${total})` : ''}`,
        onclick: () => toggleQueue(g.id),
      }),
      open ? queueList(g, listId) : null));
  }
  if (!root.children.length) root.append(el('p', { class: 'empty', text: 'No groups to show.' }));
  if (focusKey) root.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`)?.focus();
  tick();
}

function queueList(g, listId) {
  const err = state.queueErrors.get(g.id);
  const items = state.queueItems.get(g.id);
  if (err) return el('p', { class: 'form-error', id: listId, text: err });
  if (!items) return el('p', { class: 'empty small', id: listId, text: 'Loading…' });
  if (items.length === 0) return el('p', { class: 'empty small', id: listId, text: 'No one waiting.' });
  return el('ol', { class: 'queue-items', id: listId, 'aria-label': `Waiting in ${g.name || g.id}, queue order` },
    items.map((it) => el('li', {},
      el('button', {
        type: 'button',
        class: 'queue-item',
        'data-item': it.id,
        'data-action': 'explain',
        'data-focus-key': `explain-${it.id}`,
        'aria-haspopup': 'dialog',
        title: 'Why is this item waiting? Show who could get it',
        onclick: () => explain(it),
      },
      el('span', { class: `chan chan-${it.channel}`, text: CHANNEL_NOUNS[it.channel] }),
      el('span', { class: 'queue-item-title', text: it.title || `#${it.id}` }),
      el('span', { class: 'timer', 'data-since': it.created_at })))));
}

async function toggleQueue(groupId) {
  if (state.openQueues.has(groupId)) {
    state.openQueues.delete(groupId);
    renderGroups();
    return;
  }
  state.openQueues.add(groupId);
  renderGroups();
  await fetchQueue(groupId);
}

function scheduleQueueFetch(groupId) {
  clearTimeout(state.refetch.get(groupId));
  state.refetch.set(groupId, setTimeout(() => fetchQueue(groupId), 150));
}

async function fetchQueue(groupId) {
  try {
    const data = await api(`/api/groups/${encodeURIComponent(groupId)}/queue`, { token: state.session.token });
    state.queueItems.set(groupId, data?.items || []);
    state.queueErrors.delete(groupId);
  } catch (e) {
    state.queueErrors.set(groupId, e.message);
  }
  if (state.openQueues.has(groupId)) renderGroups();
}

/** The routing explanation of an item: per member of its group, the first rule that keeps it from the item. */
async function explain(it) {
  let data;
  try {
    data = await state.client.request('explain', { item: it.id });
  } catch (e) {
    showError(e.message);
    return;
  }
  const item = data.item || it;
  const rows = (data.members || []).map((m) => el('tr', { 'data-agent': m.agent, 'data-verdict': m.verdict },
    el('th', { scope: 'row', text: m.name || m.agent }),
    el('td', { class: `verdict verdict-${m.verdict}`, text: VERDICTS[m.verdict] || m.verdict })));
  const eligible = (data.members || []).filter((m) => m.verdict === 'eligible').length;
  const dialog = el('dialog', { 'data-role': 'explain', 'aria-labelledby': 'explain-title' },
    el('h2', { id: 'explain-title', text: `Why ${CHANNEL_NOUNS[item.channel] || item.channel} #${item.id} is ${item.state === 'queued' ? 'waiting' : item.state}` }),
    el('p', { class: 'dialog-desc', text: `${item.title ? `“${item.title}” · ` : ''}${groupName(item.group)} · ${eligible} member${eligible === 1 ? '' : 's'} eligible now. Each member shows the first rule, in routing order, that keeps it from this item.` }),
    el('div', { class: 'table-wrap' }, el('table', { class: 'audit explain' },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Member' }), el('th', { scope: 'col', text: 'Verdict' }))),
      el('tbody', {}, rows))),
    el('div', { class: 'dialog-actions' },
      el('button', { type: 'button', class: 'btn primary', 'data-action': 'close', text: 'Close', onclick: () => dialog.close() })));
  dialog.addEventListener('close', () => {
    dialog.remove();
    document.querySelector(`[data-focus-key="explain-${it.id}"]`)?.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  dialog.querySelector('[data-action=close]').focus();
}

function renderGrid() {
  const table = $('#agent-grid');
  const groups = shownGroups();
  const groupIds = new Set(groups.map((g) => g.id));
  const agents = [...state.agents.values()]
    .filter((a) => (state.filterDept || state.filterGroup) ? (a.cells || []).some((c) => groupIds.has(c.group)) : true)
    .sort((a, b) => (a.name || a.agent).localeCompare(b.name || b.agent));
  const focusKey = document.activeElement?.dataset?.focusKey;

  const groupRow = el('tr', { class: 'group-row' }, el('td', { colspan: 5 }));
  const headRow = el('tr', {},
    el('th', { scope: 'col', text: 'Agent' }),
    el('th', { scope: 'col', text: 'Session' }),
    el('th', { scope: 'col', text: 'Availability' }),
    el('th', { scope: 'col', text: 'Load (chat / ticket / call)' }),
    el('th', { scope: 'col', text: 'In state for' }));
  for (const g of groups) {
    groupRow.append(el('th', { scope: 'colgroup', colspan: 3, text: g.name || g.id, title: g.department || '' }));
    CHANNELS.forEach((ch, i) => headRow.append(el('th', {
      scope: 'col', class: i === 0 ? 'first' : '', title: `${CHANNEL_LABELS[ch]} in ${g.name || g.id}`, text: SHORT[ch],
    })));
  }
  groupRow.append(el('td'));
  headRow.append(el('th', { scope: 'col', text: 'Action' }));

  const tbody = el('tbody');
  for (const a of agents) tbody.append(agentRow(a, groups));
  table.replaceChildren(el('caption', { class: 'visually-hidden', text: 'Agents and their status per group and channel' }),
    el('thead', {}, groups.length ? groupRow : null, headRow), tbody);
  $('#agents-empty').hidden = agents.length > 0;
  if (focusKey) table.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`)?.focus();
  tick();
}

function agentRow(a, groups) {
  const name = a.name || a.agent;
  const cellOf = new Map((a.cells || []).map((c) => [`${c.group}|${c.channel}`, c.state]));
  const session = !a.logged_in
    ? el('span', { class: 'pill out', text: 'Logged out' })
    : a.receiving
      ? el('span', { class: 'pill in', text: 'Logged in' })
      : el('span', { class: 'pill nothing', text: 'Logged in, receiving nothing' });
  const avail = a.available
    ? el('span', { class: 'pill avail', text: 'Available' })
    : el('span', { class: 'pill unavail', text: 'Unavailable' });
  const load = a.load || {};
  const row = el('tr', {
    'data-agent': a.agent,
    'data-logged-in': String(!!a.logged_in),
    class: `${a.logged_in ? '' : 'logged-out'}${state.selected === a.agent ? ' selected' : ''}`,
    ondblclick: () => openDashboard(a.agent),
    onclick: () => select(a.agent),
  },
    el('th', { scope: 'row' }, el('span', { class: 'agent-cell' },
      el('span', { class: 'mini-mono', 'aria-hidden': 'true', text: initials(name) }), name)),
    el('td', { 'data-role': 'session' }, session),
    el('td', { 'data-role': 'availability' }, avail),
    el('td', { 'data-role': 'load', 'aria-label': `${load.chat ?? 0} chats, ${load.ticket ?? 0} tickets, ${load.voice ?? 0} calls` },
      `${load.chat ?? 0} / ${load.ticket ?? 0} / ${load.voice ?? 0}`),
    el('td', { class: 'timer', 'data-since': a.since > 0 ? a.since : '', title: a.logged_in ? 'Since the last login or availability change' : 'Since logout' }),
  );
  for (const g of groups) {
    CHANNELS.forEach((ch, i) => {
      const s = cellOf.get(`${g.id}|${ch}`);
      const label = s === 'on' ? 'on' : s === 'off' ? 'off' : s === 'na' ? 'N/A' : '';
      row.append(el('td', {
        class: `cell cell-${s || 'none'}${i === 0 ? ' first' : ''}`,
        'data-cell': `${g.id}|${ch}`,
        'data-state': s || 'none',
        'aria-label': s ? `${CHANNEL_LABELS[ch]} in ${g.name || g.id}: ${label}` : `not a member of ${g.name || g.id}`,
        text: s === 'on' ? '● on' : s === 'off' ? '○ off' : s === 'na' ? 'N/A' : '–',
      }));
    });
  }
  row.append(el('td', {}, el('button', {
    type: 'button',
    class: 'btn small',
    'data-action': 'edit-active-groups',
    'data-focus-key': `edit-${a.agent}`,
    'aria-label': `Active Groups of ${name}`,
    text: 'Active Groups',
    onclick: (ev) => { ev.stopPropagation(); select(a.agent); openDashboard(a.agent); },
  })));
  return row;
}

function select(agentId) {
  state.selected = agentId;
  for (const tr of document.querySelectorAll('#agent-grid tbody tr')) {
    const on = tr.dataset.agent === agentId;
    tr.classList.toggle('selected', on);
  }
}

/** User Dashboard: the Active Groups dialog for another agent. */
function openDashboard(agentId) {
  const a = state.agents.get(agentId);
  if (!a) return;
  const name = a.name || a.agent;
  // An admin may set anyone's cells; a manager only in the groups it manages,
  // which are the groups it may watch (a manager watches the groups it is a member
  // of). Others are shown but cannot be changed here: one refused cell would
  // refuse the whole atomic request.
  const isAdmin = (state.session.agent?.roles || []).includes('admin');
  const readOnly = new Map();
  if (!isAdmin) {
    for (const c of a.cells || []) {
      if (!state.groups.has(c.group)) readOnly.set(c.group, 'You do not manage this group');
    }
  }
  const dialogApi = openActiveGroups({
    title: `Active Groups: ${name}`,
    description: `Where ${name} receives work. Changes apply when you press OK.`,
    groups: groupsFromStatusCells(a.cells, state.groups),
    readOnlyGroups: readOnly,
    onSubmit: async (cells) => {
      const status = await state.client.request('set_active', { agent: agentId, cells });
      if (status && status.agent) {
        state.agents.set(status.agent, status);
        renderGrid();
      }
    },
    onClose: () => { if (state.dialog?.api === dialogApi) state.dialog = null; },
  });
  state.dialog = { agent: agentId, api: dialogApi };
}

function tick() {
  const now = state.client ? state.client.now() : Date.now();
  for (const node of document.querySelectorAll('[data-since]')) {
    if (!node.dataset.since) { node.textContent = '–'; continue; }
    const ms = now - Number(node.dataset.since);
    node.textContent = formatDuration(ms);
    node.setAttribute('aria-label', spokenDuration(ms));
  }
}

// ---------------------------------------------------------------- audit

function renderAuditChoices() {
  const agentSel = $('#audit-agent');
  const groupSel = $('#audit-group');
  const a = agentSel.value;
  const g = groupSel.value;
  fillSelect(agentSel, 'Any agent',
    [...state.agents.values()].sort((x, y) => (x.name || x.agent).localeCompare(y.name || y.agent)).map((x) => [x.agent, x.name || x.agent]), a);
  fillSelect(groupSel, 'Any group',
    [...state.groups.values()].sort((x, y) => (x.name || x.id).localeCompare(y.name || y.id)).map((x) => [x.id, x.name || x.id]), g);
}

async function loadAudit() {
  const params = new URLSearchParams();
  if ($('#audit-agent').value) params.set('agent', $('#audit-agent').value);
  if ($('#audit-group').value) params.set('group', $('#audit-group').value);
  params.set('limit', $('#audit-limit').value);
  $('#audit-error').textContent = '';
  try {
    const data = await api(`/api/audit?${params}`, { token: state.session.token });
    const entries = data?.entries || [];
    const tbody = $('#audit-table tbody');
    tbody.replaceChildren(...entries.map((e) => el('tr', { 'data-what': e.what },
      el('td', {}, el('time', { datetime: new Date(e.at).toISOString(), text: new Date(e.at).toLocaleString() })),
      el('td', { text: agentName(e.agent) }),
      el('td', { text: WHAT[e.what] || e.what }),
      el('td', { text: e.group ? groupName(e.group) : '–' }),
      el('td', { text: e.channel ? CHANNEL_LABELS[e.channel] || e.channel : '–' }),
      el('td', { text: valueText(e.old) }),
      el('td', { text: valueText(e.new) }),
      el('td', { text: e.by === 'system' ? 'system' : agentName(e.by) }),
    )));
    $('#audit-table').hidden = entries.length === 0;
    $('#audit-empty').hidden = entries.length > 0;
  } catch (e) {
    $('#audit-error').textContent = e.message;
  }
}

const WHAT = { login: 'Login', logout: 'Logout', availability: 'Availability', active: 'Active', account: 'Account' };
function valueText(v) {
  return { in: 'logged in', out: 'logged out', on: 'active', off: 'inactive', available: 'Available', unavailable: 'Unavailable' }[v] ?? (v ?? '–');
}
function agentName(id) { return state.agents.get(id)?.name || id || '–'; }
function groupName(id) { return state.groups.get(id)?.name || id; }

// ---------------------------------------------------------------- chrome

function setConn(s) {
  const node = $('#conn');
  node.dataset.state = s;
  node.textContent = stateLabel(s);
}

function showError(message) {
  const note = el('div', { class: 'error-note' },
    el('span', { text: message }),
    el('button', { type: 'button', class: 'link-btn', text: 'Dismiss', onclick: () => note.remove() }));
  $('#errors').append(note);
  setTimeout(() => note.remove(), 12000);
}
