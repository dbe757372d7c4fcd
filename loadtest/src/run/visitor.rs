//! Visitors of the chats the integration creates (`--visitors SHARE`): the
//! website widget's side of a chat, waiting in the queue and then talking to
//! its agent.
//!
//! A visitor opens `/visitor?token=…` with the token of the `201` of
//! `POST /api/work` (docs/protocol.md §2.4), on the node the chat was posted
//! to, and reads until the chat is `closed` or the run is over: the `chat`
//! frame first (timed from the open: `visitor_open_to_chat`), then its live
//! `position` while queued, `connecting`, `agent_joined` and messages.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::{PH_DRAIN, Shared};
use crate::util::pct;

/// Runs one visitor of the chat whose `201` answered `token`, posted to node
/// `node`.
pub(super) async fn visitor(sh: Arc<Shared>, node: usize, token: String) {
    sh.c.visitors_opened.fetch_add(1, Relaxed);
    let server = &sh.cfg.servers[node];
    let url = format!(
        "ws://{}:{}/visitor?token={}",
        server.host,
        server.port,
        pct(&token)
    );
    let opened = Instant::now();
    let mut ws = match tokio_tungstenite::connect_async(url).await {
        Ok((ws, _)) => ws,
        Err(e) => {
            sh.c.visitor_errors.fetch_add(1, Relaxed);
            sh.err(format!("visitor:connect {e}"));
            return;
        }
    };
    loop {
        let frame = tokio::select! {
            f = ws.next() => f,
            () = tokio::time::sleep(Duration::from_millis(250)) => {
                if sh.phase.load(Relaxed) > PH_DRAIN {
                    break;
                }
                continue;
            }
        };
        let text = match frame {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(_))) | None => break,
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                sh.c.visitor_errors.fetch_add(1, Relaxed);
                sh.err(format!("visitor:read {e}"));
                break;
            }
        };
        let v: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
        match v["type"].as_str().unwrap_or("") {
            "chat" => {
                sh.c.visitor_chats.fetch_add(1, Relaxed);
                sh.hist("visitor_open_to_chat", opened.elapsed().as_micros() as u64);
            }
            "position" => {
                sh.c.visitor_positions.fetch_add(1, Relaxed);
            }
            "agent_joined" => {
                sh.c.visitors_joined.fetch_add(1, Relaxed);
            }
            "connecting" | "message" => {}
            "closed" => {
                sh.c.visitors_closed.fetch_add(1, Relaxed);
                break;
            }
            "error" => {
                sh.c.visitor_errors.fetch_add(1, Relaxed);
                sh.err(format!("visitor:{}", v["code"].as_str().unwrap_or("error")));
                break;
            }
            other => sh.note(format!(
                "protocol: unknown visitor frame type {other:?} from the server"
            )),
        }
    }
    let _ = ws.close(None).await;
}
