// Visitor widget (visitor.html?group=ID), docs/protocol.md §2.4.
//
//  - online/offline, queue length and expected wait from the public
//    `GET /api/groups/{id}/status` (polled);
//  - online: "Chat with us" → `POST /api/visitor/chats {group,name,text}`, then
//    the visitor socket `/visitor?token=…`: queue position, "Connecting you to
//    an agent…", "<name> joined the chat", the messages both ways, "The chat
//    has ended";
//  - offline (or a 409 `offline` answer): "Leave us a message" →
//    `POST /api/visitor/tickets`, and a confirmation;
//  - the chat's visitor token is kept in sessionStorage (per tab), so that a
//    reload rejoins the chat; a dropped socket is reopened with backoff.

import { api, formatDuration, el } from './switchboard.js';

const $ = (sel) => document.querySelector(sel);
const STATUS_POLL_MS = 15000;
const CHAT_KEY = 'switchboard.visitorChat';
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 8000;

const group = new URLSearchParams(location.search).get('group');
let online = null;
// The server answered that the group does not exist: neither a chat nor a
// ticket can be created there, so no form is offered at all.
let unknownGroup = false;
let lastStatus = null; // last answer of the status endpoint
let chat = null; // {token, item, group, name}
let socket = null;
let attempt = 0;
let retryTimer = null;
let ended = false;
let lastPosition = null; // {position, queue_length}
const seen = new Set(); // message keys shown, so that an echo or a rejoin shows nothing twice

// ---------------------------------------------------------------- start

document.addEventListener('DOMContentLoaded', () => {
  if (!group) {
    $('#no-group').hidden = false;
    setStatus(null, 'No group chosen.');
    return;
  }
  wireForms();
  chat = savedChat();
  if (chat) enterChat();
  refreshStatus();
  setInterval(refreshStatus, STATUS_POLL_MS);
});

function savedChat() {
  try {
    const c = JSON.parse(sessionStorage.getItem(CHAT_KEY) || 'null');
    return c && typeof c.token === 'string' && c.group === group ? c : null;
  } catch {
    return null;
  }
}
function saveChat(c) { try { sessionStorage.setItem(CHAT_KEY, JSON.stringify(c)); } catch { /* private mode */ } }
function forgetChat() { try { sessionStorage.removeItem(CHAT_KEY); } catch { /* ignore */ } }

// ---------------------------------------------------------------- group status

async function refreshStatus() {
  try {
    const s = await api(`/api/groups/${encodeURIComponent(group)}/status`);
    lastStatus = s;
    unknownGroup = false;
    online = !!s.online;
    const wait = online && s.expected_wait_ms > 0 ? ` Expected wait about ${formatWait(s.expected_wait_ms)}.` : '';
    const queue = online && s.queue_length > 0 ? ` ${s.queue_length} ${s.queue_length === 1 ? 'person' : 'people'} waiting.` : '';
    setStatus(online, online ? `We are online.${queue}${wait}` : 'We are offline right now.');
    $('#page-error').textContent = '';
    if (lastPosition) showPosition(lastPosition);
  } catch (e) {
    online = null;
    unknownGroup = e.code === 'not_found';
    if (unknownGroup) setStatus(null, 'This contact form is not set up (unknown group).');
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
  if (chat || !$('#sent').hidden) return; // in a chat, or done
  // When the status cannot be read, offer the message form: it never promises a live answer.
  $('#chat-form').hidden = online !== true;
  $('#ticket-form').hidden = online === true || unknownGroup;
  $('#ticket-form [data-role=offline-note]').hidden = online !== false;
}

// ---------------------------------------------------------------- forms

function wireForms() {
  $('#chat-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const name = $('#chat-name').value.trim();
    const text = $('#chat-question').value.trim();
    const err = form.querySelector('[data-role=form-error]');
    if (!name || !text) { err.textContent = 'Please give your name and your question.'; return; }
    err.textContent = '';
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const data = await api('/api/visitor/chats', { method: 'POST', body: { group, name, text } });
      chat = { token: data.visitor_token, item: data.item?.id ?? null, group, name };
      saveChat(chat);
      enterChat();
      $('#compose-text').focus();
    } catch (e) {
      if (e.code === 'offline') {
        // Everyone went offline since the status was read: offer a ticket instead,
        // with what the visitor already wrote.
        online = false;
        setStatus(false, 'We are offline right now.');
        $('#ticket-name').value = name;
        $('#ticket-question').value = text;
        showForm();
        $('#ticket-form [data-role=form-error]').textContent = '';
        $('#ticket-form [data-role=offline-note]').textContent = 'Sorry, no one is online to chat right now. ';
        $('#ticket-email').focus();
      } else if (e.code === 'rate_limited' || e.status === 429) {
        err.textContent = `Too many chats from your address. ${retryText(e)}`;
      } else {
        err.textContent = e.message;
      }
    } finally {
      button.disabled = false;
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
    // The ticket has no field for a reply address (docs/protocol.md §2.4): it
    // travels in the text, where the agent reads it.
    const text = `${question}\n\nReply to: ${email}`;
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      await api('/api/visitor/tickets', { method: 'POST', body: { group, name, text } });
      form.hidden = true;
      $('#chat-form').hidden = true;
      $('#sent').hidden = false;
      $('#sent').focus?.();
    } catch (e) {
      err.textContent = e.code === 'rate_limited' || e.status === 429
        ? `Too many messages from your address. ${retryText(e)}`
        : e.message;
    } finally {
      button.disabled = false;
    }
  });

  $('#compose').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = $('#compose-text');
    const text = input.value.trim();
    if (!text) return;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      setChatError('Not connected right now; your message was not sent. Try again in a moment.');
      return;
    }
    // The server echoes the message back as a `message` frame: it is shown then.
    socket.send(JSON.stringify({ type: 'message', text }));
    input.value = '';
    setChatError('');
  });

  $('[data-action=new-chat]')?.addEventListener('click', () => {
    forgetChat();
    chat = null;
    ended = false;
    lastPosition = null;
    seen.clear();
    $('#transcript').replaceChildren();
    $('#chat').hidden = true;
    $('#compose').hidden = false;
    $('[data-action=new-chat]').hidden = true;
    $('#chat-question').value = '';
    showForm();
  });
}

function retryText(e) {
  const s = e.details?.retry_after_s;
  return s ? `Please try again in ${s} second${s === 1 ? '' : 's'}.` : 'Please try again in a minute.';
}

// ---------------------------------------------------------------- the chat

function enterChat() {
  $('#chat-form').hidden = true;
  $('#ticket-form').hidden = true;
  $('#chat').hidden = false;
  $('#compose').hidden = false;
  setPhase('waiting', 'Starting your chat…');
  connect();
}

function connect() {
  clearTimeout(retryTimer);
  if (!chat || ended) return;
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  let ws;
  try {
    ws = new WebSocket(`${proto}//${location.host}/visitor?token=${encodeURIComponent(chat.token)}`);
  } catch {
    scheduleReconnect();
    return;
  }
  socket = ws;
  ws.onopen = () => { attempt = 0; setConn('connected'); };
  ws.onmessage = (ev) => {
    let f;
    try { f = JSON.parse(ev.data); } catch { return; }
    if (ws === socket) onFrame(f);
  };
  ws.onclose = (ev) => {
    if (ws !== socket) return;
    socket = null;
    if (ended) return;
    if (ev.code === 4001) { chatGone(); return; }
    setConn('reconnecting');
    scheduleReconnect();
  };
  ws.onerror = () => { /* onclose follows */ };
}

function scheduleReconnect() {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
  attempt += 1;
  retryTimer = setTimeout(connect, Math.round(base / 2 + Math.random() * base / 2));
}

function onFrame(f) {
  switch (f.type) {
    case 'chat': {
      if (f.item != null) chat.item = f.item;
      for (const m of f.messages || []) addMessage(m);
      if (f.state === 'active' && f.agent) joined(f.agent, { quiet: true });
      else if (f.state === 'assigned') connecting();
      else if (f.state === 'queued') setPhase('queued', 'Waiting for your place in the queue…');
      else if (f.state === 'closed') finished();
      break;
    }
    case 'position':
      lastPosition = { position: f.position, queue_length: f.queue_length };
      showPosition(lastPosition);
      break;
    case 'connecting':
      connecting();
      break;
    case 'agent_joined':
      joined(f.name || 'An agent');
      break;
    case 'message':
      if (f.message) addMessage(f.message);
      break;
    case 'closed':
      finished();
      break;
    case 'error':
      if (f.code === 'unauthorized') chatGone();
      else setChatError(f.message || f.code);
      break;
    default:
      break;
  }
}

function showPosition({ position }) {
  let wait = '';
  // The status's expected wait is for a chat joining the end of the queue
  // (moving mean × (waiting + 1)); scale it to this place.
  const s = lastStatus;
  if (s && s.expected_wait_ms > 0) {
    const mean = s.expected_wait_ms / ((s.queue_length || 0) + 1);
    wait = ` Expected wait about ${formatWait(mean * position)}.`;
  }
  setPhase('queued', `You are number ${position} in the queue.${wait}`);
}

function connecting() {
  lastPosition = null;
  setPhase('connecting', 'Connecting you to an agent…');
}

function joined(name, { quiet = false } = {}) {
  lastPosition = null;
  setPhase('active', `You are chatting with ${name}.`);
  const key = `joined|${name}`;
  if (seen.has(key)) return;
  seen.add(key);
  // On a rejoin the thread so far is replayed first: the agent joined before
  // its first message.
  const firstAgentMsg = quiet ? $('#transcript .msg[data-from=agent]') : null;
  addSystem(`${name} joined the chat`, 'agent-joined', firstAgentMsg);
}

function finished() {
  ended = true;
  lastPosition = null;
  clearTimeout(retryTimer);
  forgetChat();
  setPhase('closed', 'The chat has ended.');
  addSystem('The chat has ended', 'closed');
  $('#compose').hidden = true;
  $('[data-action=new-chat]').hidden = false;
  if (socket) { try { socket.close(1000); } catch { /* ignore */ } socket = null; }
}

/** The token is refused (the chat ended while the page was away, or a stale token). */
function chatGone() {
  if (ended) return;
  finished();
}

function setPhase(phase, text) {
  const p = $('#chat-position');
  p.hidden = false;
  p.dataset.phase = phase;
  p.textContent = text;
  $('#chat').dataset.phase = phase;
}

function setConn(s) { $('#chat').dataset.conn = s; }

function setChatError(text) { $('#chat-error').textContent = text; }

function addMessage(m) {
  const key = `${m.at}|${m.from}|${m.text}`;
  if (seen.has(key)) return;
  seen.add(key);
  const mine = m.from === 'visitor';
  $('#transcript').append(el('li', { class: `msg ${mine ? 'me' : 'agent'}`, 'data-from': m.from },
    el('span', { class: 'msg-who', text: mine ? 'You' : (m.name || 'Agent') }),
    el('span', { class: 'msg-text', text: m.text })));
  scrollDown();
}

function addSystem(text, role, before = null) {
  const li = el('li', { class: 'msg system', 'data-from': 'system', 'data-role': role, text });
  if (before) before.before(li);
  else $('#transcript').append(li);
  scrollDown();
}

function scrollDown() {
  const t = $('#transcript');
  t.scrollTop = t.scrollHeight;
}

function formatWait(ms) {
  if (ms < 60000) return 'less than a minute';
  const m = Math.round(ms / 60000);
  return m < 60 ? `${m} minute${m === 1 ? '' : 's'}` : formatDuration(ms);
}
