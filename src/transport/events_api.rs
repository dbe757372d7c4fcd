//! `GET /api/events`: the event stream of an integration (server-sent
//! events), scoped to its groups, resuming after the last event id it got.
//!
//! # No gap, no duplicate
//! The stream subscribes to the node's live events *before* it reads the
//! journal after the position asked for, then sends what the journal holds,
//! then the live events, skipping any id not above the last one sent. Every
//! event is written to the journal before it is published live, and every
//! node writes (and publishes) every event in log order, so the replay and
//! the live events overlap rather than leave a hole, and the id check drops
//! the overlap. A subscriber that lags behind the live channel goes back to
//! the journal from its last id.
//!
//! # Too old
//! A position older than the journal holds (its cap dropped events after
//! it) is answered `410 events_expired` with the oldest id still held: the
//! client must resynchronise by other means, never silently skip events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::AppState;
use super::http::any_caller;
use crate::api_error::{ApiError, ErrorCode};
use crate::engine::Caller;
use crate::integrations::Integration;
use crate::store::any_journal::EventFeed;
use crate::store::events::{EventId, EventJournal};

/// Events read from the journal per call.
const PAGE: usize = 500;

/// `?after=`.
#[derive(Debug, Deserialize)]
pub(super) struct After {
    after: Option<String>,
}

fn position(headers: &HeaderMap, q: &After) -> Result<Option<EventId>, ApiError> {
    let given = match headers.get("last-event-id") {
        Some(v) => Some(("Last-Event-ID", v.to_str().unwrap_or_default().to_string())),
        None => q.after.clone().map(|a| ("after", a)),
    };
    match given {
        None => Ok(None),
        Some((field, text)) => EventId::parse(&text).map(Some).ok_or_else(|| {
            ApiError::about_field(
                ErrorCode::InvalidField,
                field,
                format!("{field} must be an event id (<ms>-<n>)"),
            )
        }),
    }
}

/// Whether an event concerns one of `who`'s groups.
fn visible(who: &Integration, event: &Value) -> bool {
    event["groups"]
        .as_array()
        .is_some_and(|gs| gs.iter().filter_map(Value::as_str).any(|g| who.allows(g)))
}

fn sse(id: EventId, text: &str) -> Option<SseEvent> {
    let v: Value = serde_json::from_str(text).ok()?;
    let name = v["event"].as_str().unwrap_or("event").to_string();
    Some(
        SseEvent::default()
            .id(id.to_string())
            .event(name)
            .data(text),
    )
}

/// `GET /api/events` (integration key).
pub(super) async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<After>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let Caller::Integration(who) = any_caller(&state, &headers).await? else {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "the event stream is for integrations (an API key)",
        ));
    };
    let start = position(&headers, &q)?;
    let feed = state.webhooks.feed.clone();
    let live = feed.live.subscribe();
    if let Some(after) = start {
        let first = feed
            .journal
            .read_events(after, 1)
            .await
            .map_err(|e| ApiError::new(ErrorCode::Unavailable, e.to_string()))?;
        if first.expired(after) {
            let oldest = first.events.first().map(|(id, _)| id.to_string());
            return Err(ApiError {
                code: ErrorCode::EventsExpired,
                message: format!(
                    "events after {after} are no longer held (the oldest held is {}): \
                     resynchronise, then stream from now",
                    oldest.as_deref().unwrap_or("none")
                ),
                details: Some(json!({ "oldest": oldest })),
            });
        }
    }
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(pump(feed, who, start, live, tx));
    let events =
        futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
        );
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Sends the journal after `start` (if any), then live events, until the
/// client goes away.
async fn pump(
    feed: EventFeed,
    who: std::sync::Arc<Integration>,
    start: Option<EventId>,
    mut live: broadcast::Receiver<crate::store::any_journal::LiveEvents>,
    tx: mpsc::Sender<SseEvent>,
) {
    let mut last = start;
    loop {
        if let Some(after) = last {
            // Catch up from the journal.
            let mut at = after;
            loop {
                let read = match feed.journal.read_events(at, PAGE).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(error = %e, "event stream: cannot read the journal");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                if read.expired(at) {
                    let gone = SseEvent::default().event("events_expired").data(
                        json!({ "after": at.to_string(), "floor": read.floor.to_string() })
                            .to_string(),
                    );
                    let _ = tx.send(gone).await;
                    return;
                }
                let n = read.events.len();
                for (id, text) in read.events {
                    at = id;
                    if let Some(e) = wanted(&who, id, &text)
                        && tx.send(e).await.is_err()
                    {
                        return;
                    }
                }
                if n < PAGE {
                    break;
                }
            }
            last = Some(at);
        }
        // Live.
        loop {
            let received = tokio::select! {
                r = live.recv() => r,
                () = tx.closed() => return,
            };
            match received {
                Ok(batch) => {
                    for (id, text) in batch.iter() {
                        if last.is_some_and(|l| *id <= l) {
                            continue;
                        }
                        last = Some(*id);
                        if let Some(e) = wanted(&who, *id, text)
                            && tx.send(e).await.is_err()
                        {
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if last.is_none() {
                        // Fell behind before the first event, with no
                        // position to read the journal from: say so.
                        let lagged = SseEvent::default()
                            .event("events_expired")
                            .data(json!({ "lagged": true }).to_string());
                        let _ = tx.send(lagged).await;
                        return;
                    }
                    // Read what was missed from the journal.
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

fn wanted(who: &Integration, id: EventId, text: &str) -> Option<SseEvent> {
    let v: Value = serde_json::from_str(text).ok()?;
    if !visible(who, &v) {
        return None;
    }
    sse(id, text)
}
