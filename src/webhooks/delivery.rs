//! Durable webhooks per integration: events read from the journal and
//! POSTed to each URL of each integration that has webhooks, in order, at
//! least once, even across restarts (docs/webhooks.md).
//!
//! # One deliverer per cluster
//! Every node runs a [`Deliverer`], but only the holder of the `webhooks`
//! lease in the store sends. A lease lost to another node mid-batch may send
//! a few events twice: receivers de-duplicate by event id.
//!
//! # Cursors
//! Per (integration, URL) the store keeps how far delivery got; it moves
//! after each batch is done (each event delivered or dead-lettered), so a
//! restart resends at most the batch in flight. A URL with no cursor starts
//! after the log entry that set it.
//!
//! # Retries and dead letters
//! An event is tried up to [`DeliveryConfig::max_attempts`] times, waiting
//! [`DeliveryConfig::first_backoff`], then twice as long each time; after
//! the last failure it becomes a dead letter (kept in the store, listed and
//! redelivered through the admin API) and delivery moves on.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::CredentialTable;
use crate::integrations::WebhookTarget;
use crate::store::StoreError;
use crate::store::any_journal::EventFeed;
use crate::store::events::{DeadLetter, EventId, EventJournal};

/// Events read per batch.
const BATCH: usize = 100;
/// How long the lease lives; renewed every third of it.
const LEASE_TTL: Duration = Duration::from_secs(15);

/// Counter: events a receiver answered with a 2xx (per URL).
pub const DELIVERED: &str = "switchboard_webhook_delivered_total";
/// Counter: events given up and kept as dead letters.
pub const DEAD: &str = "switchboard_webhook_dead_total";
/// Counter: a URL's delivery fell behind the journal's retention.
pub const EXPIRED: &str = "switchboard_webhook_expired_total";

/// How events are delivered.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Attempts per event, the first included.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled before each further one.
    pub first_backoff: Duration,
    /// Bound on one attempt (connect, TLS, send, answer).
    pub timeout: Duration,
    /// A PEM file of extra CA certificates trusted for `https://` URLs (a
    /// private CA), besides the system's.
    pub ca_pem: Option<Vec<u8>>,
    /// Dead letters kept per integration; later failures are dropped.
    pub dead_capacity: usize,
}

impl Default for DeliveryConfig {
    /// 6 attempts 0.5 s, 1 s, 2 s, 4 s, 8 s apart, 10 s per attempt, 10,000
    /// dead letters per integration.
    fn default() -> Self {
        DeliveryConfig {
            max_attempts: 6,
            first_backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
            ca_pem: None,
            dead_capacity: 10_000,
        }
    }
}

/// Why the webhook client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The CA file holds no usable certificate.
    #[error("--webhook-ca: {0}")]
    Ca(String),
    /// The TLS client could not be set up.
    #[error("webhook HTTP client: {0}")]
    Build(String),
}

/// The HTTP client of webhooks: rustls with the system's roots, plus the
/// CA certificates of `config.ca_pem`; no redirects.
pub fn client(config: &DeliveryConfig) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("switchboard-webhooks/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = &config.ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| ClientError::Ca(e.to_string()))?;
        if certs.is_empty() {
            return Err(ClientError::Ca("no certificate in the file".into()));
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|e| ClientError::Build(e.to_string()))
}

/// What the deliverer and the admin API share.
#[derive(Debug, Clone)]
pub struct Webhooks {
    /// The journal.
    pub feed: EventFeed,
    /// The HTTP client.
    pub client: reqwest::Client,
    /// Attempts, backoff, caps.
    pub config: Arc<DeliveryConfig>,
    /// The replicated integrations (with their webhooks).
    pub table: watch::Receiver<Arc<CredentialTable>>,
}

/// The cursor key of one URL of one integration.
fn cursor_key(integration: &str, url: &str) -> String {
    format!("webhook\n{integration}\n{url}")
}

/// Whether an event (JSON) concerns a group of `target`'s integration.
pub fn in_scope(target: &WebhookTarget, event: &Value) -> bool {
    event["groups"].as_array().is_some_and(|gs| {
        gs.iter()
            .filter_map(Value::as_str)
            .any(|g| target.integration.allows(g))
    })
}

/// One POST of an event; `Err` says why it failed.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    id: EventId,
    event: &str,
    body: &str,
) -> Result<(), String> {
    let answer = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(super::EVENT_HEADER, event)
        .header(super::DELIVERY_HEADER, id.to_string())
        .header(
            super::SIGNATURE_HEADER,
            super::signature(secret, body.as_bytes()),
        )
        .body(body.to_string())
        .send()
        .await;
    match answer {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("answered {}", r.status())),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// The wait before attempt `attempt` (2 and on): `first` doubled each time.
pub fn backoff(first: Duration, attempt: u32) -> Duration {
    first.saturating_mul(1 << attempt.saturating_sub(2).min(16))
}

impl Webhooks {
    /// Starts the deliverer on this node (inside a Tokio runtime): a lease
    /// task, and while it holds the lease one task per webhook URL.
    pub fn start(self, node: u32) {
        let leader = Arc::new(AtomicBool::new(false));
        tokio::spawn(hold_lease(self.feed.clone(), node, leader.clone()));
        tokio::spawn(self.manage(leader));
    }

    /// Keeps one task per (integration, URL) running, as integrations
    /// change.
    async fn manage(mut self, leader: Arc<AtomicBool>) {
        let mut running: HashMap<(String, String), JoinHandle<()>> = HashMap::new();
        loop {
            let targets: Vec<WebhookTarget> =
                self.table.borrow_and_update().webhook_targets().to_vec();
            let mut wanted = HashMap::new();
            for t in targets {
                for url in &t.urls {
                    wanted.insert((t.integration.name.clone(), url.clone()), t.since.clone());
                }
            }
            running.retain(|k, task| {
                let keep = wanted.contains_key(k);
                if !keep {
                    task.abort();
                }
                keep
            });
            for (key, since) in wanted {
                if let std::collections::hash_map::Entry::Vacant(slot) = running.entry(key) {
                    let (integration, url) = slot.key().clone();
                    let task =
                        tokio::spawn(
                            self.clone()
                                .run_url(integration, url, since, leader.clone()),
                        );
                    slot.insert(task);
                }
            }
            if self.table.changed().await.is_err() {
                return;
            }
        }
    }

    /// The current target of `integration`.
    fn target(&self, integration: &str) -> Option<WebhookTarget> {
        self.table
            .borrow()
            .webhook_targets()
            .iter()
            .find(|t| t.integration.name == integration)
            .cloned()
    }

    /// Delivers the events of `integration` to `url`, batch by batch, for
    /// as long as this node holds the lease.
    async fn run_url(
        self,
        integration: String,
        url: String,
        since: String,
        leader: Arc<AtomicBool>,
    ) {
        let key = cursor_key(&integration, &url);
        let mut live = self.feed.live.subscribe();
        loop {
            if !leader.load(Ordering::Relaxed) {
                tokio::time::sleep(LEASE_TTL / 6).await;
                continue;
            }
            match self.deliver_batch(&integration, &url, &key, &since).await {
                Ok(true) => continue,
                Ok(false) => {
                    // Caught up: wait for new events (or look again soon,
                    // for those another node wrote).
                    let _ = tokio::time::timeout(Duration::from_millis(500), live.recv()).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, integration, url, "webhook delivery: store error");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Delivers the next batch after the cursor; `Ok(true)` when there was
    /// one.
    async fn deliver_batch(
        &self,
        integration: &str,
        url: &str,
        key: &str,
        since: &str,
    ) -> Result<bool, StoreError> {
        let journal = &self.feed.journal;
        let cursor = match journal.cursor(key).await? {
            Some(c) => c,
            None => EventId::end_of_entry(since),
        };
        let read = journal.read_events(cursor, BATCH).await?;
        if read.expired(cursor) {
            tracing::error!(integration, url, after = %cursor, oldest_kept = %read.floor,
                "webhook delivery fell behind the journal's retention: events were lost");
            metrics::counter!(EXPIRED).increment(1);
            journal.set_cursor(key, read.floor).await?;
            return Ok(true);
        }
        let Some(&(last, _)) = read.events.last() else {
            return Ok(false);
        };
        for (id, text) in read.events {
            let Some(target) = self.target(integration) else {
                return Ok(false);
            };
            let Ok(event) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if !in_scope(&target, &event) {
                continue;
            }
            let name = event["event"].as_str().unwrap_or_default();
            let mut error = String::new();
            let attempts = self.config.max_attempts.max(1);
            for attempt in 1..=attempts {
                if attempt > 1 {
                    tokio::time::sleep(backoff(self.config.first_backoff, attempt)).await;
                }
                match post(&self.client, url, &target.secret, id, name, &text).await {
                    Ok(()) => {
                        error.clear();
                        metrics::counter!(DELIVERED).increment(1);
                        break;
                    }
                    Err(why) => {
                        tracing::debug!(integration, url, event = %id, attempt, error = %why, "webhook failed");
                        error = why;
                    }
                }
            }
            if !error.is_empty() {
                let letter = DeadLetter {
                    url: url.to_string(),
                    id,
                    record: json!({
                        "id": id.to_string(),
                        "url": url,
                        "event": event,
                        "attempts": attempts,
                        "error": error,
                        "failed_at": crate::clock::now_ms(),
                    })
                    .to_string(),
                };
                metrics::counter!(DEAD).increment(1);
                tracing::warn!(integration, url, event = %id, error, "webhook given up: dead letter");
                if !journal
                    .add_dead(integration, letter, self.config.dead_capacity)
                    .await?
                {
                    tracing::error!(integration, event = %id, "dead letters full: event dropped");
                }
            }
        }
        journal.set_cursor(key, last).await?;
        Ok(true)
    }
}

/// Takes and renews the `webhooks` lease; `leader` says whether this node
/// holds it.
async fn hold_lease(feed: EventFeed, node: u32, leader: Arc<AtomicBool>) {
    loop {
        let held = matches!(
            feed.journal.claim_lease("webhooks", node, LEASE_TTL).await,
            Ok(true)
        );
        if held != leader.swap(held, Ordering::Relaxed) {
            tracing::info!(held, "webhook delivery lease");
        }
        tokio::time::sleep(LEASE_TTL / 3).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_second_attempt() {
        let first = Duration::from_millis(500);
        assert_eq!(backoff(first, 2), first);
        assert_eq!(backoff(first, 3), first * 2);
        assert_eq!(backoff(first, 6), first * 16);
    }
}
