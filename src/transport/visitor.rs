//! The visitor's side: public endpoints a website's chat widget calls, and
//! the visitor's WebSocket.
//!
//! A visitor has no account. Starting a chat (or leaving a ticket) is open to
//! anyone, limited per IP address; the chat's visitor token, returned once,
//! is the only credential of its socket. The socket accepts any origin,
//! because the widget is meant to be embedded on the help desk's own website.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::bodies::StartBody;
use super::frames::{VisitorFrame, parse_visitor_frame};
use super::json_body::JsonBody;
use super::ws_close::ReadEnd;
use crate::api_error::{ApiError, ErrorCode};
use crate::domain::Channel;
use crate::engine::{Caller, EngineHandle, HttpOp, Request, outbox};

fn rate_limited(state: &AppState, addr: SocketAddr) -> Result<(), ApiError> {
    state
        .limits
        .check_visitor(addr.ip())
        .map_err(|retry| ApiError {
            code: ErrorCode::RateLimited,
            message: format!(
                "too many chats or tickets from your address; try again in {} s",
                retry.secs()
            ),
            details: Some(json!({ "retry_after_s": retry.secs() })),
        })
}

async fn create(
    state: &AppState,
    addr: SocketAddr,
    payload: JsonBody<StartBody>,
    channel: Channel,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = super::http::body(payload)?;
    body.check()?;
    rate_limited(state, addr)?;
    let op = HttpOp::CreateWork {
        group: body.group,
        channel,
        priority: 0,
        title: body.text.trim().to_string(),
        visitor: Some(body.name.trim().to_string()),
    };
    let caller = Caller::Integration(crate::integrations::Integration::everywhere("visitor"));
    let v = state
        .engine
        .call(|answer| Request::Http { caller, op, answer })
        .await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// `POST /api/visitor/chats`: a visitor starts a chat; answers the item and
/// its `visitor_token`, or `409 offline`.
pub(super) async fn start_chat(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    payload: JsonBody<StartBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    create(&state, addr, payload, Channel::Chat).await
}

/// `POST /api/visitor/tickets`: a visitor leaves a ticket.
pub(super) async fn leave_ticket(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    payload: JsonBody<StartBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (status, Json(mut v)) = create(&state, addr, payload, Channel::Ticket).await?;
    if let Some(o) = v.as_object_mut() {
        o.remove("visitor_token");
    }
    Ok((status, Json(v)))
}

#[derive(Deserialize)]
pub(super) struct VisitorParams {
    token: Option<String>,
}

/// Tells the engine the visitor's socket is gone, whatever ended it.
struct VisitorGuard {
    item: u64,
    engine: EngineHandle,
}

impl Drop for VisitorGuard {
    fn drop(&mut self) {
        self.engine
            .send_later(Request::VisitorDisconnect { item: self.item });
    }
}

/// `GET /visitor?token=…`: the visitor's socket.
pub(super) async fn upgrade(
    State(state): State<AppState>,
    Query(params): Query<VisitorParams>,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(token) = params.token else {
        return ApiError::new(ErrorCode::Unauthorized, "missing visitor token").into_response();
    };
    let limit = state.config.max_message_bytes;
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| run_visitor(socket, state, token))
}

async fn run_visitor(socket: WebSocket, state: AppState, token: String) {
    let (tx, mut rx) = outbox(state.config.outbox_capacity);
    let (mut sink, mut stream) = socket.split();
    let connected = state
        .engine
        .call(|answer| Request::VisitorConnect {
            token,
            outbox: tx,
            answer,
        })
        .await;
    let item = match connected {
        Ok(item) => item,
        Err(e) => {
            let _ = sink
                .send(Message::Text(
                    json!({ "type": "error", "code": e.code, "message": e.message })
                        .to_string()
                        .into(),
                ))
                .await;
            let _ = sink
                .send(Message::Close(Some(CloseFrame {
                    code: 4001,
                    reason: "unauthorized".into(),
                })))
                .await;
            return;
        }
    };
    let _guard = VisitorGuard {
        item,
        engine: state.engine.clone(),
    };
    loop {
        tokio::select! {
            biased;
            f = rx.recv() => match f {
                Some(f) => {
                    let closed = f.as_str().contains("\"type\":\"closed\"");
                    if sink.send(Message::Text(f)).await.is_err() || closed {
                        let _ = sink.send(Message::Close(None)).await;
                        return;
                    }
                }
                None => return,
            },
            m = stream.next() => {
                let text = match m {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => {
                        let answer = json!({
                            "type": "error",
                            "code": ErrorCode::BadRequest,
                            "message": "binary frames are not accepted; send JSON text",
                        });
                        crate::metrics::error("ws", ErrorCode::BadRequest);
                        if sink.send(Message::Text(answer.to_string().into())).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Some(Ok(Message::Close(_))) | None => return,
                    Some(Err(e)) => {
                        // A frame over the limit, text that is not UTF-8, a
                        // framing violation: the stream is over, say why.
                        if let Some(close) = ReadEnd::of(&e).close_frame() {
                            let limit = state.config.write_timeout;
                            let _ = tokio::time::timeout(limit, sink.send(close)).await;
                        }
                        return;
                    }
                    Some(Ok(_)) => continue,
                };
                let answer = match parse_visitor_frame(text.as_str()) {
                    Err(e) => json!({ "type": "error", "code": e.code, "message": e.message }),
                    Ok(VisitorFrame::Message { text }) => {
                        match state.engine.call(|answer| Request::VisitorMessage { item, text, answer }).await {
                            Ok(_) => continue,
                            Err(e) => json!({ "type": "error", "code": e.code, "message": e.message }),
                        }
                    }
                };
                if sink.send(Message::Text(answer.to_string().into())).await.is_err() {
                    return;
                }
            }
        }
    }
}
