//! Outbound webhooks (docs/webhooks.md).
//!
//! Integrations' own webhooks, durable and at least once, are
//! [`delivery`] (from the store's event journal) and [`dead_letters`].
//! This file is the legacy server-wide `--webhook-url`: every item event of
//! the engine POSTed, signed, from memory, as described below; not durable.
//!
//! # Never blocking the engine
//! The engine calls [`WebhookSender::send`] while it publishes; that call only
//! `try_send`s into a bounded queue per URL and returns. When a queue is full
//! the delivery is dropped (counted in `switchboard_webhook_dropped_total`,
//! logged as a warning): a slow or dead receiver never slows routing down.
//!
//! # Delivery
//! One dispatcher task per URL takes deliveries off its queue and runs each
//! in its own task (at most [`WebhookConfig::concurrency`] at a time): POST,
//! and on a network error, a timeout or a non-2xx answer, retry with
//! exponential backoff up to [`WebhookConfig::max_attempts`] attempts. Every
//! attempt of a delivery carries the same body and the same
//! `X-Switchboard-Delivery` id, so a receiver de-duplicates by that id.

pub mod dead_letters;
pub mod delivery;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::{Semaphore, mpsc};

use crate::domain::{Item, ItemReason, Millis};

/// The webhook and event-stream name of an item change (an item routed at
/// creation is `item.assigned`; the global webhooks also send
/// `item.created` for it).
pub fn item_event_name(reason: ItemReason) -> &'static str {
    match reason {
        ItemReason::Routed | ItemReason::Taken | ItemReason::Drained | ItemReason::Assigned => {
            "item.assigned"
        }
        ItemReason::Accepted => "item.accepted",
        ItemReason::Closed => "item.closed",
        ItemReason::HandedOff => "item.handed_off",
        ItemReason::Transferred => "item.transferred",
        ItemReason::TakenOver => "item.taken_over",
        ItemReason::Abandoned => "item.abandoned",
        ItemReason::VisitorLeft => "item.visitor_left",
        ItemReason::VisitorBack => "item.visitor_back",
        ItemReason::Cancelled => "item.cancelled",
        ItemReason::Updated => "item.updated",
    }
}

/// Counter: deliveries a receiver answered with a 2xx.
pub const SENT: &str = "switchboard_webhook_sent_total";
/// Counter: deliveries dropped because their URL's queue was full.
pub const DROPPED: &str = "switchboard_webhook_dropped_total";
/// Counter: deliveries given up after the last attempt failed.
pub const FAILED: &str = "switchboard_webhook_failed_total";

/// Header: the event name (`item.assigned`).
pub const EVENT_HEADER: &str = "x-switchboard-event";
/// Header: the delivery id, the same on every attempt.
pub const DELIVERY_HEADER: &str = "x-switchboard-delivery";
/// Header: `sha256=<hex HMAC-SHA256 of the body keyed with the secret>`.
pub const SIGNATURE_HEADER: &str = "x-switchboard-signature";

/// Where and how webhooks are sent.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The receivers (`http://…`); every event goes to each.
    pub urls: Vec<String>,
    /// The shared secret the body is signed with.
    pub secret: String,
    /// Deliveries waiting per URL before new ones are dropped.
    pub queue_capacity: usize,
    /// Attempts per delivery, the first included.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled before each further one.
    pub first_backoff: Duration,
    /// Bound on one attempt (connect, send, answer).
    pub timeout: Duration,
    /// Deliveries in flight per URL at once.
    pub concurrency: usize,
    /// Extra CA certificates (PEM) for `https://` URLs (`--webhook-ca`).
    pub ca_pem: Option<Vec<u8>>,
}

impl WebhookConfig {
    /// The defaults: a queue of 10,000, 6 attempts 0.5 s, 1 s, 2 s, 4 s, 8 s
    /// apart, 5 s per attempt, 32 in flight per URL.
    pub fn new(urls: Vec<String>, secret: String) -> WebhookConfig {
        WebhookConfig {
            urls,
            secret,
            queue_capacity: 10_000,
            max_attempts: 6,
            first_backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(5),
            concurrency: 32,
            ca_pem: None,
        }
    }
}

/// One event on its way to one URL.
#[derive(Debug)]
struct Delivery {
    id: Arc<str>,
    event: Arc<str>,
    body: Arc<[u8]>,
}

#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    event: &'a str,
    at: Millis,
    item: Value,
}

#[derive(Debug)]
struct Inner {
    queues: Vec<(String, mpsc::Sender<Delivery>)>,
    /// A random prefix of this process's delivery ids.
    prefix: String,
    next: AtomicU64,
}

/// A cheap, cloneable handle that queues webhook deliveries. The default one
/// is disabled: `send` does nothing.
#[derive(Debug, Clone, Default)]
pub struct WebhookSender {
    inner: Option<Arc<Inner>>,
    /// Set while a cluster replica applies another node's log entry: every
    /// replica applies every entry, and only the proposing node sends its
    /// events, so each is delivered once.
    muted: bool,
}

impl WebhookSender {
    /// A sender that sends nothing.
    pub fn disabled() -> WebhookSender {
        WebhookSender::default()
    }

    /// Starts one dispatcher task per URL (inside a Tokio runtime). With no
    /// URL, a disabled sender.
    pub fn start(config: WebhookConfig) -> WebhookSender {
        if config.urls.is_empty() {
            return WebhookSender::disabled();
        }
        let client = delivery::client(&delivery::DeliveryConfig {
            timeout: config.timeout,
            ca_pem: config.ca_pem.clone(),
            ..Default::default()
        })
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "webhook HTTP client: using the default one");
            reqwest::Client::new()
        });
        let config = Arc::new(config);
        let mut queues = Vec::new();
        for url in &config.urls {
            let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
            tokio::spawn(dispatch(rx, client.clone(), url.clone(), config.clone()));
            queues.push((url.clone(), tx));
        }
        WebhookSender {
            inner: Some(Arc::new(Inner {
                queues,
                prefix: crate::auth::random_secret()[..12].to_string(),
                next: AtomicU64::new(1),
            })),
            muted: false,
        }
    }

    /// Whether events are sent anywhere (and not muted now).
    pub fn enabled(&self) -> bool {
        self.inner.is_some() && !self.muted
    }

    /// Mutes (or unmutes) the item events that follow: a replica applying an
    /// entry another node proposed leaves that node to send them.
    pub fn mute(&mut self, muted: bool) {
        self.muted = muted;
    }

    /// Queues `event` with `item` (the protocol's item JSON) for every URL.
    /// Never waits and never fails: a full queue drops the delivery.
    pub fn send(&self, event: &str, item: Value) {
        let Some(inner) = &self.inner else {
            return;
        };
        let n = inner.next.fetch_add(1, Ordering::Relaxed);
        let id: Arc<str> = format!("{}-{n}", inner.prefix).into();
        let body = Body {
            id: &id,
            event,
            at: crate::clock::now_ms(),
            item,
        };
        let body: Arc<[u8]> = match serde_json::to_vec(&body) {
            Ok(b) => b.into(),
            Err(e) => {
                tracing::error!(error = %e, event, "cannot serialise a webhook");
                return;
            }
        };
        let event: Arc<str> = event.into();
        for (url, tx) in &inner.queues {
            let d = Delivery {
                id: id.clone(),
                event: event.clone(),
                body: body.clone(),
            };
            if tx.try_send(d).is_err() {
                metrics::counter!(DROPPED).increment(1);
                tracing::warn!(url = %url, delivery = %id, event = %event,
                    "webhook queue full: delivery dropped");
            }
        }
    }

    /// The webhooks of a `Queued` event: `item.created` first when the item
    /// was just created (no history yet), then `item.queued`. `json` makes
    /// the item's protocol JSON (the engine's view of it), only when a
    /// webhook is sent.
    pub fn item_queued(&self, item: &Item, json: impl FnOnce() -> Value) {
        if !self.enabled() {
            return;
        }
        let v = json();
        if item.history.is_empty() {
            self.send("item.created", v.clone());
        }
        self.send("item.queued", v);
    }

    /// The webhooks of an `ItemChanged` event: `item.created` then
    /// `item.assigned` for an item routed at creation, else the event its
    /// reason names. `json` makes the item's protocol JSON when needed.
    pub fn item_changed(&self, reason: ItemReason, json: impl FnOnce() -> Value) {
        if !self.enabled() {
            return;
        }
        let v = json();
        if reason == ItemReason::Routed {
            self.send("item.created", v.clone());
        }
        self.send(item_event_name(reason), v);
    }
}

/// `sha256=<hex>`: the HMAC-SHA256 of `body` keyed with `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn dispatch(
    mut rx: mpsc::Receiver<Delivery>,
    client: reqwest::Client,
    url: String,
    config: Arc<WebhookConfig>,
) {
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let url: Arc<str> = url.into();
    while let Some(d) = rx.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (client, url, config) = (client.clone(), url.clone(), config.clone());
        tokio::spawn(async move {
            deliver(&client, &url, &config, d).await;
            drop(permit);
        });
    }
}

/// Sends one delivery until a 2xx or the last attempt.
async fn deliver(client: &reqwest::Client, url: &str, config: &WebhookConfig, d: Delivery) {
    let signature = signature(&config.secret, &d.body);
    let attempts = config.max_attempts.max(1);
    let mut backoff = config.first_backoff;
    for attempt in 1..=attempts {
        let result = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, &*d.event)
            .header(DELIVERY_HEADER, &*d.id)
            .header(SIGNATURE_HEADER, &signature)
            .body(d.body.to_vec())
            .send()
            .await;
        let why = match result {
            Ok(r) if r.status().is_success() => {
                metrics::counter!(SENT).increment(1);
                tracing::debug!(url, delivery = %d.id, event = %d.event, attempt, "webhook sent");
                return;
            }
            Ok(r) => format!("answered {}", r.status()),
            Err(e) => e.to_string(),
        };
        if attempt == attempts {
            metrics::counter!(FAILED).increment(1);
            tracing::error!(url, delivery = %d.id, event = %d.event, attempts, error = %why,
                "webhook given up");
            return;
        }
        tracing::debug!(url, delivery = %d.id, attempt, error = %why, "webhook failed; retrying");
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_rfc_4231_case_2() {
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_disabled_sender_sends_nothing() {
        let s = WebhookSender::disabled();
        assert!(!s.enabled());
        s.send("item.created", Value::Null);
    }
}
