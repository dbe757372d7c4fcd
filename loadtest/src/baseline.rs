//! `baseline-server`: a minimal WebSocket push server on the same stack as
//! Switchboard (axum `ws`, 4 KiB read and write buffers), with no domain logic.
//! It speaks just enough of docs/protocol.md for the `idle` and `chats`
//! scenarios: login returns a token, `/ws` sends a `welcome`, `POST /api/work`
//! pushes an `item` (`reason: routed`) to one connected session, round robin,
//! and answers 201. Every request frame with an id gets an `ok`.
//!
//! For `presence`: `watch` registers the session as a watcher of every group
//! of `--directory` (and lists them in its answer); `set_availability` and
//! `set_active` push one `agent_status` (serialised once, copied per recipient) to every watcher and
//! to the sender's own socket, then answer `ok`: the same fan-out Switchboard
//! does for supervisors watching all groups, with no domain logic.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

#[derive(Default)]
struct Sessions {
    list: Vec<(u64, String, mpsc::Sender<String>)>,
    rr: usize,
    /// Sessions that sent `watch`.
    watchers: Vec<(u64, mpsc::Sender<String>)>,
}

struct St {
    api_key: String,
    sessions: Mutex<Sessions>,
    next_session: AtomicU64,
    next_item: AtomicU64,
    seq: AtomicU64,
    queued: Mutex<HashMap<String, Vec<Value>>>,
    /// Group ids a `watch` answer lists.
    groups: Vec<String>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

fn err(status: StatusCode, code: &str, msg: &str) -> Response {
    (status, Json(json!({"error":{"code":code,"message":msg}}))).into_response()
}

/// Runs the baseline server until killed.
pub async fn serve(
    listen: SocketAddr,
    api_key: String,
    nodelay: bool,
    groups: Vec<String>,
) -> std::io::Result<()> {
    let st = Arc::new(St {
        api_key,
        sessions: Mutex::default(),
        next_session: AtomicU64::new(1),
        next_item: AtomicU64::new(1),
        seq: AtomicU64::new(1),
        queued: Mutex::default(),
        groups,
    });
    let app = Router::new()
        .route("/api/login", post(login))
        .route("/api/work", post(work))
        .route("/api/groups/{id}/queue", get(queue))
        .route("/ws", get(ws))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ready" }))
        .with_state(st);
    let l = tokio::net::TcpListener::bind(listen).await?;
    eprintln!(
        "baseline-server listening on {} (TCP_NODELAY {nodelay})",
        l.local_addr()?
    );
    use axum::serve::ListenerExt;
    axum::serve(
        l.tap_io(move |tcp| {
            if nodelay {
                let _ = tcp.set_nodelay(true);
            }
        }),
        app,
    )
    .await
}

async fn login(Json(b): Json<Value>) -> Response {
    let Some(u) = b["username"].as_str() else {
        return err(StatusCode::BAD_REQUEST, "invalid_field", "username missing");
    };
    Json(json!({"token": format!("t-{u}"), "agent": {"id": u, "name": u, "roles": ["agent"]}}))
        .into_response()
}

async fn ws(
    State(st): State<Arc<St>>,
    Query(q): Query<HashMap<String, String>>,
    up: WebSocketUpgrade,
) -> Response {
    let Some(agent) = q
        .get("token")
        .and_then(|t| t.strip_prefix("t-"))
        .map(|s| s.to_string())
    else {
        return err(StatusCode::UNAUTHORIZED, "unauthorized", "bad token");
    };
    up.read_buffer_size(4096)
        .write_buffer_size(4096)
        .max_message_size(64 * 1024)
        .on_upgrade(move |s| session(st, agent, s))
}

async fn session(st: Arc<St>, agent: String, socket: WebSocket) {
    let sid = st.next_session.fetch_add(1, Relaxed);
    let (tx, mut rx) = mpsc::channel::<String>(64);
    let (mut sink, mut stream) = socket.split();
    let welcome = json!({
        "type": "welcome", "seq": st.seq.fetch_add(1, Relaxed), "session": sid, "grace_ms": 10000,
        "agent": {"id": agent, "name": agent, "roles": ["agent"], "available": true},
        "groups": [], "work": [], "queues": []
    });
    if sink.send(Message::text(welcome.to_string())).await.is_err() {
        return;
    }
    st.sessions
        .lock()
        .unwrap()
        .list
        .push((sid, agent.clone(), tx.clone()));
    let mut available = true;
    'session: loop {
        tokio::select! {
            m = rx.recv() => match m {
                Some(t) => if sink.send(Message::text(t)).await.is_err() { break },
                None => break,
            },
            m = stream.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                    let ans = match v["type"].as_str() {
                        Some("accept") | Some("close") => json!({"type":"ok","id":v["id"],"data":{"id":v["item"],"state": if v["type"] == "accept" {"active"} else {"closed"}}}),
                        Some("watch") => {
                            st.sessions.lock().unwrap().watchers.push((sid, tx.clone()));
                            let groups: Vec<Value> = st.groups.iter().map(|g| json!({"id": g})).collect();
                            json!({"type":"ok","id":v["id"],"data":{"groups": groups, "agents": []}})
                        }
                        Some(kind @ ("set_availability" | "set_active")) => {
                            let (what, cells) = if kind == "set_availability" {
                                available = v["available"].as_bool().unwrap_or(available);
                                ("availability", Vec::new())
                            } else {
                                let cells = v["cells"].as_array().into_iter().flatten().map(|c| json!({
                                    "group": c["group"], "channel": c["channel"],
                                    "state": if c["active"].as_bool() == Some(true) {"on"} else {"off"},
                                })).collect();
                                ("active", cells)
                            };
                            // One String per recipient: the channel carries Strings as in
                            // `idle` and `chats`, so the baseline's per-session cost is unchanged.
                            let push: String = json!({
                                "type": "agent_status", "seq": st.seq.fetch_add(1, Relaxed),
                                "status": {"agent": agent, "name": agent, "available": available,
                                           "cells": cells, "change": {"what": what, "by": agent}},
                            }).to_string();
                            let watchers: Vec<mpsc::Sender<String>> = st.sessions.lock().unwrap()
                                .watchers.iter().map(|(_, w)| w.clone()).collect();
                            for w in watchers {
                                let _ = w.try_send(push.clone());
                            }
                            if sink.send(Message::text(push)).await.is_err() { break 'session }
                            json!({"type":"ok","id":v["id"],"data":{}})
                        }
                        Some(_) => json!({"type":"ok","id":v["id"],"data":{}}),
                        None => json!({"type":"error","id":v["id"],"code":"bad_request","message":"no type"}),
                    };
                    if sink.send(Message::text(ans.to_string())).await.is_err() { break }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            }
        }
    }
    let mut s = st.sessions.lock().unwrap();
    s.list.retain(|(id, _, _)| *id != sid);
    s.watchers.retain(|(id, _)| *id != sid);
}

async fn work(State(st): State<Arc<St>>, h: HeaderMap, Json(b): Json<Value>) -> Response {
    let key = h
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if key != st.api_key {
        return err(StatusCode::UNAUTHORIZED, "unauthorized", "bad api key");
    }
    let id = st.next_item.fetch_add(1, Relaxed);
    let group = b["group"].as_str().unwrap_or("").to_string();
    let mut item = json!({
        "id": id, "group": group, "channel": b["channel"].as_str().unwrap_or("chat"),
        "priority": b["priority"].as_i64().unwrap_or(0), "title": b["title"],
        "state": "queued", "assignee": null, "assignee_name": null,
        "created_at": now_ms(), "assigned_at": null
    });
    let target = {
        let mut s = st.sessions.lock().unwrap();
        if s.list.is_empty() {
            None
        } else {
            s.rr = (s.rr + 1) % s.list.len();
            let (_, a, tx) = &s.list[s.rr];
            Some((a.clone(), tx.clone()))
        }
    };
    match target {
        Some((agent, tx)) => {
            item["state"] = json!("assigned");
            item["assignee"] = json!(agent);
            item["assignee_name"] = json!(agent);
            item["assigned_at"] = json!(now_ms());
            let push = json!({"type":"item","seq": st.seq.fetch_add(1, Relaxed),"item": item,"reason":"routed"});
            if tx.try_send(push.to_string()).is_err() {
                item["state"] = json!("queued");
                item["assignee"] = Value::Null;
                st.queued
                    .lock()
                    .unwrap()
                    .entry(group)
                    .or_default()
                    .push(item.clone());
            }
        }
        None => st
            .queued
            .lock()
            .unwrap()
            .entry(group)
            .or_default()
            .push(item.clone()),
    }
    (StatusCode::CREATED, Json(json!({"item": item}))).into_response()
}

async fn queue(State(st): State<Arc<St>>, Path(g): Path<String>) -> Response {
    let items = st
        .queued
        .lock()
        .unwrap()
        .get(&g)
        .cloned()
        .unwrap_or_default();
    Json(json!({"group": g, "items": items})).into_response()
}
