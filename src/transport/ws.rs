//! The console WebSocket: one task per session.
//!
//! The session task reads frames, parses them and asks the engine, one
//! request at a time, so a session's answers come back in the order it asked.
//! Its writer half drains two sources: the outbox the engine pushes into and
//! the answers to this session's own requests, pushes first, so that pushes
//! caused by a request reach the client before the request's `ok`.
//!
//! A [`SessionGuard`] owned by the task tells the engine the session is gone
//! when the task ends, however it ends (close, error, panic), so presence can
//! never leak a session.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::AppState;
use super::frames::{ClientRequest, parse_frame};
use crate::api_error::{ApiError, ErrorCode};
use crate::engine::{EngineHandle, Frame, OutboxReceiver, Request, now_ms, outbox};

/// Query of the upgrade request.
#[derive(Deserialize)]
pub(super) struct WsParams {
    token: Option<String>,
}

/// Tells the engine a session ended, whatever ended it.
struct SessionGuard {
    session: u64,
    engine: EngineHandle,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.engine.send_later(Request::Disconnect {
            session: self.session,
        });
    }
}

/// `GET /ws?token=…`: authenticates before upgrading.
pub(super) async fn upgrade(
    State(state): State<AppState>,
    Query(params): Query<WsParams>,
    ws: WebSocketUpgrade,
) -> Response {
    let agent = params
        .token
        .as_deref()
        .and_then(|t| state.auth.check_token(t, now_ms()));
    let Some(agent) = agent else {
        return ApiError::new(ErrorCode::Unauthorized, "missing, invalid or expired token")
            .into_response();
    };
    let limit = state.config.max_message_bytes;
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| run_session(socket, state, agent))
}

fn answer_frame(id: Value, result: Result<Value, ApiError>) -> Frame {
    let v = match result {
        Ok(data) => json!({ "type": "ok", "id": id, "data": data }),
        Err(e) => {
            let mut v = json!({ "type": "error", "id": id, "code": e.code, "message": e.message });
            if let Some(d) = e.details {
                v["details"] = d;
            }
            v
        }
    };
    v.to_string().into()
}

async fn run_session(socket: WebSocket, state: AppState, agent: String) {
    let (outbox_tx, outbox_rx) = outbox(state.config.outbox_capacity);
    let connect = state
        .engine
        .call(|answer| Request::Connect {
            agent: agent.clone(),
            outbox: outbox_tx,
            answer,
        })
        .await;
    let Ok(session) = connect else {
        return;
    };
    let span = tracing::info_span!("session", session, agent = %agent);
    serve_session(socket, state, session, outbox_rx)
        .instrument(span)
        .await;
}

async fn serve_session(socket: WebSocket, state: AppState, session: u64, outbox_rx: OutboxReceiver) {
    tracing::debug!("session opened");
    let _guard = SessionGuard {
        session,
        engine: state.engine.clone(),
    };
    let (sink, stream) = socket.split();
    let (answers_tx, answers_rx) = mpsc::channel::<Frame>(64);
    let writer = write_loop(sink, outbox_rx, answers_rx);
    let reader = read_loop(stream, &state, session, answers_tx);
    tokio::select! {
        () = writer => {}
        () = reader => {}
    }
    tracing::debug!("session closed");
}

async fn write_loop(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut outbox: OutboxReceiver,
    mut answers: mpsc::Receiver<Frame>,
) {
    loop {
        let frame = tokio::select! {
            biased;
            f = outbox.recv() => match f {
                Some(f) => f,
                None => break,
            },
            f = answers.recv() => match f {
                Some(f) => f,
                None => return,
            },
        };
        if sink.send(Message::Text(frame)).await.is_err() {
            return;
        }
    }
    // The engine dropped this session: say why, then close.
    let reason = outbox.close_reason().map(|r| r.as_str()).unwrap_or("closed");
    let code = if reason == "server_going_away" { 1001 } else { 4000 };
    if reason == "slow_consumer" {
        tracing::warn!("closing a session that does not read its socket");
    }
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

async fn read_loop(
    mut stream: futures_util::stream::SplitStream<WebSocket>,
    state: &AppState,
    session: u64,
    answers: mpsc::Sender<Frame>,
) {
    while let Some(msg) = stream.next().await {
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Binary(_)) => {
                let e = ApiError::new(ErrorCode::BadRequest, "binary frames are not accepted; send JSON text");
                if answers.send(answer_frame(Value::Null, Err(e))).await.is_err() {
                    return;
                }
                continue;
            }
            Ok(Message::Close(_)) | Err(_) => return,
            Ok(_) => continue,
        };
        let answer = match parse_frame(text.as_str()) {
            Err(bad) => answer_frame(bad.id, Err(bad.error)),
            Ok(frame) => {
                let result = match frame.request {
                    ClientRequest::Ping => Ok(json!({ "now": now_ms() })),
                    ClientRequest::Op(op) => {
                        let span = tracing::debug_span!("command", op = op.name());
                        state
                            .engine
                            .call(|answer| Request::Session {
                                session,
                                op,
                                answer,
                            })
                            .instrument(span)
                            .await
                    }
                };
                answer_frame(frame.id, result)
            }
        };
        if answers.send(answer).await.is_err() {
            return;
        }
    }
}
