//! `switchboard-loadtest chaos`: faults injected into a real cluster under
//! load, and what they cost.
//!
//! Each case starts its own redis-server (append-only, fsynced on every
//! write) and `--nodes` switchboard nodes on loopback, runs the `cluster`
//! scenario against them (agents whose consoles, when dropped, reconnect to
//! the next node with their last `seq`, as a browser behind a load
//! balancer does; tickets created at `--rate`), injects one fault during
//! the run phase and heals it, then asks a node that was never hurt about
//! every item: acknowledged items lost, items created twice, items applied
//! without an acknowledgement, and, from a write probe that tries the nodes
//! in turn every 100 ms, how long after the fault writes failed.
//!
//! Nothing is closed during a case, so the count at the end is exact.

mod ledger;
mod netns;
mod probe;
mod procs;
mod sentinel;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use crate::RunArgs;
use crate::run::{ProgressMode, Scenario};
use crate::util::parse_duration;
use ledger::Tally;
use netns::Namespace;
use procs::{Node, Redis};
use sentinel::SentinelSet;

/// One fault.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum Case {
    /// `kill -9` of the first node; it stays dead. Its consoles reconnect
    /// to the other nodes; its agents' work stays theirs if they are back
    /// within the grace.
    NodeKill,
    /// `kill -9` of redis-server, restarted after --fault-for on the same
    /// append-only file.
    RedisKill,
    /// redis-server stopped (SIGSTOP) for --fault-for, then continued.
    RedisHang,
    /// The first node runs in its own network namespace; its link to Redis
    /// goes down for --fault-for while its consoles stay connected. Needs
    /// root.
    NodeCut,
    /// `kill -9` of the Redis primary watched by three Sentinels, with two
    /// replicas; the nodes find the primary through the Sentinels and wait
    /// for one replica before they acknowledge a write. The killed primary
    /// stays dead.
    SentinelFailover,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::NodeKill => "node-kill",
            Case::RedisKill => "redis-kill",
            Case::RedisHang => "redis-hang",
            Case::NodeCut => "node-cut",
            Case::SentinelFailover => "sentinel-failover",
        }
    }
}

/// Flags of `chaos`.
#[derive(Args)]
pub struct ChaosCmd {
    /// The cases to run, in order, comma separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "node-kill,redis-kill,redis-hang,node-cut,sentinel-failover"
    )]
    cases: Vec<Case>,
    /// Switchboard nodes per case (at least 2: the last one is never hurt,
    /// and the end count asks it).
    #[arg(long, default_value_t = 2)]
    nodes: usize,
    /// The switchboard binary (default: `switchboard` beside this program,
    /// else on the PATH).
    #[arg(long)]
    switchboard_bin: Option<PathBuf>,
    /// The redis-server binary.
    #[arg(long, default_value = "redis-server")]
    redis_bin: PathBuf,
    /// When the fault is injected, counted from the start of the run phase
    /// (after --ramp).
    #[arg(long, value_parser = parse_duration, default_value = "3s")]
    fault_after: Duration,
    /// How long the fault lasts before it is healed (Redis restarted or
    /// continued, the link up again; a killed node stays dead).
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    fault_for: Duration,
    /// `serve --heartbeat-ttl` of the nodes.
    #[arg(long, value_parser = parse_duration, default_value = "3s")]
    heartbeat_ttl: Duration,
    /// `serve --grace` of the nodes.
    #[arg(long, value_parser = parse_duration, default_value = "3s")]
    grace: Duration,
    /// Every group's `reassign_tickets_after_logout`: tickets of an agent
    /// who stays logged out go back to routing after it.
    #[arg(long, default_value = "5s")]
    reassign_tickets_after_logout: String,
    /// After the run (and its drain), wait this long before counting the
    /// items.
    #[arg(long, value_parser = parse_duration, default_value = "3s")]
    settle: Duration,
    /// Keep each case's logs, Redis files and directory here (default: a
    /// folder in the temporary directory).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Extra argument of `switchboard serve` (repeatable).
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// The load: --agents, --rate (tickets/s), --duration, --ramp, --drain,
    /// ... as for the other scenarios. --server and --directory are set by
    /// each case; all work is tickets, never closed.
    #[command(flatten)]
    run: RunArgs,
}

/// What one case measured.
struct CaseResult {
    case: Case,
    /// Why it did not run.
    skipped: Option<String>,
    tally: Tally,
    /// How long writes failed after the fault; `None`: they never came back.
    outage: Option<Duration>,
    /// Items held by logged-out agents just before the run phase ended,
    /// every console still open.
    held_by_logged_out: u64,
    dropped: u64,
    resumed: u64,
}

impl CaseResult {
    /// The result as `--json` prints it.
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "case": self.case.name(),
            "skipped": self.skipped,
            "acked": self.tally.acked,
            "lost": self.tally.lost,
            "doubled": self.tally.doubled,
            "applied_unacked": self.tally.applied_unacked,
            "writes_failed_s": self.outage.map(|d| d.as_secs_f64()),
            "consoles_dropped": self.dropped,
            "consoles_resumed": self.resumed,
            "held_by_logged_out": self.held_by_logged_out,
        })
    }
}

/// Runs `chaos`; the process exit code.
pub async fn main(cmd: ChaosCmd) -> i32 {
    if cmd.nodes < 2 {
        eprintln!("error: --nodes must be at least 2");
        return 2;
    }
    if cmd.run.duration < cmd.fault_after + cmd.fault_for + Duration::from_secs(2) {
        eprintln!("error: --duration must cover --fault-after + --fault-for and 2 s of recovery");
        return 2;
    }
    let bin = cmd
        .switchboard_bin
        .clone()
        .unwrap_or_else(default_switchboard);
    let work = cmd
        .work_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("sb-chaos-{}", std::process::id())));
    let mut results = Vec::new();
    for (i, &case) in cmd.cases.iter().enumerate() {
        eprintln!("== case {}/{}: {}", i + 1, cmd.cases.len(), case.name());
        match run_case(case, &cmd, &bin, &work.join(case.name())).await {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("error: {}: {e}", case.name());
                print_table(&results);
                return 2;
            }
        }
    }
    if cmd.run.json {
        let rows: Vec<serde_json::Value> = results.iter().map(CaseResult::json).collect();
        println!("{}", serde_json::to_string_pretty(&rows).expect("json"));
    } else {
        print_table(&results);
    }
    eprintln!("logs and files: {}", work.display());
    let bad = results
        .iter()
        .any(|r| r.skipped.is_none() && (r.tally.lost > 0 || r.tally.doubled > 0));
    if bad { 1 } else { 0 }
}

/// `switchboard` beside this program (cargo puts both in one target
/// folder), else the one on the PATH.
fn default_switchboard() -> PathBuf {
    std::env::current_exe()
        .ok()
        .map(|p| p.with_file_name("switchboard"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("switchboard"))
}

/// Why `case` cannot run here, if it cannot.
fn skip_reason(case: Case, bin: &Path) -> Option<String> {
    match case {
        Case::NodeCut => netns::unavailable(),
        Case::SentinelFailover => {
            let help = std::process::Command::new(bin)
                .args(["serve", "--help"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).to_lowercase())
                .unwrap_or_default();
            (!help.contains("sentinel")).then(|| {
                "this switchboard has no Sentinel support (`serve --help` names none)".into()
            })
        }
        _ => None,
    }
}

/// Progress: one line per step, with the time since the case began.
struct Steps(Instant);

impl Steps {
    fn say(&self, what: &str) {
        eprintln!("[{:6.1}s] {what}", self.0.elapsed().as_secs_f64());
    }
}

async fn run_case(
    case: Case,
    cmd: &ChaosCmd,
    bin: &Path,
    dir: &Path,
) -> Result<CaseResult, String> {
    let mut result = CaseResult {
        case,
        skipped: skip_reason(case, bin),
        tally: Tally::default(),
        outage: None,
        held_by_logged_out: 0,
        dropped: 0,
        resumed: 0,
    };
    if let Some(why) = &result.skipped {
        eprintln!("skipped: {why}");
        return Ok(result);
    }
    let steps = Steps(Instant::now());
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let ns = if case == Case::NodeCut {
        Some(Namespace::create()?)
    } else {
        None
    };
    let extra: Vec<String> = ns.iter().map(|n| n.redis_host()).collect();
    let (mut redis, mut ha) = if case == Case::SentinelFailover {
        let set = SentinelSet::start(&cmd.redis_bin, &dir.join("redis")).await?;
        steps.say(&format!(
            "a primary, two replicas in sync and three Sentinels: {}",
            set.url()
        ));
        (None, Some(set))
    } else {
        let redis = Redis::start(&cmd.redis_bin, &dir.join("redis"), &extra).await?;
        steps.say(&format!("redis-server on port {}", redis.port));
        (Some(redis), None)
    };
    let directory = write_directory(cmd, dir)?;
    let mut nodes = Vec::new();
    for i in 0..cmd.nodes {
        let inside = ns.as_ref().filter(|_| i == 0);
        let host = inside.map_or("127.0.0.1".to_string(), |n| n.redis_host());
        let mut args = match (&redis, &ha) {
            (Some(r), _) => node_args(cmd, bin, &r.url(&host), &directory),
            (None, Some(set)) => node_args(cmd, bin, &set.url(), &directory),
            (None, None) => unreachable!("one Redis or the other"),
        };
        if ha.is_some() {
            // Acknowledge a write only once a replica has it.
            args.extend(["--redis-min-replicas".to_string(), "1".to_string()]);
        }
        let node = Node::start(bin, &args, dir.join(format!("node{i}.log")), inside).await?;
        steps.say(&format!("node {i} ready at {}", node.base));
        nodes.push(node);
    }
    let servers: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let mut a = cmd.run.clone();
    a.servers = servers.clone();
    a.directory = Some(directory);
    a.ticket_share = 1.0;
    a.think_close = Duration::from_secs(86_400);
    // Consoles move between nodes (and into a namespace's address): send
    // no Origin, as a client that is not a browser, unless one is given.
    if a.origin.is_none() {
        a.origin = Some(String::new());
    }
    let mut cfg = crate::make_cfg(Scenario::Cluster, &a, case.name())?;
    cfg.progress = ProgressMode::Off;
    let group = cfg
        .layout
        .auto_groups
        .first()
        .cloned()
        .ok_or("the directory has no auto group")?;
    let started = Instant::now();
    steps.say(&format!(
        "{} agents log in over {:?}, then {} tickets/s for {:?}",
        cfg.agents, cfg.ramp, cfg.rate, cfg.duration
    ));
    let worker = tokio::spawn(crate::run::run_worker(cfg.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let probe = tokio::spawn(probe::run(
        servers,
        cmd.run.api_key.clone(),
        group,
        Duration::from_millis(100),
        stop.clone(),
    ));
    tokio::time::sleep_until((started + cfg.ramp + cmd.fault_after).into()).await;
    let fault_at = Instant::now();
    inject(
        case,
        &mut nodes,
        redis.as_mut(),
        ha.as_mut(),
        ns.as_ref(),
        &steps,
    )
    .await?;
    tokio::time::sleep(cmd.fault_for).await;
    heal(case, redis.as_mut(), ns.as_ref(), &steps).await?;
    // Just before the run phase ends, while every console is open: work
    // left with agents the fault logged out.
    let judge = nodes.last().expect("at least two nodes").base.clone();
    let run_end = started + cfg.ramp + cfg.duration;
    tokio::time::sleep_until((run_end - Duration::from_secs(1)).into()).await;
    result.held_by_logged_out = ledger::held_by_logged_out(&judge, &cmd.run.api_key).await?;
    let r = worker
        .await
        .map_err(|e| format!("the load generator failed: {e}"))?;
    steps.say("run over; settling");
    tokio::time::sleep(cmd.settle).await;
    stop.store(true, Ordering::Relaxed);
    let plog = probe
        .await
        .map_err(|e| format!("the write probe failed: {e}"))?;
    let mut acked: Vec<(u64, String)> = r.created.iter().map(|c| (c.id, c.title.clone())).collect();
    acked.extend(plog.acked.iter().cloned());
    steps.say(&format!(
        "counting {} acknowledged items on {judge}",
        acked.len()
    ));
    result.tally = ledger::count(&judge, &cmd.run.api_key, &acked).await?;
    result.outage = plog.outage_after(fault_at);
    steps.say(&format!(
        "write probe: {} rounds; failed tries: {:?}",
        plog.rounds.len(),
        plog.failures
    ));
    let counter = |k: &str| r.counters.get(k).copied().unwrap_or(0);
    result.dropped = counter("sessions_dropped");
    result.resumed = counter("sessions_resumed");
    steps.say("done");
    Ok(result)
}

/// The generated directory (--agents, --groups, ...) with every group's
/// ticket reassignment set; its path.
fn write_directory(cmd: &ChaosCmd, dir: &Path) -> Result<PathBuf, String> {
    let agents = cmd.run.agents.unwrap_or(100);
    let mut d = crate::directory::generate(agents, 0, &cmd.run.gen_args);
    for g in &mut d.groups {
        g.reassign_tickets_after_logout = Some(cmd.reassign_tickets_after_logout.clone());
    }
    let path = dir.join("directory.toml");
    let text = toml::to_string(&d).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

fn node_args(cmd: &ChaosCmd, bin: &Path, redis_url: &str, directory: &Path) -> Vec<String> {
    let mut args = vec![
        "--redis-url".to_string(),
        redis_url.to_string(),
        "--directory".to_string(),
        directory.display().to_string(),
        "--api-key".to_string(),
        cmd.run.api_key.clone(),
        "--heartbeat-ttl".to_string(),
        format!("{}ms", cmd.heartbeat_ttl.as_millis()),
        "--grace".to_string(),
        format!("{}ms", cmd.grace.as_millis()),
    ];
    args.extend(crate::multi::load_test_server_flags(bin, &cmd.server_args));
    args.extend(cmd.server_args.iter().cloned());
    args
}

async fn inject(
    case: Case,
    nodes: &mut [Node],
    redis: Option<&mut Redis>,
    ha: Option<&mut SentinelSet>,
    ns: Option<&Namespace>,
    steps: &Steps,
) -> Result<(), String> {
    if let Some(set) = ha {
        set.kill_primary();
        steps.say("fault: the Redis primary killed (kill -9); the Sentinels promote a replica");
        return Ok(());
    }
    let redis = redis.ok_or("no redis-server")?;
    match case {
        Case::NodeKill => {
            nodes[0].kill9().await;
            steps.say("fault: node 0 killed (kill -9); it stays dead");
        }
        Case::RedisKill => {
            redis.kill9();
            steps.say("fault: redis-server killed (kill -9)");
        }
        Case::RedisHang => {
            redis.signal("-STOP")?;
            steps.say("fault: redis-server stopped (SIGSTOP)");
        }
        Case::NodeCut => {
            ns.ok_or("no namespace")?.redis_link_up(false)?;
            steps.say("fault: node 0 cut from Redis (its link down)");
        }
        Case::SentinelFailover => unreachable!("handled above"),
    }
    Ok(())
}

async fn heal(
    case: Case,
    redis: Option<&mut Redis>,
    ns: Option<&Namespace>,
    steps: &Steps,
) -> Result<(), String> {
    match case {
        // The killed primary stays dead: the promoted replica serves.
        Case::NodeKill | Case::SentinelFailover => {}
        Case::RedisKill => {
            redis.ok_or("no redis-server")?.restart().await?;
            steps.say("healed: redis-server restarted on its append-only file");
        }
        Case::RedisHang => {
            redis.ok_or("no redis-server")?.signal("-CONT")?;
            steps.say("healed: redis-server continued (SIGCONT)");
        }
        Case::NodeCut => {
            ns.ok_or("no namespace")?.redis_link_up(true)?;
            steps.say("healed: node 0's link to Redis up again");
        }
    }
    Ok(())
}

fn print_table(results: &[CaseResult]) {
    println!(
        "{:<18} {:>7} {:>5} {:>8} {:>16} {:>17} {:>17} {:>19}",
        "case",
        "acked",
        "lost",
        "doubled",
        "applied unacked",
        "writes failed for",
        "resumed/dropped",
        "held by logged-out"
    );
    for r in results {
        if let Some(why) = &r.skipped {
            println!("{:<18} skipped: {why}", r.case.name());
            continue;
        }
        let outage = match r.outage {
            Some(d) => format!("{:.1} s", d.as_secs_f64()),
            None => "never back".into(),
        };
        println!(
            "{:<18} {:>7} {:>5} {:>8} {:>16} {:>17} {:>17} {:>19}",
            r.case.name(),
            r.tally.acked,
            r.tally.lost,
            r.tally.doubled,
            r.tally.applied_unacked,
            outage,
            format!("{}/{}", r.resumed, r.dropped),
            r.held_by_logged_out
        );
    }
}
