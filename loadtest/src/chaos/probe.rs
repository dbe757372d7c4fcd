//! The write probe: a client behind a load balancer that creates one ticket
//! every tick, trying the nodes in turn until one answers `201`, so that
//! "writes work" means what it means to an integration: some node took it.
//! Each round's outcome, with its time, gives how long writes failed after
//! a fault.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// One round: when it started, and whether some node acknowledged it.
#[derive(Clone, Copy)]
pub struct Round {
    /// When the round began.
    pub at: Instant,
    /// Some node answered `201`.
    pub ok: bool,
}

/// What the probe did.
#[derive(Default)]
pub struct ProbeLog {
    /// Every round, in order.
    pub rounds: Vec<Round>,
    /// The items it created: (id, title).
    pub acked: Vec<(u64, String)>,
    /// Tries that failed, by what went wrong (`HTTP 503 unavailable`,
    /// `timeout`, `connect`, ...).
    pub failures: std::collections::BTreeMap<String, u64>,
}

impl ProbeLog {
    /// How long after `fault` writes failed: from `fault` to the first
    /// acknowledged round after the first failed round at or after it; zero
    /// when no round failed; `None` when writes never came back.
    pub fn outage_after(&self, fault: Instant) -> Option<Duration> {
        let after: Vec<&Round> = self.rounds.iter().filter(|r| r.at >= fault).collect();
        let Some(first_fail) = after.iter().position(|r| !r.ok) else {
            return Some(Duration::ZERO);
        };
        after[first_fail..]
            .iter()
            .find(|r| r.ok)
            .map(|r| r.at.duration_since(fault))
    }
}

/// How long one try waits for its answer: a node that answers later is
/// slow, not down, and counts as failing the write.
const PATIENCE: Duration = Duration::from_secs(5);

/// Runs until `stop`: one round every `every` (or when the last one ended),
/// over `servers` in turn (starting at the last one that worked), each try
/// bounded by [`PATIENCE`].
pub async fn run(
    servers: Vec<String>,
    api_key: String,
    group: String,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> ProbeLog {
    let http = reqwest::Client::builder()
        .timeout(PATIENCE)
        .build()
        .expect("http client");
    let mut log = ProbeLog::default();
    let mut good = 0usize;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let at = Instant::now();
        n += 1;
        let title = format!("probe-{}-{n}", std::process::id());
        let mut ok = false;
        for k in 0..servers.len() {
            let i = (good + k) % servers.len();
            let r = http
                .post(format!("{}/api/work", servers[i]))
                .header("X-Api-Key", &api_key)
                .header("Idempotency-Key", &title)
                .json(&json!({"group": group, "channel": "ticket", "title": title}))
                .send()
                .await;
            let resp = match r {
                Ok(resp) => resp,
                Err(e) => {
                    let why = if e.is_timeout() {
                        "timeout"
                    } else if e.is_connect() {
                        "connect"
                    } else {
                        "transport"
                    };
                    *log.failures.entry(why.into()).or_default() += 1;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            match body["item"]["id"].as_u64() {
                Some(id) if status == 201 => {
                    log.acked.push((id, title.clone()));
                    ok = true;
                    good = i;
                    break;
                }
                _ => {
                    let code = body["error"]["code"].as_str().unwrap_or("?");
                    *log.failures
                        .entry(format!("HTTP {status} {code}"))
                        .or_default() += 1;
                }
            }
        }
        log.rounds.push(Round { at, ok });
        tokio::time::sleep_until((at + every).into()).await;
    }
    log
}
