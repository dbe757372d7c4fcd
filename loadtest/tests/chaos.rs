//! The short chaos run of CI: `switchboard-loadtest chaos` with its node
//! kill and Redis hang cases, a few seconds each, against the debug
//! `switchboard` built beside it. Asserts what must hold whatever the
//! machine's speed: no acknowledged item lost or created twice, writes back
//! after the fault, consoles of the killed node resumed on the other one,
//! and no work left with a logged-out agent (a Redis hang as long as the
//! heartbeat's lifetime once left consoles on sessions the cluster had
//! dropped).

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

const LOADTEST: &str = env!("CARGO_BIN_EXE_switchboard-loadtest");

#[test]
fn node_kill_and_redis_hang_lose_and_double_nothing() {
    let server = Path::new(LOADTEST).with_file_name("switchboard");
    assert!(
        server.exists(),
        "{} is missing: build it first (cargo build --workspace)",
        server.display()
    );
    let work = std::env::temp_dir().join(format!("sb-chaos-test-{}", std::process::id()));
    let out = Command::new(LOADTEST)
        .args(["chaos", "--cases", "node-kill,redis-hang", "--json"])
        .args(["--agents", "20", "--rate", "20", "--ramp", "1s"])
        .args(["--duration", "8s", "--drain", "1s", "--settle", "1s"])
        .args(["--fault-after", "2s", "--fault-for", "3s"])
        .arg("--switchboard-bin")
        .arg(&server)
        .arg("--work-dir")
        .arg(&work)
        .stderr(Stdio::inherit())
        .output()
        .expect("run switchboard-loadtest chaos");
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Value> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"));
    assert_eq!(rows.len(), 2, "{text}");
    for r in &rows {
        assert!(r["acked"].as_u64().unwrap() > 0, "nothing created: {r}");
        assert_eq!(r["lost"], 0, "acknowledged items lost: {r}");
        assert_eq!(r["doubled"], 0, "items created twice: {r}");
        assert!(r["writes_failed_s"].is_f64(), "writes never came back: {r}");
        // Every console was back within the grace: no agent logged out,
        // none connected to a session the cluster dropped.
        assert_eq!(
            r["held_by_logged_out"], 0,
            "work left with a logged-out agent: {r}"
        );
    }
    let kill = &rows[0];
    assert_eq!(kill["case"], "node-kill");
    assert!(
        kill["consoles_resumed"].as_u64().unwrap() > 0,
        "no console of the killed node resumed elsewhere: {kill}"
    );
    assert!(out.status.success(), "exit {:?}", out.status);
    let _ = std::fs::remove_dir_all(&work);
}
