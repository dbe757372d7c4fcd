// Admin page (admin.html): agents, groups, memberships, integrations and the
// managers' permission, changed live through the admin API of
// docs/protocol.md ("Administration"). Plain HTTP with the console login's
// token (`Authorization: Bearer`), kept where the other consoles keep it
// (switchboard.js, sessionStorage), so the board's link opens this page
// signed in.
//
// Every table is searchable and paged by the server (integrations, listed
// whole by the server, are filtered and paged here). Every change is a form
// in a modal <dialog>: Enter submits, Escape closes, focus returns to the
// button that opened it. A refused change keeps its dialog open and says
// why in words: the error's `message`, and the field named by
// `details.field` is marked invalid and focused. Managers see what the server
// lets them see; what it refuses is said, not hidden.

import {
  CHANNELS, CHANNEL_LABELS, ProtocolError, api, savedSession, clearSession, logout, wireLoginForm, initials, el,
} from './switchboard.js';

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

const TABS = ['agents', 'groups', 'memberships', 'integrations', 'settings'];
const ROLES = ['agent', 'manager', 'admin'];
const ROLE_LABELS = { agent: 'Agent', manager: 'Manager', admin: 'Admin' };
const HANDLINGS = ['primary', 'secondary', 'pull', 'excluded'];
const HANDLING_LABELS = { primary: 'Primary', secondary: 'Secondary', pull: 'Pull only', excluded: 'Excluded' };
const DISTRIBUTIONS = { auto: 'Auto (pushed to agents)', pull: 'Pull (agents pick)' };
const PAGE_SIZES = [10, 25, 50, 100];
const MIN_PASSWORD = 10;
const SEARCH_DELAY_MS = 250;
/** A write of unknown outcome is sent this many times in all, with the same key. */
const UNKNOWN_TRIES = 3;
const UNKNOWN_RETRY_MS = 1000;

const state = {
  session: null,
  tab: 'agents',
  groups: new Map(), // id -> group, every group this login may see (for names and choices)
  agentNames: new Map(), // id -> display name, from every agent list seen
  tables: {}, // name -> table controller
  returnFocus: null, // {key, action}: a row's button to focus once its table is drawn again
};

let uid = 0;
const nextId = (prefix) => `${prefix}-${++uid}`;

document.addEventListener('DOMContentLoaded', () => {
  wireLoginForm($('#login-form'), (session) => start(session));
  $('[data-action=logout]').addEventListener('click', doLogout);
  wireTabs();
  wireFilters();
  $('[data-action=new-agent]').addEventListener('click', (e) => agentDialog(null, e.currentTarget));
  $('[data-action=new-group]').addEventListener('click', (e) => groupDialog(null, e.currentTarget));
  $('[data-action=new-membership]').addEventListener('click', (e) => membershipDialog(null, e.currentTarget));
  $('[data-action=new-integration]').addEventListener('click', (e) => integrationDialog(e.currentTarget));
  $('#password-form').addEventListener('submit', changeOwnPassword);
  $('#export-form').addEventListener('submit', exportDirectory);
  $('#import-form').addEventListener('submit', (e) => { e.preventDefault(); importDirectory(false); });
  $('[data-action=apply-import]').addEventListener('click', () => importDirectory(true));
  $('[data-action=cancel-import]').addEventListener('click', () => { pendingImport = null; $('#import-preview').hidden = true; });
  $('#settings-form').addEventListener('submit', saveSettings);
  state.tables.agents = makeTable('agents', agentsTableSpec());
  state.tables.groups = makeTable('groups', groupsTableSpec());
  state.tables.memberships = makeTable('memberships', membershipsTableSpec());
  state.tables.integrations = makeTable('integrations', integrationsTableSpec());
  window.addEventListener('hashchange', () => {
    const t = location.hash.slice(1);
    if (TABS.includes(t) && t !== state.tab && state.session) selectTab(t);
  });
  const saved = savedSession();
  if (saved) start(saved);
  else showLogin();
});

// ---------------------------------------------------------------- session

function showLogin(message = '') {
  $('#login').hidden = false;
  $('#workspace').hidden = true;
  $('#signed-in').hidden = true;
  $('#login-form [data-role=login-error]').textContent = message;
  $('#username').focus();
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
  const note = $('#role-note');
  if (roles.includes('admin')) {
    note.hidden = true;
  } else if (roles.includes('manager')) {
    note.hidden = false;
    note.textContent = 'You are signed in as a manager: you change memberships, caps, timers and channels of the groups you manage (not their names), when admins allow it. The server refuses anything else, and this page says so.';
  } else {
    note.hidden = false;
    note.textContent = 'The Admin page is for admins and managers. This login holds neither role, so the server will refuse what it asks.';
  }
  document.body.dataset.roles = roles.join(' ');
  const fromHash = location.hash.slice(1);
  loadGroups().then(() => selectTab(TABS.includes(fromHash) ? fromHash : 'agents'));
}

function sessionEnded() {
  state.session = null;
  clearSession();
  closeAllDialogs();
  showLogin('Your session has ended. Please sign in again.');
}

async function doLogout() {
  const token = state.session?.token;
  state.session = null;
  closeAllDialogs();
  await logout(token);
  showLogin();
}

/** A random idempotency key (a UUID where the browser has one). */
function newKey() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
}

/**
 * An authenticated call; a refused token (401) ends the session. Every write
 * carries an Idempotency-Key (docs/protocol.md §1.2): when its outcome is
 * unknown (`outcome_unknown`, or the connection failed before the answer) it
 * is sent again with the same key, so it is applied at most once and the
 * answer says what happened.
 */
async function call(path, opts = {}) {
  if (!state.session) throw new ProtocolError('unauthorized', 'Not signed in.', null, 401);
  const write = (opts.method || 'GET') !== 'GET';
  const headers = write ? { ...(opts.headers || {}), 'Idempotency-Key': newKey() } : opts.headers;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await api(path, { ...opts, headers, token: state.session.token });
    } catch (e) {
      if (e.status === 401) sessionEnded();
      const unknown = e.code === 'outcome_unknown' || e.code === 'network';
      if (!write || !unknown || attempt >= UNKNOWN_TRIES) throw e;
      await new Promise((r) => setTimeout(r, UNKNOWN_RETRY_MS * attempt));
    }
  }
}

const enc = encodeURIComponent;

function query(params) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v != null) qs.set(k, String(v));
  const s = qs.toString();
  return s ? `?${s}` : '';
}

// ---------------------------------------------------------------- errors and notices

/** An error in words: the server's message, and what kind of refusal it is. */
function describeError(e) {
  if (!(e instanceof ProtocolError)) return e?.message || String(e);
  let msg = (e.message || '').trim();
  if (msg && !/[.!?)]$/.test(msg)) msg += '.';
  // Items in the way, when the message does not name them already.
  const ids = Array.isArray(e.details?.items) ? e.details.items.map(String) : [];
  const items = ids.length && !ids.every((id) => msg.includes(id)) ? ` In the way: ${ids.join(', ')}.` : '';
  switch (e.status) {
    case 403: return `Not allowed: ${msg || 'the server refused this change for your login.'}`;
    case 404: return `Not found: ${msg || 'it may have been deleted meanwhile.'}`;
    case 409: return `${msg || 'This conflicts with the current state.'}${items}`;
    default: return `${msg}${items}`;
  }
}

function showError(message) {
  const box = $('#errors');
  while (box.children.length >= 3) box.firstElementChild.remove();
  const note = el('div', { class: 'error-note', 'data-role': 'page-error' },
    el('span', { text: message }),
    el('button', { type: 'button', class: 'link-btn', text: 'Dismiss', onclick: () => note.remove() }));
  box.append(note);
}

function showNotice(message, action = null) {
  const box = $('#notices');
  while (box.children.length >= 2) box.firstElementChild.remove();
  const note = el('div', { class: 'info-note', 'data-role': 'notice' },
    el('span', { text: message }),
    el('span', { class: 'note-actions' },
      action ? el('button', { type: 'button', class: 'link-btn', text: action.label, onclick: (ev) => { note.remove(); action.run(ev); } }) : null,
      el('button', { type: 'button', class: 'link-btn', text: 'Dismiss', onclick: () => note.remove() })));
  box.append(note);
  setTimeout(() => note.remove(), 15000);
}

function announce(text) {
  const a = $('#announcer');
  a.textContent = '';
  setTimeout(() => { a.textContent = text; }, 30);
}

// ---------------------------------------------------------------- tabs

function wireTabs() {
  const tabs = $$('[role=tab]');
  for (const tab of tabs) {
    tab.addEventListener('click', () => selectTab(tab.dataset.tab));
    tab.addEventListener('keydown', (e) => {
      const i = tabs.indexOf(tab);
      let j = null;
      if (e.key === 'ArrowRight') j = (i + 1) % tabs.length;
      else if (e.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
      else if (e.key === 'Home') j = 0;
      else if (e.key === 'End') j = tabs.length - 1;
      if (j == null) return;
      e.preventDefault();
      selectTab(tabs[j].dataset.tab);
      tabs[j].focus();
    });
  }
}

function selectTab(name) {
  state.tab = name;
  for (const tab of $$('[role=tab]')) {
    const on = tab.dataset.tab === name;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
  }
  for (const panel of $$('[role=tabpanel]')) panel.hidden = panel.dataset.panel !== name;
  if (location.hash.slice(1) !== name) history.replaceState(null, '', `#${name}`);
  if (name === 'settings') loadSettings();
  else state.tables[name]?.reload();
}

// ---------------------------------------------------------------- filters

function wireFilters() {
  for (const form of $$('[data-role=filters]')) {
    const table = form.closest('[data-panel]').dataset.panel;
    let timer = 0;
    const go = () => { clearTimeout(timer); state.tables[table]?.reload({ offset: 0 }); };
    form.addEventListener('submit', (e) => { e.preventDefault(); go(); });
    for (const input of $$('input', form)) {
      input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(go, SEARCH_DELAY_MS); });
      input.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); go(); } });
    }
    for (const select of $$('select', form)) select.addEventListener('change', go);
  }
}

function filterValue(sel) { return $(sel).value.trim(); }

// ---------------------------------------------------------------- groups (names and choices)

/** Every group this login may see, a page at a time; fills the group pickers. */
async function loadGroups() {
  const all = new Map();
  try {
    for (let offset = 0; ;) {
      const page = await call(`/api/admin/groups${query({ offset, limit: 100 })}`);
      for (const g of page.groups || []) all.set(g.id, g);
      offset += (page.groups || []).length;
      if (!(page.groups || []).length || offset >= (page.total ?? 0)) break;
    }
  } catch (e) {
    if (e.status !== 401) showError(`The groups could not be loaded. ${describeError(e)}`);
    return;
  }
  state.groups = all;
  fillGroupPickers();
}

function sortedGroups() {
  return [...state.groups.values()].sort((a, b) =>
    (a.department || '').localeCompare(b.department || '') || (a.name || a.id).localeCompare(b.name || b.id));
}

function groupName(id) {
  if (id === '*') return 'All groups';
  return state.groups.get(id)?.name || id;
}

function agentLabel(id) {
  const n = state.agentNames.get(id);
  return n && n !== id ? `${n} (${id})` : id;
}

function groupOptions(select, { blank = null, value = '', exclude = null } = {}) {
  select.replaceChildren();
  if (blank != null) select.append(el('option', { value: '', text: blank }));
  for (const g of sortedGroups()) {
    if (g.id === exclude) continue;
    select.append(el('option', { value: g.id, text: g.department ? `${g.name} · ${g.department}` : g.name }));
  }
  select.value = value;
  if (select.value !== value && value) {
    // A group this login cannot list (or since deleted): keep it choosable by id.
    select.append(el('option', { value, text: value }));
    select.value = value;
  }
}

function fillGroupPickers() {
  for (const select of $$('select[data-groups=any]')) groupOptions(select, { blank: 'Any group', value: select.value });
}

// ---------------------------------------------------------------- tables

/**
 * A searchable, paged table in `[data-table=name]`.
 * spec.columns: [{label, cell(row) -> Node|string, class?}]
 * spec.load({offset, limit}) -> {total, rows}
 * spec.key(row) -> string, spec.caption, spec.empty
 */
function makeTable(name, spec) {
  const host = $(`[data-table=${name}]`);
  const t = { offset: 0, limit: 25, total: 0, rows: [], seq: 0 };
  const status = el('p', { class: 'table-status', 'data-role': 'table-status', role: 'status' });
  const error = el('p', { class: 'form-error', 'data-role': 'table-error', role: 'alert' });
  const table = el('table', { class: 'admin-table', 'data-role': `${name}-table` });
  table.append(el('caption', { class: 'visually-hidden', text: spec.caption }));
  const headRow = el('tr');
  for (const c of spec.columns) headRow.append(el('th', { scope: 'col', class: c.class || null, text: c.label }));
  table.append(el('thead', {}, headRow));
  const tbody = el('tbody');
  table.append(tbody);
  const empty = el('p', { class: 'empty', 'data-role': 'empty', text: spec.empty, hidden: true });
  const prev = el('button', { type: 'button', class: 'btn small', 'data-action': 'prev-page', text: '‹ Previous' });
  const next = el('button', { type: 'button', class: 'btn small', 'data-action': 'next-page', text: 'Next ›' });
  const sizeId = nextId(`${name}-size`);
  const size = el('select', { id: sizeId, 'data-role': 'page-size' }, PAGE_SIZES.map((n) => el('option', { value: n, text: n })));
  size.value = String(t.limit);
  const range = el('span', { class: 'page-range', 'data-role': 'page-range' });
  const pager = el('nav', { class: 'pager', 'aria-label': `${spec.caption}: pages` },
    range, el('span', { class: 'pager-buttons' }, prev, next),
    el('span', { class: 'page-size' }, el('label', { for: sizeId, text: 'Rows per page' }), size));
  host.append(error, el('div', { class: 'grid-wrap' }, table), empty, pager, status);

  prev.addEventListener('click', () => reload({ offset: Math.max(0, t.offset - t.limit) }));
  next.addEventListener('click', () => reload({ offset: t.offset + t.limit }));
  size.addEventListener('change', () => { t.limit = Number(size.value); reload({ offset: 0 }); });

  async function reload({ offset = t.offset } = {}) {
    const seq = ++t.seq;
    host.setAttribute('aria-busy', 'true');
    try {
      const { total, rows } = await spec.load({ offset, limit: t.limit });
      if (seq !== t.seq) return;
      // A page emptied by a deletion: show the last page that has rows.
      if (rows.length === 0 && offset > 0 && total > 0) {
        reload({ offset: Math.max(0, Math.floor((total - 1) / t.limit) * t.limit) });
        return;
      }
      t.offset = offset;
      t.total = total;
      t.rows = rows;
      error.textContent = '';
      render();
    } catch (e) {
      if (seq !== t.seq) return;
      error.textContent = `The ${spec.caption.toLowerCase()} could not be loaded. ${describeError(e)}`;
      t.rows = [];
      t.total = 0;
      render();
    } finally {
      if (seq === t.seq) host.removeAttribute('aria-busy');
    }
  }

  function render() {
    tbody.replaceChildren();
    for (const row of t.rows) {
      const tr = el('tr', { 'data-key': spec.key(row) });
      for (const c of spec.columns) {
        const v = c.cell(row);
        tr.append(el('td', { class: c.class || null, 'data-label': c.label }, v));
      }
      tbody.append(tr);
    }
    const from = t.rows.length ? t.offset + 1 : 0;
    const to = t.offset + t.rows.length;
    range.textContent = t.total ? `${from}–${to} of ${t.total}` : 'None';
    prev.disabled = t.offset === 0;
    next.disabled = to >= t.total;
    table.hidden = t.rows.length === 0;
    empty.hidden = t.rows.length !== 0 || Boolean(error.textContent);
    pager.hidden = t.total <= PAGE_SIZES[0] && t.offset === 0 && t.limit >= t.total;
    status.textContent = '';
    host.dataset.loaded = 'true';
    const spot = state.returnFocus;
    const lost = !document.activeElement || document.activeElement === document.body
      || document.activeElement.getAttribute('role') === 'tab' || !document.activeElement.isConnected;
    if (spot && lost && host.closest('[role=tabpanel]:not([hidden])')) {
      const row = [...tbody.rows].find((r) => r.dataset.key === spot.key);
      const btn = row?.querySelector(`[data-action="${spot.action}"]`) || row?.querySelector('button');
      if (btn) { btn.focus(); state.returnFocus = null; }
    }
  }

  return { reload, state: t };
}

function actions(...buttons) {
  return el('span', { class: 'row-buttons' }, buttons.filter(Boolean));
}

function actionBtn(label, accessibleName, action, onClick, cls = '') {
  return el('button', {
    type: 'button', class: `btn small ${cls}`.trim(), 'data-action': action, 'aria-label': accessibleName, text: label,
    onclick: (e) => onClick(e.currentTarget),
  });
}

function pill(text, cls) { return el('span', { class: `pill ${cls}`, text }); }

/** Client-side search and paging, for lists the server gives whole. */
function pageLocally(rows, { offset, limit }) {
  return { total: rows.length, rows: rows.slice(offset, offset + limit) };
}

// ---------------------------------------------------------------- agents

function agentsTableSpec() {
  return {
    caption: 'Agents',
    empty: 'No agents match.',
    key: (a) => a.id,
    async load({ offset, limit }) {
      const data = await call(`/api/admin/agents${query({ q: filterValue('#agents-q'), group: $('#agents-group').value, offset, limit })}`);
      const rows = data.agents || [];
      for (const a of rows) state.agentNames.set(a.id, a.name);
      return { total: data.total ?? rows.length, rows };
    },
    columns: [
      {
        label: 'Agent',
        cell: (a) => el('span', { class: 'agent-cell' },
          el('span', { class: 'mini-mono', 'aria-hidden': 'true', text: initials(a.name || a.id) }),
          el('span', {}, el('strong', { text: a.name || a.id }), el('span', { class: 'sub', text: a.id }))),
      },
      { label: 'Roles', cell: (a) => (a.roles || []).map((r) => ROLE_LABELS[r] || r).join(', ') || '—' },
      { label: 'Chat cap', class: 'num', cell: (a) => String(a.chat_cap ?? '—') },
      {
        label: 'Permissions',
        cell: (a) => [
          a.manage_own_status ? 'Sets own Active Groups' : 'Active Groups set by supervisors',
          a.take_assigned ? 'may take assigned work' : null,
        ].filter(Boolean).join('; '),
      },
      {
        label: 'Groups',
        cell: (a) => {
          const gs = a.groups || [];
          if (!gs.length) return el('span', { class: 'muted', text: 'None' });
          return el('button', {
            type: 'button', class: 'link-btn', 'aria-label': `Memberships of ${a.name || a.id}`,
            text: gs.map(groupName).join(', '),
            onclick: () => showMemberships({ agent: a.id }),
          });
        },
      },
      {
        label: 'Status',
        cell: (a) => el('span', { class: 'pills' },
          a.enabled === false ? pill('Disabled', 'nothing') : pill('Enabled', 'avail'),
          a.logged_in ? pill('Logged in', 'in') : pill('Logged out', 'out')),
      },
      {
        label: 'Actions',
        class: 'actions-col',
        cell: (a) => {
          const who = a.name || a.id;
          return actions(
            actionBtn('Edit', `Edit ${who}`, 'edit', (b) => agentDialog(a, b)),
            a.id === state.session?.agent?.id
              ? actionBtn('Password', 'Change your own password', 'password', () => { selectTab('settings'); $('#pw-old').focus(); })
              : actionBtn('Password', `Reset the password of ${who}`, 'password', (b) => passwordDialog(a, b)),
            a.enabled === false
              ? actionBtn('Enable', `Enable ${who}`, 'enable', (b) => enableAgent(a, b))
              : actionBtn('Disable', `Disable ${who}`, 'disable', (b) => disableDialog(a, b)),
            actionBtn('Delete', `Delete ${who}`, 'delete', (b) => deleteAgentDialog(a, b), 'danger'),
          );
        },
      },
    ],
  };
}

function agentDialog(agent, opener) {
  const creating = !agent;
  const a = agent || { id: '', name: '', roles: ['agent'], chat_cap: 3, manage_own_status: true, take_assigned: false };
  const fields = [];
  if (creating) {
    fields.push(textField({ label: 'Login', name: 'id', hint: 'Letters, digits, dots, dashes or underscores; it never changes.', autocomplete: 'off', required: true }));
  }
  fields.push(textField({ label: 'Display name', name: 'name', value: a.name, required: true, autocomplete: 'off' }));
  if (creating) {
    fields.push(textField({ label: 'Password', name: 'password', type: 'password', autocomplete: 'new-password', required: true, hint: `At least ${MIN_PASSWORD} characters. Give it to the agent; they can change it.` }));
  }
  fields.push(checkGroup({ legend: 'Roles', name: 'roles', options: ROLES.map((r) => [r, ROLE_LABELS[r]]), checked: a.roles || [] }));
  fields.push(textField({ label: 'Chat cap', name: 'chat_cap', type: 'number', value: a.chat_cap, min: 0, step: 1, hint: 'Most live chats held at once. Lowering it takes nothing away; no new chats until below it.' }));
  fields.push(checkField({ label: 'May set their own Active Groups', name: 'manage_own_status', checked: a.manage_own_status }));
  fields.push(checkField({ label: 'May take work assigned to someone else', name: 'take_assigned', checked: a.take_assigned }));
  formDialog({
    title: creating ? 'New agent' : `Edit ${a.name || a.id}`,
    description: creating ? 'The agent can sign in at once; add them to groups to give them work.' : `Login: ${a.id}`,
    fields,
    submitLabel: creating ? 'Create agent' : 'Save',
    opener,
    role: creating ? 'new-agent' : 'edit-agent',
    async onSubmit(form) {
      const v = readForm(form);
      const body = {
        name: v.name,
        roles: v.roles,
        chat_cap: v.chat_cap === '' ? undefined : Number(v.chat_cap),
        manage_own_status: v.manage_own_status,
        take_assigned: v.take_assigned,
      };
      if (creating) {
        const created = await call('/api/admin/agents', { method: 'POST', body: { id: v.id, password: v.password, ...body } });
        const id = created?.id || created?.agent?.id || v.id;
        state.agentNames.set(id, v.name);
        showNotice(`Agent ${v.name} (${id}) created.`, {
          label: `Add ${v.name} to a group`,
          run: () => membershipDialog({ agent: id }, $('[data-action=new-membership]')),
        });
        announce(`Agent ${v.name} created`);
      } else {
        const patch = changed(body, a);
        if (Object.keys(patch).length === 0) return;
        await call(`/api/admin/agents/${enc(a.id)}`, { method: 'PATCH', body: patch });
        announce(`${v.name} saved`);
      }
      state.tables.agents.reload();
    },
  });
}

function passwordDialog(a, opener) {
  const who = a.name || a.id;
  formDialog({
    title: `Reset the password of ${who}`,
    description: `Every session of ${who} is closed; they sign in again with the new password.`,
    fields: [
      textField({ label: 'New password', name: 'password', type: 'password', autocomplete: 'new-password', required: true, hint: `At least ${MIN_PASSWORD} characters.` }),
      textField({ label: 'Repeat the new password', name: 'repeat', type: 'password', autocomplete: 'new-password', required: true }),
    ],
    submitLabel: 'Reset password',
    opener,
    role: 'password',
    async onSubmit(form) {
      const v = readForm(form);
      if (v.password !== v.repeat) {
        throw new ProtocolError('invalid_field', 'The two passwords differ.', { field: 'repeat' }, 400);
      }
      await call(`/api/admin/agents/${enc(a.id)}/password`, { method: 'POST', body: { password: v.password } });
      showNotice(`The password of ${who} was reset.`);
      announce('Password reset');
    },
  });
}

function disableDialog(a, opener) {
  const who = a.name || a.id;
  confirmDialog({
    title: `Disable ${who}?`,
    text: `${who} is logged out at once on every node and cannot sign in until enabled again. Work they hold stays theirs until closed or handed off.`,
    submitLabel: 'Disable',
    opener,
    async onSubmit() {
      await call(`/api/agents/${enc(a.id)}/disable`, { method: 'POST' });
      announce(`${who} disabled`);
      state.tables.agents.reload();
    },
  });
}

async function enableAgent(a) {
  try {
    await call(`/api/agents/${enc(a.id)}/enable`, { method: 'POST' });
    announce(`${a.name || a.id} enabled`);
    state.tables.agents.reload();
  } catch (e) {
    showError(`${a.name || a.id} was not enabled. ${describeError(e)}`);
  }
}

function deleteAgentDialog(a, opener) {
  const who = a.name || a.id;
  confirmDialog({
    title: `Delete ${who}?`,
    text: `The account ${a.id} is deleted and logged out at once; work ${who} holds goes back to routing in its group, with its wait kept. This cannot be undone.`,
    submitLabel: 'Delete agent',
    danger: true,
    opener,
    async onSubmit() {
      await call(`/api/admin/agents/${enc(a.id)}`, { method: 'DELETE' });
      showNotice(`Agent ${who} deleted.`);
      state.tables.agents.reload();
    },
  });
}

// ---------------------------------------------------------------- groups

function channelSummary(c) {
  if (!c || !c.enabled) return el('span', { class: 'cell-na', text: 'Off' });
  return c.distribution === 'pull' ? 'Pull' : 'Auto';
}

const secs = (ms) => (ms == null ? '—' : `${Math.round(ms / 100) / 10} s`);

function groupsTableSpec() {
  return {
    caption: 'Groups',
    empty: 'No groups match.',
    key: (g) => g.id,
    async load({ offset, limit }) {
      const data = await call(`/api/admin/groups${query({ q: filterValue('#groups-q'), offset, limit })}`);
      const rows = data.groups || [];
      for (const g of rows) state.groups.set(g.id, g);
      return { total: data.total ?? rows.length, rows };
    },
    columns: [
      { label: 'Group', cell: (g) => el('span', {}, el('strong', { text: g.name || g.id }), el('span', { class: 'sub', text: g.id })) },
      { label: 'Department', cell: (g) => g.department || '—' },
      ...CHANNELS.map((ch) => ({ label: CHANNEL_LABELS[ch], class: 'center', cell: (g) => channelSummary(g.channels?.[ch]) })),
      {
        label: 'Timers',
        cell: (g) => el('span', { class: 'timers' },
          el('span', { text: `ring ${secs(g.ring_timeout_ms)}` }),
          el('span', { text: `first reply ${secs(g.no_response_ms)}` }),
          el('span', { text: `disconnect ${secs(g.disconnect_ms)}` })),
      },
      { label: 'Queue when offline', class: 'center', cell: (g) => (g.queue_when_offline ? 'Yes' : 'No') },
      {
        label: 'Members',
        class: 'num',
        cell: (g) => el('button', {
          type: 'button', class: 'link-btn', 'aria-label': `Members of ${g.name || g.id}`,
          text: String(Array.isArray(g.members) ? g.members.length : (g.members ?? '—')),
          onclick: () => showMemberships({ group: g.id }),
        }),
      },
      {
        label: 'Actions',
        class: 'actions-col',
        cell: (g) => actions(
          actionBtn('Edit', `Edit ${g.name || g.id}`, 'edit', (b) => groupDialog(g, b)),
          actionBtn('Delete', `Delete ${g.name || g.id}`, 'delete', (b) => deleteGroupDialog(g, b), 'danger'),
        ),
      },
    ],
  };
}

function groupDialog(group, opener) {
  const creating = !group;
  const g = group || {
    id: '', name: '', department: '',
    channels: Object.fromEntries(CHANNELS.map((ch) => [ch, { enabled: true, distribution: 'auto' }])),
    ring_timeout_ms: 20000, no_response_ms: 60000, disconnect_ms: 120000, queue_when_offline: false,
    reassign_tickets_after_logout_ms: null,
  };
  const fields = [];
  if (creating) fields.push(textField({ label: 'Group id', name: 'id', required: true, autocomplete: 'off', hint: 'Letters, digits, dots, dashes or underscores; it never changes.' }));
  fields.push(el('div', { class: 'field-row' },
    textField({ label: 'Name', name: 'name', value: g.name, required: true, autocomplete: 'off' }),
    textField({ label: 'Department', name: 'department', value: g.department, autocomplete: 'off' })));
  const chans = el('fieldset', { class: 'channels' }, el('legend', { text: 'Channels' }));
  for (const ch of CHANNELS) {
    const c = g.channels?.[ch] || { enabled: false, distribution: 'auto' };
    chans.append(el('div', { class: 'channel-row' },
      checkField({ label: `${CHANNEL_LABELS[ch]} offered`, name: `channels.${ch}.enabled`, checked: c.enabled }),
      selectField({ label: `${CHANNEL_LABELS[ch]} distribution`, name: `channels.${ch}.distribution`, value: c.distribution || 'auto', options: Object.entries(DISTRIBUTIONS) }),
      textField({ label: `${CHANNEL_LABELS[ch]} wrap-up (seconds)`, name: `channels.${ch}.wrap_up_ms`, type: 'number', min: 0, step: 'any', value: (c.wrap_up_ms || 0) / 1000, hint: 'After closing one, no new one for this long (0: none).' })));
    // Cross-channel capacity: held work of the other channels, in any group, that keeps this one's new work away.
    chans.append(el('div', { class: 'channel-row' },
      CHANNELS.filter((o) => o !== ch).map((o) => textField({
        label: `New ${CHANNEL_LABELS[ch]} blocked by ${CHANNEL_LABELS[o]} held`, name: `channels.${ch}.blocked_by.${o}`,
        type: 'number', min: 0, step: 1, value: c.blocked_by?.[o] || 0,
        hint: `An agent holding this many ${CHANNEL_LABELS[o]} items gets no new ${CHANNEL_LABELS[ch]} (0: never).`,
      }))));
  }
  chans.append(el('p', { class: 'hint', text: 'A channel cannot be switched off while items of it wait in the queue; items already held stay with their holders.' }));
  fields.push(chans);
  fields.push(el('div', { class: 'field-row' },
    textField({ label: 'Ring timeout (seconds)', name: 'ring_timeout_ms', type: 'number', min: 0, step: 'any', value: g.ring_timeout_ms / 1000, hint: 'A call rings one agent this long.' }),
    textField({ label: 'First reply timeout (seconds)', name: 'no_response_ms', type: 'number', min: 0, step: 'any', value: g.no_response_ms / 1000, hint: 'An assigned chat moves on if unanswered.' }),
    textField({ label: 'Disconnect timeout (seconds)', name: 'disconnect_ms', type: 'number', min: 0, step: 'any', value: g.disconnect_ms / 1000, hint: 'A logged-out holder’s chats move after this.' }),
    textField({ label: 'Reassign tickets after logout (seconds)', name: 'reassign_tickets_after_logout_ms', type: 'number', min: 0, step: 'any', value: g.reassign_tickets_after_logout_ms == null ? '' : g.reassign_tickets_after_logout_ms / 1000, hint: 'Empty: a logged-out agent keeps its tickets.' })));
  fields.push(checkField({ label: 'Queue new chats when nobody is online', name: 'queue_when_offline', checked: g.queue_when_offline }));
  fields.push(el('div', { class: 'field-row' },
    textField({ label: 'Abandon waiting chats after (seconds)', name: 'abandon_after_ms', type: 'number', min: 0, step: 'any', value: (g.abandon_after_ms ?? 120000) / 1000, hint: 'A queued chat whose visitor closed the page this long ago leaves the queue (0: never).' }),
    textField({ label: 'Auto-away after idle (seconds)', name: 'auto_away_ms', type: 'number', min: 0, step: 'any', value: (g.auto_away_ms || 0) / 1000, hint: 'Members idle this long are set Unavailable (0: the server’s setting).' })));
  fields.push(textField({ label: 'Not Responding after (missed offers in a row)', name: 'not_responding_after', type: 'number', min: 0, step: 1, value: g.not_responding_after ?? 3, hint: 'An agent who lets this many offers run out gets no new work until it is ready (0: never).' }));
  formDialog({
    title: creating ? 'New group' : `Edit ${g.name || g.id}`,
    description: creating ? 'Add members afterwards on the Memberships tab.' : `Group id: ${g.id}`,
    fields,
    submitLabel: creating ? 'Create group' : 'Save',
    opener,
    role: creating ? 'new-group' : 'edit-group',
    async onSubmit(form) {
      const v = readForm(form);
      const ms = (name) => {
        if (v[name] === '') throw new ProtocolError('invalid_field', 'Enter a number of seconds.', { field: name }, 400);
        return Math.round(Number(v[name]) * 1000);
      };
      const count = (name) => {
        const n = Number(v[name]);
        if (v[name] === '' || !Number.isInteger(n) || n < 0) throw new ProtocolError('invalid_field', 'Enter a whole number, 0 or more.', { field: name }, 400);
        return n;
      };
      const channels = Object.fromEntries(CHANNELS.map((ch) => [ch, {
        enabled: v[`channels.${ch}.enabled`], distribution: v[`channels.${ch}.distribution`],
        wrap_up_ms: ms(`channels.${ch}.wrap_up_ms`),
        blocked_by: Object.fromEntries(CHANNELS.map((o) => [o, o === ch ? 0 : count(`channels.${ch}.blocked_by.${o}`)])),
      }]));
      const body = {
        name: v.name,
        department: v.department,
        channels,
        ring_timeout_ms: ms('ring_timeout_ms'),
        no_response_ms: ms('no_response_ms'),
        disconnect_ms: ms('disconnect_ms'),
        reassign_tickets_after_logout_ms: v.reassign_tickets_after_logout_ms === '' ? null : ms('reassign_tickets_after_logout_ms'),
        queue_when_offline: v.queue_when_offline,
        not_responding_after: v.not_responding_after === '' ? 3 : Math.round(Number(v.not_responding_after)),
        abandon_after_ms: ms('abandon_after_ms'),
        auto_away_ms: ms('auto_away_ms'),
      };
      if (creating) {
        await call('/api/admin/groups', { method: 'POST', body: { id: v.id, ...body } });
        showNotice(`Group ${v.name} created.`, {
          label: 'Add members',
          run: () => membershipDialog({ group: v.id }, $('[data-action=new-membership]')),
        });
      } else {
        const patch = changed(body, g);
        if (patch.channels) {
          // Only the channels that changed (any of their settings), each whole.
          const before = (ch) => {
            const c = g.channels?.[ch] || {};
            return {
              enabled: Boolean(c.enabled), distribution: c.distribution || 'auto', wrap_up_ms: c.wrap_up_ms || 0,
              blocked_by: Object.fromEntries(CHANNELS.map((o) => [o, c.blocked_by?.[o] || 0])),
            };
          };
          patch.channels = Object.fromEntries(Object.entries(channels).filter(([ch, c]) =>
            JSON.stringify(c) !== JSON.stringify(before(ch))));
          if (!Object.keys(patch.channels).length) delete patch.channels;
        }
        if (Object.keys(patch).length === 0) return;
        await call(`/api/admin/groups/${enc(g.id)}`, { method: 'PATCH', body: patch });
      }
      announce('Group saved');
      await loadGroups();
      state.tables.groups.reload();
    },
  });
}

function deleteGroupDialog(g, opener) {
  const who = g.name || g.id;
  const moveTo = selectField({ label: 'Move its open items to', name: 'move_to', value: '', options: [] });
  groupOptions($('select', moveTo), { blank: 'Nowhere: refuse if it has open items', exclude: g.id });
  formDialog({
    title: `Delete ${who}?`,
    description: `Its memberships end. A group with queued or assigned work is not deleted unless you name a group to move that work to.`,
    fields: [moveTo],
    submitLabel: 'Delete group',
    danger: true,
    opener,
    role: 'delete-group',
    async onSubmit(form) {
      const v = readForm(form);
      await call(`/api/admin/groups/${enc(g.id)}${query({ move_to: v.move_to })}`, { method: 'DELETE' });
      showNotice(`Group ${who} deleted.`);
      await loadGroups();
      state.tables.groups.reload();
    },
  });
}

// ---------------------------------------------------------------- memberships

function showMemberships({ agent = '', group = '' }) {
  $('#memberships-agent').value = agent;
  $('#memberships-group').value = group;
  state.tables.memberships.state.offset = 0;
  selectTab('memberships');
  $('#tab-memberships').focus();
}

function membershipsTableSpec() {
  return {
    caption: 'Memberships',
    empty: 'No memberships match.',
    key: (m) => `${m.group}/${m.agent}`,
    async load({ offset, limit }) {
      const data = await call(`/api/admin/memberships${query({ group: $('#memberships-group').value, agent: filterValue('#memberships-agent'), offset, limit })}`);
      const rows = data.memberships || [];
      return { total: data.total ?? rows.length, rows };
    },
    columns: [
      { label: 'Agent', cell: (m) => agentLabel(m.agent) },
      { label: 'Group', cell: (m) => groupName(m.group) },
      ...CHANNELS.map((ch) => ({
        label: CHANNEL_LABELS[ch],
        cell: (m) => {
          const h = m.handling?.[ch] || 'primary';
          const off = state.groups.get(m.group)?.channels?.[ch]?.enabled === false;
          return el('span', { class: h === 'excluded' || off ? 'cell-na' : null, text: off ? 'Channel off in group' : HANDLING_LABELS[h] || h });
        },
      })),
      { label: 'Ticket cap', class: 'num', cell: (m) => (m.ticket_cap == null ? 'None' : String(m.ticket_cap)) },
      {
        label: 'Actions',
        class: 'actions-col',
        cell: (m) => {
          const who = `${agentLabel(m.agent)} in ${groupName(m.group)}`;
          return actions(
            actionBtn('Edit', `Edit ${who}`, 'edit', (b) => membershipDialog(m, b, true)),
            actionBtn('Remove', `Remove ${who}`, 'remove', (b) => removeMemberDialog(m, b), 'danger'),
          );
        },
      },
    ],
  };
}

function membershipDialog(m, opener, editing = false) {
  const cur = m || {};
  const fields = [];
  let agentInput = null;
  if (!editing) {
    const agentField = textField({ label: 'Agent login', name: 'agent', value: cur.agent || filterValue('#memberships-agent'), required: true, autocomplete: 'off', hint: 'Type a name or login to see suggestions.' });
    agentInput = $('input', agentField);
    const listId = nextId('agent-suggestions');
    const list = el('datalist', { id: listId });
    agentInput.setAttribute('list', listId);
    agentField.append(list);
    let timer = 0;
    agentInput.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        try {
          const data = await call(`/api/admin/agents${query({ q: agentInput.value.trim(), limit: 20 })}`);
          list.replaceChildren(...(data.agents || []).map((a) => {
            state.agentNames.set(a.id, a.name);
            return el('option', { value: a.id, label: a.name });
          }));
        } catch { /* suggestions are a nicety */ }
      }, SEARCH_DELAY_MS);
    });
    fields.push(agentField);
    const groupField = selectField({ label: 'Group', name: 'group', value: '', options: [] });
    groupOptions($('select', groupField), { blank: 'Choose a group', value: cur.group || $('#memberships-group').value });
    fields.push(groupField);
  }
  const handling = el('fieldset', { class: 'channels' }, el('legend', { text: 'Handling per channel' }));
  for (const ch of CHANNELS) {
    handling.append(selectField({
      label: CHANNEL_LABELS[ch], name: `handling.${ch}`, value: cur.handling?.[ch] || 'primary',
      options: HANDLINGS.map((h) => [h, HANDLING_LABELS[h]]),
    }));
  }
  handling.append(el('p', { class: 'hint', text: 'Primary: routed first. Secondary: routed when no primary can take it. Pull only: never pushed, may pick from the queue. Excluded: not offered.' }));
  fields.push(handling);
  fields.push(textField({ label: 'Ticket cap', name: 'ticket_cap', type: 'number', min: 0, step: 1, value: cur.ticket_cap ?? '', hint: 'Most tickets held from this group at once; empty for no cap.' }));
  if (!editing) {
    fields.push(checkGroup({ legend: 'Active from the start for', name: 'active', options: CHANNELS.map((ch) => [ch, CHANNEL_LABELS[ch]]), checked: [...CHANNELS], hint: 'Unticked channels start inactive; the agent (or a supervisor) switches them in Active Groups. Channels the group does not offer stay N/A.' }));
  }
  formDialog({
    title: editing ? `Edit ${agentLabel(cur.agent)} in ${groupName(cur.group)}` : 'Add a member',
    description: editing ? 'Lowering a cap takes no work away; no new tickets until the load is below it.' : 'The agent sees the group at once in Active Groups and the boards show them.',
    fields,
    submitLabel: editing ? 'Save' : 'Add member',
    opener,
    role: editing ? 'edit-membership' : 'new-membership',
    async onSubmit(form) {
      const v = readForm(form);
      const body = {
        handling: Object.fromEntries(CHANNELS.map((ch) => [ch, v[`handling.${ch}`]])),
        ticket_cap: v.ticket_cap === '' ? null : Number(v.ticket_cap),
      };
      if (editing) {
        const patch = {};
        if (CHANNELS.some((ch) => body.handling[ch] !== (cur.handling?.[ch] || 'primary'))) patch.handling = body.handling;
        if (body.ticket_cap !== (cur.ticket_cap ?? null)) patch.ticket_cap = body.ticket_cap;
        if (Object.keys(patch).length === 0) return;
        await call(`/api/admin/memberships/${enc(cur.group)}/${enc(cur.agent)}`, { method: 'PATCH', body: patch });
        announce('Membership saved');
      } else {
        if (!v.agent) throw new ProtocolError('invalid_field', 'Enter the login of the agent to add.', { field: 'agent' }, 400);
        if (!v.group) throw new ProtocolError('invalid_field', 'Choose a group.', { field: 'group' }, 400);
        const payload = { agent: v.agent, group: v.group, ...body };
        if (payload.ticket_cap == null) delete payload.ticket_cap;
        payload.active = Object.fromEntries(CHANNELS.map((ch) => [ch, v.active.includes(ch)]));
        await call('/api/admin/memberships', { method: 'POST', body: payload });
        showNotice(`${agentLabel(v.agent)} is now a member of ${groupName(v.group)}.`);
        announce('Member added');
      }
      state.tables.memberships.reload();
    },
  });
}

function removeMemberDialog(m, opener) {
  const who = agentLabel(m.agent);
  const where = groupName(m.group);
  confirmDialog({
    title: `Remove ${who} from ${where}?`,
    text: `Work ${who} holds in ${where} goes back to routing there, with its wait kept. ${who} stops seeing the group at once.`,
    submitLabel: 'Remove member',
    danger: true,
    opener,
    async onSubmit() {
      await call(`/api/admin/memberships/${enc(m.group)}/${enc(m.agent)}`, { method: 'DELETE' });
      showNotice(`${who} removed from ${where}.`);
      state.tables.memberships.reload();
    },
  });
}

// ---------------------------------------------------------------- integrations

function formatExpiry(at) {
  if (at == null) return 'current';
  const t = typeof at === 'number' ? at : Date.parse(at);
  if (Number.isNaN(t)) return `until ${at}`;
  const when = new Date(t);
  return `${t <= Date.now() ? 'expired' : 'works until'} ${when.toLocaleString()}`;
}

function integrationsTableSpec() {
  return {
    caption: 'Integrations',
    empty: 'No integrations match.',
    key: (i) => i.name,
    async load(page) {
      const data = await call('/api/admin/integrations');
      const q = filterValue('#integrations-q').toLowerCase();
      const rows = (data.integrations || []).filter((i) => !q || i.name.toLowerCase().includes(q)
        || (i.groups || []).some((g) => g.toLowerCase().includes(q) || groupName(g).toLowerCase().includes(q)));
      rows.sort((a, b) => a.name.localeCompare(b.name));
      return pageLocally(rows, page);
    },
    columns: [
      { label: 'Name', cell: (i) => el('strong', { text: i.name }) },
      { label: 'May create work in', cell: (i) => ((i.groups || []).includes('*') ? 'All groups' : (i.groups || []).map(groupName).join(', ') || 'No group') },
      { label: 'May also', cell: (i) => permissionsText(i) },
      { label: 'Webhooks', cell: (i) => ((i.webhook_urls || []).length ? el('ul', { class: 'key-list' }, i.webhook_urls.map((u) => el('li', {}, el('code', { text: u })))) : '—') },
      {
        label: 'Keys (digest, expiry)',
        cell: (i) => el('ul', { class: 'key-list' }, (i.keys || []).map((k) =>
          el('li', {}, el('code', { title: 'The first digits of the key’s SHA-256 digest, to tell keys apart', text: k.prefix }), ' ',
            el('span', { class: 'sub-inline', text: formatExpiry(k.expires_at) })))),
      },
      {
        label: 'Actions',
        class: 'actions-col',
        cell: (i) => actions(
          actionBtn('Scope', `Change where ${i.name} may act and what it may do`, 'scope', (b) => integrationDialog(b, i)),
          actionBtn('Rotate key', `Rotate the key of ${i.name}`, 'rotate', (b) => rotateDialog(i, b)),
          actionBtn('Dead letters', `Webhook deliveries to ${i.name} that failed`, 'dead-letters', (b) => deadLettersDialog(i, b)),
          actionBtn('Revoke', `Revoke ${i.name}`, 'revoke', (b) => revokeDialog(i, b), 'danger'),
        ),
      },
    ],
  };
}

/** What an integration may do beyond its groups' work, in words. */
function permissionsText(i) {
  const may = [];
  if (i.override_capacity) may.push('assign over an agent’s cap');
  if (i.set_presence) may.push('set agents’ status and active groups');
  return may.join('; ') || '—';
}

/** A new integration (`existing` null), or a new scope and permissions for one. */
function integrationDialog(opener, existing = null) {
  const current = existing?.groups || [];
  const everywhere = current.includes('*');
  const scope = el('fieldset', { class: 'scope', 'data-array': 'groups' }, el('legend', { text: 'May create work in' }));
  const allId = nextId('scope-all');
  const someId = nextId('scope-some');
  const all = el('input', { type: 'radio', id: allId, name: 'scope', value: 'all', checked: everywhere, 'data-field': 'groups' });
  const some = el('input', { type: 'radio', id: someId, name: 'scope', value: 'some', checked: !everywhere, 'data-field': 'groups' });
  const known = sortedGroups();
  // Scoped groups this login cannot list still show, by id.
  for (const id of current) if (id !== '*' && !state.groups.has(id)) known.push({ id, name: id });
  const boxes = el('div', { class: 'group-checks' }, known.map((g) => {
    const id = nextId('scope-g');
    return el('div', { class: 'check-field' },
      el('input', { type: 'checkbox', id, name: 'groups', value: g.id, checked: current.includes(g.id), 'data-field': 'groups' }),
      el('label', { for: id, text: g.name }));
  }));
  const sync = () => { for (const b of $$('input[type=checkbox]', boxes)) b.disabled = all.checked; };
  all.addEventListener('change', sync);
  some.addEventListener('change', sync);
  sync();
  scope.append(
    el('div', { class: 'check-field' }, all, el('label', { for: allId, text: 'All groups' })),
    el('div', { class: 'check-field' }, some, el('label', { for: someId, text: 'Only these groups:' })),
    boxes);
  const permissions = el('fieldset', { class: 'scope' }, el('legend', { text: 'It may also' }),
    checkField({ label: 'Assign work to an agent at its cap', name: 'override_capacity', checked: existing?.override_capacity }),
    checkField({ label: 'Set the status and active groups of its groups’ agents (a workforce-management tool)', name: 'set_presence', checked: existing?.set_presence }));
  const urlsId = nextId('f-webhook-urls');
  const webhooks = el('fieldset', { class: 'scope' }, el('legend', { text: 'Webhooks' }),
    el('div', { class: 'field' },
      el('label', { for: urlsId, text: 'URLs its events are sent to (one per line, up to 8)' }),
      el('textarea', { id: urlsId, name: 'webhook_urls', rows: 3, spellcheck: 'false', 'data-field': 'webhook_urls', 'aria-describedby': `${urlsId}-hint` },
        (existing?.webhook_urls || []).join('\n')),
      el('span', { class: 'hint', id: `${urlsId}-hint`, text: 'https:// (or http:// on a private network). Empty: no webhooks; the event stream still works.' })),
    textField({ label: existing?.webhook_secret_set ? 'New signing secret (empty: keep the current one)' : 'Signing secret (empty: the server draws one and shows it once)', name: 'webhook_secret', type: 'password', autocomplete: 'new-password', hint: '16 to 256 characters.' }));
  const fields = existing ? [scope, permissions, webhooks]
    : [textField({ label: 'Name', name: 'name', required: true, autocomplete: 'off', hint: 'e.g. the system that sends the work: crm, phone-system.' }), scope, permissions, webhooks];
  formDialog({
    title: existing ? `Where ${existing.name} may act` : 'New integration',
    description: existing ? 'Its keys stay as they are; the new scope applies to the next request.' : 'Its key is shown once, when it is made. Store it where the integration runs.',
    fields,
    submitLabel: existing ? 'Save scope' : 'Create and show key',
    opener,
    role: existing ? 'integration-scope' : 'new-integration',
    async onSubmit(form) {
      const v = readForm(form);
      const groups = all.checked ? ['*'] : v.groups;
      if (!groups.length) throw new ProtocolError('invalid_field', 'Choose at least one group, or All groups.', { field: 'groups' }, 400);
      const allowed = { override_capacity: v.override_capacity, set_presence: v.set_presence };
      const urls = v.webhook_urls.split('\n').map((u) => u.trim()).filter(Boolean);
      const hooks = {};
      const urlsChanged = JSON.stringify(urls) !== JSON.stringify(existing?.webhook_urls || []);
      if (urlsChanged) hooks.webhook_urls = urls;
      if (v.webhook_secret) hooks.webhook_secret = v.webhook_secret;
      if (existing) {
        const data = await call(`/api/admin/integrations/${enc(existing.name)}`, { method: 'PATCH', body: { groups, ...allowed, ...hooks } });
        announce('Integration saved');
        state.tables.integrations.reload();
        return data?.webhook_secret ? () => secretDialog(existing.name, data.webhook_secret, opener) : undefined;
      }
      const data = await call('/api/admin/integrations', { method: 'POST', body: { name: v.name, groups, ...allowed, ...hooks } });
      state.tables.integrations.reload();
      return () => keyDialog({ name: data?.integration?.name || v.name, key: data.key, rotated: false, secret: data.webhook_secret }, opener);
    },
  });
}

function rotateDialog(i, opener) {
  formDialog({
    title: `Rotate the key of ${i.name}`,
    description: 'A new key is made and shown once. The old key keeps working during the overlap, so the integration can switch without a gap; after it, the old key is refused.',
    fields: [textField({ label: 'Overlap (seconds)', name: 'overlap_seconds', type: 'number', min: 0, step: 1, value: 3600, required: true, hint: '0 refuses the old key at once.' })],
    submitLabel: 'Rotate and show key',
    opener,
    role: 'rotate',
    async onSubmit(form) {
      const v = readForm(form);
      if (v.overlap_seconds === '') throw new ProtocolError('invalid_field', 'Enter the overlap in seconds (0 for none).', { field: 'overlap_seconds' }, 400);
      const data = await call(`/api/admin/integrations/${enc(i.name)}/rotate`, { method: 'POST', body: { overlap_seconds: Number(v.overlap_seconds) } });
      state.tables.integrations.reload();
      return () => keyDialog({ name: i.name, key: data.key, rotated: true }, opener);
    },
  });
}

function revokeDialog(i, opener) {
  confirmDialog({
    title: `Revoke ${i.name}?`,
    text: `Every key of ${i.name} is refused at once; work it created stays.`,
    submitLabel: 'Revoke',
    danger: true,
    opener,
    async onSubmit() {
      await call(`/api/admin/integrations/${enc(i.name)}`, { method: 'DELETE' });
      showNotice(`Integration ${i.name} revoked.`);
      state.tables.integrations.reload();
    },
  });
}

/** The key, once: a read-only field, a copy button and the warning. */
/** A drawn webhook secret, shown once. */
function secretDialog(name, secret, opener) {
  const id = nextId('new-secret');
  formDialog({
    title: `Webhook secret of ${name}`,
    description: null,
    fields: [
      el('p', { class: 'key-warning' }, el('strong', { text: 'This secret will not be shown again. ' }),
        'The receiver checks each webhook’s X-Switchboard-Signature with it.'),
      el('div', { class: 'field' }, el('label', { for: id, text: 'Webhook signing secret' }),
        el('input', { id, class: 'key-value', readonly: true, value: secret, spellcheck: 'false', 'data-role': 'new-secret' })),
    ],
    submitLabel: 'I have stored it',
    cancel: false,
    opener,
    role: 'secret',
    async onSubmit() {},
  });
}

/** The webhook deliveries of an integration given up after their last attempt, and a way to try them again. */
async function deadLettersDialog(i, opener) {
  let data;
  try {
    data = await call(`/api/admin/integrations/${enc(i.name)}/dead-letters`);
  } catch (e) {
    showNotice(`The dead letters of ${i.name} could not be loaded. ${describeError(e)}`);
    return;
  }
  const letters = data?.dead_letters || [];
  const list = letters.length
    ? el('table', { class: 'dead-letters' },
      el('thead', {}, el('tr', {}, ['Event', 'URL', 'Attempts', 'Last error', 'Failed at'].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, letters.map((d) => el('tr', { 'data-key': d.id },
        el('td', {}, el('code', { text: `${d.event} ${d.id}` })), el('td', {}, el('code', { text: d.url })),
        el('td', { text: String(d.attempts) }), el('td', { text: d.error || '' }),
        el('td', { text: d.failed_at ? new Date(d.failed_at).toLocaleString() : '' })))))
    : el('p', { text: 'No failed deliveries.' });
  formDialog({
    title: `Dead letters of ${i.name}`,
    description: letters.length ? `${letters.length} webhook deliveries were given up after their last attempt.` : null,
    fields: [list],
    submitLabel: letters.length ? 'Deliver them again now' : 'Close',
    opener,
    role: 'dead-letters',
    async onSubmit() {
      if (!letters.length) return;
      const r = await call(`/api/admin/integrations/${enc(i.name)}/dead-letters/redeliver`, { method: 'POST' });
      announce(`${r.redelivered} delivered, ${r.failed} failed again`);
    },
  });
}

function keyDialog({ name, key, rotated, secret = null }, opener) {
  const inputId = nextId('new-key');
  const input = el('input', { id: inputId, class: 'key-value', readonly: true, value: key || '', spellcheck: 'false', 'data-role': 'new-key' });
  const copied = el('span', { class: 'saved-note', role: 'status', 'data-role': 'copied' });
  const copy = el('button', { type: 'button', class: 'btn', 'data-action': 'copy-key', text: 'Copy' });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(input.value);
      copied.textContent = 'Copied.';
    } catch {
      input.select();
      let ok = false;
      try { ok = document.execCommand('copy'); } catch { /* ignore */ }
      copied.textContent = ok ? 'Copied.' : 'The key is selected: press Ctrl+C (⌘C) to copy it.';
    }
  });
  input.addEventListener('focus', () => input.select());
  formDialog({
    title: rotated ? `New key of ${name}` : `Key of ${name}`,
    description: null,
    fields: [
      el('p', { class: 'key-warning', 'data-role': 'key-warning' },
        el('strong', { text: 'This key will not be shown again. ' }),
        'Copy it now and store it where the integration runs; only its first characters are kept here.',
        rotated ? ' The old key keeps working until the overlap ends.' : ''),
      el('div', { class: 'field' }, el('label', { for: inputId, text: 'API key (header X-Api-Key)' }),
        el('div', { class: 'key-row' }, input, copy)),
      copied,
      secret ? el('div', { class: 'field' }, el('label', { for: `${inputId}-secret`, text: 'Webhook signing secret (also shown only now)' }),
        el('input', { id: `${inputId}-secret`, class: 'key-value', readonly: true, value: secret, spellcheck: 'false', 'data-role': 'new-secret' })) : null,
    ],
    submitLabel: 'I have stored it',
    cancel: false,
    opener,
    role: 'key',
    async onSubmit() {},
  });
}

// ---------------------------------------------------------------- settings

async function loadSettings() {
  const form = $('#settings-form');
  const err = $('[data-role=form-error]', form);
  err.textContent = '';
  $('[data-role=saved]', form).textContent = '';
  try {
    const s = await call('/api/admin/settings');
    $('#set-managers-administer').checked = Boolean(s?.managers_administer);
    form.dataset.loaded = 'true';
  } catch (e) {
    err.textContent = `The settings could not be loaded. ${describeError(e)}`;
  }
}

async function saveSettings(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const err = $('[data-role=form-error]', form);
  const saved = $('[data-role=saved]', form);
  const button = $('button[type=submit]', form);
  err.textContent = '';
  saved.textContent = '';
  clearInvalid(form);
  button.disabled = true;
  try {
    const s = await call('/api/admin/settings', { method: 'PATCH', body: { managers_administer: $('#set-managers-administer').checked } });
    if (s && typeof s.managers_administer === 'boolean') $('#set-managers-administer').checked = s.managers_administer;
    saved.textContent = 'Saved.';
  } catch (ex) {
    err.textContent = describeError(ex);
    markInvalid(form, ex, err);
  } finally {
    button.disabled = false;
  }
}

/** POST /api/password: one's own password, the old one asked; sessions go on. */
async function changeOwnPassword(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const err = $('[data-role=form-error]', form);
  const saved = $('[data-role=saved]', form);
  const button = $('button[type=submit]', form);
  err.textContent = '';
  saved.textContent = '';
  clearInvalid(form);
  const v = readForm(form);
  button.disabled = true;
  try {
    if (v.new_password !== v.repeat) {
      throw new ProtocolError('invalid_field', 'The two new passwords differ.', { field: 'repeat' }, 400);
    }
    await call('/api/password', { method: 'POST', body: { old_password: v.old_password, new_password: v.new_password } });
    form.reset();
    saved.textContent = 'Your password was changed.';
  } catch (ex) {
    if (ex?.status === 401 && ex.code !== 'invalid_field') return;
    err.textContent = describeError(ex);
    markInvalid(form, ex, err);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- directory file

/** A call whose body or answer is not JSON (the directory file is TOML). */
async function rawCall(path, { method = 'GET', body, headers = {} } = {}) {
  if (!state.session) throw new ProtocolError('unauthorized', 'Not signed in.', null, 401);
  let res;
  try {
    res = await fetch(path, { method, body, headers: { Authorization: `Bearer ${state.session.token}`, ...headers } });
  } catch {
    throw new ProtocolError('network', 'The server cannot be reached. Check your connection.');
  }
  const text = await res.text();
  if (res.ok) return text;
  let err = null;
  try { err = JSON.parse(text)?.error; } catch { /* not JSON */ }
  if (res.status === 401) sessionEnded();
  throw new ProtocolError(err?.code || `http_${res.status}`, err?.message || `The server answered ${res.status}.`, err?.details ?? null, res.status);
}

async function exportDirectory(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const err = $('[data-role=form-error]', form);
  err.textContent = '';
  try {
    const toml = await rawCall(`/api/admin/directory${query({ password_hashes: $('#export-hashes').checked ? 'true' : '' })}`, { headers: { Accept: 'application/toml' } });
    const url = URL.createObjectURL(new Blob([toml], { type: 'application/toml' }));
    const a = el('a', { href: url, download: 'switchboard-directory.toml', hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (ex) {
    err.textContent = describeError(ex);
  }
}

let pendingImport = null; // the text previewed, applied as it was shown

const OP_WORDS = {
  create_agent: 'Create agent', update_agent: 'Change agent', delete_agent: 'Delete agent',
  create_group: 'Create group', update_group: 'Change group', delete_group: 'Delete group',
  add_member: 'Add member', update_member: 'Change member', remove_member: 'Remove member',
};

async function importDirectory(apply) {
  const form = $('#import-form');
  const err = $('[data-role=form-error]', form);
  const preview = $('#import-preview');
  err.textContent = '';
  clearInvalid(form);
  try {
    let text = pendingImport;
    if (!apply) {
      const file = $('#import-file').files?.[0];
      if (!file) throw new ProtocolError('invalid_field', 'Choose a directory file first.', { field: 'file' }, 400);
      text = await file.text();
    }
    const data = JSON.parse(await rawCall(`/api/admin/directory/import${query({ apply: apply ? 'true' : '' })}`, {
      method: 'POST', body: text, headers: { 'Content-Type': 'application/toml', 'Idempotency-Key': newKey() },
    }));
    const changes = data?.changes || [];
    const list = $('[data-role=import-changes]');
    list.replaceChildren(...changes.map((c) => {
      const { op, ...rest } = c;
      return el('li', { text: `${OP_WORDS[op] || op} ${Object.values(rest).join(' in ')}` });
    }));
    if (data?.applied) {
      pendingImport = null;
      preview.hidden = false;
      $('[data-role=import-summary]').textContent = `Applied ${changes.length} change${changes.length === 1 ? '' : 's'}.`;
      $('[data-action=apply-import]').hidden = true;
      $('[data-action=cancel-import]').hidden = true;
      form.reset();
      await loadGroups();
      return;
    }
    pendingImport = changes.length ? text : null;
    preview.hidden = false;
    $('[data-role=import-summary]').textContent = changes.length
      ? `${changes.length} change${changes.length === 1 ? '' : 's'} to make. Nothing is changed until you apply them.`
      : 'The file matches the live directory: nothing to change.';
    $('[data-action=apply-import]').hidden = !changes.length;
    $('[data-action=cancel-import]').hidden = !changes.length;
  } catch (ex) {
    if (!apply) { preview.hidden = true; pendingImport = null; }
    err.textContent = describeError(ex);
    markInvalid(form, ex, err);
  }
}

// ---------------------------------------------------------------- form building

function textField({ label, name, value = '', type = 'text', hint = '', required = false, autocomplete = null, min = null, max = null, step = null }) {
  const id = nextId(`f-${name.replace(/\W/g, '-')}`);
  const hintId = hint ? `${id}-hint` : null;
  const input = el('input', {
    id, name, type, value: value ?? '', required, autocomplete, min, max, step, 'data-field': name,
    'aria-describedby': hintId, spellcheck: type === 'text' ? 'false' : null, autocapitalize: 'off',
  });
  return el('div', { class: 'field' },
    el('label', { for: id, text: label }), input,
    hint ? el('span', { class: 'hint', id: hintId, text: hint }) : null);
}

function selectField({ label, name, value = '', options }) {
  const id = nextId(`f-${name.replace(/\W/g, '-')}`);
  const select = el('select', { id, name, 'data-field': name }, options.map(([v, l]) => el('option', { value: v, text: l })));
  select.value = value;
  return el('div', { class: 'field' }, el('label', { for: id, text: label }), select);
}

function checkField({ label, name, checked = false }) {
  const id = nextId(`f-${name.replace(/\W/g, '-')}`);
  return el('div', { class: 'check-field' },
    el('input', { type: 'checkbox', id, name, checked: Boolean(checked), 'data-field': name }),
    el('label', { for: id, text: label }));
}

/** Checkboxes sharing one name, read as an array of the checked values. */
function checkGroup({ legend, name, options, checked = [], hint = '' }) {
  const fs = el('fieldset', { class: 'check-group', 'data-array': name }, el('legend', { text: legend }));
  const row = el('div', { class: 'check-row' });
  for (const [v, l] of options) {
    const id = nextId(`f-${name}`);
    row.append(el('div', { class: 'check-field' },
      el('input', { type: 'checkbox', id, name, value: v, checked: checked.includes(v), 'data-field': name }),
      el('label', { for: id, text: l })));
  }
  fs.append(row);
  if (hint) fs.append(el('p', { class: 'hint', text: hint }));
  return fs;
}

/** The form's values: text as trimmed strings (passwords as typed), lone checkboxes as booleans,
 *  checkbox groups ([data-array] or several boxes of one name) as arrays of values. */
function readForm(form) {
  const v = {};
  const arrays = new Set($$('[data-array]', form).map((f) => f.dataset.array));
  for (const c of form.elements) {
    if (!c.name || c.type === 'submit' || c.type === 'button') continue;
    if (c.type === 'checkbox') {
      const many = arrays.has(c.name) || $$(`input[type=checkbox][name="${CSS.escape(c.name)}"]`, form).length > 1;
      if (many) {
        if (!Array.isArray(v[c.name])) v[c.name] = [];
        if (c.checked && !c.disabled) v[c.name].push(c.value);
      } else {
        v[c.name] = c.checked;
      }
    } else if (c.type === 'radio') {
      if (c.checked) v[c.name] = c.value;
    } else {
      v[c.name] = c.type === 'password' ? c.value : c.value.trim();
    }
  }
  for (const name of arrays) if (!Array.isArray(v[name])) v[name] = [];
  return v;
}

/** The fields of `next` that differ from `cur` (arrays compared as sets, objects by JSON). */
function changed(next, cur) {
  const patch = {};
  for (const [k, v] of Object.entries(next)) {
    if (v === undefined) continue;
    const c = cur[k];
    let same;
    if (Array.isArray(v)) same = Array.isArray(c) && v.length === c.length && v.every((x) => c.includes(x));
    else if (v && typeof v === 'object') same = JSON.stringify(v) === JSON.stringify(c);
    else same = v === c;
    if (!same) patch[k] = v;
  }
  return patch;
}

function clearInvalid(form) {
  for (const c of $$('[aria-invalid=true]', form)) {
    c.removeAttribute('aria-invalid');
    c.removeAttribute('aria-errormessage');
  }
  for (const f of $$('.invalid', form)) f.classList.remove('invalid');
}

/** Marks the controls named by `details.field` (exactly, or as a prefix: `channels` marks every
 *  channel control, `channels.chat` the chat ones) and focuses the first. */
function markInvalid(form, e, errEl) {
  const field = e?.details?.field;
  if (!field) return null;
  const all = $$('[data-field]', form);
  let hit = all.filter((c) => c.dataset.field === field);
  if (!hit.length) hit = all.filter((c) => c.dataset.field.startsWith(`${field}.`) || c.dataset.field.startsWith(`${field}[`));
  if (!hit.length) {
    // `handling.chat` when the form has `handling.chat`-like names, or `groups[2]` and the like.
    const base = field.replace(/\[\d+\]$/, '').replace(/\.\d+$/, '');
    hit = all.filter((c) => c.dataset.field === base);
  }
  if (!errEl.id) errEl.id = nextId('err');
  for (const c of hit) {
    c.setAttribute('aria-invalid', 'true');
    c.setAttribute('aria-errormessage', errEl.id);
    (c.closest('.field, .check-field, fieldset') || c).classList.add('invalid');
  }
  if (hit[0]) {
    hit[0].focus();
    const label = hit[0].labels?.[0]?.textContent || hit[0].closest('fieldset')?.querySelector('legend')?.textContent;
    if (label) errEl.append(el('span', { class: 'field-ref', text: ` Check the field “${label.trim()}”.` }));
  }
  return hit[0] || null;
}

// ---------------------------------------------------------------- dialogs

const openDialogs = new Set();

function closeAllDialogs() {
  for (const d of [...openDialogs]) d.close();
}

/**
 * A modal form. onSubmit(form) may throw (the error is shown, the dialog stays
 * open) or return a function to run after the dialog closed (e.g. open the next).
 */
function formDialog({ title, description, fields, submitLabel, onSubmit, opener = null, danger = false, cancel = true, role = null }) {
  const titleId = nextId('dlg-title');
  const descId = description ? `${titleId}-desc` : null;
  const errorEl = el('p', { class: 'dialog-error', role: 'alert', 'data-role': 'dialog-error' });
  const submit = el('button', { type: 'submit', class: `btn ${danger ? 'danger-fill' : 'primary'}`, 'data-action': 'submit', text: submitLabel });
  const cancelBtn = cancel ? el('button', { type: 'button', class: 'btn', 'data-action': 'cancel', text: 'Cancel' }) : null;
  const form = el('form', { novalidate: true, class: 'admin-form' },
    el('h2', { id: titleId, text: title }),
    description ? el('p', { class: 'dialog-desc', id: descId, text: description }) : null,
    fields, errorEl,
    el('div', { class: 'dialog-actions' }, cancelBtn, submit));
  const dialog = el('dialog', { class: 'admin-dialog', 'aria-labelledby': titleId, 'aria-describedby': descId, 'data-role': role }, form);
  document.body.append(dialog);
  openDialogs.add(dialog);
  const back = opener || document.activeElement;
  // A row's button is drawn anew when its table reloads: remember which it was.
  const backRow = back?.closest?.('tr[data-key]');
  const backSpot = backRow && back.dataset.action ? { key: backRow.dataset.key, action: back.dataset.action } : null;

  let busy = false;
  let submitted = false;
  cancelBtn?.addEventListener('click', () => dialog.close());
  const backTable = backRow?.closest('[data-table]');
  dialog.addEventListener('close', () => {
    openDialogs.delete(dialog);
    dialog.remove();
    if (back && back.isConnected) {
      back.focus();
      // The table reloads after a change: the new row's button gets it then.
      state.returnFocus = submitted ? backSpot : null;
      return;
    }
    // The table was drawn anew before this ran (its reload can win the race
    // with the close event): focus the row's new button.
    const redrawn = backSpot && backTable?.isConnected
      ? [...backTable.querySelectorAll('tr[data-key]')].find((r) => r.dataset.key === backSpot.key)
        ?.querySelector(`[data-action="${backSpot.action}"]`)
      : null;
    if (redrawn) redrawn.focus();
    else $('[role=tab][aria-selected=true]')?.focus();
    state.returnFocus = submitted && !redrawn ? backSpot : null;
  });
  // Enter submits from any control but buttons and text areas (checkboxes and
  // selects do not submit a form on their own).
  form.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || e.isComposing) return;
    const t = e.target;
    if (t.tagName === 'BUTTON' || t.tagName === 'TEXTAREA' || t.tagName === 'A') return;
    if (t.tagName === 'SELECT' || (t.tagName === 'INPUT' && ['checkbox', 'radio'].includes(t.type))) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  for (const c of $$('input, select', form)) {
    c.addEventListener('input', () => {
      if (c.getAttribute('aria-invalid') !== 'true') return;
      c.removeAttribute('aria-invalid');
      (c.closest('.field, .check-field, fieldset') || c).classList.remove('invalid');
    });
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (busy) return;
    busy = true;
    submit.disabled = true;
    errorEl.textContent = '';
    clearInvalid(form);
    dialog.setAttribute('aria-busy', 'true');
    try {
      const after = await onSubmit(form);
      submitted = true;
      dialog.close();
      if (typeof after === 'function') after();
    } catch (ex) {
      if (ex?.status === 401) return;
      errorEl.textContent = describeError(ex);
      const focused = markInvalid(form, ex, errorEl);
      dialog.dataset.error = ex?.code || 'error';
      if (!focused) submit.focus();
    } finally {
      busy = false;
      submit.disabled = false;
      dialog.removeAttribute('aria-busy');
    }
  });
  dialog.showModal();
  const first = $('input:not([type=hidden]):not([disabled]), select', form);
  if (first) first.focus();
  else (danger && cancelBtn ? cancelBtn : submit).focus();
  return dialog;
}

function confirmDialog({ title, text, submitLabel, onSubmit, opener, danger = false }) {
  return formDialog({
    title, description: text, fields: [], submitLabel, onSubmit, opener, danger, role: 'confirm',
  });
}
