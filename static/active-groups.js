// The Active Groups dialog, shared by the agent console (an agent's own groups)
// and the supervisor board (User Dashboard: another agent's groups).
//
// Rows are groups (Department, Group); columns Live Chat / Tickets / VOIP hold a
// checkbox, or "N/A" where the channel is disabled in the group or the agent is
// excluded from it. Each column header has a checkbox that switches the whole
// column. OK sends every changed cell at once (the caller makes it one
// `set_active` request, applied atomically by the server); Cancel or Esc
// discards. While the dialog is open, `update()` takes fresh server state
// (an `agent_status` push): cells the user has not touched follow it at once.
//
// Keyboard: focus stays inside the dialog (Tab / Shift+Tab wrap), Esc cancels,
// Enter is OK (except on the Cancel button).

import { CHANNELS, CHANNEL_LABELS, el } from './switchboard.js';

let openDialog = null;

/**
 * Opens the dialog.
 * @param {object} opts
 * @param {string} opts.title        e.g. "Active Groups" or "Active Groups: Alice Archer"
 * @param {string} [opts.description] one line under the title
 * @param {Array}  opts.groups       [{id, name, department, cells: {chat: 'on'|'off'|'na', …}}]
 * @param {(cells: Array<{group, channel, active}>) => Promise} opts.onSubmit
 *        called with the changed cells (never empty); reject to keep the dialog open
 *        and show the error's message.
 * @param {Map<string,string>} [opts.readOnlyGroups] group id -> why its cells cannot be changed here
 *        (shown disabled; column switches skip them)
 * @param {() => void} [opts.onClose]
 * @returns {{update(groups), close(), element}}
 */
export function openActiveGroups({ title, description = '', groups, readOnlyGroups = new Map(), onSubmit, onClose = () => {} }) {
  if (openDialog) openDialog.close();

  // baseline: the server's state; desired: what the boxes say now.
  let baseline = cloneGroups(groups);
  const touched = new Set(); // "group|channel" the user changed
  const boxes = new Map(); // "group|channel" -> checkbox
  const headerBoxes = new Map(); // channel -> checkbox
  const fixedBoxes = new Map(); // "group|channel" -> disabled checkbox (read-only group)
  const previousFocus = document.activeElement;

  const titleId = `ag-title-${Math.random().toString(36).slice(2, 8)}`;
  const descId = `${titleId}-desc`;
  const errorEl = el('p', { class: 'dialog-error', role: 'alert', 'data-role': 'dialog-error' });
  const okBtn = el('button', { type: 'submit', class: 'btn primary', 'data-action': 'ok', text: 'OK' });
  const cancelBtn = el('button', { type: 'button', class: 'btn', 'data-action': 'cancel', text: 'Cancel' });

  const thead = el('thead');
  const headRow = el('tr', {},
    el('th', { scope: 'col', text: 'Department' }),
    el('th', { scope: 'col', text: 'Group' }),
  );
  for (const ch of CHANNELS) {
    const box = el('input', {
      type: 'checkbox',
      'data-column': ch,
      'aria-label': `${CHANNEL_LABELS[ch]}: all groups`,
    });
    box.addEventListener('change', () => setColumn(ch, box.checked));
    headerBoxes.set(ch, box);
    headRow.append(el('th', { scope: 'col', class: 'cell-col' },
      el('label', { class: 'col-head' }, box, el('span', { text: CHANNEL_LABELS[ch] }))));
  }
  thead.append(headRow);

  const tbody = el('tbody');
  // By department, then group; groups whose department is unknown (a supervisor
  // who does not watch them only knows their id) come last.
  const sorted = [...groups].sort((a, b) =>
    (!a.department - !b.department) || (a.department || '').localeCompare(b.department || '') ||
    (a.name || a.id).localeCompare(b.name || b.id));
  for (const g of sorted) {
    const row = el('tr', { 'data-group': g.id },
      el('td', { class: 'dept', text: g.department || '—', title: g.department ? null : 'Department not known here' }),
      el('th', { scope: 'row', class: 'group-name', text: g.name || g.id }),
    );
    for (const ch of CHANNELS) {
      const state = g.cells?.[ch] ?? 'na';
      const td = el('td', { class: 'cell-col', 'data-channel': ch });
      if (state === 'na') {
        td.append(el('span', { class: 'na', 'data-cell': `${g.id}|${ch}`, text: 'N/A',
          title: `${CHANNEL_LABELS[ch]} is not available in ${g.name || g.id}` }));
      } else {
        const box = el('input', {
          type: 'checkbox',
          'data-cell': `${g.id}|${ch}`,
          'aria-label': `${CHANNEL_LABELS[ch]} in ${g.name || g.id}`,
        });
        box.checked = state === 'on';
        if (readOnlyGroups.has(g.id)) {
          box.disabled = true;
          box.title = readOnlyGroups.get(g.id);
          box.setAttribute('aria-label', `${CHANNEL_LABELS[ch]} in ${g.name || g.id} (${readOnlyGroups.get(g.id)})`);
          fixedBoxes.set(`${g.id}|${ch}`, box);
          td.append(box);
          row.append(td);
          continue;
        }
        box.addEventListener('change', () => {
          markTouched(g.id, ch);
          refreshHeaders();
        });
        boxes.set(`${g.id}|${ch}`, box);
        td.append(box);
      }
      row.append(td);
    }
    tbody.append(row);
  }
  if (sorted.length === 0) {
    tbody.append(el('tr', {}, el('td', { colspan: 5, class: 'empty', text: 'Not a member of any group.' })));
  }

  const form = el('form', { method: 'dialog', class: 'dialog-body' },
    el('div', { class: 'table-wrap' },
      el('table', { class: 'active-groups', 'aria-describedby': description ? descId : null }, thead, tbody)),
    errorEl,
    el('div', { class: 'dialog-actions' }, cancelBtn, okBtn),
  );

  const dialog = el('dialog', {
    class: 'active-groups-dialog',
    'aria-labelledby': titleId,
    'aria-describedby': description ? descId : null,
    'data-role': 'active-groups',
  },
    el('h2', { id: titleId, text: title }),
    description ? el('p', { id: descId, class: 'dialog-desc', text: description }) : null,
    form,
  );

  function markTouched(group, ch) {
    const key = `${group}|${ch}`;
    const box = boxes.get(key);
    const base = baseline.find((g) => g.id === group)?.cells?.[ch];
    // A box set back to the server's state is no longer a change.
    if (box && (box.checked ? 'on' : 'off') === base) touched.delete(key);
    else touched.add(key);
  }

  function setColumn(ch, on) {
    for (const [key, box] of boxes) {
      const [group, c] = key.split('|');
      if (c !== ch) continue;
      box.checked = on;
      markTouched(group, c);
    }
    refreshHeaders();
  }

  function refreshHeaders() {
    for (const ch of CHANNELS) {
      const cols = [...boxes].filter(([k]) => k.endsWith(`|${ch}`)).map(([, b]) => b);
      const head = headerBoxes.get(ch);
      if (cols.length === 0) {
        head.checked = false;
        head.indeterminate = false;
        head.disabled = true;
        continue;
      }
      const on = cols.filter((b) => b.checked).length;
      head.disabled = false;
      head.checked = on === cols.length;
      head.indeterminate = on > 0 && on < cols.length;
    }
  }

  function changes() {
    const out = [];
    for (const key of touched) {
      const [group, channel] = key.split('|');
      const box = boxes.get(key);
      if (!box) continue;
      out.push({ group, channel, active: box.checked });
    }
    return out;
  }

  let busy = false;
  async function submit() {
    if (busy) return;
    const cells = changes();
    if (cells.length === 0) { close(); return; }
    busy = true;
    okBtn.disabled = true;
    errorEl.textContent = '';
    try {
      await onSubmit(cells);
      close();
    } catch (e) {
      errorEl.textContent = e?.message || 'The change was refused.';
    } finally {
      busy = false;
      okBtn.disabled = false;
    }
  }

  let closed = false;
  function close() {
    if (closed) return;
    closed = true;
    try { dialog.close(); } catch { /* ignore */ }
    dialog.remove();
    if (openDialog === api) openDialog = null;
    if (previousFocus && typeof previousFocus.focus === 'function' && document.contains(previousFocus)) {
      previousFocus.focus();
    }
    onClose();
  }

  form.addEventListener('submit', (ev) => { ev.preventDefault(); submit(); });
  cancelBtn.addEventListener('click', () => close());
  dialog.addEventListener('cancel', (ev) => { ev.preventDefault(); close(); }); // Esc
  dialog.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') { ev.preventDefault(); close(); return; }
    if (ev.key === 'Enter') {
      const t = ev.target;
      if (t === cancelBtn) return; // Enter on Cancel cancels (native click)
      ev.preventDefault();
      submit();
      return;
    }
    if (ev.key === 'Tab') trapFocus(ev, dialog);
  });

  document.body.append(dialog);
  refreshHeaders();
  dialog.showModal();
  const first = dialog.querySelector('input:not([disabled])') || okBtn;
  first.focus();

  const api = {
    element: dialog,
    close,
    /** Fresh server state: untouched cells follow it; touched ones keep the user's choice
     *  (and stop counting as changes if the server now agrees). */
    update(newGroups) {
      if (closed) return;
      baseline = cloneGroups(newGroups);
      for (const g of baseline) {
        for (const ch of CHANNELS) {
          const key = `${g.id}|${ch}`;
          const state = g.cells?.[ch];
          if (fixedBoxes.has(key) && (state === 'on' || state === 'off')) fixedBoxes.get(key).checked = state === 'on';
          const box = boxes.get(key);
          if (!box) continue;
          if (state !== 'on' && state !== 'off') continue;
          if (!touched.has(key)) box.checked = state === 'on';
          else if ((box.checked ? 'on' : 'off') === state) touched.delete(key);
        }
      }
      refreshHeaders();
    },
    get isOpen() { return !closed; },
  };
  openDialog = api;
  return api;
}

function cloneGroups(groups) {
  return groups.map((g) => ({ ...g, cells: { ...(g.cells || {}) } }));
}

function trapFocus(ev, container) {
  const focusable = [...container.querySelectorAll(
    'button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), a[href], [tabindex]:not([tabindex="-1"])',
  )].filter((n) => n.offsetParent !== null || n === document.activeElement);
  if (focusable.length === 0) return;
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  if (ev.shiftKey && document.activeElement === first) {
    ev.preventDefault();
    last.focus();
  } else if (!ev.shiftKey && document.activeElement === last) {
    ev.preventDefault();
    first.focus();
  }
}

/** Converts AgentStatus.cells ([{group, channel, state}]) into dialog groups, naming
 *  groups from `groupInfo` (Map id -> {name, department}) where known. */
export function groupsFromStatusCells(cells, groupInfo = new Map()) {
  const byGroup = new Map();
  for (const c of cells || []) {
    if (!byGroup.has(c.group)) {
      const info = groupInfo.get(c.group) || {};
      byGroup.set(c.group, {
        id: c.group,
        name: info.name || c.group,
        department: info.department || '',
        cells: { chat: 'na', ticket: 'na', voice: 'na' },
      });
    }
    byGroup.get(c.group).cells[c.channel] = c.state;
  }
  return [...byGroup.values()];
}
