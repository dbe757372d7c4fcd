// Visitor widget (visitor.html?group=ID).
//
// Wired today: the group's online/offline state, queue length and expected wait
// from `GET /api/groups/{id}/status` (polled), and the two forms.
//
// NOT wired yet: the protocol has no visitor side (no way for a visitor to start
// a chat, learn its queue position, exchange messages, or leave a ticket without
// an integration's API key). Everything real-time goes through the
// `VisitorChannel` interface below; `PendingVisitorChannel` is its placeholder
// and refuses plainly. When the protocol gains the visitor requests, write one
// class with the same methods and events and return it from `visitorChannel()`.

import { api, formatDuration, el } from './switchboard.js';

const $ = (sel) => document.querySelector(sel);
const STATUS_POLL_MS = 15000;

/**
 * The visitor's real-time channel. Methods return promises; events are
 * delivered to `on(type, fn)`:
 *   - `position`  {position, expected_wait_ms}   place in the queue changed
 *   - `joined`    {agent_name}                  an agent accepted the chat
 *   - `message`   {from: 'agent'|'visitor'|'system', text, at}
 *   - `closed`    {reason}
 * Methods: startChat({group, name, question}), send(text), leaveTicket({group, name, email, question}), close().
 */
class PendingVisitorChannel {
  constructor() { this.handlers = new Map(); }
  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(fn);
  }
  emit(type, payload) { for (const fn of this.handlers.get(type) || []) fn(payload); }
  async startChat() { throw notYet('Live chat'); }
  async send() { throw notYet('Sending messages'); }
  async leaveTicket() { throw notYet('Leaving a message'); }
  close() {}
}

function notYet(what) {
  const e = new Error(`${what} is not available on this server yet. Please try again later.`);
  e.code = 'not_implemented';
  return e;
}

function visitorChannel() { return new PendingVisitorChannel(); }

// ---------------------------------------------------------------- page

const group = new URLSearchParams(location.search).get('group');
const channel = visitorChannel();
let online = null;

document.addEventListener('DOMContentLoaded', () => {
  if (!group) {
    $('#no-group').hidden = false;
    setStatus(null, 'No group chosen.');
    return;
  }
  wireForms();
  wireChannel();
  refreshStatus();
  setInterval(refreshStatus, STATUS_POLL_MS);
});

async function refreshStatus() {
  try {
    const s = await api(`/api/groups/${encodeURIComponent(group)}/status`);
    online = !!s.online;
    const wait = s.expected_wait_ms > 0 ? ` Expected wait about ${formatWait(s.expected_wait_ms)}.` : '';
    const queue = online && s.queue_length > 0 ? ` ${s.queue_length} ${s.queue_length === 1 ? 'person' : 'people'} waiting.` : '';
    setStatus(online, online ? `We are online.${queue}${wait}` : 'We are offline right now.');
    $('#page-error').textContent = '';
  } catch (e) {
    online = null;
    if (e.code === 'not_found') setStatus(null, 'This contact form is not set up (unknown group).');
    else if (e.status === 404) setStatus(null, 'Live status is not available yet.'); // the endpoint itself is missing
    else setStatus(null, 'Cannot reach the help desk right now.');
    if (e.status !== 404 && e.code !== 'network') $('#page-error').textContent = e.message;
  }
  showForm();
}

function setStatus(on, text) {
  const node = $('#group-status');
  node.dataset.online = on == null ? 'unknown' : String(on);
  node.querySelector('[data-role=status-text]').textContent = text;
}

function showForm() {
  if (!$('#chat').hidden || !$('#sent').hidden) return; // in a chat, or done
  // When the status cannot be read, offer the message form: it never promises a live answer.
  $('#chat-form').hidden = online !== true;
  $('#ticket-form').hidden = online === true;
  $('#ticket-form [data-role=offline-note]').hidden = online !== false;
}

function wireForms() {
  $('#chat-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const name = $('#chat-name').value.trim();
    const question = $('#chat-question').value.trim();
    const err = form.querySelector('[data-role=form-error]');
    if (!name || !question) { err.textContent = 'Please give your name and your question.'; return; }
    err.textContent = '';
    try {
      await channel.startChat({ group, name, question });
      form.hidden = true;
      $('#chat').hidden = false;
      addMessage('visitor', question);
      $('#compose-text').focus();
    } catch (e) {
      err.textContent = e.message;
    }
  });

  $('#ticket-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const name = $('#ticket-name').value.trim();
    const email = $('#ticket-email').value.trim();
    const question = $('#ticket-question').value.trim();
    const err = form.querySelector('[data-role=form-error]');
    if (!name || !email || !question) { err.textContent = 'Please fill in every field.'; return; }
    if (!$('#ticket-email').checkValidity()) { err.textContent = 'Please give a valid email address.'; return; }
    err.textContent = '';
    try {
      await channel.leaveTicket({ group, name, email, question });
      form.hidden = true;
      $('#sent').hidden = false;
    } catch (e) {
      err.textContent = e.message;
    }
  });

  $('#compose').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const input = $('#compose-text');
    const text = input.value.trim();
    if (!text) return;
    try {
      await channel.send(text);
      addMessage('visitor', text);
      input.value = '';
    } catch (e) {
      addMessage('system', e.message);
    }
  });
}

function wireChannel() {
  channel.on('position', ({ position, expected_wait_ms: wait }) => {
    const p = $('#chat-position');
    p.hidden = false;
    p.textContent = position > 0
      ? `You are number ${position} in the queue.${wait > 0 ? ` Expected wait about ${formatWait(wait)}.` : ''}`
      : 'An agent will be with you shortly.';
  });
  channel.on('joined', ({ agent_name: who }) => {
    $('#chat-position').hidden = true;
    addMessage('system', `${who} joined the chat.`);
  });
  channel.on('message', ({ from, text }) => addMessage(from, text));
  channel.on('closed', () => {
    addMessage('system', 'The chat has ended.');
    $('#compose').hidden = true;
  });
}

function addMessage(from, text) {
  const who = from === 'visitor' ? 'me' : from;
  $('#transcript').append(el('li', { class: `msg ${who}`, 'data-from': from },
    el('span', { class: 'visually-hidden', text: from === 'visitor' ? 'You: ' : from === 'agent' ? 'Agent: ' : '' }),
    text));
}

function formatWait(ms) {
  if (ms < 60000) return 'less than a minute';
  const m = Math.round(ms / 60000);
  return m < 60 ? `${m} minute${m === 1 ? '' : 's'}` : formatDuration(ms);
}
