//! The console WebSocket: one task per session.
//!
//! The session task reads frames, parses them and asks the engine, one
//! request at a time, so a session's answers come back in the order it asked.
//! Its writer half drains two sources: the outbox the engine pushes into and
//! the answers to this session's own requests, pushes first, so that pushes
//! caused by a request reach the client before the request's `ok`.
//!
//! A board that asked for its snapshot in pieces (`watch` with `"pieces":
//! true`) gets it as `watch_agents` frames of at most [`PIECE_BYTES`] of
//! statuses each, each read from the engine's state only when the socket
//! has room for it (no whole snapshot is built), then the `ok`; from then on
//! the writer holds that session's `agent_status` pushes for up to
//! [`BATCH_EVERY`], keeps only the latest per agent, and writes them as
//! `agent_status_batch` frames. A supervisor's socket then never buffers a
//! frame as large as the whole board, and a burst of presence changes costs
//! it a few frames a second instead of one per change; the last status of
//! every agent is always written.
//!
//! A [`SessionGuard`] owned by the task tells the engine the session is gone
//! when the task ends, however it ends (close, error, panic), so presence can
//! never leak a session.
//!
//! # Limits
//! Before the upgrade: the `Origin` allow-list (cross-site WebSocket
//! hijacking), the token, then a connection slot (sessions per agent, total
//! sessions), each refused with our JSON error. After it: frames and messages
//! over `max_message_bytes` end the session with close code 1009, text that
//! is not UTF-8 with 1007 and framing violations with 1002
//! ([`ReadEnd`](super::ws_close::ReadEnd)); each session's requests pass a
//! governor rate limiter (excess ones are answered `rate_limited`, the
//! session stays open); a write that does not complete within
//! `write_timeout` ends the session, so a client that never reads cannot pin
//! a task and its buffers. A session the engine cut off as a slow consumer
//! gets its `closing` frame and close code 4000 from the writer (the engine
//! could not queue them in a full outbox), written behind what the socket
//! holds within one more `write_timeout`.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures_util::{Sink, Stream};
use futures_util::{SinkExt, StreamExt};
use governor::DefaultDirectRateLimiter;
use governor::clock::{Clock, DefaultClock};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tracing::Instrument;

use super::AppState;
use super::frames::{ClientRequest, parse_frame};
use super::limits::ConnectionSlot;
use super::ws_close::ReadEnd;
use crate::api_error::{ApiError, ErrorCode};
use crate::engine::{
    BoardCursor, CloseReason, EngineHandle, Frame, OutboxReceiver, Request, SessionOp, WatchAnswer,
    WatchRequest, now_ms, outbox,
};
use crate::metrics as m;

/// Most bytes buffered for writing on one socket: the largest frame the
/// server may send, with room.
const MAX_WRITE_BUFFER: usize = 64 * 1024 * 1024;

/// Most frames written to a socket before one flush.
const MAX_BATCH: usize = 64;

/// Most answers queued between a session's reader and its writer.
const ANSWERS_CAP: usize = 64;

/// Most bytes fed to the socket before one flush: the write buffer of a
/// session whose client reads slowly stays about this size (plus one frame)
/// instead of growing to a whole burst and keeping that capacity.
const MAX_BATCH_BYTES: usize = 64 * 1024;

/// Most bytes of agent statuses in one `watch_agents` piece or one
/// `agent_status_batch` frame (a single status larger than this goes alone).
/// The socket's write buffer keeps the capacity of the largest frame it
/// wrote, so this bounds what a supervisor's session holds after its
/// snapshot.
const PIECE_BYTES: usize = 16 * 1024;

/// Most snapshot pieces queued for the writer at once: a session never holds
/// more than these (and the one being written) of its snapshot.
const PIECES_AHEAD: usize = 2;

/// How long a batching session's `agent_status` pushes are held, at most,
/// before they are written: at most one batch per this period.
const BATCH_EVERY: Duration = Duration::from_millis(100);

/// How every `agent_status` push starts (the `Push` struct of
/// `engine/publish.rs` writes `type` first).
const AGENT_STATUS_PREFIX: &str = "{\"type\":\"agent_status\",";

/// The answers to a session's own requests, from its reader to its writer.
///
/// Both halves run in the session's one task, so a bounded queue of
/// [`ANSWERS_CAP`] with two [`Notify`]s does what a `tokio::sync::mpsc`
/// channel did, without the channel's eager allocation (its shared state and
/// a first block of 32 slots, ~1.5 KiB per session, held for the session's
/// whole life). The queue itself allocates on the first answer only.
struct Answers {
    queue: Mutex<VecDeque<Frame>>,
    /// An answer was queued.
    ready: Notify,
    /// An answer was taken: room for the next one.
    room: Notify,
}

impl Answers {
    fn new() -> Self {
        Answers {
            queue: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            room: Notify::new(),
        }
    }

    /// Queues an answer, waiting while [`ANSWERS_CAP`] are already queued.
    async fn send(&self, frame: Frame) {
        self.send_below(frame, ANSWERS_CAP).await;
    }

    /// Queues an answer, waiting while `limit` are already queued: the pieces
    /// of a snapshot go out at the socket's pace instead of piling up.
    async fn send_below(&self, frame: Frame, limit: usize) {
        loop {
            {
                let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                if q.len() < limit {
                    q.push_back(frame);
                    drop(q);
                    self.ready.notify_one();
                    return;
                }
            }
            self.room.notified().await;
        }
    }

    /// The oldest queued answer if there is one, without waiting.
    fn try_recv(&self) -> Option<Frame> {
        let taken = self
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        if taken.is_some() {
            self.room.notify_one();
        }
        taken
    }

    /// The oldest queued answer, waiting for one. Cancel-safe: an answer is
    /// taken only when this returns it.
    async fn recv(&self) -> Frame {
        loop {
            if let Some(frame) = self.try_recv() {
                return frame;
            }
            self.ready.notified().await;
        }
    }
}

/// The `agent_status` pushes a batching session's writer holds back: the
/// latest frame per agent, and when the oldest one held must go out.
///
/// Lives in the session's one task (the writer); `on` is set by the reader
/// once the session watched in pieces. Empty sessions hold no allocation.
struct StatusBatch<'a> {
    on: &'a AtomicBool,
    held: Option<Box<Held>>,
}

struct Held {
    /// Agent id -> (seq, the agent's latest `agent_status` frame).
    latest: HashMap<String, (u64, Frame)>,
    due: tokio::time::Instant,
}

/// The fields of an `agent_status` push the batching reads.
#[derive(Deserialize)]
struct StatusHead<'a> {
    seq: u64,
    #[serde(borrow)]
    status: StatusAgent<'a>,
}

#[derive(Deserialize)]
struct StatusAgent<'a> {
    #[serde(borrow)]
    agent: Cow<'a, str>,
}

impl<'a> StatusBatch<'a> {
    fn new(on: &'a AtomicBool) -> Self {
        StatusBatch { on, held: None }
    }

    /// Takes a frame from the outbox: `Some` to write it now, `None` when
    /// it is held (an `agent_status` of a batching session).
    fn offer(&mut self, frame: Frame) -> Option<Frame> {
        if !self.on.load(Ordering::Relaxed) || !frame.as_str().starts_with(AGENT_STATUS_PREFIX) {
            return Some(frame);
        }
        let Ok(head) = serde_json::from_str::<StatusHead<'_>>(frame.as_str()) else {
            return Some(frame);
        };
        let agent = head.status.agent.into_owned();
        let held = self.held.get_or_insert_with(|| {
            Box::new(Held {
                latest: HashMap::new(),
                due: tokio::time::Instant::now() + BATCH_EVERY,
            })
        });
        held.latest.insert(agent, (head.seq, frame));
        None
    }

    /// When the held statuses must be written, if any are held.
    fn due(&self) -> Option<tokio::time::Instant> {
        self.held.as_ref().map(|h| h.due)
    }

    /// The held statuses as `agent_status_batch` frames of at most about
    /// [`PIECE_BYTES`] each, in `seq` order; nothing is held afterwards.
    fn take_frames(&mut self) -> Vec<Frame> {
        let Some(held) = self.held.take() else {
            return Vec::new();
        };
        let mut pushes: Vec<(u64, Frame)> = held.latest.into_values().collect();
        pushes.sort_unstable_by_key(|(seq, _)| *seq);
        let mut frames = Vec::new();
        let mut out = String::new();
        for (_, push) in pushes {
            if !out.is_empty() && out.len() + push.len() > PIECE_BYTES {
                out.push_str("]}");
                frames.push(std::mem::take(&mut out).into());
            }
            if out.is_empty() {
                out.push_str("{\"type\":\"agent_status_batch\",\"pushes\":[");
            } else {
                out.push(',');
            }
            out.push_str(push.as_str());
        }
        if !out.is_empty() {
            out.push_str("]}");
            frames.push(out.into());
        }
        frames
    }
}

/// Sends the agents of a board watched in pieces as `watch_agents` frames of
/// at most about [`PIECE_BYTES`] each, then the `ok` with the head (`seq`,
/// `groups`), an empty `agents` and the count of `pieces`. Each piece is
/// read from the engine's state when the one before it is queued for the
/// writer with fewer than [`PIECES_AHEAD`] ahead of it: the session never
/// holds more of its board than those pieces.
async fn send_pieces(
    engine: &EngineHandle,
    answers: &Answers,
    id: &Value,
    head: &str,
    cursor: BoardCursor,
) {
    let id_text = serde_json::to_string(id).unwrap_or_else(|_| "null".into());
    let start = format!("{{\"type\":\"watch_agents\",\"id\":{id_text},\"agents\":[");
    let mut pieces = 0usize;
    let mut cursor = Some(cursor);
    while let Some(at) = cursor.take() {
        let mut out = String::with_capacity(PIECE_BYTES + 64);
        out.push_str(&start);
        let piece = engine
            .call(|answer| Request::WatchPiece {
                cursor: at,
                out,
                limit: PIECE_BYTES,
                answer,
            })
            .await;
        let piece = match piece {
            Ok(piece) => piece,
            Err(e) => {
                answers.send(answer_frame(id.clone(), Err(e))).await;
                return;
            }
        };
        cursor = piece.rest;
        if piece.any {
            let mut text = piece.text;
            text.push_str("]}");
            answers.send_below(text.into(), PIECES_AHEAD).await;
            pieces += 1;
        }
    }
    let data = format!("{head},\"agents\":[],\"pieces\":{pieces}}}");
    answers.send(ok_with_json(id, &data)).await;
}

/// Query of the upgrade request.
#[derive(Deserialize)]
pub(super) struct WsParams {
    token: Option<String>,
    /// The last `seq` the console saw, to resume after a reconnect.
    resume: Option<u64>,
}

/// Tells the engine a session ended, whatever ended it.
struct SessionGuard {
    session: u64,
    engine: EngineHandle,
}

impl SessionGuard {
    fn new(session: u64, engine: EngineHandle) -> Self {
        metrics::gauge!(m::SESSIONS_OPEN).increment(1.0);
        SessionGuard { session, engine }
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        metrics::gauge!(m::SESSIONS_OPEN).decrement(1.0);
        self.engine.send_later(Request::Disconnect {
            session: self.session,
        });
    }
}

fn refuse(reason: &'static str, e: ApiError) -> Response {
    metrics::counter!(m::UPGRADES_REFUSED, "reason" => reason).increment(1);
    tracing::info!(reason, "websocket upgrade refused");
    e.into_response()
}

/// `GET /ws?token=…`: checks the origin, the token and the connection caps
/// before upgrading. The token is never logged (nor is the URI).
pub(super) async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<WsParams>,
    ws: WebSocketUpgrade,
) -> Response {
    // A header that is not text can match no allowed origin.
    let origin = headers
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    if !state.limits.origin_allowed(origin) {
        return refuse(
            "origin",
            ApiError::new(
                ErrorCode::Forbidden,
                "this origin may not open a WebSocket here (see --allowed-origin)",
            ),
        );
    }
    let agent = match params.token.as_deref() {
        Some(t) => state.auth.token_agent(t, now_ms()).await,
        None => None,
    };
    let Some(agent) = agent else {
        return refuse(
            "unauthorized",
            ApiError::new(ErrorCode::Unauthorized, "missing, invalid or expired token"),
        );
    };
    let token = params.token.unwrap_or_default();
    let slot = match state.limits.acquire_connection(&agent) {
        Ok(slot) => slot,
        Err(e) => {
            let reason = if e.code == ErrorCode::RateLimited {
                "sessions_per_agent"
            } else {
                "max_connections"
            };
            return refuse(reason, e);
        }
    };
    let limit = state.config.max_message_bytes;
    // The write buffer must hold the largest single frame the server sends
    // (a welcome or board snapshot lists whole queues and can be megabytes);
    // a frame over it fails the send and kills the session. What bounds a
    // session's memory is the outbox capacity and the write timeout.
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| run_session(socket, state, agent, params.resume, token, slot))
}

/// Closes the login of `token` if it was revoked meanwhile (see
/// `run_session`).
async fn close_if_logged_out(state: AppState, token: String) {
    if state.auth.token_agent(&token, now_ms()).await.is_none() {
        let login = crate::auth::token_digest(&token);
        let _ = state
            .engine
            .call(|answer| Request::Logout { login, answer })
            .await;
    }
}

fn answer_frame(id: Value, result: Result<Value, ApiError>) -> Frame {
    let v = match result {
        Ok(data) => json!({ "type": "ok", "id": id, "data": data }),
        Err(e) => {
            m::error("ws", e.code);
            let mut v = json!({ "type": "error", "id": id, "code": e.code, "message": e.message });
            if let Some(d) = e.details {
                v["details"] = d;
            }
            v
        }
    };
    // Straight into a byte buffer: the same compact JSON as `Value`'s
    // `Display`, without going through a `fmt::Formatter` per token (a board
    // snapshot answering `watch` can be megabytes).
    serde_json::to_string(&v).unwrap_or_default().into()
}

/// The `ok` answering `watch`, whose `data` is the engine's JSON text put in
/// as it is: the board snapshot can be megabytes, and turning it into a
/// `Value` only to print it again is what made `watch` take seconds. Keys in
/// the order [`answer_frame`] writes them.
fn ok_with_json(id: &Value, data: &str) -> Frame {
    let id = serde_json::to_string(id).unwrap_or_else(|_| "null".into());
    let mut out = String::with_capacity(data.len() + id.len() + 24);
    out.push_str("{\"data\":");
    out.push_str(data);
    out.push_str(",\"id\":");
    out.push_str(&id);
    out.push_str(",\"type\":\"ok\"}");
    out.into()
}

async fn run_session(
    socket: WebSocket,
    state: AppState,
    agent: String,
    resume: Option<u64>,
    token: String,
    _slot: ConnectionSlot,
) {
    // The session remembers its login's digest, never the token: logging
    // that token out closes it.
    let login = crate::auth::token_digest(&token);
    let touch_login = login.clone();
    let (outbox_tx, outbox_rx) = outbox(state.config.outbox_capacity);
    let connect = state
        .engine
        .call(|answer| Request::Connect {
            agent: agent.clone(),
            outbox: outbox_tx,
            resume,
            login,
            answer,
        })
        .await;
    let session = match connect {
        Ok(session) => session,
        Err(e) if e.code == ErrorCode::Unavailable => {
            send_away(socket).await;
            return;
        }
        Err(_) => return,
    };
    // A logout that revoked the token after the check before the upgrade
    // may have closed this login's sessions before this one registered:
    // checked again now that it is registered, a revoked token closes it
    // (any logout after this check finds it registered).
    // In a task of its own, so that the session starts serving at once and
    // its task never holds the check's state (an await here measured +0.47
    // KiB per idle session).
    tokio::spawn(close_if_logged_out(state.clone(), token));
    let span = tracing::info_span!("session", session, agent = %agent);
    let (sink, stream) = socket.split();
    serve_session(sink, stream, state, session, outbox_rx, touch_login)
        .instrument(span)
        .await;
}

/// A session the engine could not open because this node cannot reach the
/// store, or is rejoining after a cut-off: the console is told so as a
/// session of a cut-off node is (`closing` `cut_off`, code 4000), to
/// reconnect, to this node or another.
async fn send_away(mut socket: WebSocket) {
    let name = CloseReason::CutOff.as_str();
    let closing = json!({ "type": "closing", "reason": name }).to_string();
    let goodbye = [
        Message::Text(closing.into()),
        Message::Close(Some(CloseFrame {
            code: 4000,
            reason: name.into(),
        })),
    ];
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        for m in goodbye {
            socket.send(m).await?;
        }
        Ok::<(), axum::Error>(())
    })
    .await;
}

/// Serves one registered session over any socket: the halves of a
/// WebSocket, or in a test in-memory channels (no network).
pub(crate) async fn serve_session(
    mut sink: impl ConsoleSink,
    stream: impl ConsoleStream,
    state: AppState,
    session: u64,
    outbox_rx: OutboxReceiver,
    login: String,
) {
    tracing::debug!("session opened");
    let _open = state.sessions.enter();
    let _guard = SessionGuard::new(session, state.engine.clone());
    let write_timeout = state.config.write_timeout;
    let answers = Answers::new();
    let batching = AtomicBool::new(false);
    let limiter = state.limits.session_limiter();
    let ended = {
        let writer = write_loop(
            &mut sink,
            outbox_rx,
            &answers,
            StatusBatch::new(&batching),
            write_timeout,
        );
        let reader = read_loop(
            stream, &state, session, &answers, &batching, limiter, &login,
        );
        tokio::select! {
            () = writer => None,
            end = reader => Some(end),
        }
    };
    if let Some((end, close)) = ended.and_then(|end| Some((end, end.close_frame()?))) {
        tracing::info!(
            ?end,
            "closing a session that broke the frame rules or limits"
        );
        if end == ReadEnd::TooLarge {
            m::error("ws", ErrorCode::TooLarge);
        }
        let reason = end.close().map_or("closed", |(_, reason)| reason);
        metrics::counter!(m::SESSIONS_CLOSED, "reason" => reason).increment(1);
        let _ = tokio::time::timeout(write_timeout, sink.send(close)).await;
    }
    tracing::debug!("session closed");
}

/// The writing half of a console socket.
pub(crate) trait ConsoleSink: Sink<Message, Error = axum::Error> + Unpin + Send {}
impl<T: Sink<Message, Error = axum::Error> + Unpin + Send> ConsoleSink for T {}

/// The reading half of a console socket.
pub(crate) trait ConsoleStream:
    Stream<Item = Result<Message, axum::Error>> + Unpin + Send
{
}
impl<T: Stream<Item = Result<Message, axum::Error>> + Unpin + Send> ConsoleStream for T {}

/// Why a write to the client failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteFailed {
    /// The connection broke.
    Broken,
    /// The client did not read within the write timeout.
    TimedOut,
}

/// Runs one write, giving up after `limit` (the client does not read).
async fn within(
    limit: Duration,
    write: impl Future<Output = Result<(), axum::Error>>,
) -> Result<(), WriteFailed> {
    match tokio::time::timeout(limit, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(WriteFailed::Broken),
        Err(_) => Err(WriteFailed::TimedOut),
    }
}

/// Sends one message, giving up after `limit`.
async fn send_within(
    sink: &mut impl ConsoleSink,
    msg: Message,
    limit: Duration,
) -> Result<(), WriteFailed> {
    within(limit, sink.send(msg)).await
}

/// Writes `first` and whatever else is queued already (pushes before
/// answers, as [`write_loop`] takes them), at most [`MAX_BATCH`] frames and
/// about [`MAX_BATCH_BYTES`], then flushes once: when a burst of pushes is
/// waiting, the frames share the socket's write buffer and go out in a few
/// syscalls instead of one each. Statuses the batching holds are skipped.
/// Gives up after `limit` like [`send_within`].
async fn send_batch(
    sink: &mut impl ConsoleSink,
    first: Frame,
    outbox: &mut OutboxReceiver,
    answers: &Answers,
    batch: &mut StatusBatch<'_>,
    limit: Duration,
) -> Result<(), WriteFailed> {
    let write = async {
        let mut bytes = first.len();
        sink.feed(Message::Text(first)).await?;
        for _ in 1..MAX_BATCH {
            if outbox.close_reason() == Some(CloseReason::SlowConsumer) || bytes >= MAX_BATCH_BYTES
            {
                break;
            }
            let next = match outbox.try_recv() {
                Some(f) => match batch.offer(f) {
                    Some(f) => f,
                    None => continue,
                },
                None => match answers.try_recv() {
                    Some(f) => f,
                    None => break,
                },
            };
            bytes += next.len();
            sink.feed(Message::Text(next)).await?;
        }
        sink.flush().await
    };
    within(limit, write).await
}

/// Writes the statuses the batching held, flushing after each frame (each
/// is at most about [`PIECE_BYTES`]).
async fn send_held(
    sink: &mut impl ConsoleSink,
    batch: &mut StatusBatch<'_>,
    limit: Duration,
) -> Result<(), WriteFailed> {
    for frame in batch.take_frames() {
        send_within(sink, Message::Text(frame), limit).await?;
    }
    Ok(())
}

async fn write_loop(
    sink: &mut impl ConsoleSink,
    mut outbox: OutboxReceiver,
    answers: &Answers,
    mut batch: StatusBatch<'_>,
    write_timeout: Duration,
) {
    loop {
        // Cut off as a slow consumer: what is still queued would only pile
        // up behind the bytes the client does not read.
        if outbox.close_reason() == Some(CloseReason::SlowConsumer) {
            break;
        }
        let due = batch.due();
        let written = tokio::select! {
            biased;
            () = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {
                send_held(sink, &mut batch, write_timeout).await
            }
            f = outbox.recv() => match f {
                Some(f) => match batch.offer(f) {
                    Some(f) => send_batch(sink, f, &mut outbox, answers, &mut batch, write_timeout).await,
                    None => continue,
                },
                None => break,
            },
            f = answers.recv() => send_batch(sink, f, &mut outbox, answers, &mut batch, write_timeout).await,
        };
        match written {
            Ok(()) => continue,
            // The write waited so long because the client stopped reading,
            // and meanwhile the engine cut it off: that is why it ends.
            Err(WriteFailed::TimedOut)
                if outbox.close_reason() == Some(CloseReason::SlowConsumer) =>
            {
                break;
            }
            Err(WriteFailed::TimedOut) => {
                tracing::warn!("a write to the client timed out: closing the session");
                metrics::counter!(m::SESSIONS_CLOSED, "reason" => "write_timeout").increment(1);
                return;
            }
            Err(WriteFailed::Broken) => return,
        }
    }
    // The engine dropped this session: say why, then close.
    let reason = outbox.close_reason();
    let name = reason.map(|r| r.as_str()).unwrap_or("closed");
    let code = if reason == Some(CloseReason::ServerGoingAway) {
        1001
    } else {
        4000
    };
    let mut goodbye = Vec::with_capacity(2);
    if reason == Some(CloseReason::SlowConsumer) {
        tracing::warn!("closing a session that does not read its socket");
        // The engine could not queue the `closing` frame (the outbox was
        // full): it goes out here, behind whatever the socket still holds,
        // if the client reads within the write timeout.
        let closing = json!({ "type": "closing", "reason": name }).to_string();
        goodbye.push(Message::Text(closing.into()));
    }
    goodbye.push(Message::Close(Some(CloseFrame {
        code,
        reason: name.into(),
    })));
    metrics::counter!(m::SESSIONS_CLOSED, "reason" => name).increment(1);
    let _ = within(write_timeout, async {
        for m in goodbye {
            sink.feed(m).await?;
        }
        sink.flush().await
    })
    .await;
}

/// The `rate_limited` refusal of one frame, or `None` when it may go on.
fn over_rate(limiter: Option<&DefaultDirectRateLimiter>) -> Option<ApiError> {
    let refused = limiter?.check().err()?;
    let wait = refused.wait_time_from(DefaultClock::default().now());
    m::rate_limited("ws_session");
    Some(ApiError {
        code: ErrorCode::RateLimited,
        message: "too many requests on this session; slow down".into(),
        details: Some(json!({ "retry_after_ms": wait.as_millis().max(1) as u64 })),
    })
}

/// How often a console in use slides its login's expiry: at most once a
/// minute, however many requests it sends.
const TOUCH_LOGIN_EVERY: Duration = Duration::from_secs(60);

async fn read_loop(
    mut stream: impl ConsoleStream,
    state: &AppState,
    session: u64,
    answers: &Answers,
    batching: &AtomicBool,
    limiter: Option<DefaultDirectRateLimiter>,
    login: &str,
) -> ReadEnd {
    let mut touched = tokio::time::Instant::now();
    while let Some(msg) = stream.next().await {
        // A console in use keeps its login alive, as HTTP calls do, so it
        // can reconnect after a blip however long ago its last HTTP call
        // was; off the request's path.
        if touched.elapsed() >= TOUCH_LOGIN_EVERY {
            touched = tokio::time::Instant::now();
            let (auth, login) = (state.auth.clone(), login.to_string());
            tokio::spawn(async move { auth.touch(&login, now_ms()).await });
        }
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Binary(_)) => {
                metrics::counter!(m::FRAMES_IN).increment(1);
                let e = over_rate(limiter.as_ref()).unwrap_or_else(|| {
                    ApiError::new(
                        ErrorCode::BadRequest,
                        "binary frames are not accepted; send JSON text",
                    )
                });
                answers.send(answer_frame(Value::Null, Err(e))).await;
                continue;
            }
            Ok(Message::Close(_)) => return ReadEnd::Closed,
            Err(e) => return ReadEnd::of(&e),
            Ok(_) => continue,
        };
        metrics::counter!(m::FRAMES_IN).increment(1);
        let limited = over_rate(limiter.as_ref());
        let answer = match (parse_frame(text.as_str()), limited) {
            (Err(bad), None) => answer_frame(bad.id, Err(bad.error)),
            (Err(bad), Some(e)) => answer_frame(bad.id, Err(e)),
            (Ok(frame), Some(e)) => answer_frame(frame.id, Err(e)),
            (Ok(frame), None) => {
                let result = match frame.request {
                    ClientRequest::Op(SessionOp::Ping {}) => Ok(json!({ "now": now_ms() })),
                    ClientRequest::Watch(WatchRequest { group, pieces }) => {
                        let span = tracing::debug_span!("command", op = "watch");
                        let board = state
                            .engine
                            .call(|answer| Request::Watch {
                                session,
                                group,
                                pieces,
                                answer,
                            })
                            .instrument(span)
                            .await;
                        match board {
                            Ok(WatchAnswer::Pieces { head, cursor }) => {
                                batching.store(true, Ordering::Relaxed);
                                send_pieces(&state.engine, answers, &frame.id, &head, cursor).await;
                                continue;
                            }
                            Ok(WatchAnswer::Whole(text)) => {
                                answers.send(ok_with_json(&frame.id, &text)).await;
                                continue;
                            }
                            Err(e) => Err(e),
                        }
                    }
                    ClientRequest::Op(op) => {
                        let span = tracing::debug_span!("command", op = op.name());
                        let key = frame.key;
                        state
                            .engine
                            .call(|answer| {
                                let request = Request::Session {
                                    session,
                                    op,
                                    answer,
                                };
                                match key {
                                    Some(key) => Request::Keyed {
                                        key,
                                        request: Box::new(request),
                                    },
                                    None => request,
                                }
                            })
                            .instrument(span)
                            .await
                    }
                };
                answer_frame(frame.id, result)
            }
        };
        answers.send(answer).await;
    }
    ReadEnd::Closed
}

#[cfg(test)]
mod tests {
    //! A console session served over in-memory channels instead of a
    //! socket, on paused time: the session loop is the one the WebSocket
    //! runs, with no network in the way.

    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    use serde_json::{Value, json};
    use tokio::sync::mpsc;

    use super::{Message, serve_session};
    use crate::auth::Auth;
    use crate::domain::{Core, CoreConfig};
    use crate::engine::replication::{self, NodeSettings};
    use crate::engine::{Engine, EngineConfig, Request, outbox};
    use crate::replica::credentials::Credentials;
    use crate::store::memory::MemoryLog;
    use crate::transport::limits::Limits;
    use crate::transport::{AppState, TransportConfig};

    const DIRECTORY: &str = r#"
[[agents]]
id = "alice"
name = "Alice"
roles = ["agent"]
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$uR1Bz2S7q2dYx8bNQ8c4C0oB8fJ2b2bC7mRjK1gGJ8U"

[[groups]]
id = "g"
name = "G"
chat = { enabled = true }

[[memberships]]
agent = "alice"
group = "g"
"#;

    /// A node over an in-process log, as `serve` starts one.
    fn node() -> AppState {
        node_over(DIRECTORY)
    }

    /// The same over another directory.
    fn node_over(directory: &str) -> AppState {
        let dir = crate::directory_file::parse(directory).unwrap();
        let (credentials_out, table) = tokio::sync::watch::channel(Arc::default());
        let (engine, output) = Engine::spawn(
            Core::new(dir.directory, CoreConfig { grace_ms: 10_000 }),
            EngineConfig {
                node: 1,
                audit_every_entry: true,
                credentials: Credentials::from_directory(&dir.password_hashes, &dir.integrations),
                credentials_out: Some(credentials_out),
                ..EngineConfig::default()
            },
        );
        let ready = Arc::new(AtomicBool::new(true));
        let log = MemoryLog::default();
        let feed = crate::store::any_journal::EventFeed::new(
            crate::store::any_journal::AnyJournal::Memory(log.clone()),
        );
        replication::start(
            log,
            engine.clone(),
            output,
            1,
            "0-0".into(),
            NodeSettings {
                audit_capacity: 1_000,
                heartbeat_ttl: Duration::from_secs(15),
                snapshot_every: Duration::from_secs(60),
                event_capacity: 1_000,
            },
            ready.clone(),
            feed.clone(),
        );
        let config = TransportConfig::default();
        AppState {
            engine,
            auth: Arc::new(Auth::new(table.clone(), "key", 3_600_000)),
            webhooks: crate::webhooks::delivery::Webhooks {
                feed,
                client: reqwest::Client::new(),
                config: Default::default(),
                table,
            },
            limits: Arc::new(Limits::new(&config)),
            ready,
            config: Arc::new(config),
            sessions: Default::default(),
        }
    }

    async fn next(rx: &mut mpsc::UnboundedReceiver<Message>) -> Value {
        loop {
            match rx.recv().await.expect("a frame") {
                Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                _ => continue,
            }
        }
    }

    /// Registers a session of `agent` with the engine (no socket).
    async fn connect(state: &AppState, agent: &str) -> (u64, crate::engine::OutboxReceiver) {
        let (outbox_tx, outbox_rx) = outbox(1024);
        let session = state
            .engine
            .call(|answer| Request::Connect {
                agent: agent.into(),
                outbox: outbox_tx,
                resume: None,
                login: "login".into(),
                answer,
            })
            .await
            .unwrap();
        (session, outbox_rx)
    }

    /// The test directory with a manager of `g` and `extra` more agents in it
    /// (x0001…), so that its board takes many pieces.
    fn board_directory(extra: usize) -> String {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$uR1Bz2S7q2dYx8bNQ8c4C0oB8fJ2b2bC7mRjK1gGJ8U";
        let mut d = format!(
            "{DIRECTORY}\n[[agents]]\nid = \"mgr\"\nname = \"Manager\"\nroles = [\"manager\"]\npassword_hash = \"{hash}\"\n\n[[memberships]]\nagent = \"mgr\"\ngroup = \"g\"\n"
        );
        for i in 1..=extra {
            d.push_str(&format!(
                "\n[[agents]]\nid = \"x{i:04}\"\nname = \"Extra Agent With A Long Name {i:04}\"\nroles = [\"agent\"]\npassword_hash = \"{hash}\"\n\n[[memberships]]\nagent = \"x{i:04}\"\ngroup = \"g\"\nactive = [\"chat\"]\n"
            ));
        }
        d
    }

    /// A board read in pieces while agents change: the pieces plus the
    /// pushes the protocol says to apply (a `seq` above the snapshot's and
    /// above the last applied for that agent) equal the board as it is
    /// afterwards, for an agent whose piece was sent before its change as
    /// for one whose piece was read after it. The client reads one frame at
    /// a time (a sink of one slot), so most pieces are read from the state
    /// only after the changes.
    #[tokio::test(start_paused = true)]
    async fn changes_made_while_a_board_is_sent_in_pieces_are_not_lost() {
        const EXTRA: usize = 600;
        let state = node_over(&board_directory(EXTRA));
        let (board, outbox_rx) = connect(&state, "mgr").await;
        let (to_server, from_client) = mpsc::unbounded_channel::<Message>();
        let (to_client, mut from_server) = mpsc::channel::<Message>(1);
        let stream = Box::pin(futures_util::stream::unfold(from_client, |mut rx| async {
            rx.recv().await.map(|m| (Ok(m), rx))
        }));
        let sink = Box::pin(futures_util::sink::unfold(
            to_client,
            |tx, m: Message| async move {
                tx.send(m).await.map_err(axum::Error::new)?;
                Ok::<_, axum::Error>(tx)
            },
        ));
        let served = tokio::spawn(serve_session(
            sink,
            stream,
            state.clone(),
            board,
            outbox_rx,
            String::new(),
        ));
        let text = |m: Message| match m {
            Message::Text(t) => serde_json::from_str::<Value>(t.as_str()).unwrap(),
            other => panic!("not text: {other:?}"),
        };
        assert_eq!(text(from_server.recv().await.unwrap())["type"], "welcome");
        to_server
            .send(Message::Text(
                json!({ "id": 1, "type": "watch", "pieces": true })
                    .to_string()
                    .into(),
            ))
            .unwrap();
        let mut frames = vec![text(from_server.recv().await.unwrap())];
        assert_eq!(frames[0]["type"], "watch_agents", "{}", frames[0]);
        // x0001 is in the piece already read, x0600 in the last one: both log
        // in and turn unavailable now.
        let mut others = Vec::new();
        for agent in ["x0001", &format!("x{EXTRA:04}")] {
            let (session, rx) = connect(&state, agent).await;
            let ok = state
                .engine
                .call(|answer| Request::Session {
                    session,
                    op: crate::engine::SessionOp::SetAvailability { available: false },
                    answer,
                })
                .await
                .unwrap();
            assert_eq!(ok["available"], false, "{ok}");
            others.push(rx);
        }
        // Everything the board gets until it has been quiet for a second.
        while let Ok(Some(m)) =
            tokio::time::timeout(Duration::from_secs(1), from_server.recv()).await
        {
            frames.push(text(m));
        }
        let ok = frames
            .iter()
            .find(|f| f["type"] == "ok" && f["id"] == 1)
            .expect("the ok answering watch");
        let seq = ok["data"]["seq"].as_u64().unwrap();
        let pieces: Vec<&Value> = frames
            .iter()
            .filter(|f| f["type"] == "watch_agents")
            .collect();
        assert_eq!(ok["data"]["pieces"], pieces.len());
        assert!(
            pieces.len() > 6,
            "{} pieces: too few to be read after the changes",
            pieces.len()
        );
        let mut agents: Vec<Value> = pieces
            .iter()
            .flat_map(|p| p["agents"].as_array().unwrap().clone())
            .collect();
        let mut applied: std::collections::HashMap<String, u64> = Default::default();
        for push in frames
            .iter()
            .filter(|f| f["type"] == "agent_status_batch")
            .flat_map(|f| f["pushes"].as_array().unwrap())
        {
            let at = push["seq"].as_u64().unwrap();
            let mut status = push["status"].clone();
            let id = status["agent"].as_str().unwrap().to_owned();
            if at <= *applied.get(&id).unwrap_or(&seq) {
                continue;
            }
            applied.insert(id.clone(), at);
            status.as_object_mut().unwrap().remove("change");
            let row = agents
                .iter_mut()
                .find(|a| a["agent"] == id.as_str())
                .expect("a listed agent");
            *row = status;
        }
        assert!(
            applied.contains_key("x0001"),
            "the change of an agent already sent came as a push"
        );
        let now = match state
            .engine
            .call(|answer| Request::Watch {
                session: board,
                group: None,
                pieces: false,
                answer,
            })
            .await
            .unwrap()
        {
            crate::engine::WatchAnswer::Whole(text) => {
                serde_json::from_str::<Value>(&text).unwrap()
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(Value::Array(agents), now["agents"]);
        for (i, agent) in ["x0001", &format!("x{EXTRA:04}")].into_iter().enumerate() {
            let row = now["agents"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["agent"] == agent)
                .unwrap();
            assert_eq!(
                (row["logged_in"].as_bool(), row["available"].as_bool()),
                (Some(true), Some(false)),
                "{i}: {row}"
            );
        }
        drop(to_server);
        drop(from_server);
        served.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_runs_over_in_memory_channels() {
        let state = node();
        let (session, outbox_rx) = connect(&state, "alice").await;
        let (to_server, from_client) = mpsc::unbounded_channel::<Message>();
        let (to_client, mut from_server) = mpsc::unbounded_channel::<Message>();
        let stream = Box::pin(futures_util::stream::unfold(from_client, |mut rx| async {
            rx.recv().await.map(|m| (Ok(m), rx))
        }));
        let sink = Box::pin(futures_util::sink::unfold(
            to_client,
            |tx, m: Message| async move {
                tx.send(m).map_err(axum::Error::new)?;
                Ok::<_, axum::Error>(tx)
            },
        ));
        let served = tokio::spawn(serve_session(
            sink,
            stream,
            state.clone(),
            session,
            outbox_rx,
            String::new(),
        ));
        let welcome = next(&mut from_server).await;
        assert_eq!(welcome["type"], "welcome");
        assert_eq!(welcome["agent"]["id"], "alice");
        let frame = |v: Value| Message::Text(v.to_string().into());
        to_server
            .send(frame(json!({ "id": 1, "type": "ping" })))
            .unwrap();
        let pong = next(&mut from_server).await;
        assert_eq!(
            (pong["type"].as_str(), pong["id"].as_u64()),
            (Some("ok"), Some(1))
        );
        to_server
            .send(frame(
                json!({ "id": 2, "type": "set_availability", "available": false }),
            ))
            .unwrap();
        let answer = loop {
            let f = next(&mut from_server).await;
            if f["type"] == "ok" {
                break f;
            }
        };
        assert_eq!(answer["id"], 2);
        assert_eq!(answer["data"]["available"], false);
        // The client goes away: the session loop ends.
        drop(to_server);
        served.await.unwrap();
    }
}
