//! `switchboard-loadtest`: the load generator, the directory writer and the
//! baseline push server of Switchboard. See loadtest/README.md.

mod baseline;
mod chaos;
mod directory;
mod multi;
mod report;
mod run;
mod util;

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::directory::{GenArgs, Layout};
use crate::run::{Cfg, ProgressMode, Scenario};
use crate::util::{Server, parse_duration};

const ABOUT: &str = "Load generator for Switchboard: simulated agent consoles, supervisors and integrations \
speaking docs/protocol.md over HTTP and WebSocket, with latency percentiles (hdrhistogram) and \
correctness counters (double assignments, lost items). Exits non-zero when a correctness counter is non-zero.";

#[derive(Parser)]
#[command(name = "switchboard-loadtest", version, about = ABOUT, long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write the TOML directory a run needs (for `switchboard serve --directory FILE`).
    Directory(DirectoryCmd),
    /// Hold N sessions open with no traffic; report server RSS per session (VmRSS before and
    /// after, needs --server-pid) and server CPU over the hold.
    Idle(RunArgs),
    /// N agents work chats (and tickets, --ticket-share) created at --rate items/s through
    /// POST /api/work; latency from just before the POST to the `item` push at the assignee.
    Chats(RunArgs),
    /// Agents toggle availability and an active cell at --rate changes/s in total while
    /// --supervisors supervisors `watch`; latency until the LAST watcher got the `agent_status`.
    Presence(RunArgs),
    /// The members of a pull group (--takers of them) race with `take` for items created in
    /// it at --rate items/s; exactly one must win each; take -> answer latency.
    Takes(RunArgs),
    /// `chats` with sessions and integrations spread round robin over several --server URLs.
    Cluster(RunArgs),
    /// Any scenario, named with --scenario.
    Run(RunCmd),
    /// A minimal WebSocket push server on the same stack (axum ws, 4 KiB buffers), no domain
    /// logic: the reference the `idle` and `chats` figures are compared with.
    BaselineServer(BaselineCmd),
    /// Internal: one worker process of --processes K.
    #[command(hide = true)]
    Worker {
        /// Spec file written by the parent.
        #[arg(long)]
        spec: PathBuf,
        /// I/K.
        #[arg(long)]
        worker: String,
    },
    /// Start the baseline and a switchboard binary (child processes, free ports, generated
    /// directory), run the same scenario against each, print both and the ratios.
    Compare(CompareCmd),
    /// Fault cases against a cluster it starts itself (redis-server and --nodes switchboard
    /// nodes on loopback): node kill -9, Redis kill -9 and restart, Redis hang (SIGSTOP), a
    /// node cut from Redis (network namespace, needs root), Sentinel failover (not written:
    /// skipped). Under `cluster` load, each case counts acknowledged items lost, items created
    /// twice, and how long writes failed; consoles dropped by a fault reconnect to the next node
    /// with their last seq. Exits non-zero when an item was lost or doubled.
    Chaos(chaos::ChaosCmd),
}

#[derive(Args)]
struct DirectoryCmd {
    /// Number of plain agents (ids a00001, a00002, ...).
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// Number of supervisors (ids s0001, ...; roles agent+manager), members of every group,
    /// excluded from every channel.
    #[arg(long, default_value_t = 0)]
    supervisors: usize,
    #[command(flatten)]
    gen_args: GenArgs,
    /// Output file ("-" for stdout).
    #[arg(long, short, default_value = "-")]
    out: String,
}

#[derive(Args)]
struct RunCmd {
    /// The scenario.
    #[arg(long, value_enum)]
    scenario: Scenario,
    #[command(flatten)]
    args: RunArgs,
}

#[derive(Args)]
struct BaselineCmd {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// API key that POST /api/work must carry in X-Api-Key.
    #[arg(long, default_value = "loadtest-api-key-0001")]
    api_key: String,
    /// Set TCP_NODELAY on accepted sockets (`--tcp-nodelay false` to mimic a server that does not).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    tcp_nodelay: bool,
    /// Directory file whose group ids a `watch` answer lists (for `presence`); without
    /// it `watch` is answered with no groups.
    #[arg(long)]
    directory: Option<PathBuf>,
}

#[derive(Args)]
struct CompareCmd {
    /// Path of the switchboard binary (run as `BIN serve --listen ADDR --directory FILE --api-key KEY`).
    #[arg(long)]
    switchboard_bin: PathBuf,
    /// Path of the baseline binary (default: this program, `baseline-server`).
    #[arg(long)]
    baseline_bin: Option<PathBuf>,
    /// Scenario to run against both (idle, chats or presence; the baseline knows no more of the protocol).
    #[arg(long, value_enum, default_value = "chats")]
    scenario: Scenario,
    /// Extra argument passed to `switchboard serve` (repeatable).
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Keep the servers' logs and the directory in this folder (default: a temporary folder).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    #[command(flatten)]
    args: RunArgs,
}

/// Flags shared by every scenario.
#[derive(Args, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunArgs {
    /// Server base URL (http://host:port). Repeat for several nodes: sessions and work
    /// creation go round robin over them.
    #[arg(long = "server", default_value = "http://127.0.0.1:8080")]
    servers: Vec<String>,
    /// Integration API key sent as X-Api-Key with POST /api/work and the final queue check.
    #[arg(
        long,
        env = "SWITCHBOARD_API_KEY",
        default_value = "loadtest-api-key-0001"
    )]
    api_key: String,
    /// The directory file the server loaded; accounts, groups and memberships are read from it.
    /// Without it the layout is generated in memory from --agents/--supervisors/--groups/...,
    /// which must then be the flags the server's directory was written with.
    #[arg(long)]
    directory: Option<PathBuf>,
    /// Agent sessions to open (the first N agents of the directory).
    #[arg(long)]
    agents: Option<usize>,
    /// Supervisor sessions (each sends `watch` for all its groups). Default: presence, every supervisor of
    /// the directory (10 when it is generated in memory); other scenarios 0.
    #[arg(long)]
    supervisors: Option<usize>,
    #[command(flatten)]
    gen_args: GenArgs,
    /// Length of the run phase after the ramp (500ms, 10s, 2m); the run stops by itself.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    duration: Duration,
    /// Ramp-up: logins and WebSocket opens are spread evenly over this time.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    ramp: Duration,
    /// After the run phase: stop creating work and wait this long for late pushes.
    #[arg(long, value_parser = parse_duration, default_value = "3s")]
    drain: Duration,
    /// Rate: new items/s (chats, cluster: default 50; takes: default 10) or presence changes/s
    /// in total (presence: default 100). Ignored by idle.
    #[arg(long)]
    rate: Option<f64>,
    /// Share of created items that are tickets instead of chats (0.0 to 1.0).
    #[arg(long, default_value_t = 0.0)]
    ticket_share: f64,
    /// Share of created chats (0.0 to 1.0) whose visitor opens the chat's visitor socket
    /// (`/visitor?token=…`) right after the 201 and stays until the chat is closed, as a website
    /// widget does: visitors waiting in a queue are told their position live. Each holds a socket.
    #[arg(long, default_value_t = 0.0)]
    visitors: f64,
    /// Mean think time before an agent accepts an item pushed to it (uniform 0.5x-1.5x).
    #[arg(long, value_parser = parse_duration, default_value = "200ms")]
    think_accept: Duration,
    /// Mean time between accept and close of an item (uniform 0.5x-1.5x).
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    think_close: Duration,
    /// Mean time between tab reloads of each agent (close the WebSocket, reopen it with the same
    /// token, within the server's grace). Off by default.
    #[arg(long, value_parser = parse_duration)]
    reload_every: Option<Duration>,
    /// presence: how many agents toggle (default: all agents of worker 0).
    #[arg(long)]
    togglers: Option<usize>,
    /// takes: how many members of the first pull group race (directory: --pull-members).
    #[arg(long, default_value_t = 20)]
    takers: usize,
    /// Print the report as JSON on stdout (and no progress bar).
    #[arg(long)]
    json: bool,
    /// Pid of the server process (single node): VmRSS from /proc/PID/status before and after
    /// the sessions open, CPU from /proc/PID/stat over the run phase.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Write one CSV line per created item to this file (created_unix_ms, item, POST node,
    /// push node, µs from created to the push at its agent; empty when never pushed), to see
    /// when and where a latency tail happened.
    #[arg(long)]
    samples: Option<std::path::PathBuf>,
    /// Bind client sockets to these local source addresses, round robin
    /// (127.0.0.1,127.0.0.2,...): one address gives ~28,000 ephemeral ports.
    #[arg(long, value_delimiter = ',')]
    source_addrs: Vec<IpAddr>,
    /// Fork K worker processes of this program and merge their reports: one process may hold
    /// at most its open-file limit (20,000 here) of sockets. Supervisors, togglers and takers
    /// all live in worker 0.
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// Origin header of WebSocket upgrades (default: the server's own http://host:port; "" for none).
    #[arg(long)]
    origin: Option<String>,
    /// Logins in flight at once.
    #[arg(long, default_value_t = 64)]
    login_concurrency: usize,
    /// Retries of a login answered `429 rate_limited`, each after its Retry-After (30 s at most).
    #[arg(long, default_value_t = 2)]
    login_retries: u32,
    /// Internal: run as worker I of K (I/K) and print the raw result as JSON.
    #[arg(long, hide = true)]
    worker: Option<String>,
}

fn load_layout(scenario: Scenario, a: &RunArgs) -> Result<(Arc<Layout>, usize, usize), String> {
    if let Some(p) = &a.directory {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let d: directory::Directory =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
        let l = Layout::from_directory(&d);
        let (na, ns) = (l.agents.len(), l.supervisors.len());
        Ok((Arc::new(l), na, ns))
    } else {
        let na = a.agents.unwrap_or(100);
        let ns = a.supervisors.unwrap_or(if scenario == Scenario::Presence {
            10
        } else {
            0
        });
        let d = directory::generate(na, ns, &a.gen_args);
        Ok((Arc::new(Layout::from_directory(&d)), na, ns))
    }
}

pub(crate) fn make_cfg(scenario: Scenario, a: &RunArgs, target: &str) -> Result<Cfg, String> {
    let servers = a
        .servers
        .iter()
        .map(|s| Server::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let (layout, na, ns) = load_layout(scenario, a)?;
    let agents = a.agents.unwrap_or(na);
    let supervisors = a.supervisors.unwrap_or(if scenario == Scenario::Presence {
        ns
    } else {
        0
    });
    let rate = a.rate.unwrap_or(match scenario {
        Scenario::Idle => 0.0,
        Scenario::Chats | Scenario::Cluster => 50.0,
        Scenario::Presence => 100.0,
        Scenario::Takes => 10.0,
    });
    let worker = match &a.worker {
        None => (0, a.processes.max(1)),
        Some(w) => {
            let (i, k) = w.split_once('/').ok_or("--worker I/K")?;
            (
                i.parse().map_err(|_| "--worker I/K")?,
                k.parse().map_err(|_| "--worker I/K")?,
            )
        }
    };
    let progress = if a.worker.is_some() {
        ProgressMode::Lines
    } else if a.json || !std::io::stdout().is_terminal() {
        ProgressMode::Off
    } else {
        ProgressMode::Bar
    };
    Ok(Cfg {
        scenario,
        servers,
        api_key: a.api_key.clone(),
        password: a.gen_args.password.clone(),
        layout,
        agents,
        supervisors,
        duration: a.duration,
        ramp: a.ramp,
        drain: a.drain,
        rate,
        ticket_share: a.ticket_share.clamp(0.0, 1.0),
        visitors: a.visitors.clamp(0.0, 1.0),
        think_accept: a.think_accept,
        think_close: a.think_close,
        reload_every: a.reload_every,
        togglers: a.togglers.unwrap_or(usize::MAX),
        takers: a.takers,
        source_addrs: a.source_addrs.clone(),
        worker,
        origin: a.origin.clone(),
        login_concurrency: a.login_concurrency,
        login_retries: a.login_retries,
        server_pid: a.server_pid,
        samples: a.samples.clone(),
        barrier: None,
        progress,
        target: target.to_string(),
    })
}

/// Runs a scenario (in this process or forked workers) and returns its report.
pub async fn run_scenario(
    scenario: Scenario,
    a: &RunArgs,
    target: &str,
) -> Result<report::Report, String> {
    let cfg = make_cfg(scenario, a, target)?;
    let result = if cfg.worker.1 > 1 {
        multi::run_parent(&cfg, scenario, a).await?
    } else {
        run::run_worker(cfg.clone()).await
    };
    Ok(run::build_report(&cfg, result).await)
}

fn scenario_main(scenario: Scenario, a: RunArgs) -> i32 {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async move {
        if a.worker.is_some() {
            let cfg = match make_cfg(scenario, &a, "worker") {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 2;
                }
            };
            let r = run::run_worker(cfg).await;
            println!("{}", serde_json::to_string(&r).expect("json"));
            return 0;
        }
        match run_scenario(scenario, &a, "server").await {
            Err(e) => {
                eprintln!("error: {e}");
                2
            }
            Ok(rep) => {
                if a.json {
                    println!("{}", serde_json::to_string_pretty(&rep).expect("json"));
                } else {
                    rep.print_human();
                }
                if rep.correctness_ok { 0 } else { 1 }
            }
        }
    })
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.cmd {
        Cmd::Directory(d) => {
            let dir = directory::generate(d.agents, d.supervisors, &d.gen_args);
            let text = toml::to_string(&dir).expect("toml");
            if d.out == "-" {
                print!("{text}");
                0
            } else if let Err(e) = std::fs::write(&d.out, text) {
                eprintln!("error: {}: {e}", d.out);
                2
            } else {
                eprintln!(
                    "wrote {}: {} agents, {} supervisors, {} groups, {} memberships (password {:?})",
                    d.out,
                    d.agents,
                    d.supervisors,
                    dir.groups.len(),
                    dir.memberships.len(),
                    d.gen_args.password
                );
                0
            }
        }
        Cmd::Idle(a) => scenario_main(Scenario::Idle, a),
        Cmd::Chats(a) => scenario_main(Scenario::Chats, a),
        Cmd::Presence(a) => scenario_main(Scenario::Presence, a),
        Cmd::Takes(a) => scenario_main(Scenario::Takes, a),
        Cmd::Cluster(a) => scenario_main(Scenario::Cluster, a),
        Cmd::Run(r) => scenario_main(r.scenario, r.args),
        Cmd::BaselineServer(b) => {
            let groups = match &b.directory {
                None => Vec::new(),
                Some(p) => match std::fs::read_to_string(p)
                    .map_err(|e| e.to_string())
                    .and_then(|t| {
                        toml::from_str::<directory::Directory>(&t).map_err(|e| e.to_string())
                    }) {
                    Ok(d) => d.groups.into_iter().map(|g| g.id).collect(),
                    Err(e) => {
                        eprintln!("error: {}: {e}", p.display());
                        std::process::exit(2);
                    }
                },
            };
            let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
            match rt.block_on(baseline::serve(b.listen, b.api_key, b.tcp_nodelay, groups)) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("error: {e}");
                    2
                }
            }
        }
        Cmd::Worker { spec, worker } => multi::worker_main(&spec, worker),
        Cmd::Compare(c) => {
            let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
            rt.block_on(multi::compare(c))
        }
        Cmd::Chaos(c) => {
            let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
            rt.block_on(chaos::main(c))
        }
    };
    std::process::exit(code);
}
