// Supervisor board (board.html): `watch` all groups the supervisor may watch,
// per group and channel the queue and who can take it (with an hour of queue
// history as a chart), a live grid of agents × status, the User Dashboard
// (Active Groups of another agent), the agent-group activity audit, and per
// group the queued items, each with its routing explanation (`explain`).
// Speaks only docs/protocol.md through switchboard.js.
//
// Built for contact centres of thousands of agents: a push changes the state
// at once but the page only at the next animation frame, and then only the
// one row and the one group card it concerns; the grid holds in the DOM the
// rows that are scrolled into view and no others; the one-second tick touches
// only the timers on screen. Whole re-renders happen on a snapshot and on a
// filter change, never on a push.

import {
  CHANNELS, CHANNEL_LABELS, CHANNEL_NOUNS, SwitchboardClient, savedSession, clearSession, logout, api,
  wireLoginForm, stateLabel, initials, formatDuration, spokenDuration, el,
} from './switchboard.js';
import { openActiveGroups, groupsFromStatusCells } from './active-groups.js';

const $ = (sel, root = document) => root.querySelector(sel);
const SHORT = { chat: 'Chat', ticket: 'Tkt', voice: 'VOIP' };
const SVG_NS = 'http://www.w3.org/2000/svg';

/** More groups than this and the board opens on one department (or one group), not on all of them. */
const DEFAULT_MAX_GROUPS = 6;
/** Rows rendered above and below the visible ones, so a short scroll shows no gap. */
const OVERSCAN = 8;
/** One queue sample per group this often; the chart shows the last hour of them. */
const SAMPLE_EVERY_MS = 15_000;
const HISTORY_MS = 60 * 60 * 1000;

const state = {
  session: null,
  client: null,
  groups: new Map(), // id -> GroupStatus
  agents: new Map(), // id -> AgentStatus
  order: [], // agent ids sorted by name (the snapshot's agents and any seen since)
  members: new Map(), // group id -> Set of agent ids with a cell there
  stats: new Map(), // group id -> {chat|ticket|voice: counts}, see addStats
  history: new Map(), // group id -> [{at, depth, wait}] oldest first, the last hour
  rows: [], // agent ids the grid shows now, in order (filters applied)
  gridGroups: [], // the groups whose columns the grid shows now
  rowEls: new Map(), // agent id -> <tr> in the DOM now (the visible window only)
  rowH: 0, // measured height of a grid row, px (0: not yet, -1: at the next frame)
  dirtyRows: new Set(), // agent ids whose row must be redrawn at the next frame
  dirtyGroups: new Set(), // group ids whose card must be redrawn at the next frame
  rowsStale: false, // the set of rows (not only their content) changed
  frame: 0, // requestAnimationFrame handle, 0 when none is scheduled
  watching: null, // while a `watch` is answered: {agents, pieces, early pushes}
  snapSeq: -1, // the seq the last snapshot was built at
  agentSeq: new Map(), // agent id -> seq of the push shown, when newer than the snapshot
  groupSeq: new Map(), // group id -> the same for group_status
  selected: null, // agent id
  focus: null, // agent id of the agent-focused view, or null
  dialog: null, // {agent, api}
  filterDept: '',
  filterGroup: '',
  search: '',
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
    state.focus = null;
    rememberFilter();
    renderFilters();
    render();
  });
  $('#filter-group').addEventListener('change', (e) => {
    state.filterGroup = e.target.value;
    state.focus = null;
    rememberFilter();
    render();
  });
  $('#filter-agent').addEventListener('input', (e) => {
    state.search = e.target.value.trim().toLowerCase();
    state.rowsStale = true;
    schedule();
  });
  $('[data-action=unfocus]').addEventListener('click', () => focusAgent(null));
  $('#grid-wrap').addEventListener('scroll', () => schedule(), { passive: true });
  window.addEventListener('resize', () => schedule());
  $('#audit-form').addEventListener('submit', (e) => { e.preventDefault(); loadAudit(); });
  const saved = savedSession();
  if (saved) start(saved);
  else showLogin();
  setInterval(tick, 1000);
  setInterval(sampleQueues, SAMPLE_EVERY_MS);
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
  $('#admin-link').hidden = !roles.includes('manager') && !roles.includes('admin');
  if (!roles.includes('manager') && !roles.includes('admin')) {
    showError('The board is for managers and admins; this login may not watch any group.');
  }
  const client = new SwitchboardClient({ token: session.token, agentId: session.agent?.id });
  state.client = client;
  client.onState(setConn);
  // Every (re)connection starts with a welcome: (re)subscribe then.
  client.on('welcome', () => watch());
  // An administrator changed a watched group's members or settings: ask
  // again, once, after a burst of changes (an import sends many).
  client.on('board_changed', () => rewatchSoon());
  client.on('agent_status', onStatusPush);
  client.on('agent_status_batch', ({ pushes }) => { for (const p of pushes || []) onStatusPush(p); });
  client.on('watch_agents', ({ agents }) => {
    if (!state.watching) return;
    state.watching.pieces += 1;
    for (const a of agents || []) state.watching.agents.push(a);
  });
  client.on('group_status', onGroupPush);
  client.on('unauthorized', () => {
    stop();
    clearSession();
    showLogin('Your session has ended. Please sign in again.');
  });
  client.connect();
}

/**
 * Asks for the board in pieces (docs/protocol.md, "Watching in pieces"): the
 * agents come in `watch_agents` frames before the `ok`, and pushes that
 * arrive meanwhile wait until the snapshot is in. A server that does not know
 * pieces refuses the field; then the whole snapshot comes in the `ok`.
 */
let rewatchTimer = null;
function rewatchSoon() {
  clearTimeout(rewatchTimer);
  rewatchTimer = setTimeout(() => (state.watching ? rewatchSoon() : watch()), 250);
}

async function watch() {
  state.watching = { agents: [], pieces: 0, early: [] };
  try {
    let snap;
    try {
      snap = await state.client.request('watch', { pieces: true });
    } catch (e) {
      if (e.code !== 'invalid_field') throw e;
      state.watching.agents = [];
      snap = await state.client.request('watch', {});
    }
    const { agents, pieces, early } = state.watching;
    if (snap.pieces != null && pieces !== snap.pieces) {
      throw new Error(`The board arrived incomplete (${pieces} of ${snap.pieces} pieces); reload the page.`);
    }
    state.watching = null;
    loadSnapshot({ ...snap, agents: snap.pieces != null ? agents : snap.agents });
    for (const f of early) {
      if (f.type === 'group_status') onGroupPush(f);
      else onStatusPush(f);
    }
    document.body.dataset.watching = 'true';
  } catch (e) {
    state.watching = null;
    showError(e.message);
  }
}

/**
 * An `agent_status` (alone or from a batch). Applied only when newer than
 * what the board shows of that agent: a push the snapshot already includes,
 * or one overtaken by a later one, changes nothing.
 */
function onStatusPush(f) {
  if (!f?.status) return;
  if (state.watching) { state.watching.early.push(f); return; }
  if (typeof f.seq === 'number') {
    if (f.seq <= (state.agentSeq.get(f.status.agent) ?? state.snapSeq)) return;
    state.agentSeq.set(f.status.agent, f.seq);
  }
  applyStatus(f.status);
}

function onGroupPush(f) {
  const { group } = f;
  if (!group) return;
  if (state.watching) { state.watching.early.push(f); return; }
  if (typeof f.seq === 'number') {
    if (f.seq <= (state.groupSeq.get(group.id) ?? state.snapSeq)) return;
    state.groupSeq.set(group.id, f.seq);
  }
  state.groups.set(group.id, group);
  if (state.openQueues.has(group.id)) scheduleQueueFetch(group.id);
  state.dirtyGroups.add(group.id);
  schedule();
}

/** Replaces the whole state with a `watch` snapshot and renders the page once. */
function loadSnapshot(snap) {
  const firstLoad = state.groups.size === 0;
  state.snapSeq = typeof snap.seq === 'number' ? snap.seq : -1;
  state.agentSeq = new Map();
  state.groupSeq = new Map();
  state.groups = new Map((snap.groups || []).map((g) => [g.id, g]));
  state.agents = new Map((snap.agents || []).map((a) => [a.agent, a]));
  state.order = [...state.agents.values()].sort(byName).map((a) => a.agent);
  state.members = new Map([...state.groups.keys()].map((id) => [id, new Set()]));
  state.stats = new Map();
  for (const a of state.agents.values()) {
    for (const c of a.cells || []) memberSet(c.group).add(a.agent);
    addStats(a, 1);
  }
  if (firstLoad) chooseDefaultFilter();
  if (state.focus && !state.agents.has(state.focus)) state.focus = null;
  sampleQueues();
  renderFilters();
  render();
  // The audit's choices (an option per agent: thousands) once the board is
  // painted, not before.
  requestAnimationFrame(() => setTimeout(renderAuditChoices, 0));
}

/** One agent_status push: state now, the page at the next frame. */
function applyStatus(status) {
  const old = state.agents.get(status.agent);
  if (old) addStats(old, -1);
  else {
    state.order.push(status.agent);
    state.order.sort((x, y) => byName(state.agents.get(x) || status, state.agents.get(y) || status));
    state.rowsStale = true;
  }
  state.agents.set(status.agent, status);
  addStats(status, 1);
  for (const c of status.cells || []) {
    const set = memberSet(c.group);
    if (!set.has(status.agent)) { set.add(status.agent); state.rowsStale = true; }
    state.dirtyGroups.add(c.group);
  }
  if (state.rowEls.has(status.agent)) state.dirtyRows.add(status.agent);
  if (state.dialog?.agent === status.agent) {
    state.dialog.api.update(groupsFromStatusCells(status.cells, state.groups));
  }
  schedule();
}

function memberSet(groupId) {
  if (!state.members.has(groupId)) state.members.set(groupId, new Set());
  return state.members.get(groupId);
}

/** Sorting by name: one collator, not one `localeCompare` lookup per comparison of thousands. */
const collator = new Intl.Collator();

function byName(a, b) {
  return collator.compare(a.name || a.agent, b.name || b.agent) || collator.compare(a.agent, b.agent);
}

const STAT_KEYS = ['logged_in', 'receiving', 'unavailable', 'nothing', 'at_cap'];
const STAT_LABELS = {
  logged_in: ['In', 'Logged in'],
  receiving: ['Recv', 'Receiving: logged in and active here (and available, for chats)'],
  unavailable: ['Unav', 'Logged in but unavailable'],
  nothing: ['None', 'Logged in, receiving nothing anywhere'],
  at_cap: ['Cap', 'Logged in and at their cap for this channel (on a call, for calls)'],
};

/**
 * Adds (sign 1) or removes (sign -1) an agent's share of the per group and
 * channel counts. A push first removes the agent's old status then adds the
 * new one, so the counts stay exact without ever recounting everyone.
 */
function addStats(a, sign) {
  if (!a.logged_in) return;
  for (const c of a.cells || []) {
    if (c.state === 'na') continue;
    let g = state.stats.get(c.group);
    if (!g) {
      g = Object.fromEntries(CHANNELS.map((ch) => [ch, Object.fromEntries(STAT_KEYS.map((k) => [k, 0]))]));
      state.stats.set(c.group, g);
    }
    const s = g[c.channel];
    if (!s) continue;
    s.logged_in += sign;
    if (c.state === 'on' && (c.channel !== 'chat' || a.available)) s.receiving += sign;
    if (!a.available) s.unavailable += sign;
    if (!a.receiving) s.nothing += sign;
    if (c.at_cap) s.at_cap += sign;
  }
}

function stop() {
  state.client?.close();
  state.client = null;
  state.dialog?.api.close();
  state.groups.clear();
  state.agents.clear();
  state.order = [];
  state.rowEls.clear();
  state.history.clear();
  delete document.body.dataset.watching;
}

async function doLogout() {
  const token = state.session?.token;
  stop();
  await logout(token);
  showLogin();
}

// ---------------------------------------------------------------- filters

/**
 * The filter the board opens on. The page's address may name it
 * (`board.html?dept=Sales`, `?group=billing-l1`, `?dept=*` for every group:
 * the filters write it there, so a reload or a bookmark keeps the view).
 * Otherwise, with many groups the board opens on the first department, or on
 * the first group of it when the department alone is large: all groups × 3
 * channels would be hundreds of columns nobody can read. The filters show
 * everything on request.
 */
function chooseDefaultFilter() {
  const asked = new URLSearchParams(location.search);
  const askedGroup = asked.get('group');
  const askedDept = asked.get('dept');
  if (askedGroup && state.groups.has(askedGroup)) {
    state.filterGroup = askedGroup;
    return;
  }
  if (askedDept === '*') return;
  if (askedDept && [...state.groups.values()].some((g) => g.department === askedDept)) {
    state.filterDept = askedDept;
    return;
  }
  if (state.groups.size <= DEFAULT_MAX_GROUPS) return;
  const sorted = [...state.groups.values()].sort(byDeptThenName);
  const dept = sorted[0].department || '';
  const inDept = sorted.filter((g) => (g.department || '') === dept);
  if (dept && inDept.length <= DEFAULT_MAX_GROUPS) state.filterDept = dept;
  else state.filterGroup = inDept[0].id;
}

/** Writes the filter into the page's address (see {@link chooseDefaultFilter}). */
function rememberFilter() {
  const url = new URL(location.href);
  url.searchParams.delete('dept');
  url.searchParams.delete('group');
  if (state.filterGroup) url.searchParams.set('group', state.filterGroup);
  else url.searchParams.set('dept', state.filterDept || '*');
  history.replaceState(history.state, '', url);
}

function byDeptThenName(a, b) {
  return (a.department || '').localeCompare(b.department || '') || (a.name || a.id).localeCompare(b.name || b.id);
}

/** The groups shown: the filter's, or in the agent-focused view every group of that agent. */
function shownGroups() {
  if (state.focus) {
    const a = state.agents.get(state.focus);
    const ids = [...new Set((a?.cells || []).map((c) => c.group))];
    return ids.map((id) => state.groups.get(id) || { id, name: id, department: '', queues: null }).sort(byDeptThenName);
  }
  return [...state.groups.values()]
    .filter((g) => !state.filterDept || g.department === state.filterDept)
    .filter((g) => !state.filterGroup || g.id === state.filterGroup)
    .sort(byDeptThenName);
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

/** The agent-focused view: one agent in all its groups (null: back to the filters). */
function focusAgent(agentId) {
  state.focus = agentId;
  const a = agentId ? state.agents.get(agentId) : null;
  $('#focus-note').hidden = !a;
  $('[data-role=focus-name]').textContent = a ? (a.name || a.agent) : '';
  render();
  if (!a) $('#filter-agent').focus();
}

// ---------------------------------------------------------------- rendering

/** Everything that depends on the filters: the group cards and the grid. */
function render() {
  renderGroups();
  renderGridHead();
  state.rowsStale = true;
  state.dirtyGroups.clear();
  frame();
}

function schedule() {
  if (!state.frame) state.frame = requestAnimationFrame(frame);
}

/** Applies what changed since the last frame: cards, then the grid's visible window. */
function frame() {
  if (state.frame) cancelAnimationFrame(state.frame);
  state.frame = 0;
  for (const id of state.dirtyGroups) renderCard(id);
  state.dirtyGroups.clear();
  if (state.rowsStale) {
    state.rows = filteredRows();
    state.rowsStale = false;
    $('#agents-empty').hidden = state.rows.length > 0;
    $('[data-role=row-count]').textContent = rowCountText();
  }
  renderWindow();
}

function filteredRows() {
  if (state.focus) return state.agents.has(state.focus) ? [state.focus] : [];
  const filtered = state.filterDept || state.filterGroup;
  let ids = state.order;
  if (filtered) {
    const sets = shownGroups().map((g) => state.members.get(g.id)).filter(Boolean);
    ids = ids.filter((id) => sets.some((s) => s.has(id)));
  }
  if (state.search) {
    ids = ids.filter((id) => {
      const a = state.agents.get(id);
      return (a.name || '').toLowerCase().includes(state.search) || a.agent.toLowerCase().includes(state.search);
    });
  }
  return ids;
}

function rowCountText() {
  const n = state.rows.length;
  return `${n.toLocaleString()} agent${n === 1 ? '' : 's'} of ${state.order.length.toLocaleString()}`;
}

function renderGridHead() {
  const table = $('#agent-grid');
  const groups = shownGroups();
  state.gridGroups = groups;
  const groupRow = el('tr', { class: 'group-row' }, el('td', { colspan: 5 }));
  const headRow = el('tr', {},
    el('th', { scope: 'col', text: 'Agent' }),
    el('th', { scope: 'col', text: 'Session' }),
    el('th', { scope: 'col', text: 'Status' }),
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
  state.rowEls.clear();
  table.replaceChildren(el('caption', { class: 'visually-hidden', text: 'Agents and their status per group and channel' }),
    el('thead', {}, groups.length ? groupRow : null, headRow), el('tbody'));
}

/**
 * Puts in the grid's body the rows scrolled into view (plus {@link OVERSCAN}
 * on each side) between two spacer rows that keep the scroll height of all
 * rows. Rows already there and unchanged are kept as they are.
 */
function renderWindow() {
  const wrap = $('#grid-wrap');
  const tbody = $('#agent-grid tbody');
  if (!tbody) return;
  const focusKey = document.activeElement?.dataset?.focusKey;
  const rowH = state.rowH > 0 ? state.rowH : 40;
  const headH = $('#agent-grid thead')?.offsetHeight || 0;
  const first = Math.max(0, Math.floor((wrap.scrollTop - headH) / rowH) - OVERSCAN);
  const count = Math.ceil((wrap.clientHeight || 600) / rowH) + 2 * OVERSCAN;
  const ids = state.rows.slice(first, first + count);
  const keep = new Set(ids);
  for (const [id, tr] of state.rowEls) {
    if (!keep.has(id)) { tr.remove(); state.rowEls.delete(id); }
  }
  const groups = state.gridGroups || [];
  const cols = 6 + groups.length * 3;
  const top = spacer(tbody, 'top', cols);
  let prev = top;
  for (const id of ids) {
    let tr = state.rowEls.get(id);
    if (!tr || state.dirtyRows.has(id)) {
      const fresh = agentRow(state.agents.get(id), groups);
      if (tr) tr.replaceWith(fresh);
      tr = fresh;
      state.rowEls.set(id, tr);
      tickNode(tr);
    }
    if (prev.nextSibling !== tr) prev.after(tr);
    prev = tr;
  }
  state.dirtyRows.clear();
  const bottom = spacer(tbody, 'bottom', cols);
  if (prev.nextSibling !== bottom) prev.after(bottom);
  if (ids.length && !state.rowH) {
    // Measured at the next frame, once this one is laid out and painted:
    // measuring now would lay out the whole page once more before the
    // first paint.
    state.rowH = -1;
    const row0 = state.rowEls.get(ids[0]);
    requestAnimationFrame(() => {
      const h = row0.isConnected ? row0.getBoundingClientRect().height : 0;
      state.rowH = h || 0;
      if (h && h !== rowH) schedule();
    });
  }
  top.firstChild.style.height = `${first * rowH}px`;
  bottom.firstChild.style.height = `${Math.max(0, state.rows.length - first - ids.length) * rowH}px`;
  if (focusKey && !document.activeElement?.isConnected) {
    tbody.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`)?.focus();
  }
}

function spacer(tbody, which, cols) {
  let tr = tbody.querySelector(`tr[data-spacer=${which}]`);
  if (!tr) {
    tr = el('tr', { 'data-spacer': which, class: 'spacer', 'aria-hidden': 'true' }, el('td', { colspan: cols }));
    if (which === 'top') tbody.prepend(tr);
    else tbody.append(tr);
  }
  return tr;
}

function agentRow(a, groups) {
  const name = a.name || a.agent;
  const cellOf = new Map((a.cells || []).map((c) => [`${c.group}|${c.channel}`, c.state]));
  const session = !a.logged_in
    ? el('span', { class: 'pill out', text: 'Logged out' })
    : a.receiving
      ? el('span', { class: 'pill in', text: 'Logged in' })
      : el('span', { class: 'pill nothing', text: 'Logged in, receiving nothing' });
  // The status with its reason ("Lunch"); the pill's colour says whether
  // it takes new chats.
  const statusName = a.status || (a.available ? 'Available' : 'Unavailable');
  const avail = el('span', {
    class: `pill ${a.status === 'Not Responding' ? 'nothing' : a.available ? 'avail' : 'unavail'}`,
    text: statusName,
    title: a.available ? `${statusName}: takes new live chats` : `${statusName}: no new live chats`,
  });
  const wraps = Object.keys(a.wrap_up || {});
  const wrap = wraps.length
    ? el('span', {
      class: 'pill wrap',
      text: `Wrap-up: ${wraps.map((ch) => CHANNEL_LABELS[ch] || ch).join(', ')}`,
      title: `No new ${wraps.join(', ')} until ${wraps.map((ch) => new Date(a.wrap_up[ch]).toLocaleTimeString()).join(', ')} or until the agent is ready`,
    })
    : null;
  const load = a.load || {};
  const row = el('tr', {
    'data-agent': a.agent,
    'data-logged-in': String(!!a.logged_in),
    'data-available': String(!!a.available),
    'data-status': a.status || '',
    'data-wrap-up': wraps.join(' '),
    class: `${a.logged_in ? '' : 'logged-out'}${state.selected === a.agent ? ' selected' : ''}`,
    ondblclick: () => openDashboard(a.agent),
    onclick: () => select(a.agent),
  },
    el('th', { scope: 'row' }, el('span', { class: 'agent-cell' },
      el('span', { class: 'mini-mono', 'aria-hidden': 'true', text: initials(name) }), name)),
    el('td', { 'data-role': 'session' }, session),
    el('td', { 'data-role': 'availability' }, avail, wrap ? ' ' : null, wrap),
    el('td', { 'data-role': 'load', 'aria-label': `${load.chat ?? 0} chats, ${load.ticket ?? 0} tickets, ${load.voice ?? 0} calls` },
      `${load.chat ?? 0} / ${load.ticket ?? 0} / ${load.voice ?? 0}`),
    el('td', { class: 'timer', 'data-since': a.since > 0 ? a.since : '', title: a.logged_in ? 'Time in this status (since the last login or status change)' : 'Since logout' }),
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
  row.append(el('td', { class: 'row-actions' },
    el('button', {
      type: 'button',
      class: 'btn small',
      'data-action': 'edit-active-groups',
      'data-focus-key': `edit-${a.agent}`,
      'aria-label': `Active Groups of ${name}`,
      text: 'Active Groups',
      onclick: (ev) => { ev.stopPropagation(); select(a.agent); openDashboard(a.agent); },
    }),
    state.focus === a.agent ? null : el('button', {
      type: 'button',
      class: 'link-btn',
      'data-action': 'focus-agent',
      'data-focus-key': `focus-${a.agent}`,
      'aria-label': `Show ${name} in all groups`,
      text: 'All groups',
      onclick: (ev) => { ev.stopPropagation(); select(a.agent); focusAgent(a.agent); },
    })));
  return row;
}

function select(agentId) {
  state.selected = agentId;
  for (const [id, tr] of state.rowEls) tr.classList.toggle('selected', id === agentId);
}

// ---------------------------------------------------------------- group cards

function renderGroups() {
  const root = $('#group-cards');
  const focusKey = document.activeElement?.dataset?.focusKey;
  root.replaceChildren();
  for (const g of shownGroups()) {
    if (state.groups.has(g.id)) root.append(groupCard(g));
  }
  if (!root.children.length) root.append(el('p', { class: 'empty', text: 'No groups to show.' }));
  if (focusKey) root.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`)?.focus();
}

/**
 * Redraws one group's card, if it is shown. Its chart moves over as it is:
 * it changes only with a queue sample ({@link sampleQueues}), not with the
 * pushes that redraw a card many times a second.
 */
function renderCard(groupId) {
  const old = document.querySelector(`#group-cards .group-card[data-group="${CSS.escape(groupId)}"]`);
  const g = state.groups.get(groupId);
  if (!old || !g) return;
  const focusKey = old.contains(document.activeElement) ? document.activeElement.dataset?.focusKey : null;
  const card = groupCard(g, old.querySelector('.chart'));
  old.replaceWith(card);
  if (focusKey) card.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`)?.focus();
}

/** A group's card; `chartNode`: its chart as already drawn, or null to draw it. */
function groupCard(g, chartNode = null) {
  const dl = el('dl');
  dl.append(el('dt', { text: '' }), el('dt', { text: 'Waiting' }), el('dt', { text: 'Longest wait' }),
    ...STAT_KEYS.map((k) => el('dt', { class: 'stat-head' }, el('abbr', { title: STAT_LABELS[k][1], text: STAT_LABELS[k][0] }))));
  const stats = state.stats.get(g.id);
  for (const ch of CHANNELS) {
    const q = g.queues?.[ch] || { depth: 0, oldest_created_at: null };
    dl.append(
      el('dt', { text: CHANNEL_LABELS[ch] }),
      el('dd', { class: q.depth > 0 ? 'busy' : '', 'data-role': `depth-${ch}`, text: String(q.depth) }),
      q.oldest_created_at != null
        ? el('dd', { class: 'timer', 'data-since': q.oldest_created_at })
        : el('dd', { text: '–' }),
      ...STAT_KEYS.map((k) => {
        const n = stats?.[ch]?.[k] ?? 0;
        return el('dd', {
          class: `stat${k === 'receiving' && n === 0 && q.depth > 0 ? ' bad' : ''}`,
          'data-role': `${k}-${ch}`,
          'aria-label': `${STAT_LABELS[k][1]}, ${CHANNEL_LABELS[ch]}: ${n}`,
          text: String(n),
        });
      }),
    );
  }
  const total = CHANNELS.reduce((n, ch) => n + (g.queues?.[ch]?.depth || 0), 0);
  const open = state.openQueues.has(g.id);
  const listId = `queue-${g.id.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
  const card = el('article', { class: 'card group-card', 'data-group': g.id, 'aria-label': `${g.name || g.id} queues` },
    el('h3', { text: g.name || g.id }),
    el('span', { class: 'dept', text: g.department || '' }),
    el('div', { class: 'stats-wrap' }, dl),
    chartNode || chart(g.id),
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
    open ? queueList(g, listId) : null);
  tickNode(card);
  return card;
}

// ---------------------------------------------------------------- queue history

/**
 * Records every group's queue depth (all channels) and longest wait now. The
 * history lives in the page, from when the board was opened: the server keeps
 * no queue history.
 */
function sampleQueues() {
  if (!state.groups.size) return;
  const now = state.client ? state.client.now() : Date.now();
  for (const g of state.groups.values()) {
    let depth = 0;
    let oldest = null;
    for (const ch of CHANNELS) {
      const q = g.queues?.[ch];
      depth += q?.depth || 0;
      if (q?.oldest_created_at != null) oldest = oldest == null ? q.oldest_created_at : Math.min(oldest, q.oldest_created_at);
    }
    let h = state.history.get(g.id);
    if (!h) { h = []; state.history.set(g.id, h); }
    h.push({ at: now, depth, wait: oldest == null ? 0 : Math.max(0, now - oldest) });
    while (h.length && h[0].at < now - HISTORY_MS) h.shift();
  }
  for (const card of document.querySelectorAll('#group-cards .group-card')) {
    card.querySelector('.chart')?.replaceWith(chart(card.dataset.group));
  }
}

/** Queue depth (bars) and longest wait (line) over the last hour, as a small SVG. */
function chart(groupId) {
  const h = state.history.get(groupId) || [];
  const W = 240;
  const H = 44;
  const now = h.length ? h[h.length - 1].at : 0;
  const maxDepth = Math.max(1, ...h.map((p) => p.depth));
  const maxWait = Math.max(1000, ...h.map((p) => p.wait));
  const x = (at) => W - ((now - at) / HISTORY_MS) * W;
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('class', 'chart-svg');
  svg.setAttribute('aria-hidden', 'true');
  const bw = Math.max(1, (SAMPLE_EVERY_MS / HISTORY_MS) * W);
  for (const p of h) {
    if (!p.depth) continue;
    const r = document.createElementNS(SVG_NS, 'rect');
    const bh = (p.depth / maxDepth) * (H - 2);
    r.setAttribute('x', (x(p.at) - bw).toFixed(1));
    r.setAttribute('y', (H - bh).toFixed(1));
    r.setAttribute('width', bw.toFixed(1));
    r.setAttribute('height', bh.toFixed(1));
    r.setAttribute('class', 'depth');
    svg.append(r);
  }
  if (h.length > 1) {
    const line = document.createElementNS(SVG_NS, 'polyline');
    line.setAttribute('points', h.map((p) => `${x(p.at).toFixed(1)},${(H - 1 - (p.wait / maxWait) * (H - 3)).toFixed(1)}`).join(' '));
    line.setAttribute('class', 'wait');
    svg.append(line);
  }
  const last = h[h.length - 1];
  const peakDepth = h.reduce((m, p) => Math.max(m, p.depth), 0);
  const peakWait = h.reduce((m, p) => Math.max(m, p.wait), 0);
  const minutes = h.length ? Math.max(1, Math.round((now - h[0].at) / 60000)) : 0;
  const summary = h.length
    ? `Last ${minutes} min: waiting peaked at ${peakDepth}, longest wait at ${formatDuration(peakWait)}; now ${last.depth} waiting`
    : 'No queue history yet';
  return el('figure', { class: 'chart', 'data-role': 'chart', 'data-samples': String(h.length) },
    svg,
    el('figcaption', {},
      el('span', { class: 'key key-depth', text: `Waiting (peak ${peakDepth})` }),
      el('span', { class: 'key key-wait', text: `Longest wait (peak ${formatDuration(peakWait)})` }),
      el('span', { class: 'visually-hidden', text: summary })));
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
    renderCard(groupId);
    return;
  }
  state.openQueues.add(groupId);
  renderCard(groupId);
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
  if (state.openQueues.has(groupId)) renderCard(groupId);
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
      if (status && status.agent) applyStatus(status);
    },
    onClose: () => { if (state.dialog?.api === dialogApi) state.dialog = null; },
  });
  state.dialog = { agent: agentId, api: dialogApi };
}

/** Updates the timers on screen: the visible rows and the shown cards, nothing else. */
function tick() {
  tickNode($('#agent-grid tbody'));
  tickNode($('#group-cards'));
}

function tickNode(root) {
  if (!root) return;
  const now = state.client ? state.client.now() : Date.now();
  const nodes = root.dataset?.since !== undefined ? [root] : root.querySelectorAll('[data-since]');
  for (const node of nodes) {
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
    state.order.map((id) => state.agents.get(id)).filter(Boolean).map((x) => [x.agent, x.name || x.agent]), a);
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

const WHAT = { login: 'Login', logout: 'Logout', availability: 'Availability', status: 'Status', active: 'Active', account: 'Account' };
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
