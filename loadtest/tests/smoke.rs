//! Smoke tests of the load tester: a short, small `chats` run against the real
//! server (and one against the built-in baseline). They assert only the
//! correctness counters (no double assignment, no lost item, every created item
//! accounted for), never a timing.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const LOADTEST: &str = env!("CARGO_BIN_EXE_switchboard-loadtest");
const SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/debug/switchboard");
const KEY: &str = "smoke-test-api-key-0001";

struct Killer(Child);
impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn work_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sb-loadtest-smoke-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn wait_ready(port: u16, child: &mut Child, log: &Path) {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "server exited ({st}) before it was ready; its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            let _ = s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("server on port {port} not ready after 30 s");
}

fn run_chats(
    port: u16,
    dir: Option<&Path>,
    samples: Option<&Path>,
    processes: u32,
    extra: &[&str],
) -> Value {
    let mut cmd = Command::new(LOADTEST);
    cmd.args([
        "chats",
        "--server",
        &format!("http://127.0.0.1:{port}"),
        "--api-key",
        KEY,
    ])
    .args([
        "--agents",
        "200",
        "--duration",
        "5s",
        "--ramp",
        "2s",
        "--rate",
        "50",
        "--drain",
        "2s",
    ])
    .args(["--think-close", "500ms", "--json"]);
    if let Some(d) = dir {
        cmd.arg("--directory").arg(d);
    }
    if let Some(f) = samples {
        cmd.arg("--samples").arg(f);
    }
    cmd.arg("--processes")
        .arg(processes.to_string())
        .args(extra);
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .expect("run switchboard-loadtest");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("report is not JSON ({e}):\n{text}"))
}

fn assert_correct(r: &Value) {
    let items = &r["items"];
    assert!(
        items["acked"].as_u64().unwrap() > 0,
        "no item was created: {r:#}"
    );
    assert_eq!(items["double_assignments"], 0, "double assignments: {r:#}");
    assert_eq!(items["double_takes"], 0, "double takes: {r:#}");
    assert_eq!(items["lost"], 0, "lost items: {r:#}");
    assert_eq!(
        items["accounted_for"], true,
        "items not accounted for: {r:#}"
    );
    assert_eq!(r["correctness_ok"], true, "{r:#}");
}

/// `--samples`: a header, then one line per acknowledged item, each routed
/// (every item of this run is pushed to an agent) with its node and latency.
fn assert_samples_cover_every_item(path: &Path, r: &Value) {
    let text = std::fs::read_to_string(path).expect("--samples wrote its file");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("created_unix_ms,item,post_node,push_node,created_to_push_us")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows.len() as u64,
        r["items"]["acked"].as_u64().unwrap(),
        "one line per item"
    );
    for row in rows {
        assert_eq!(row.len(), 5, "{row:?}");
        assert!(
            row[4].parse::<u64>().is_ok(),
            "a routed item has its latency: {row:?}"
        );
    }
}

/// `--visitors 1`: every chat's visitor connected, got its `chat` frame, saw
/// its agent join and was told the chat closed (every chat of this run is
/// accepted and closed before the drain ends), with no visitor error.
fn assert_every_visitor_followed_its_chat(r: &Value) {
    let c = |k: &str| r["counters"][k].as_u64().unwrap_or(0);
    let acked = r["items"]["acked"].as_u64().unwrap();
    assert_eq!(c("visitors_opened"), acked, "a visitor per chat: {r:#}");
    assert_eq!(c("visitor_chat_frames"), acked, "{r:#}");
    assert_eq!(c("visitors_agent_joined"), acked, "{r:#}");
    assert_eq!(c("visitors_told_closed"), acked, "{r:#}");
    assert_eq!(c("visitor_errors"), 0, "{r:#}");
}

#[test]
fn chats_against_the_real_server() {
    assert!(
        Path::new(SERVER).exists(),
        "{SERVER} is missing: build the server first (`cargo build -p switchboard`), then rerun this test"
    );
    let wd = work_dir("server");
    let dir = wd.join("directory.toml");
    let st = Command::new(LOADTEST)
        .args(["directory", "--agents", "200", "--groups", "10", "--out"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(st.success());
    let port = free_port();
    let log = wd.join("server.log");
    let logf = std::fs::File::create(&log).unwrap();
    // 200 logins from one IP: lift the server's login rate limits when it has them.
    let help = Command::new(SERVER)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let no_limits: Vec<String> = ["--login-attempts-per-ip", "--login-attempts-per-user"]
        .iter()
        .filter(|f| help.contains(*f))
        .map(|f| format!("{f}=0"))
        .collect();
    let child = Command::new(SERVER)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--api-key",
            KEY,
            "--directory",
        ])
        .arg(&dir)
        .arg(format!("--data-dir={}", wd.join("data").display()))
        .args(&no_limits)
        .stdout(logf.try_clone().unwrap())
        .stderr(logf)
        .spawn()
        .expect("start the server");
    let mut server = Killer(child);
    wait_ready(port, &mut server.0, &log);
    let samples = wd.join("items.csv");
    let r = run_chats(port, Some(&dir), Some(&samples), 1, &["--visitors", "1"]);
    assert_correct(&r);
    assert_samples_cover_every_item(&samples, &r);
    assert_every_visitor_followed_its_chat(&r);
    // Two worker processes (their run phases start together, their reports
    // are merged): still every item accounted for, once.
    let r = run_chats(port, Some(&dir), None, 2, &[]);
    assert_correct(&r);
    assert_eq!(r["processes"], 2, "{r:#}");
    assert_eq!(
        r["notes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n.as_str().unwrap_or("").contains("not every worker"))
            .count(),
        0,
        "the workers met at the barrier: {r:#}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&wd);
}

#[test]
fn chats_against_the_baseline() {
    let wd = work_dir("baseline");
    let port = free_port();
    let log = wd.join("baseline.log");
    let logf = std::fs::File::create(&log).unwrap();
    let child = Command::new(LOADTEST)
        .args([
            "baseline-server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--api-key",
            KEY,
        ])
        .stdout(logf.try_clone().unwrap())
        .stderr(logf)
        .spawn()
        .unwrap();
    let mut server = Killer(child);
    wait_ready(port, &mut server.0, &log);
    let r = run_chats(port, None, None, 1, &[]);
    assert_correct(&r);
    drop(server);
    let _ = std::fs::remove_dir_all(&wd);
}
