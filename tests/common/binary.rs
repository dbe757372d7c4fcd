//! The real `switchboard` binary as a child process on a free port, for the
//! tests that kill it (`kill -9`, SIGTERM) or restart it.

use std::ffi::OsString;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// A `switchboard serve` child process; killed when dropped.
pub struct BinaryNode {
    pub port: u16,
    pub child: Child,
    pub http: reqwest::Client,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl BinaryNode {
    /// Starts `switchboard serve` with the test API key, no login rate
    /// limits and `args`, and waits until it is ready.
    pub async fn start(args: Vec<OsString>) -> BinaryNode {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--api-key", super::API_KEY])
            .args(["--login-attempts-per-ip", "0"])
            .args(["--login-attempts-per-user", "0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let node = BinaryNode {
            port,
            child,
            http: reqwest::Client::new(),
        };
        for _ in 0..400 {
            if let Ok(r) = node.http.get(node.url("/readyz")).send().await
                && r.status() == 200
            {
                return node;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("node did not start");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        format!("127.0.0.1:{}", self.port).parse().unwrap()
    }

    pub async fn login(&self, user: &str) -> String {
        let r: Value = self
            .http
            .post(self.url("/api/login"))
            .json(&json!({ "username": user, "password": super::PASSWORD }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["token"].as_str().unwrap().to_string()
    }

    /// `GET path` with a login token, as JSON.
    pub async fn get(&self, path: &str, token: &str) -> Value {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `kill -9`, and waits for the process to be gone.
    pub fn kill_9(&mut self) {
        self.child.kill().unwrap();
        let _ = self.child.wait();
    }

    /// SIGTERM (a clean shutdown).
    pub fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
    }
}

impl Drop for BinaryNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
