//! `--processes K` (fork K workers of this program, merge their results) and
//! `compare` (baseline vs switchboard, both started here).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::report::{Report, WorkerResult};
use crate::run::{Bar, Cfg, ProgressLine, Scenario};
use crate::util::{CpuWindow, ServerProbe, rss_kib};
use crate::{CompareCmd, RunArgs};

/// What a worker process is told to run.
#[derive(Serialize, Deserialize)]
pub struct Spec {
    /// Scenario.
    pub scenario: Scenario,
    /// Its flags.
    pub args: RunArgs,
}

/// Runs K worker processes of this program and merges their results.
pub async fn run_parent(
    cfg: &Cfg,
    scenario: Scenario,
    a: &RunArgs,
) -> Result<WorkerResult, String> {
    let k = cfg.worker.1;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("switchboard-loadtest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    // A leftover of an earlier run with the same pid must not open the barrier.
    for i in 0..k {
        let _ = std::fs::remove_file(dir.join(format!("ready.{i}")));
    }
    let spec_path = dir.join("spec.json");
    let mut args = a.clone();
    args.processes = 1;
    args.json = true;
    let spec = Spec { scenario, args };
    std::fs::write(
        &spec_path,
        serde_json::to_string(&spec).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;

    let mut probe = cfg.server_pid.map(|pid| ServerProbe {
        pid,
        rss_before_kib: rss_kib(pid),
        ..Default::default()
    });
    let samples: Arc<Mutex<Vec<ProgressLine>>> =
        Arc::new(Mutex::new(vec![ProgressLine::default(); k]));
    let mut children: Vec<Child> = Vec::new();
    let mut outs = Vec::new();
    for i in 0..k {
        let mut ch = Command::new(&exe)
            .arg("worker")
            .arg("--spec")
            .arg(&spec_path)
            .arg("--worker")
            .arg(format!("{i}/{k}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("spawn worker: {e}"))?;
        let mut stdout = ch.stdout.take().expect("stdout");
        let stderr = ch.stderr.take().expect("stderr");
        let s2 = samples.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                if let Some(j) = l.strip_prefix("@@progress ") {
                    if let Ok(p) = serde_json::from_str::<ProgressLine>(j) {
                        s2.lock().unwrap()[i] = p;
                    }
                } else {
                    eprintln!("[worker {i}] {l}");
                }
            }
        });
        outs.push(tokio::spawn(async move {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s).await;
            s
        }));
        children.push(ch);
    }
    let show = !a.json && std::io::stdout().is_terminal();
    let bar = Bar::new(scenario.name(), 0, cfg.duration);
    let mut cpu: Option<CpuWindow> = None;
    let mut run_seen: Option<Instant> = None;
    let mut after_done = false;
    let mut cpu_done = false;
    loop {
        let done = children
            .iter_mut()
            .all(|c| matches!(c.try_wait(), Ok(Some(_))));
        if done {
            break;
        }
        let v = samples.lock().unwrap().clone();
        let agg = ProgressLine {
            phase: v.iter().map(|p| p.phase).min().unwrap_or(0),
            sessions: v.iter().map(|p| p.sessions).sum(),
            target: v.iter().map(|p| p.target).sum(),
            created: v.iter().map(|p| p.created).sum(),
            pushes: v.iter().map(|p| p.pushes).sum(),
            errors: v.iter().map(|p| p.errors).sum(),
        };
        if show {
            bar.update(&agg);
        }
        if let Some(p) = probe.as_mut() {
            if agg.phase >= 1 && run_seen.is_none() {
                run_seen = Some(Instant::now());
            }
            if let Some(t) = run_seen
                && !after_done
                && t.elapsed() >= Duration::from_secs(2).min(cfg.duration / 2)
            {
                p.rss_after_kib = rss_kib(p.pid);
                p.sessions_at_after = agg.sessions;
                cpu = Some(CpuWindow::start(p.pid));
                after_done = true;
            }
            let any_drain = v.iter().any(|p| p.phase >= 2);
            if any_drain
                && !cpu_done
                && let Some(w) = cpu.as_ref()
            {
                if let Some((pc, secs)) = w.stop() {
                    p.cpu_percent = Some((pc * 100.0).round() / 100.0);
                    p.cpu_window_s = Some((secs * 10.0).round() / 10.0);
                }
                cpu_done = true;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bar.finish();
    let mut merged = WorkerResult::default();
    for (i, o) in outs.into_iter().enumerate() {
        let s = o.await.unwrap_or_default();
        match serde_json::from_str::<WorkerResult>(s.trim()) {
            Ok(r) => merged.merge(r),
            Err(e) => merged
                .notes
                .push(format!("worker {i} gave no result ({e})")),
        }
    }
    if let Some(mut p) = probe {
        p.finish();
        merged.probe = Some(p);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(merged)
}

/// Entry of the hidden `worker` subcommand.
pub fn worker_main(spec: &Path, worker: String) -> i32 {
    let text = match std::fs::read_to_string(spec) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}: {e}", spec.display());
            return 2;
        }
    };
    let mut s: Spec = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}: {e}", spec.display());
            return 2;
        }
    };
    s.args.worker = Some(worker);
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async move {
        let cfg = match crate::make_cfg(s.scenario, &s.args, "worker") {
            Ok(mut c) => {
                c.barrier = spec.parent().map(Path::to_path_buf);
                c
            }
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        };
        let r = crate::run::run_worker(cfg).await;
        println!("{}", serde_json::to_string(&r).expect("json"));
        0
    })
}

/// The barrier of a run's worker processes: worker `wi` of `wk` marks its
/// sessions up with a file in `dir`, then waits (at most `limit`) until every
/// worker did. Without it, one worker would start creating work while
/// another still opens sockets: at the end of a 50,000-session ramp the box
/// spent 89 % of its time in the kernel (`vmstat`) while the last sessions
/// opened, and the first items of the run waited behind it.
pub async fn all_workers_ready(dir: &Path, wi: usize, wk: usize, limit: Duration) -> bool {
    let mark = |i: usize| dir.join(format!("ready.{i}"));
    if let Err(e) = std::fs::write(mark(wi), b"") {
        eprintln!(
            "warning: cannot mark worker {wi} ready in {}: {e}",
            dir.display()
        );
        return false;
    }
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if (0..wk).all(|i| mark(i).exists()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Flags of `switchboard serve` that would stop a load test from one IP (login rate
/// limits, the cap on connections per address), set to "no limit" when the
/// binary has them and they are not given already.
pub fn load_test_server_flags(bin: &Path, given: &[String]) -> Vec<String> {
    let help = std::process::Command::new(bin)
        .args(["serve", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let mut v = Vec::new();
    for f in [
        "--login-attempts-per-ip",
        "--login-attempts-per-user",
        "--max-connections-per-address",
    ] {
        if help.contains(f) && !given.iter().any(|g| g.starts_with(f)) {
            v.push(format!("{f}=0"));
        }
    }
    v
}

/// A fresh `--data-dir` in the run's work folder when the server keeps its
/// state in a data directory by default and no storage flag is given: every
/// run starts from an empty state, and never shares the working
/// directory's `switchboard-data` with a server running there.
pub fn fresh_data_dir(bin: &Path, given: &[String], work_dir: &Path) -> Vec<String> {
    let help = std::process::Command::new(bin)
        .args(["serve", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let chosen = given.iter().any(|g| {
        ["--data-dir", "--memory", "--redis-url"]
            .iter()
            .any(|f| g.starts_with(f))
    });
    if !help.contains("--data-dir") || chosen {
        return Vec::new();
    }
    let dir = work_dir.join(format!("data-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    vec![format!("--data-dir={}", dir.display())]
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until `base` answers `/readyz` (or `/healthz`) with a success, or
/// says why not: the process exited (with the tail of its log) or 60 s passed.
pub async fn wait_ready(base: &str, child: &mut Child, log: &Path) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(st)) = child.try_wait() {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            let tail: String = tail
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            return Err(format!(
                "the server exited ({st}) before it was ready; log {}:\n{tail}",
                log.display()
            ));
        }
        for path in ["/readyz", "/healthz"] {
            if let Ok(r) = http.get(format!("{base}{path}")).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("{base} not ready after 60 s"))
}

/// Starts a server process, runs the scenario against it, stops it.
pub async fn run_against(
    label: &str,
    program: &Path,
    args: Vec<String>,
    port: u16,
    scenario: Scenario,
    run: &RunArgs,
    work_dir: &Path,
) -> Result<Report, String> {
    let log = work_dir.join(format!("{label}.log"));
    let logf = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let mut child = Command::new(program)
        .args(&args)
        .stdout(logf.try_clone().map_err(|e| e.to_string())?)
        .stderr(logf)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base, &mut child, &log).await?;
    let mut a = run.clone();
    a.servers = vec![base];
    a.server_pid = child.id();
    let rep = crate::run_scenario(scenario, &a, label).await;
    // SIGTERM first (graceful), then kill.
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
    }
    if tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
    rep
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    if b > 0.0 {
        Some((a / b * 100.0).round() / 100.0)
    } else {
        None
    }
}

/// Ratios switchboard / baseline.
#[derive(Serialize)]
struct Ratios {
    latency_p50: std::collections::BTreeMap<String, Option<f64>>,
    latency_p99: std::collections::BTreeMap<String, Option<f64>>,
    rss_per_session: Option<f64>,
    cpu: Option<f64>,
}

/// The `compare` subcommand.
pub async fn compare(c: CompareCmd) -> i32 {
    if !matches!(
        c.scenario,
        Scenario::Idle | Scenario::Chats | Scenario::Presence
    ) {
        eprintln!(
            "error: the baseline speaks enough of the protocol for idle, chats and presence only"
        );
        return 2;
    }
    let work_dir = c
        .work_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("sb-compare-{}", std::process::id())));
    if let Err(e) = std::fs::create_dir_all(&work_dir) {
        eprintln!("error: {}: {e}", work_dir.display());
        return 2;
    }
    let mut run = c.args.clone();
    // The directory both servers use (the baseline ignores it).
    let dir_path: PathBuf = match &run.directory {
        Some(p) => p.clone(),
        None => {
            let na = run.agents.unwrap_or(100);
            let d = crate::directory::generate(na, run.supervisors.unwrap_or(0), &run.gen_args);
            let p = work_dir.join("directory.toml");
            if let Err(e) = std::fs::write(&p, toml::to_string(&d).expect("toml")) {
                eprintln!("error: {}: {e}", p.display());
                return 2;
            }
            p
        }
    };
    run.directory = Some(dir_path.clone());
    let me = std::env::current_exe().expect("current exe");
    let baseline_bin = c.baseline_bin.clone().unwrap_or(me);
    let mut reports = Vec::new();
    for label in ["baseline", "switchboard"] {
        let port = match free_port() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: free port: {e}");
                return 2;
            }
        };
        let listen = format!("127.0.0.1:{port}");
        let (prog, args): (PathBuf, Vec<String>) = if label == "baseline" {
            let mut v: Vec<String> = vec![
                "baseline-server".into(),
                "--listen".into(),
                listen,
                "--api-key".into(),
                run.api_key.clone(),
            ];
            // Only `presence` needs the group ids (for the `watch` answer).
            if c.scenario == Scenario::Presence {
                v.push("--directory".into());
                v.push(dir_path.display().to_string());
            }
            (baseline_bin.clone(), v)
        } else {
            let mut v = vec![
                "serve".into(),
                "--listen".into(),
                listen,
                "--directory".into(),
                dir_path.display().to_string(),
                "--api-key".into(),
                run.api_key.clone(),
            ];
            v.extend(c.server_args.iter().cloned());
            v.extend(load_test_server_flags(&c.switchboard_bin, &c.server_args));
            v.extend(fresh_data_dir(
                &c.switchboard_bin,
                &c.server_args,
                &work_dir,
            ));
            (c.switchboard_bin.clone(), v)
        };
        if !run.json {
            eprintln!("-- {label}: {} {}", prog.display(), args.join(" "));
        }
        match run_against(label, &prog, args, port, c.scenario, &run, &work_dir).await {
            Ok(r) => reports.push(r),
            Err(e) => {
                eprintln!("error: {label}: {e}");
                return 2;
            }
        }
    }
    let (b, s) = (&reports[0], &reports[1]);
    let mut ratios = Ratios {
        latency_p50: Default::default(),
        latency_p99: Default::default(),
        rss_per_session: None,
        cpu: None,
    };
    for (k, sv) in &s.latency {
        if let Some(bv) = b.latency.get(k) {
            ratios
                .latency_p50
                .insert(k.clone(), ratio(sv.p50_us as f64, bv.p50_us as f64));
            ratios
                .latency_p99
                .insert(k.clone(), ratio(sv.p99_us as f64, bv.p99_us as f64));
        }
    }
    if let (Some(sp), Some(bp)) = (&s.server, &b.server) {
        ratios.rss_per_session = match (sp.rss_per_session_kib, bp.rss_per_session_kib) {
            (Some(x), Some(y)) => ratio(x, y),
            _ => None,
        };
        ratios.cpu = match (sp.cpu_percent, bp.cpu_percent) {
            (Some(x), Some(y)) => ratio(x, y),
            _ => None,
        };
    }
    if c.args.json {
        let v = serde_json::json!({"baseline": b, "switchboard": s, "ratios_switchboard_over_baseline": ratios, "work_dir": work_dir});
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
    } else {
        b.print_human();
        println!();
        s.print_human();
        println!();
        println!("== switchboard / baseline ==");
        for (k, v) in &ratios.latency_p50 {
            let f = |x: &Option<f64>| x.map_or("?".to_string(), |x| format!("{x:.2}x"));
            println!(
                "{k:<28} p50 {}  p99 {}",
                f(v),
                f(ratios.latency_p99.get(k).unwrap_or(&None))
            );
        }
        if let Some(r) = ratios.rss_per_session {
            println!("RSS per session {r:.2}x");
        }
        if let Some(r) = ratios.cpu {
            println!("CPU {r:.2}x");
        }
        println!("logs and directory in {}", work_dir.display());
    }
    if b.correctness_ok && s.correctness_ok {
        0
    } else {
        1
    }
}
