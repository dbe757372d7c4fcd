//! The load generator: simulated agent consoles, supervisors, takers and
//! integrations, in one worker process. `multi.rs` forks several of these.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

mod visitor;

use crate::directory::Layout;
use crate::report::{Created, HistData, Obs, Report, WorkerResult, analyse_items, new_hist, obs};
use crate::util::{CpuWindow, Server, ServerProbe, now_ns, pct, rss_kib};

/// The scenarios.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
pub enum Scenario {
    /// Hold sessions open, no traffic; server RSS per session and idle CPU.
    Idle,
    /// Agents work chats (and tickets) created at --rate by the integration.
    Chats,
    /// Agents toggle availability and active cells while supervisors watch.
    Presence,
    /// Members of a pull group race to `take` queued items.
    Takes,
    /// `chats` spread over several --server URLs.
    Cluster,
}

impl Scenario {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Idle => "idle",
            Scenario::Chats => "chats",
            Scenario::Presence => "presence",
            Scenario::Takes => "takes",
            Scenario::Cluster => "cluster",
        }
    }
    fn creates_work(self) -> bool {
        matches!(self, Scenario::Chats | Scenario::Cluster | Scenario::Takes)
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// An indicatif bar on the terminal.
    Bar,
    /// `@@progress {json}` lines on stderr (worker processes).
    Lines,
    /// Nothing.
    Off,
}

/// Everything a worker needs.
#[derive(Debug, Clone)]
pub struct Cfg {
    /// Scenario.
    pub scenario: Scenario,
    /// Servers (sessions and integrations round robin over them).
    pub servers: Vec<Server>,
    /// Integration API key.
    pub api_key: String,
    /// Password of every account.
    pub password: String,
    /// Directory layout.
    pub layout: Arc<Layout>,
    /// Agent sessions (taken from the start of the layout's agents).
    pub agents: usize,
    /// Supervisor sessions.
    pub supervisors: usize,
    /// Run phase.
    pub duration: Duration,
    /// Ramp-up.
    pub ramp: Duration,
    /// Wait after the run for late pushes.
    pub drain: Duration,
    /// Items/s (chats, takes, cluster) or toggles/s (presence).
    pub rate: f64,
    /// Share of created items that are tickets.
    pub ticket_share: f64,
    /// Share of created chats whose visitor connects (`--visitors`).
    pub visitors: f64,
    /// Mean delay before `accept`.
    pub think_accept: Duration,
    /// Mean delay between `accept` and `close`.
    pub think_close: Duration,
    /// Mean time between tab reloads per agent.
    pub reload_every: Option<Duration>,
    /// Toggling agents (presence).
    pub togglers: usize,
    /// Takers (takes).
    pub takers: usize,
    /// Local source addresses.
    pub source_addrs: Vec<IpAddr>,
    /// (index, count) of this worker.
    pub worker: (usize, usize),
    /// Origin header: None = the server's own origin; Some("") = none.
    pub origin: Option<String>,
    /// Concurrent logins.
    pub login_concurrency: usize,
    /// Retries of a login answered 429 (after its Retry-After).
    pub login_retries: u32,
    /// Server pid for RSS/CPU.
    pub server_pid: Option<u32>,
    /// Where to write one CSV line per created item (`--samples`).
    pub samples: Option<std::path::PathBuf>,
    /// Worker processes of one run (`--processes`): the directory where each
    /// says its sessions are up, so that all start their run phase together.
    pub barrier: Option<std::path::PathBuf>,
    /// Progress display.
    pub progress: ProgressMode,
    /// Label of the target in the report.
    pub target: String,
}

#[derive(Default)]
struct Counters {
    sessions_open: AtomicU64,
    sessions_peak: AtomicU64,
    logins_ok: AtomicU64,
    login_errors: AtomicU64,
    connect_errors: AtomicU64,
    sessions_dropped: AtomicU64,
    reloads: AtomicU64,
    /// Consoles the server resumed after a drop (`resumed`, not `welcome`).
    resumes: AtomicU64,
    pushes: AtomicU64,
    requests: AtomicU64,
    request_errors: AtomicU64,
    work_attempted: AtomicU64,
    work_acked: AtomicU64,
    work_refused: AtomicU64,
    work_transport_errors: AtomicU64,
    /// Creates sent again with the same idempotency key after an answer
    /// that did not say whether they were applied.
    work_retried: AtomicU64,
    generator_behind: AtomicU64,
    accepts: AtomicU64,
    closes: AtomicU64,
    takes_won: AtomicU64,
    takes_lost: AtomicU64,
    takes_sent: AtomicU64,
    toggles: AtomicU64,
    presence_missed: AtomicU64,
    watching: AtomicU64,
    gave_up: AtomicU64,
    login_retries: AtomicU64,
    visitors_opened: AtomicU64,
    visitor_chats: AtomicU64,
    visitor_positions: AtomicU64,
    visitors_joined: AtomicU64,
    visitors_closed: AtomicU64,
    visitor_errors: AtomicU64,
}

impl Counters {
    fn map(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: &AtomicU64| {
            m.insert(k.to_string(), v.load(Relaxed));
        };
        put("sessions_peak", &self.sessions_peak);
        put("logins_ok", &self.logins_ok);
        put("login_errors", &self.login_errors);
        put("connect_errors", &self.connect_errors);
        put("sessions_dropped", &self.sessions_dropped);
        put("reloads", &self.reloads);
        put("sessions_resumed", &self.resumes);
        put("pushes_received", &self.pushes);
        put("requests_sent", &self.requests);
        put("request_errors", &self.request_errors);
        put("work_attempted", &self.work_attempted);
        put("work_acked", &self.work_acked);
        put("work_refused", &self.work_refused);
        put("work_transport_errors", &self.work_transport_errors);
        put("work_retried", &self.work_retried);
        put("generator_behind", &self.generator_behind);
        put("accepts_ok", &self.accepts);
        put("closes_ok", &self.closes);
        put("takes_sent", &self.takes_sent);
        put("takes_won", &self.takes_won);
        put("takes_lost", &self.takes_lost);
        put("toggles", &self.toggles);
        put("presence_missed", &self.presence_missed);
        put("supervisors_watching", &self.watching);
        put("sessions_given_up", &self.gave_up);
        put("login_retries_after_429", &self.login_retries);
        put("visitors_opened", &self.visitors_opened);
        put("visitor_chat_frames", &self.visitor_chats);
        put("visitor_position_frames", &self.visitor_positions);
        put("visitors_agent_joined", &self.visitors_joined);
        put("visitors_told_closed", &self.visitors_closed);
        put("visitor_errors", &self.visitor_errors);
        m.retain(|_, v| *v != 0);
        m
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PKind {
    Availability,
    Active,
}

struct PendingPresence {
    t0_ns: u64,
    kind: PKind,
    value: bool,
    group: String,
    expected: HashSet<u32>,
    seen: HashSet<u32>,
}

/// Shared state of one worker.
struct Shared {
    cfg: Cfg,
    http: Vec<reqwest::Client>,
    c: Counters,
    errors: Mutex<BTreeMap<String, u64>>,
    hists: Mutex<BTreeMap<&'static str, Histogram<u64>>>,
    created: Mutex<Vec<Created>>,
    obs: Mutex<Vec<Obs>>,
    queued_seen: Mutex<HashSet<(u16, u64)>>,
    notes: Mutex<BTreeSet<String>>,
    watchers: Mutex<HashMap<u32, HashSet<String>>>,
    presence: Mutex<HashMap<u32, PendingPresence>>,
    phase: AtomicU8,
    login_sem: Semaphore,
    n_togglers: AtomicU64,
}

const PH_RAMP: u8 = 0;
const PH_RUN: u8 = 1;
const PH_DRAIN: u8 = 2;
/// After the drain: visitors still waiting leave.
const PH_DONE: u8 = 3;

impl Shared {
    fn err(&self, key: impl Into<String>) {
        *self.errors.lock().unwrap().entry(key.into()).or_default() += 1;
    }
    fn note(&self, n: impl Into<String>) {
        self.notes.lock().unwrap().insert(n.into());
    }
    fn hist(&self, name: &'static str, us: u64) {
        let mut h = self.hists.lock().unwrap();
        let _ = h.entry(name).or_insert_with(new_hist).record(us.max(1));
    }
    /// Records that `agent`'s session got item `id` in state `kind`, at `t_ns` (when its
    /// frame was read, before parsing it).
    fn observe(&self, id: u64, agent: u32, kind: u8, t_ns: u64) {
        let node = node_of(agent, self.cfg.servers.len()) as u16;
        if kind == obs::QUEUED && !self.queued_seen.lock().unwrap().insert((node, id)) {
            return;
        }
        self.obs.lock().unwrap().push(Obs {
            id,
            node,
            agent,
            kind,
            t_ns,
        });
    }
}

#[derive(Clone, Copy, Default)]
struct Roles {
    supervisor: bool,
    taker: bool,
    toggler: bool,
}

/// Runs one worker to the end and returns its raw result.
pub async fn run_worker(cfg: Cfg) -> WorkerResult {
    let (wi, wk) = cfg.worker;
    let mut http = Vec::new();
    let srcs: Vec<Option<IpAddr>> = if cfg.source_addrs.is_empty() {
        vec![None]
    } else {
        cfg.source_addrs.iter().map(|a| Some(*a)).collect()
    };
    for s in &srcs {
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .pool_max_idle_per_host(256);
        if let Some(a) = s {
            b = b.local_address(*a);
        }
        http.push(b.build().expect("http client"));
    }
    let login_sem = Semaphore::new(cfg.login_concurrency.max(1));
    let sh = Arc::new(Shared {
        cfg: cfg.clone(),
        http,
        c: Counters::default(),
        errors: Mutex::default(),
        hists: Mutex::default(),
        created: Mutex::default(),
        obs: Mutex::default(),
        queued_seen: Mutex::default(),
        notes: Mutex::default(),
        watchers: Mutex::default(),
        presence: Mutex::default(),
        phase: AtomicU8::new(PH_RAMP),
        login_sem,
        n_togglers: AtomicU64::new(0),
    });
    let layout = cfg.layout.clone();

    // Who runs here, with which role.
    let n_agents = cfg.agents.min(layout.agents.len());
    if n_agents < cfg.agents {
        sh.note(format!(
            "the directory has only {} agents; {} asked",
            layout.agents.len(),
            cfg.agents
        ));
    }
    let n_sup = cfg.supervisors.min(layout.supervisors.len());
    if n_sup < cfg.supervisors {
        sh.note(format!(
            "the directory has only {} supervisors; {} asked",
            layout.supervisors.len(),
            cfg.supervisors
        ));
    }
    let takers: HashSet<u32> = if cfg.scenario == Scenario::Takes {
        let pg = layout.pull_groups.first().cloned().unwrap_or_default();
        let members = layout.pull_members.get(&pg).cloned().unwrap_or_default();
        if members.is_empty() {
            sh.note("takes: the directory has no pull group with members (see `directory --pull-groups/--pull-members`)");
        }
        members
            .into_iter()
            .filter(|&i| (i as usize) < n_agents)
            .take(cfg.takers)
            .collect()
    } else {
        HashSet::new()
    };
    let mut mine: Vec<(u32, Roles)> = Vec::new();
    // Single-role processes: supervisors, takers and togglers live in worker 0 so that their
    // latencies are measured within one process.
    let mut togglers_left = if cfg.scenario == Scenario::Presence {
        cfg.togglers
    } else {
        0
    };
    for i in 0..n_agents as u32 {
        let taker = takers.contains(&i);
        let here = if taker {
            wi == 0
        } else {
            (i as usize) % wk == wi
        };
        if !here {
            continue;
        }
        let toggler = wi == 0 && togglers_left > 0;
        if toggler {
            togglers_left -= 1;
        }
        mine.push((
            i,
            Roles {
                supervisor: false,
                taker,
                toggler,
            },
        ));
    }
    if wi == 0 {
        for s in 0..n_sup {
            let idx = layout.index[&layout.supervisors[s]];
            mine.push((
                idx,
                Roles {
                    supervisor: true,
                    ..Roles::default()
                },
            ));
        }
    }
    sh.n_togglers.store(
        mine.iter().filter(|(_, r)| r.toggler).count() as u64,
        Relaxed,
    );
    // Supervisors first so that they watch before togglers start.
    mine.sort_by_key(|(_, r)| !r.supervisor);
    let expected = mine.len() as u64;

    if let Some((soft, _hard)) = crate::util::nofile_limits()
        && expected + 64 > soft
    {
        sh.note(format!(
            "local limit: this process may hold {soft} open files and is asked for {expected} sessions; use --processes"
        ));
    }
    let src_ports = 28_000u64 * srcs.len() as u64;
    if expected * wk as u64 > src_ports {
        sh.note(format!(
            "local limit: {} sessions over {} source address(es) exceed ~{} ephemeral ports; add --source-addrs",
            expected * wk as u64,
            srcs.len(),
            src_ports
        ));
    }

    let mut probe = cfg.server_pid.filter(|_| wk == 1).map(|pid| ServerProbe {
        pid,
        rss_before_kib: rss_kib(pid),
        ..ServerProbe::default()
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let progress = spawn_progress(sh.clone(), expected);
    let t_start = Instant::now();
    let mut handles = Vec::new();
    for (k, (idx, roles)) in mine.iter().enumerate() {
        let at = t_start + cfg.ramp.mul_f64(k as f64 / expected.max(1) as f64);
        handles.push(tokio::spawn(agent_task(
            sh.clone(),
            *idx,
            *roles,
            stop_rx.clone(),
            at,
        )));
    }
    // Wait for the ramp, then for every session to be up (or given up), 30 s at most.
    tokio::time::sleep(cfg.ramp).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let up = sh.c.sessions_open.load(Relaxed) + sh.c.gave_up.load(Relaxed);
        if up >= expected
            && sh.c.watching.load(Relaxed) >= n_sup.min(if wi == 0 { n_sup } else { 0 }) as u64
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Some(dir) = &cfg.barrier
        && !crate::multi::all_workers_ready(dir, wi, wk, Duration::from_secs(60)).await
    {
        sh.note(
            "not every worker process had its sessions up after 60 s: the run phase began anyway",
        );
    }
    if sh.c.sessions_open.load(Relaxed) < expected {
        sh.note(format!(
            "only {} of {} sessions were open when the run phase began",
            sh.c.sessions_open.load(Relaxed),
            expected
        ));
    }
    sh.phase.store(PH_RUN, Relaxed);
    let run_started = Instant::now();
    let gen_task = if cfg.scenario.creates_work()
        && cfg.rate > 0.0
        && (cfg.scenario != Scenario::Takes || wi == 0)
    {
        Some(tokio::spawn(generator(sh.clone(), wk)))
    } else {
        None
    };
    let self_cpu = CpuWindow::start(std::process::id());
    let mut cpu = None;
    if let Some(p) = probe.as_mut() {
        // Let the sessions settle (welcome frames, setup requests) before reading RSS.
        tokio::time::sleep(Duration::from_secs(2).min(cfg.duration / 2)).await;
        p.rss_after_kib = rss_kib(p.pid);
        p.sessions_at_after = sh.c.sessions_open.load(Relaxed);
        cpu = Some(CpuWindow::start(p.pid));
    }
    let left = cfg.duration.saturating_sub(run_started.elapsed());
    tokio::time::sleep(left).await;
    sh.phase.store(PH_DRAIN, Relaxed);
    if let Some((pc, secs)) = self_cpu.stop() {
        let who = if wk > 1 {
            format!("load tester worker {wi}")
        } else {
            "load tester".to_string()
        };
        sh.note(format!(
            "{who} used {pc:.0}% of one core over the {secs:.0} s run phase"
        ));
        if pc > 80.0 {
            sh.note(format!(
                "{who} was busy (>80% of a core): its own scheduling may inflate latencies; consider --processes"
            ));
        }
    }
    if let (Some(p), Some(w)) = (probe.as_mut(), cpu.as_ref())
        && let Some((pc, secs)) = w.stop()
    {
        p.cpu_percent = Some((pc * 100.0).round() / 100.0);
        p.cpu_window_s = Some((secs * 10.0).round() / 10.0);
    }
    if let Some(g) = gen_task {
        let _ = g.await;
    }
    tokio::time::sleep(cfg.drain).await;
    sh.phase.store(PH_DONE, Relaxed);
    // Changes no watcher completed by now were missed.
    let missed = sh.presence.lock().unwrap().drain().count() as u64;
    sh.c.presence_missed.fetch_add(missed, Relaxed);
    let _ = stop_tx.send(true);
    let join_deadline = Instant::now() + Duration::from_secs(15);
    for h in handles {
        let left = join_deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(left, h).await;
    }
    progress.finish();

    if let Some(p) = probe.as_mut() {
        p.finish();
    }
    let mut r = WorkerResult {
        counters: sh.c.map(),
        errors: sh.errors.lock().unwrap().clone(),
        hists: sh
            .hists
            .lock()
            .unwrap()
            .iter()
            .map(|(k, h)| (k.to_string(), HistData::from_hist(h)))
            .collect(),
        created: std::mem::take(&mut *sh.created.lock().unwrap()),
        obs: std::mem::take(&mut *sh.obs.lock().unwrap()),
        notes: sh.notes.lock().unwrap().iter().cloned().collect(),
        probe,
    };
    r.counters.insert("sessions_target".into(), expected);
    r
}

/// Live progress of a worker.
pub struct Progress {
    stop: Arc<AtomicU8>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn finish(mut self) {
        self.stop.store(1, Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// One progress sample.
#[derive(serde::Serialize, serde::Deserialize, Default, Clone, Debug)]
pub struct ProgressLine {
    /// Phase: 0 ramp, 1 run, 2 drain.
    pub phase: u8,
    /// Open sessions.
    pub sessions: u64,
    /// Sessions expected.
    pub target: u64,
    /// Items acked so far.
    pub created: u64,
    /// Pushes received so far.
    pub pushes: u64,
    /// Errors so far.
    pub errors: u64,
}

fn spawn_progress(sh: Arc<Shared>, expected: u64) -> Progress {
    let stop = Arc::new(AtomicU8::new(0));
    let mode = sh.cfg.progress;
    let st = stop.clone();
    let handle = if mode == ProgressMode::Off {
        None
    } else {
        Some(std::thread::spawn(move || {
            let sample = || ProgressLine {
                phase: sh.phase.load(Relaxed),
                sessions: sh.c.sessions_open.load(Relaxed),
                target: expected,
                created: sh.c.work_acked.load(Relaxed),
                pushes: sh.c.pushes.load(Relaxed),
                errors: sh.c.login_errors.load(Relaxed)
                    + sh.c.connect_errors.load(Relaxed)
                    + sh.c.request_errors.load(Relaxed)
                    + sh.c.work_refused.load(Relaxed)
                    + sh.c.work_transport_errors.load(Relaxed)
                    + sh.c.sessions_dropped.load(Relaxed),
            };
            if mode == ProgressMode::Lines {
                while st.load(Relaxed) == 0 {
                    eprintln!(
                        "@@progress {}",
                        serde_json::to_string(&sample()).unwrap_or_default()
                    );
                    std::thread::sleep(Duration::from_millis(500));
                }
                return;
            }
            let bar = Bar::new(sh.cfg.scenario.name(), expected, sh.cfg.duration);
            while st.load(Relaxed) == 0 {
                bar.update(&sample());
                std::thread::sleep(Duration::from_millis(200));
            }
            bar.finish();
        }))
    };
    Progress { stop, handle }
}

/// The indicatif bar shared by single runs and the multi-process parent.
pub struct Bar {
    pb: indicatif::ProgressBar,
    duration: Duration,
    run_start: Mutex<Option<Instant>>,
    last: Mutex<(Instant, u64, u64)>,
}

impl Bar {
    /// A bar, hidden when stdout is not a terminal.
    pub fn new(scenario: &str, target: u64, duration: Duration) -> Bar {
        let pb = if std::io::stdout().is_terminal() {
            indicatif::ProgressBar::new(target)
        } else {
            indicatif::ProgressBar::hidden()
        };
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:>8} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} {msg}",
            )
            .expect("template")
            .progress_chars("=> "),
        );
        pb.set_prefix(scenario.to_string());
        Bar {
            pb,
            duration,
            run_start: Mutex::new(None),
            last: Mutex::new((Instant::now(), 0, 0)),
        }
    }
    /// Shows a sample.
    pub fn update(&self, s: &ProgressLine) {
        let mut last = self.last.lock().unwrap();
        let dt = last.0.elapsed().as_secs_f64().max(1e-3);
        let cr = (s.created.saturating_sub(last.1)) as f64 / dt;
        let pr = (s.pushes.saturating_sub(last.2)) as f64 / dt;
        *last = (Instant::now(), s.created, s.pushes);
        let msg = format!(
            "sessions {}  created {:.0}/s  pushes {:.0}/s  errors {}",
            s.sessions, cr, pr, s.errors
        );
        if s.phase == PH_RAMP {
            self.pb.set_length(s.target);
            self.pb.set_position(s.sessions);
            self.pb.set_message(format!("ramp: {msg}"));
        } else {
            let mut rs = self.run_start.lock().unwrap();
            let t0 = *rs.get_or_insert_with(Instant::now);
            self.pb.set_length(self.duration.as_secs().max(1));
            self.pb
                .set_position(t0.elapsed().as_secs().min(self.duration.as_secs()));
            let ph = if s.phase == PH_RUN { "run" } else { "drain" };
            self.pb.set_message(format!("{ph}: {msg}"));
        }
    }
    /// Clears the bar.
    pub fn finish(&self) {
        self.pb.finish_and_clear();
    }
}

fn rand_around(d: Duration) -> Duration {
    if d.is_zero() {
        return d;
    }
    d.mul_f64(rand::random_range(0.5..1.5))
}

async fn login(sh: &Shared, idx: u32) -> Result<String, String> {
    let cfg = &sh.cfg;
    let server = &cfg.servers[node_of(idx, cfg.servers.len())];
    let http = &sh.http[node_of(idx, sh.http.len())];
    let id = &cfg.layout.accounts[idx as usize];
    let mut attempt = 0;
    loop {
        let permit = sh.login_sem.acquire().await.map_err(|e| e.to_string())?;
        let t0 = Instant::now();
        let resp = http
            .post(format!("{}/api/login", server.base))
            .json(&json!({"username": id, "password": cfg.password}))
            .send()
            .await
            .map_err(|e| format!("transport: {}", classify_reqwest(&e)))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        drop(permit);
        if status.as_u16() == 429 {
            sh.note(
                "the server rate-limited logins (429): for load tests start it with a higher login limit \
                 (switchboard: --login-attempts-per-ip 0 --login-attempts-per-user 0)",
            );
            if retry_after.is_none() {
                sh.note("protocol: a 429 answer without Retry-After");
            }
            if attempt < cfg.login_retries {
                attempt += 1;
                sh.c.login_retries.fetch_add(1, Relaxed);
                let wait = retry_after.unwrap_or(1.0).clamp(0.05, 30.0);
                tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                continue;
            }
        }
        if status.as_u16() != 200 {
            let code = body["error"]["code"].as_str().unwrap_or("?");
            return Err(format!("{} {}", status.as_u16(), code));
        }
        sh.hist("login_http", t0.elapsed().as_micros() as u64);
        return body["token"]
            .as_str()
            .map(|s| s.to_string())
            .ok_or_else(|| "200 without token".to_string());
    }
}

/// Which of `n` servers (or source addresses) account `idx` uses: a hash, so that
/// every group has members on every node whatever the directory's round robin.
pub fn node_of(idx: u32, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let h = (idx as u64 ^ 0x5bd1_e995).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((h >> 33) % n as u64) as usize
}

fn classify_io(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(24) => "EMFILE (local open-file limit)".into(),
        Some(99) => "EADDRNOTAVAIL (local ephemeral ports exhausted)".into(),
        Some(111) => "ECONNREFUSED".into(),
        Some(104) => "ECONNRESET".into(),
        Some(110) => "ETIMEDOUT".into(),
        _ => e.kind().to_string(),
    }
}

fn classify_reqwest(e: &reqwest::Error) -> String {
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return classify_io(io);
        }
        src = s.source();
    }
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else {
        "other".into()
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Opens agent `idx`'s console on its node moved on by `shift` (the next
/// node after each drop, as a load balancer sends a browser elsewhere when
/// its node is gone), resuming after `resume` when given.
async fn ws_connect(
    sh: &Shared,
    idx: u32,
    token: &str,
    shift: usize,
    resume: Option<u64>,
) -> Result<Ws, String> {
    let cfg = &sh.cfg;
    let n = cfg.servers.len();
    let server = &cfg.servers[(node_of(idx, n) + shift) % n];
    let addr: SocketAddr = tokio::net::lookup_host((server.host.as_str(), server.port))
        .await
        .map_err(|e| format!("resolve: {e}"))?
        .next()
        .ok_or("resolve: no address")?;
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| classify_io(&e))?;
    if !cfg.source_addrs.is_empty() {
        let src = cfg.source_addrs[node_of(idx, cfg.source_addrs.len())];
        crate::util::bind_port_at_connect(&sock);
        sock.bind(SocketAddr::new(src, 0))
            .map_err(|e| classify_io(&e))?;
    }
    let stream = sock.connect(addr).await.map_err(|e| classify_io(&e))?;
    let _ = stream.set_nodelay(true);
    let mut url = format!(
        "ws://{}:{}/ws?token={}",
        server.host,
        server.port,
        pct(token)
    );
    if let Some(seq) = resume {
        url.push_str(&format!("&resume={seq}"));
    }
    let mut req = url.into_client_request().map_err(|e| e.to_string())?;
    let origin = match &cfg.origin {
        None => Some(server.base.clone()),
        Some(o) if o.is_empty() => None,
        Some(o) => Some(o.clone()),
    };
    if let Some(o) = origin {
        req.headers_mut()
            .insert("Origin", o.parse().map_err(|_| "bad origin")?);
    }
    let wcfg = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    match tokio_tungstenite::client_async_with_config(req, stream, Some(wcfg)).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).to_string())
                .unwrap_or_default();
            let code = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!(
                "upgrade refused {} {}",
                resp.status().as_u16(),
                code
            ))
        }
        Err(tungstenite::Error::Io(e)) => Err(classify_io(&e)),
        Err(e) => Err(format!("handshake: {e}")),
    }
}

fn is_local_limit(e: &str) -> bool {
    e.contains("EMFILE") || e.contains("EADDRNOTAVAIL")
}

async fn agent_task(
    sh: Arc<Shared>,
    idx: u32,
    roles: Roles,
    mut stop: watch::Receiver<bool>,
    at: Instant,
) {
    tokio::time::sleep_until(at.into()).await;
    let token = match login(&sh, idx).await {
        Ok(t) => {
            sh.c.logins_ok.fetch_add(1, Relaxed);
            t
        }
        Err(e) => {
            sh.c.login_errors.fetch_add(1, Relaxed);
            sh.c.gave_up.fetch_add(1, Relaxed);
            if is_local_limit(&e) {
                sh.note(format!("local limit stopped logins: {e}"));
            }
            sh.err(format!("login:{e}"));
            return;
        }
    };
    let mut failures = 0;
    let mut ever_open = false;
    // Which node, counted from the agent's own: the next one after a drop.
    let mut shift = 0;
    // What a dropped console carries to its next one: the last `seq` it saw
    // and the items it was working, as a browser tab keeps them.
    let mut carry: Option<Carry> = None;
    let tries = 3 * sh.cfg.servers.len().max(1);
    loop {
        if *stop.borrow() {
            break;
        }
        let t0 = Instant::now();
        let resume = carry.as_ref().and_then(|c| c.last_seq);
        match ws_connect(&sh, idx, &token, shift, resume).await {
            Err(e) => {
                sh.c.connect_errors.fetch_add(1, Relaxed);
                sh.err(format!("connect:{e}"));
                failures += 1;
                shift += 1;
                if is_local_limit(&e) {
                    sh.note(format!(
                        "a local limit, not the server, stopped sessions: {e} (open-file hard limit per process; use --processes / --source-addrs)"
                    ));
                }
                if is_local_limit(&e) || failures >= tries {
                    if !ever_open {
                        sh.c.gave_up.fetch_add(1, Relaxed);
                    }
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Ok(ws) => {
                failures = 0;
                ever_open = true;
                let open = sh.c.sessions_open.fetch_add(1, Relaxed) + 1;
                sh.c.sessions_peak.fetch_max(open, Relaxed);
                let (out, left) = Session::new(sh.clone(), idx, roles, t0, carry.take())
                    .run(ws, &mut stop)
                    .await;
                sh.c.sessions_open.fetch_sub(1, Relaxed);
                match out {
                    Outcome::Stop => break,
                    Outcome::Reload => {
                        sh.c.reloads.fetch_add(1, Relaxed);
                    }
                    Outcome::Dropped(why) => {
                        sh.c.sessions_dropped.fetch_add(1, Relaxed);
                        sh.err(format!("session:{why}"));
                        if *stop.borrow() {
                            break;
                        }
                        carry = Some(left);
                        shift += 1;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        }
    }
}

enum Outcome {
    Stop,
    Reload,
    Dropped(String),
}

/// What one console session leaves to the next after a drop.
struct Carry {
    /// The largest `seq` it saw, to resume after.
    last_seq: Option<u64>,
    /// The items it held, and whether each was accepted.
    held: HashMap<u64, bool>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ReqKind {
    Setup,
    Watch,
    Take(u64),
    Accept(u64),
    Close(u64),
    Toggle,
}

enum Act {
    Accept(u64),
    Close(u64),
}

/// A `watch` answer (a board snapshot: megabytes with 100 supervisors in 100 groups) read
/// for the little the generator uses, its group ids: building a `Value` tree of the whole
/// board for each supervisor took the generator's CPU from the server on this box.
#[derive(serde::Deserialize)]
struct WatchAnswer {
    r#type: String,
    id: Value,
    data: WatchData,
}

#[derive(serde::Deserialize)]
struct WatchData {
    groups: Vec<WatchGroup>,
}

#[derive(serde::Deserialize)]
struct WatchGroup {
    id: String,
}

impl WatchAnswer {
    /// The frame as the `Value` [`Session::answer`] reads (`type`, `id`, `data.groups[].id`)
    /// when it is a large `watch` answer; `None` for every other frame.
    fn skim(text: &str) -> Option<Value> {
        if text.len() < 64 * 1024 {
            return None;
        }
        let w: WatchAnswer = serde_json::from_str(text).ok()?;
        let groups: Vec<Value> = w
            .data
            .groups
            .into_iter()
            .map(|g| json!({ "id": g.id }))
            .collect();
        Some(json!({ "type": w.r#type, "id": w.id, "data": { "groups": groups } }))
    }
}

struct Session {
    sh: Arc<Shared>,
    idx: u32,
    me: String,
    roles: Roles,
    t_connect: Instant,
    next_id: u64,
    pending: HashMap<u64, (ReqKind, Instant)>,
    /// Items held, and whether each was accepted.
    held: HashMap<u64, bool>,
    /// The largest `seq` of a frame seen on this console (and the ones it
    /// resumed from).
    last_seq: Option<u64>,
    /// Items held by the console this one resumes, worked again once the
    /// server says `resumed`.
    carried: HashMap<u64, bool>,
    act_tx: mpsc::UnboundedSender<Act>,
    act_rx: mpsc::UnboundedReceiver<Act>,
    outq: Vec<String>,
    welcomed: bool,
    toggle_step: u64,
    toggle_group: Option<String>,
    /// When the frame being handled was read (before parsing it): every latency ends
    /// there, so the generator's own JSON parsing is not counted against the server.
    rx_at: Instant,
    /// The same moment as [`now_ns`] gives it, comparable across worker processes.
    rx_ns: u64,
}

impl Session {
    fn new(
        sh: Arc<Shared>,
        idx: u32,
        roles: Roles,
        t_connect: Instant,
        carry: Option<Carry>,
    ) -> Session {
        let carry = carry.unwrap_or(Carry {
            last_seq: None,
            held: HashMap::new(),
        });
        let me = sh.cfg.layout.accounts[idx as usize].clone();
        let toggle_group = sh.cfg.layout.groups_of[idx as usize]
            .iter()
            .find(|g| sh.cfg.layout.auto_groups.contains(g))
            .cloned();
        let (act_tx, act_rx) = mpsc::unbounded_channel();
        Session {
            sh,
            idx,
            me,
            roles,
            t_connect,
            next_id: 1,
            pending: HashMap::new(),
            held: HashMap::new(),
            last_seq: carry.last_seq,
            carried: carry.held,
            act_tx,
            act_rx,
            outq: Vec::new(),
            welcomed: false,
            toggle_step: rand::random_range(0..4u64) & !1,
            toggle_group,
            rx_at: Instant::now(),
            rx_ns: now_ns(),
        }
    }

    fn request(&mut self, kind: ReqKind, mut body: Value) {
        let id = self.next_id;
        self.next_id += 1;
        body["id"] = json!(id);
        self.pending.insert(id, (kind, Instant::now()));
        self.sh.c.requests.fetch_add(1, Relaxed);
        self.outq.push(body.to_string());
    }

    fn schedule(&self, act: Act, after: Duration) {
        let tx = self.act_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = tx.send(act);
        });
    }

    async fn run(mut self, mut ws: Ws, stop: &mut watch::Receiver<bool>) -> (Outcome, Carry) {
        let out = self.serve(&mut ws, stop).await;
        let mut held = std::mem::take(&mut self.held);
        // Not yet `resumed`: what it carried is still to be worked.
        held.extend(self.carried.drain());
        (
            out,
            Carry {
                last_seq: self.last_seq,
                held,
            },
        )
    }

    async fn serve(&mut self, ws: &mut Ws, stop: &mut watch::Receiver<bool>) -> Outcome {
        let cfg = self.sh.cfg.clone();
        let far = Instant::now() + Duration::from_secs(86400 * 365);
        let reload_at = match cfg.reload_every {
            Some(d) if !d.is_zero() && !self.roles.supervisor => {
                Instant::now() + d.mul_f64(rand::random_range(0.2..1.8))
            }
            _ => far,
        };
        let toggle_every = if self.roles.toggler && cfg.rate > 0.0 {
            Some(Duration::from_secs_f64(
                self.sh.n_togglers.load(Relaxed).max(1) as f64 / cfg.rate,
            ))
        } else {
            None
        };
        let mut next_toggle = match toggle_every {
            Some(d) => Instant::now() + d.mul_f64(rand::random_range(0.0..1.0)),
            None => far,
        };
        loop {
            for t in std::mem::take(&mut self.outq) {
                if let Err(e) = ws.send(Message::text(t)).await {
                    return Outcome::Dropped(format!("send: {e}"));
                }
            }
            tokio::select! {
                r = stop.changed() => {
                    if r.is_err() || *stop.borrow() {
                        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                        return Outcome::Stop;
                    }
                }
                _ = tokio::time::sleep_until(reload_at.into()) => {
                    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                    return Outcome::Reload;
                }
                _ = tokio::time::sleep_until(next_toggle.into()) => {
                    next_toggle += toggle_every.unwrap_or(Duration::from_secs(86400));
                    if self.welcomed && self.sh.phase.load(Relaxed) == PH_RUN {
                        self.toggle();
                    }
                }
                Some(act) = self.act_rx.recv() => {
                    match act {
                        Act::Accept(id) => self.request(ReqKind::Accept(id), json!({"type":"accept","item":id})),
                        Act::Close(id) => self.request(ReqKind::Close(id), json!({"type":"close","item":id})),
                    }
                }
                m = ws.next() => match m {
                    Some(Ok(Message::Text(t))) => {
                        (self.rx_at, self.rx_ns) = (Instant::now(), now_ns());
                        self.handle(t.as_str());
                    }
                    Some(Ok(Message::Binary(_))) => self.sh.err("frame:binary frame from server"),
                    Some(Ok(Message::Close(f))) => {
                        return Outcome::Dropped(format!("closed by server {}", f.map(|f| format!("{} {}", u16::from(f.code), f.reason)).unwrap_or_default()));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Outcome::Dropped(format!("read: {e}")),
                    None => return Outcome::Dropped("eof".into()),
                }
            }
        }
    }

    fn toggle(&mut self) {
        let sh = self.sh.clone();
        let step = self.toggle_step % 4;
        let (kind, value, body) = match (step, &self.toggle_group) {
            (s, Some(g)) if s >= 2 => {
                let on = s == 3;
                (
                    PKind::Active,
                    on,
                    json!({"type":"set_active","cells":[{"group":g,"channel":"chat","active":on}]}),
                )
            }
            (s, _) if s % 2 == 0 => (
                PKind::Availability,
                false,
                json!({"type":"set_availability","available":false}),
            ),
            _ => (
                PKind::Availability,
                true,
                json!({"type":"set_availability","available":true}),
            ),
        };
        {
            let mut p = sh.presence.lock().unwrap();
            if let Some(old) = p.get(&self.idx) {
                if now_ns().saturating_sub(old.t0_ns) < 5_000_000_000 {
                    return; // still waiting for the watchers of the previous change
                }
                p.remove(&self.idx);
                sh.c.presence_missed.fetch_add(1, Relaxed);
            }
            let my_groups = &sh.cfg.layout.groups_of[self.idx as usize];
            let expected: HashSet<u32> = sh
                .watchers
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, gs)| my_groups.iter().any(|g| gs.contains(g)))
                .map(|(w, _)| *w)
                .collect();
            if !expected.is_empty() {
                p.insert(
                    self.idx,
                    PendingPresence {
                        t0_ns: now_ns(),
                        kind,
                        value,
                        group: self.toggle_group.clone().unwrap_or_default(),
                        expected,
                        seen: HashSet::new(),
                    },
                );
            }
        }
        self.toggle_step += 1;
        sh.c.toggles.fetch_add(1, Relaxed);
        self.request(ReqKind::Toggle, body);
    }

    fn handle(&mut self, text: &str) {
        let sh = self.sh.clone();
        let parsed = match WatchAnswer::skim(text) {
            Some(v) => Ok(v),
            None => serde_json::from_str::<Value>(text),
        };
        let v = match parsed {
            Ok(v) => v,
            Err(_) => {
                sh.err("frame:server sent non-JSON");
                return;
            }
        };
        if let Some(seq) = v["seq"].as_u64() {
            self.last_seq = Some(self.last_seq.map_or(seq, |s| s.max(seq)));
        }
        let ty = v["type"].as_str().unwrap_or("");
        match ty {
            "ok" | "error" => self.answer(&v, ty == "ok"),
            "welcome" => {
                // Not resumed: the welcome's work list is the truth.
                self.carried.clear();
                self.welcome(&v);
            }
            "resumed" => self.resumed(),
            "item" => {
                sh.c.pushes.fetch_add(1, Relaxed);
                if v.get("seq").is_none() {
                    sh.note("protocol: an `item` push without `seq`");
                }
                self.item_push(&v["item"], v["reason"].as_str().unwrap_or(""));
            }
            "queue" => {
                sh.c.pushes.fetch_add(1, Relaxed);
                let item = &v["item"];
                if v["op"] == "added"
                    && let Some(id) = item["id"].as_u64()
                {
                    sh.observe(id, self.idx, obs::QUEUED, self.rx_ns);
                    self.maybe_take(item);
                }
            }
            "agent_status" => {
                sh.c.pushes.fetch_add(1, Relaxed);
                if self.roles.supervisor {
                    self.presence_seen(&v["status"]);
                }
            }
            "closing" => {
                sh.err(format!("closing:{}", v["reason"].as_str().unwrap_or("?")));
            }
            "group_status" => {
                sh.c.pushes.fetch_add(1, Relaxed);
            }
            other => {
                sh.c.pushes.fetch_add(1, Relaxed);
                sh.note(format!(
                    "protocol: unknown frame type {other:?} from the server"
                ));
            }
        }
    }

    fn welcome(&mut self, v: &Value) {
        let sh = self.sh.clone();
        if self.welcomed {
            sh.note("protocol: a second `welcome` on one session");
        }
        self.welcomed = true;
        sh.hist(
            "ws_connect_to_welcome",
            self.t_connect.elapsed().as_micros() as u64,
        );
        let scen = sh.cfg.scenario;
        if self.roles.supervisor {
            self.request(ReqKind::Watch, json!({"type":"watch"}));
        } else if scen != Scenario::Idle {
            if v["agent"]["available"] != json!(true) {
                self.request(
                    ReqKind::Setup,
                    json!({"type":"set_availability","available":true}),
                );
            }
            // Turn on every cell that is off (active flags are sticky across runs).
            let mut cells = Vec::new();
            for g in v["groups"].as_array().into_iter().flatten() {
                for ch in ["chat", "ticket"] {
                    if g["cells"][ch] == "off" {
                        cells.push(json!({"group": g["id"], "channel": ch, "active": true}));
                    }
                }
            }
            if !cells.is_empty() {
                self.request(ReqKind::Setup, json!({"type":"set_active","cells":cells}));
            }
        }
        for it in v["work"].as_array().into_iter().flatten() {
            if let Some(id) = it["id"].as_u64()
                && it["assignee"].as_str() == Some(self.me.as_str())
            {
                sh.observe(id, self.idx, obs::ASSIGNED, self.rx_ns);
                self.hold(id, it["state"].as_str().unwrap_or(""));
            }
        }
        for it in v["queues"].as_array().into_iter().flatten() {
            if let Some(id) = it["id"].as_u64() {
                sh.observe(id, self.idx, obs::QUEUED, self.rx_ns);
                self.maybe_take(it);
            }
        }
    }

    /// The server resumed this console after a drop: the pushes it missed
    /// follow; go on working what the dropped one held.
    fn resumed(&mut self) {
        let sh = self.sh.clone();
        self.welcomed = true;
        sh.c.resumes.fetch_add(1, Relaxed);
        sh.hist(
            "ws_connect_to_welcome",
            self.t_connect.elapsed().as_micros() as u64,
        );
        if self.roles.supervisor {
            self.request(ReqKind::Watch, json!({"type":"watch"}));
        }
        for (id, accepted) in std::mem::take(&mut self.carried) {
            self.hold(id, if accepted { "active" } else { "assigned" });
        }
    }

    /// Starts working an item we hold: accept after a think time, then close.
    fn hold(&mut self, id: u64, state: &str) {
        if self.roles.supervisor
            || self.sh.cfg.scenario == Scenario::Idle
            || self.held.insert(id, state == "active").is_some()
        {
            return;
        }
        let cfg = &self.sh.cfg;
        match state {
            "assigned" => self.schedule(Act::Accept(id), rand_around(cfg.think_accept)),
            "active" => self.schedule(Act::Close(id), rand_around(cfg.think_close)),
            _ => {}
        }
    }

    fn maybe_take(&mut self, item: &Value) {
        if !self.roles.taker || self.sh.phase.load(Relaxed) > PH_RUN {
            return;
        }
        let group = item["group"].as_str().unwrap_or("");
        if !self.sh.cfg.layout.pull_groups.iter().any(|g| g == group) {
            return;
        }
        if let Some(id) = item["id"].as_u64() {
            self.sh.c.takes_sent.fetch_add(1, Relaxed);
            self.request(ReqKind::Take(id), json!({"type":"take","item":id}));
        }
    }

    fn item_push(&mut self, item: &Value, reason: &str) {
        let sh = self.sh.clone();
        let Some(id) = item["id"].as_u64() else {
            sh.note("protocol: an `item` push without item.id");
            return;
        };
        let assignee = item["assignee"].as_str();
        let state = item["state"].as_str().unwrap_or("");
        if assignee == Some(self.me.as_str()) {
            match reason {
                "routed" | "drained" | "taken" => {
                    sh.observe(
                        id,
                        self.idx,
                        if reason == "routed" {
                            obs::ROUTED
                        } else {
                            obs::ASSIGNED
                        },
                        self.rx_ns,
                    );
                    self.hold(id, state);
                }
                "accepted" => {}
                "closed" => {
                    self.held.remove(&id);
                    self.carried.remove(&id);
                }
                other => sh.note(format!("protocol: item push with unknown reason {other:?}")),
            }
        } else if reason != "closed" {
            // Taken from us, or handed off: we no longer hold it.
            self.held.remove(&id);
            self.carried.remove(&id);
            sh.observe(id, self.idx, obs::RELEASED, self.rx_ns);
        }
    }

    fn answer(&mut self, v: &Value, ok: bool) {
        let sh = self.sh.clone();
        let id = v["id"].as_u64();
        let Some((kind, t0)) = id.and_then(|i| self.pending.remove(&i)) else {
            if !ok {
                sh.c.request_errors.fetch_add(1, Relaxed);
                sh.err(format!("frame:{}", v["code"].as_str().unwrap_or("?")));
            } else {
                sh.note("protocol: an `ok` with an id we never sent");
            }
            return;
        };
        let us = self.rx_at.saturating_duration_since(t0).as_micros() as u64;
        let code = v["code"].as_str().unwrap_or("?").to_string();
        let kname = match kind {
            ReqKind::Setup => "setup",
            ReqKind::Watch => "watch",
            ReqKind::Take(_) => "take",
            ReqKind::Accept(_) => "accept",
            ReqKind::Close(_) => "close",
            ReqKind::Toggle => "presence",
        };
        let lost_race = matches!(kind, ReqKind::Take(_)) && code == "already_taken";
        if !ok && !lost_race {
            sh.c.request_errors.fetch_add(1, Relaxed);
            sh.err(format!("{kname}:{code}"));
        }
        match kind {
            ReqKind::Setup => {}
            ReqKind::Watch => {
                if ok {
                    let gs: HashSet<String> = v["data"]["groups"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|g| g["id"].as_str().map(|s| s.to_string()))
                        .collect();
                    if gs.is_empty() {
                        sh.note("protocol: `watch` answered with no groups in its board snapshot");
                    }
                    sh.watchers.lock().unwrap().insert(self.idx, gs);
                    sh.c.watching.fetch_add(1, Relaxed);
                    sh.hist("watch_answer", us);
                }
            }
            ReqKind::Take(item) => {
                sh.hist("take_answer", us);
                if ok {
                    sh.c.takes_won.fetch_add(1, Relaxed);
                    sh.observe(item, self.idx, obs::TAKE_WON, self.rx_ns);
                    let state = v["data"]["state"]
                        .as_str()
                        .unwrap_or("assigned")
                        .to_string();
                    if v["data"]["assignee"].as_str() != Some(self.me.as_str()) {
                        sh.note("protocol: a `take` ok whose item.assignee is not the taker");
                    }
                    self.hold(item, &state);
                } else if code == "already_taken" {
                    sh.c.takes_lost.fetch_add(1, Relaxed);
                    if v["details"]["winner"].as_str().is_none() {
                        sh.note("protocol: `already_taken` without details.winner");
                    }
                }
            }
            ReqKind::Accept(item) => {
                if ok {
                    sh.c.accepts.fetch_add(1, Relaxed);
                    if let Some(accepted) = self.held.get_mut(&item) {
                        *accepted = true;
                    }
                    sh.hist("accept_answer", us);
                    self.schedule(Act::Close(item), rand_around(sh.cfg.think_close));
                }
            }
            ReqKind::Close(item) => {
                self.held.remove(&item);
                if ok {
                    sh.c.closes.fetch_add(1, Relaxed);
                }
            }
            ReqKind::Toggle => sh.hist("presence_answer", us),
        }
    }

    fn presence_seen(&mut self, st: &Value) {
        let sh = self.sh.clone();
        let Some(agent) = st["agent"].as_str() else {
            return;
        };
        let Some(&aidx) = sh.cfg.layout.index.get(agent) else {
            return;
        };
        let mut p = sh.presence.lock().unwrap();
        let Some(pend) = p.get_mut(&aidx) else { return };
        let matches = match pend.kind {
            PKind::Availability => st["available"].as_bool() == Some(pend.value),
            PKind::Active => st["cells"].as_array().into_iter().flatten().any(|c| {
                c["group"] == pend.group.as_str()
                    && c["channel"] == "chat"
                    && c["state"] == if pend.value { "on" } else { "off" }
            }),
        };
        if matches && pend.expected.contains(&self.idx) {
            pend.seen.insert(self.idx);
            if pend.seen.len() == pend.expected.len() {
                let us = self.rx_ns.saturating_sub(pend.t0_ns) / 1000;
                p.remove(&aidx);
                drop(p);
                sh.hist("presence_to_last_watcher", us);
            }
        }
    }
}

async fn generator(sh: Arc<Shared>, workers: usize) {
    let cfg = &sh.cfg;
    let rate = if cfg.scenario == Scenario::Takes {
        cfg.rate
    } else {
        cfg.rate / workers as f64
    };
    let groups: Vec<String> = if cfg.scenario == Scenario::Takes {
        cfg.layout.pull_groups.iter().take(1).cloned().collect()
    } else {
        // Only groups with at least one agent of this run as member.
        let n = cfg.agents.min(cfg.layout.agents.len());
        let mut used = BTreeSet::new();
        for i in 0..n {
            for g in &cfg.layout.groups_of[i] {
                if cfg.layout.auto_groups.contains(g) {
                    used.insert(g.clone());
                }
            }
        }
        used.into_iter().collect()
    };
    if groups.is_empty() {
        sh.note("generator: no group to create work in");
        return;
    }
    let inflight = Arc::new(Semaphore::new(1024));
    let period = Duration::from_secs_f64(1.0 / rate.max(1e-6));
    let mut next = tokio::time::Instant::now();
    let mut n: u64 = 0;
    let mut tasks = Vec::new();
    while sh.phase.load(Relaxed) == PH_RUN {
        tokio::time::sleep_until(next).await;
        next += period;
        if sh.phase.load(Relaxed) != PH_RUN {
            break;
        }
        let Ok(permit) = inflight.clone().try_acquire_owned() else {
            sh.c.generator_behind.fetch_add(1, Relaxed);
            continue;
        };
        let group = groups[rand::random_range(0..groups.len())].clone();
        let channel = if rand::random_range(0.0..1.0) < cfg.ticket_share {
            "ticket"
        } else {
            "chat"
        };
        let node = (n as usize) % cfg.servers.len();
        let server = cfg.servers[node].base.clone();
        let http = sh.http[(n as usize) % sh.http.len()].clone();
        n += 1;
        let sh2 = sh.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            create(&sh2, &http, node, &server, group, channel).await;
        }));
        if tasks.len() > 4096 {
            tasks.retain(|t| !t.is_finished());
        }
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// How many times a create of unknown outcome is sent again.
const MAX_CREATE_RETRIES: u64 = 5;

async fn create(
    sh: &Arc<Shared>,
    http: &reqwest::Client,
    node: usize,
    server: &str,
    group: String,
    channel: &str,
) {
    sh.c.work_attempted.fetch_add(1, Relaxed);
    let t0 = now_ns();
    let i0 = Instant::now();
    // One key per item: a create whose outcome the server could not tell
    // (`outcome_unknown`, or the connection lost mid-answer) is sent again
    // with it, and the server answers the first outcome, never a second
    // item.
    let key = format!(
        "lt-{}-{}-{}",
        std::process::id(),
        t0,
        sh.c.work_attempted.load(Relaxed)
    );
    let mut tries = 0;
    let r = loop {
        let r = match http
            .post(format!("{server}/api/work"))
            .header("X-Api-Key", &sh.cfg.api_key)
            .header("Idempotency-Key", &key)
            .json(&json!({"group": group, "channel": channel, "priority": 0, "title": key}))
            .send()
            .await
        {
            Ok(resp) => {
                let status = resp.status().as_u16();
                Ok((status, resp.json::<Value>().await.unwrap_or(Value::Null)))
            }
            Err(e) => Err(e),
        };
        let unknown = match &r {
            Err(_) => true,
            Ok((status, body)) => *status == 503 && body["error"]["code"] == "outcome_unknown",
        };
        if !unknown || tries >= MAX_CREATE_RETRIES {
            break r;
        }
        tries += 1;
        sh.c.work_retried.fetch_add(1, Relaxed);
        tokio::time::sleep(Duration::from_millis(200 * tries)).await;
    };
    match r {
        Err(e) => {
            sh.c.work_transport_errors.fetch_add(1, Relaxed);
            sh.err(format!("work:transport {}", classify_reqwest(&e)));
        }
        Ok((status, body)) => {
            if status == 201 {
                sh.hist("work_post_answer", i0.elapsed().as_micros() as u64);
                match body["item"]["id"].as_u64() {
                    Some(id) => {
                        sh.c.work_acked.fetch_add(1, Relaxed);
                        sh.created.lock().unwrap().push(Created {
                            id,
                            node: node as u16,
                            t_ns: t0,
                            group,
                            state: body["item"]["state"].as_str().unwrap_or("").to_string(),
                            title: key.clone(),
                        });
                        if let Some(token) = body["visitor_token"].as_str()
                            && rand::random_range(0.0..1.0) < sh.cfg.visitors
                        {
                            tokio::spawn(visitor::visitor(sh.clone(), node, token.to_string()));
                        }
                    }
                    None => {
                        sh.c.work_refused.fetch_add(1, Relaxed);
                        sh.err("work:201 without item.id");
                    }
                }
            } else {
                sh.c.work_refused.fetch_add(1, Relaxed);
                sh.err(format!(
                    "work:{status} {}",
                    body["error"]["code"].as_str().unwrap_or("?")
                ));
            }
        }
    }
}

/// Turns a merged worker result into the report: the queue API check for
/// unseen items, the item ledger, percentiles.
pub async fn build_report(cfg: &Cfg, mut r: WorkerResult) -> Report {
    // Items acked but seen by no session: are they in their group's queue?
    let seen: HashSet<(u16, u64)> = r.obs.iter().map(|o| (o.node, o.id)).collect();
    let unseen_groups: BTreeSet<String> = r
        .created
        .iter()
        .filter(|c| !seen.contains(&(c.node, c.id)))
        .map(|c| c.group.clone())
        .collect();
    let mut queued_at_end = HashSet::new();
    if !unseen_groups.is_empty() {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http");
        for g in &unseen_groups {
            for (node, s) in cfg.servers.iter().enumerate() {
                match http
                    .get(format!("{}/api/groups/{}/queue", s.base, pct(g)))
                    .header("X-Api-Key", &cfg.api_key)
                    .send()
                    .await
                {
                    Ok(resp) if resp.status().as_u16() == 200 => {
                        let v: Value = resp.json().await.unwrap_or(Value::Null);
                        for it in v["items"].as_array().into_iter().flatten() {
                            if let Some(id) = it["id"].as_u64() {
                                queued_at_end.insert((node as u16, id));
                            }
                        }
                    }
                    Ok(resp) => r.notes.push(format!(
                        "queue check of {g} on {}: HTTP {}",
                        s.base,
                        resp.status()
                    )),
                    Err(e) => r
                        .notes
                        .push(format!("queue check of {g} on {}: {e}", s.base)),
                }
            }
        }
    }
    let mut work_hist = new_hist();
    let mut extra_notes = Vec::new();
    let items = analyse_items(&r, &queued_at_end, &mut work_hist, &mut extra_notes);
    if let Some(path) = &cfg.samples
        && let Err(e) = std::fs::write(path, crate::report::samples_csv(&r))
    {
        extra_notes.push(format!("cannot write --samples {}: {e}", path.display()));
    }
    r.notes.extend(extra_notes);
    let mut latency = BTreeMap::new();
    if !work_hist.is_empty() {
        latency.insert(
            "work_created_to_push".to_string(),
            crate::report::Summary::of(&work_hist),
        );
    }
    for (k, d) in &r.hists {
        let mut h = new_hist();
        d.add_to(&mut h);
        if !h.is_empty() {
            latency.insert(k.clone(), crate::report::Summary::of(&h));
        }
    }
    let c = |k: &str| r.counters.get(k).copied().unwrap_or(0);
    if items.acked > 0
        && !latency.contains_key("work_created_to_push")
        && cfg.scenario != Scenario::Takes
    {
        r.notes.push(
            "no `item` push with reason `routed` reached an assignee: no work latency".into(),
        );
    }
    let correctness_ok = items.lost == 0
        && items.double_assignments == 0
        && items.double_takes == 0
        && items.accounted_for
        && c("presence_missed") == 0;
    Report {
        scenario: cfg.scenario.name().into(),
        target: cfg.target.clone(),
        servers: cfg.servers.iter().map(|s| s.base.clone()).collect(),
        processes: cfg.worker.1,
        agents: cfg.agents,
        supervisors: cfg.supervisors,
        duration_s: cfg.duration.as_secs_f64(),
        ramp_s: cfg.ramp.as_secs_f64(),
        rate: cfg.rate,
        latency,
        counters: r.counters.clone(),
        errors: r.errors.clone(),
        items,
        server: r.probe.clone(),
        notes: r.notes.clone(),
        correctness_ok,
    }
}
