//! The admin's view of an integration's dead letters, and redelivering them.

use serde_json::{Value, json};

use super::delivery::{Webhooks, post};
use crate::store::StoreError;
use crate::store::events::EventJournal;

/// Dead letters listed or redelivered per call at most.
pub const MAX_LETTERS: usize = 1_000;

impl Webhooks {
    /// The oldest dead letters of `integration` (JSON records).
    pub async fn dead_letters(&self, integration: &str) -> Result<Vec<Value>, StoreError> {
        let letters = self
            .feed
            .journal
            .dead_letters(integration, MAX_LETTERS)
            .await?;
        Ok(letters
            .into_iter()
            .filter_map(|l| serde_json::from_str(&l.record).ok())
            .collect())
    }

    /// Tries each dead letter of `integration` once more, now; forgets those
    /// delivered. Answers how many were delivered and how many still fail.
    pub async fn redeliver(&self, integration: &str) -> Result<Value, StoreError> {
        let journal = &self.feed.journal;
        let letters = journal.dead_letters(integration, MAX_LETTERS).await?;
        let secret = self
            .table
            .borrow()
            .webhook_targets()
            .iter()
            .find(|t| t.integration.name == integration)
            .map(|t| t.secret.clone());
        let mut delivered = Vec::new();
        let mut failed = 0;
        for l in letters {
            let Some(secret) = &secret else {
                failed += 1;
                continue;
            };
            let Ok(record) = serde_json::from_str::<Value>(&l.record) else {
                continue;
            };
            let event = &record["event"];
            let name = event["event"].as_str().unwrap_or_default();
            match post(&self.client, &l.url, secret, l.id, name, &event.to_string()).await {
                Ok(()) => delivered.push((l.url, l.id)),
                Err(why) => {
                    tracing::info!(integration, event = %l.id, error = why, "redelivery failed");
                    failed += 1;
                }
            }
        }
        let n = delivered.len();
        journal.remove_dead(integration, delivered).await?;
        Ok(json!({ "redelivered": n, "failed": failed }))
    }
}
