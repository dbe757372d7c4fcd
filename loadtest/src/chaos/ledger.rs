//! The end-of-case count: every item the cluster holds, asked of a live
//! node, against every item a client was told was created.
//!
//! Nothing is closed during a case, so every acknowledged item must still
//! be open. Every create carries a title unique to it (its idempotency key),
//! so an item created twice shows as two ids with one title.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

/// Items asked about at once.
const CONCURRENCY: usize = 16;
/// Ids past the largest acknowledged one that are asked about too (items a
/// client was not told of), ending at the first run of this many unknown.
const BEYOND: u64 = 200;

/// The count.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Tally {
    /// Items clients were told were created (`201`).
    pub acked: u64,
    /// Of those, items the cluster does not know.
    pub lost: u64,
    /// Items created again for a create that was acknowledged once (same
    /// title, another id).
    pub doubled: u64,
    /// Items the cluster holds whose create no client saw acknowledged (a
    /// write answered `outcome_unknown`, or a connection lost mid-answer,
    /// that was applied).
    pub applied_unacked: u64,
}

/// An open item as `explain` shows it.
struct Seen {
    id: u64,
    title: String,
}

/// Counts against `base` (a live node), `acked` being (id, title) of every
/// acknowledged create.
pub async fn count(base: &str, api_key: &str, acked: &[(u64, String)]) -> Result<Tally, String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let top = acked.iter().map(|(id, _)| *id).max().unwrap_or(0);
    let mut seen: Vec<Seen> = Vec::new();
    let mut next = 1u64;
    let mut unknown_run = 0u64;
    loop {
        let ids: Vec<u64> = (next..next + CONCURRENCY as u64 * 4).collect();
        next += ids.len() as u64;
        let answers: Vec<(u64, Result<Option<Seen>, String>)> = futures_util::stream::iter(ids)
            .map(|id| {
                let http = http.clone();
                async move { (id, explain(&http, base, api_key, id).await) }
            })
            .buffered(CONCURRENCY)
            .collect()
            .await;
        for (id, a) in answers {
            match a? {
                Some(s) => {
                    unknown_run = 0;
                    seen.push(s);
                }
                None if id > top => unknown_run += 1,
                None => {}
            }
        }
        if next > top && unknown_run >= BEYOND {
            break;
        }
    }
    let by_title: HashMap<&str, u64> = acked.iter().map(|(id, t)| (t.as_str(), *id)).collect();
    let found: HashMap<u64, &Seen> = seen.iter().map(|s| (s.id, s)).collect();
    let mut t = Tally {
        acked: acked.len() as u64,
        ..Tally::default()
    };
    t.lost = acked
        .iter()
        .filter(|(id, _)| !found.contains_key(id))
        .count() as u64;
    for s in &seen {
        match by_title.get(s.title.as_str()) {
            Some(&id) if id != s.id => t.doubled += 1,
            Some(_) => {}
            None => t.applied_unacked += 1,
        }
    }
    Ok(t)
}

async fn explain(
    http: &reqwest::Client,
    base: &str,
    api_key: &str,
    id: u64,
) -> Result<Option<Seen>, String> {
    let r = http
        .get(format!("{base}/api/items/{id}/explain"))
        .header("X-Api-Key", api_key)
        .send()
        .await
        .map_err(|e| format!("explain {id} on {base}: {e}"))?;
    match r.status().as_u16() {
        200 => {
            let v: Value = r.json().await.map_err(|e| e.to_string())?;
            Ok(Some(Seen {
                id,
                title: v["item"]["title"].as_str().unwrap_or("").to_string(),
            }))
        }
        404 => Ok(None),
        s => Err(format!("explain {id} on {base}: HTTP {s}")),
    }
}

/// Items held now by agents who are logged out (their load, summed).
pub async fn held_by_logged_out(base: &str, api_key: &str) -> Result<u64, String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let mut held = 0;
    let mut offset = 0;
    loop {
        let v: Value = http
            .get(format!("{base}/api/agents?offset={offset}&limit=500"))
            .header("X-Api-Key", api_key)
            .send()
            .await
            .map_err(|e| format!("agents on {base}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("agents on {base}: {e}"))?;
        let page = v["agents"].as_array().cloned().unwrap_or_default();
        for a in page.iter().filter(|a| a["logged_in"] == false) {
            let load = &a["load"];
            held += ["chat", "ticket", "voice"]
                .iter()
                .map(|c| load[c].as_u64().unwrap_or(0))
                .sum::<u64>();
        }
        offset += page.len();
        if page.is_empty() || offset as u64 >= v["total"].as_u64().unwrap_or(0) {
            return Ok(held);
        }
    }
}
