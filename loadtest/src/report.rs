//! What a worker records, how workers' records merge, and the final report.

use std::collections::{BTreeMap, HashMap, HashSet};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::util::ServerProbe;

/// A latency histogram in microseconds.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("histogram bounds")
}

/// Histogram contents as (value µs, count) pairs, to cross process boundaries.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HistData(pub Vec<(u64, u64)>);

impl HistData {
    /// Dumps a histogram.
    pub fn from_hist(h: &Histogram<u64>) -> HistData {
        HistData(
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        )
    }
    /// Adds into a histogram.
    pub fn add_to(&self, h: &mut Histogram<u64>) {
        for &(v, c) in &self.0 {
            let _ = h.record_n(v.max(1), c);
        }
    }
}

/// Percentiles of one latency, microseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Maximum.
    pub max_us: u64,
    /// Mean.
    pub mean_us: f64,
}

impl Summary {
    /// Summarises a histogram.
    pub fn of(h: &Histogram<u64>) -> Summary {
        Summary {
            count: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            mean_us: (h.mean() * 10.0).round() / 10.0,
        }
    }
}

/// A work item the generator created.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Created {
    /// Item id from the `201` answer.
    pub id: u64,
    /// Index of the server the POST went to.
    #[serde(default)]
    pub node: u16,
    /// Just before the POST (ns, see `util::now_ns`).
    pub t_ns: u64,
    /// Group.
    pub group: String,
    /// State in the `201` answer.
    pub state: String,
    /// The title it was created with (its idempotency key, unique per
    /// create), to find an item created twice.
    #[serde(default)]
    pub title: String,
}

/// Kinds of observation of an item by a session.
pub mod obs {
    /// `item` push `reason: routed`, assignee = the receiving agent.
    pub const ROUTED: u8 = 1;
    /// Assigned to the receiving agent some other way (drained, taken push, welcome.work).
    pub const ASSIGNED: u8 = 2;
    /// `item` push for an item this agent held, now with another or no assignee.
    pub const RELEASED: u8 = 3;
    /// Seen queued (`queue` op added, welcome.queues, the queue API at the end).
    pub const QUEUED: u8 = 4;
    /// `ok` answer to a `take`.
    pub const TAKE_WON: u8 = 5;
}

/// One observation of an item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Obs {
    /// Item id.
    pub id: u64,
    /// Index of the server the receiving session is connected to.
    #[serde(default)]
    pub node: u16,
    /// Account index of the receiving session's agent (u32::MAX when none).
    pub agent: u32,
    /// See [`obs`].
    pub kind: u8,
    /// When (ns).
    pub t_ns: u64,
}

/// Everything one worker process hands back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkerResult {
    /// Named counters (summed over workers).
    pub counters: BTreeMap<String, u64>,
    /// Error counts by `where:code`.
    pub errors: BTreeMap<String, u64>,
    /// Latency histograms by name.
    pub hists: BTreeMap<String, HistData>,
    /// Items created (acknowledged `201`).
    pub created: Vec<Created>,
    /// Item observations.
    pub obs: Vec<Obs>,
    /// Notes (local limits hit, ...).
    pub notes: Vec<String>,
    /// Server probe (single-process runs).
    pub probe: Option<ServerProbe>,
}

impl WorkerResult {
    /// Merges another worker's result into this one.
    pub fn merge(&mut self, o: WorkerResult) {
        for (k, v) in o.counters {
            *self.counters.entry(k).or_default() += v;
        }
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for (k, v) in o.hists {
            self.hists.entry(k).or_default().0.extend(v.0);
        }
        self.created.extend(o.created);
        self.obs.extend(o.obs);
        for n in o.notes {
            if !self.notes.contains(&n) {
                self.notes.push(n);
            }
        }
        if self.probe.is_none() {
            self.probe = o.probe;
        }
    }
}

/// The item ledger: every created item accounted for.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Items {
    /// POSTs sent.
    pub attempted: u64,
    /// Answered `201`.
    pub acked: u64,
    /// Answered with an error status (see `errors` for codes).
    pub refused: u64,
    /// No HTTP answer (connection error, timeout).
    pub transport_errors: u64,
    /// Acked items seen assigned to an agent's session (push, welcome, or take answer).
    pub seen_assigned: u64,
    /// Acked items never seen assigned but seen queued (push or welcome).
    pub seen_queued_only: u64,
    /// Acked items seen by no session but listed by `GET /api/groups/{id}/queue` at the end.
    pub queued_at_end: u64,
    /// Acked items seen nowhere: must be zero.
    pub lost: u64,
    /// Items pushed as assigned to two different agents, the first never told it lost the item: must be zero.
    pub double_assignments: u64,
    /// Items two takers both got `ok` for: must be zero.
    pub double_takes: u64,
    /// Ids of the first few lost items.
    pub lost_ids: Vec<u64>,
    /// Ids of the first few doubly assigned items.
    pub double_ids: Vec<u64>,
    /// attempted = acked + refused + transport_errors, and acked = assigned + queued + lost.
    pub accounted_for: bool,
}

/// The final report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Target of the run (label: "switchboard", "baseline", or the server URLs).
    pub target: String,
    /// Server URLs.
    pub servers: Vec<String>,
    /// Worker processes.
    pub processes: usize,
    /// Agent sessions requested.
    pub agents: usize,
    /// Supervisor sessions requested.
    pub supervisors: usize,
    /// Run phase length, seconds.
    pub duration_s: f64,
    /// Ramp length, seconds.
    pub ramp_s: f64,
    /// Requested rate (items/s, toggles/s), 0 when none.
    pub rate: f64,
    /// Latencies by name (µs).
    pub latency: BTreeMap<String, Summary>,
    /// Counters.
    pub counters: BTreeMap<String, u64>,
    /// Errors by `where:code`.
    pub errors: BTreeMap<String, u64>,
    /// The item ledger.
    pub items: Items,
    /// Server RSS / CPU, when `--server-pid` was given.
    pub server: Option<ServerProbe>,
    /// Notes: local limits hit, protocol disagreements seen.
    pub notes: Vec<String>,
    /// True when every correctness counter is zero.
    pub correctness_ok: bool,
}

/// Whether the servers handed out the same item ids (they share no store).
fn servers_independent(r: &WorkerResult) -> bool {
    let mut first_node: HashMap<u64, u16> = HashMap::new();
    r.created
        .iter()
        .any(|c| *first_node.entry(c.id).or_insert(c.node) != c.node)
}

/// One CSV line per created item: when it was created (Unix ms), its id, the
/// server the POST went to, the server of the session it was routed to and
/// the µs from creation to that push (the last two empty when never routed).
pub fn samples_csv(r: &WorkerResult) -> String {
    let independent = servers_independent(r);
    let key = |node: u16, id: u64| if independent { (node, id) } else { (0, id) };
    let mut routed: HashMap<(u16, u64), &Obs> = HashMap::new();
    for o in r.obs.iter().filter(|o| o.kind == obs::ROUTED) {
        routed
            .entry(key(o.node, o.id))
            .and_modify(|first| {
                if o.t_ns < first.t_ns {
                    *first = o;
                }
            })
            .or_insert(o);
    }
    let mut out = String::from("created_unix_ms,item,post_node,push_node,created_to_push_us\n");
    for cr in &r.created {
        let (node, us) = match routed.get(&key(cr.node, cr.id)) {
            Some(o) => (
                o.node.to_string(),
                (o.t_ns.saturating_sub(cr.t_ns) / 1000).to_string(),
            ),
            None => (String::new(), String::new()),
        };
        out.push_str(&format!(
            "{},{},{},{node},{us}\n",
            cr.t_ns / 1_000_000,
            cr.id,
            cr.node
        ));
    }
    out
}

/// Computes the work latency and the item ledger from the merged observations.
/// `queued_at_end` holds the ids the queue API listed at the end.
pub fn analyse_items(
    r: &WorkerResult,
    queued_at_end: &HashSet<(u16, u64)>,
    hist: &mut Histogram<u64>,
    notes: &mut Vec<String>,
) -> Items {
    let c = |k: &str| r.counters.get(k).copied().unwrap_or(0);
    let mut it = Items {
        attempted: c("work_attempted"),
        acked: c("work_acked"),
        refused: c("work_refused"),
        transport_errors: c("work_transport_errors"),
        ..Items::default()
    };
    // Several servers that hand out the same item ids do not share a store: key items
    // by (server, id) then. Nodes sharing one store (Redis) give each id once.
    let independent = servers_independent(r);
    if independent {
        notes.push(
            "the servers gave out the same item ids: they do not share a store, so items are told apart by (server, id)"
                .into(),
        );
    }
    let key = |node: u16, id: u64| if independent { (node, id) } else { (0, id) };
    let mut by_item: HashMap<(u16, u64), Vec<&Obs>> = HashMap::new();
    for o in &r.obs {
        by_item.entry(key(o.node, o.id)).or_default().push(o);
    }
    for cr in &r.created {
        let mut os: Vec<&Obs> = by_item
            .get(&key(cr.node, cr.id))
            .cloned()
            .unwrap_or_default();
        os.sort_by_key(|o| o.t_ns);
        if let Some(o) = os.iter().find(|o| o.kind == obs::ROUTED) {
            let us = o.t_ns.saturating_sub(cr.t_ns) / 1000;
            let _ = hist.record(us.max(1));
        }
        let assigned = os
            .iter()
            .any(|o| matches!(o.kind, obs::ROUTED | obs::ASSIGNED | obs::TAKE_WON));
        let queued = os.iter().any(|o| o.kind == obs::QUEUED);
        if assigned {
            it.seen_assigned += 1;
        } else if queued {
            it.seen_queued_only += 1;
        } else if queued_at_end.contains(&(cr.node, cr.id))
            || (!independent && queued_at_end.iter().any(|(_, i)| *i == cr.id))
        {
            it.queued_at_end += 1;
        } else {
            it.lost += 1;
            if it.lost_ids.len() < 20 {
                it.lost_ids.push(cr.id);
            }
        }
        // Double takes: two different winners.
        let winners: HashSet<u32> = os
            .iter()
            .filter(|o| o.kind == obs::TAKE_WON)
            .map(|o| o.agent)
            .collect();
        if winners.len() > 1 {
            it.double_takes += 1;
        }
        // Double assignment: each holder but the last must have been told it lost the
        // item (RELEASED), or the item must have gone back to a queue, after it got it.
        let mut first_at: Vec<(u32, u64)> = Vec::new();
        for o in &os {
            if matches!(o.kind, obs::ROUTED | obs::ASSIGNED | obs::TAKE_WON)
                && !first_at.iter().any(|(a, _)| *a == o.agent)
            {
                first_at.push((o.agent, o.t_ns));
            }
        }
        if first_at.len() > 1 {
            let mut double = false;
            for &(a, t) in &first_at[..first_at.len() - 1] {
                let released = os.iter().any(|o| {
                    o.t_ns >= t
                        && ((o.kind == obs::RELEASED && o.agent == a) || o.kind == obs::QUEUED)
                });
                if !released {
                    double = true;
                }
            }
            if double {
                it.double_assignments += 1;
                if it.double_ids.len() < 20 {
                    it.double_ids.push(cr.id);
                }
            }
        }
    }
    it.accounted_for = it.attempted == it.acked + it.refused + it.transport_errors
        && it.acked == it.seen_assigned + it.seen_queued_only + it.queued_at_end + it.lost
        && it.acked == r.created.len() as u64;
    it
}

impl Report {
    /// Prints the report for people.
    pub fn print_human(&self) {
        println!(
            "== {} against {} ({}) ==",
            self.scenario,
            self.target,
            self.servers.join(", ")
        );
        println!(
            "agents {}  supervisors {}  processes {}  ramp {:.1}s  run {:.1}s  rate {}",
            self.agents, self.supervisors, self.processes, self.ramp_s, self.duration_s, self.rate
        );
        let c = |k: &str| self.counters.get(k).copied().unwrap_or(0);
        println!(
            "sessions: peak {}  logins ok {}  login errors {}  connect errors {}  dropped by server {}  reloads {}",
            c("sessions_peak"),
            c("logins_ok"),
            c("login_errors"),
            c("connect_errors"),
            c("sessions_dropped"),
            c("reloads")
        );
        if !self.latency.is_empty() {
            println!(
                "{:<28} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "latency (ms)", "count", "p50", "p90", "p99", "p99.9", "max"
            );
            for (k, s) in &self.latency {
                let ms = |v: u64| format!("{:.3}", v as f64 / 1000.0);
                println!(
                    "{:<28} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
                    k,
                    s.count,
                    ms(s.p50_us),
                    ms(s.p90_us),
                    ms(s.p99_us),
                    ms(s.p999_us),
                    ms(s.max_us)
                );
            }
        }
        let i = &self.items;
        if i.attempted > 0 {
            println!(
                "items: attempted {}  acked {}  refused {}  transport errors {}  | seen assigned {}  seen queued only {}  queued at end {}  LOST {}",
                i.attempted,
                i.acked,
                i.refused,
                i.transport_errors,
                i.seen_assigned,
                i.seen_queued_only,
                i.queued_at_end,
                i.lost
            );
            println!(
                "       DOUBLE ASSIGNMENTS {}  double takes {}  accounted for: {}",
                i.double_assignments, i.double_takes, i.accounted_for
            );
            if !i.lost_ids.is_empty() {
                println!("       lost ids (first): {:?}", i.lost_ids);
            }
            if !i.double_ids.is_empty() {
                println!("       doubly assigned ids (first): {:?}", i.double_ids);
            }
        }
        let interesting: Vec<String> = self
            .counters
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "sessions_peak"
                        | "logins_ok"
                        | "login_errors"
                        | "connect_errors"
                        | "sessions_dropped"
                        | "reloads"
                ) && !k.starts_with("work_")
            })
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        if !interesting.is_empty() {
            println!("counters: {}", interesting.join("  "));
        }
        if !self.errors.is_empty() {
            let e: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            println!("errors: {}", e.join("  "));
        }
        if let Some(p) = &self.server {
            println!(
                "server pid {}: RSS before {} KiB, after {} KiB with {} sessions => {} KiB/session; CPU {} over {}",
                p.pid,
                p.rss_before_kib.map_or("?".into(), |v| v.to_string()),
                p.rss_after_kib.map_or("?".into(), |v| v.to_string()),
                p.sessions_at_after,
                p.rss_per_session_kib
                    .map_or("?".into(), |v| format!("{v:.2}")),
                p.cpu_percent.map_or("?".into(), |v| format!("{v:.2}%")),
                p.cpu_window_s.map_or("?".into(), |v| format!("{v:.1}s")),
            );
        }
        for n in &self.notes {
            println!("note: {n}");
        }
        println!(
            "correctness: {}",
            if self.correctness_ok { "OK" } else { "FAILED" }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(id: u64, t: u64) -> Created {
        Created {
            id,
            node: 0,
            t_ns: t,
            group: "g".into(),
            state: "assigned".into(),
            title: String::new(),
        }
    }
    fn o(id: u64, agent: u32, kind: u8, t: u64) -> Obs {
        Obs {
            id,
            node: 0,
            agent,
            kind,
            t_ns: t,
        }
    }

    #[test]
    fn ledger_counts_lost_double_and_released() {
        let mut r = WorkerResult::default();
        r.counters.insert("work_attempted".into(), 5);
        r.counters.insert("work_acked".into(), 5);
        r.created = (1..=5).map(|i| created(i, 1_000)).collect();
        r.obs = vec![
            o(1, 0, obs::ROUTED, 3_000),   // fine: 2 µs
            o(2, 0, obs::ROUTED, 3_000),   // routed to 0 ...
            o(2, 1, obs::ASSIGNED, 4_000), // ... and to 1, 0 never told: double
            o(3, 0, obs::ROUTED, 3_000),   // handed off properly
            o(3, 0, obs::RELEASED, 5_000),
            o(3, 1, obs::ROUTED, 4_000),
            o(4, 7, obs::QUEUED, 2_000), // queued only
        ]; // 5: lost
        let mut h = new_hist();
        let mut notes = Vec::new();
        let it = analyse_items(&r, &HashSet::new(), &mut h, &mut notes);
        assert_eq!(it.seen_assigned, 3);
        assert_eq!(it.seen_queued_only, 1);
        assert_eq!(it.lost, 1);
        assert_eq!(it.lost_ids, vec![5]);
        assert_eq!(it.double_assignments, 1);
        assert_eq!(it.double_ids, vec![2]);
        assert!(it.accounted_for);
        assert_eq!(h.len(), 3);

        // The queue API at the end finds the lost one.
        let mut h = new_hist();
        let q: HashSet<(u16, u64)> = [(0, 5)].into_iter().collect();
        let it = analyse_items(&r, &q, &mut h, &mut notes);
        assert_eq!((it.lost, it.queued_at_end), (0, 1));
    }

    #[test]
    fn independent_nodes_are_told_apart() {
        let mut r = WorkerResult::default();
        r.counters.insert("work_attempted".into(), 2);
        r.counters.insert("work_acked".into(), 2);
        r.created = vec![
            created(1, 0),
            Created {
                node: 1,
                ..created(1, 0)
            },
        ];
        r.obs = vec![
            o(1, 0, obs::ROUTED, 10),
            Obs {
                node: 1,
                ..o(1, 1, obs::ROUTED, 10)
            },
        ];
        let mut notes = Vec::new();
        let it = analyse_items(&r, &HashSet::new(), &mut new_hist(), &mut notes);
        assert_eq!(
            (it.double_assignments, it.lost, it.seen_assigned),
            (0, 0, 2)
        );
        assert_eq!(notes.len(), 1);
    }
}
