//! Abuse limits of the transport: login rate limits, WebSocket origin
//! allow-list, connection caps and the per-session request rate.
//!
//! # Ownership
//! One [`Limits`] per server, shared by every handler behind an `Arc` in the
//! [`AppState`](super::AppState). The rate limiters are governor's
//! lock-free GCRA cells (keyed ones sit behind governor's own short lock);
//! the connection counters are an atomic and a `std::sync::Mutex<HashMap>`
//! held only for one map operation, never across an `.await`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::TransportConfig;
use crate::api_error::{ApiError, ErrorCode};

/// A refusal by a rate limiter: how long until a retry can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for a `Retry-After` header, at least 1.
    pub fn secs(self) -> u64 {
        (self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0)).max(1)
    }
}

/// Which login limiter refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginLimit {
    /// Too many attempts from one IP address.
    Ip,
    /// Too many attempts for one username.
    Username,
}

impl LoginLimit {
    /// Label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginLimit::Ip => "login_ip",
            LoginLimit::Username => "login_username",
        }
    }
}

/// How many checks between two sweeps of the keyed limiters' idle keys.
const SWEEP_EVERY: u64 = 1024;

/// The transport's limits, one per server.
#[derive(Debug)]
pub struct Limits {
    login_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    login_user: Option<DefaultKeyedRateLimiter<String>>,
    login_checks: AtomicU64,
    visitor_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    ws_quota: Option<Quota>,
    allowed_origins: Vec<String>,
    max_sessions_per_agent: usize,
    max_connections: usize,
    connections: Arc<Connections>,
}

/// Open WebSocket sessions: the total and per agent.
#[derive(Debug, Default)]
struct Connections {
    total: AtomicUsize,
    per_agent: Mutex<HashMap<String, usize>>,
}

/// Holds one connection slot; gives it back when dropped (the session task
/// ended, or the upgrade never happened).
#[derive(Debug)]
pub struct ConnectionSlot {
    agent: String,
    connections: Arc<Connections>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.connections.total.fetch_sub(1, Ordering::AcqRel);
        let mut map = self
            .connections
            .per_agent
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.agent) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.agent);
            }
        }
    }
}

fn per_minute(n: u32) -> Option<Quota> {
    NonZeroU32::new(n).map(Quota::per_minute)
}

/// Canonical form of an origin for comparison: lower case, no trailing `/`.
pub fn normalize_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// The origins a browser uses to reach a server listening on `addr`:
/// `http://ADDR`, and the loopback names with the same port.
pub fn default_origins(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    let mut v = vec![
        format!("http://{addr}"),
        format!("http://localhost:{port}"),
        format!("http://127.0.0.1:{port}"),
        format!("http://[::1]:{port}"),
    ];
    v.dedup();
    v
}

impl Limits {
    /// Limits from the transport configuration. `allowed_origins` must be
    /// filled in already (see [`default_origins`]).
    pub fn new(config: &TransportConfig) -> Self {
        let ws_quota = NonZeroU32::new(config.ws_requests_per_sec).map(|rate| {
            let burst = NonZeroU32::new(config.ws_request_burst).unwrap_or(rate);
            Quota::per_second(rate).allow_burst(burst)
        });
        Limits {
            login_ip: per_minute(config.login_attempts_per_ip_per_min).map(RateLimiter::keyed),
            login_user: per_minute(config.login_attempts_per_username_per_min)
                .map(RateLimiter::keyed),
            login_checks: AtomicU64::new(0),
            visitor_ip: per_minute(config.visitor_starts_per_ip_per_min).map(RateLimiter::keyed),
            ws_quota,
            allowed_origins: config
                .allowed_origins
                .iter()
                .map(|o| normalize_origin(o))
                .collect(),
            max_sessions_per_agent: config.max_sessions_per_agent,
            max_connections: config.max_connections,
            connections: Arc::new(Connections::default()),
        }
    }

    /// Counts one login attempt from `ip` for `username`; refuses when either
    /// is over its quota. The IP is checked first so that a flood of made-up
    /// usernames from one address cannot grow the username table without
    /// bound.
    pub fn check_login(&self, ip: IpAddr, username: &str) -> Result<(), (LoginLimit, RetryAfter)> {
        if self.login_checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep();
        }
        let now = DefaultClock::default().now();
        if let Some(l) = &self.login_ip {
            l.check_key(&ip)
                .map_err(|nu| (LoginLimit::Ip, RetryAfter(nu.wait_time_from(now))))?;
        }
        if let Some(l) = &self.login_user {
            l.check_key(&username.to_string())
                .map_err(|nu| (LoginLimit::Username, RetryAfter(nu.wait_time_from(now))))?;
        }
        Ok(())
    }

    /// Counts one chat or ticket started by a visitor from `ip`.
    pub fn check_visitor(&self, ip: IpAddr) -> Result<(), RetryAfter> {
        let now = DefaultClock::default().now();
        match &self.visitor_ip {
            Some(l) => l
                .check_key(&ip)
                .map_err(|nu| RetryAfter(nu.wait_time_from(now))),
            None => Ok(()),
        }
    }

    /// Forgets keys whose quota has fully replenished.
    fn sweep(&self) {
        if let Some(l) = &self.login_ip {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.login_user {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// Whether a WebSocket upgrade's `Origin` header is allowed. No header
    /// (a non-browser client) is allowed: the Origin check defends browsers
    /// against cross-site WebSocket hijacking, other clients must hold a
    /// token anyway.
    pub fn origin_allowed(&self, origin: Option<&str>) -> bool {
        match origin {
            None => true,
            Some(o) => {
                let o = normalize_origin(o);
                self.allowed_origins.iter().any(|a| a == "*" || *a == o)
            }
        }
    }

    /// Takes a connection slot for a new session of `agent`, or refuses:
    /// `rate_limited` (429) over the per-agent cap, `unavailable` (503) over
    /// the server's total.
    pub fn acquire_connection(&self, agent: &str) -> Result<ConnectionSlot, ApiError> {
        let c = &self.connections;
        let total = c.total.fetch_add(1, Ordering::AcqRel);
        // From here on the slot is counted; dropping it gives it back.
        let mut map = c.per_agent.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(agent.to_string()).or_insert(0);
        *n += 1;
        let over_agent = *n > self.max_sessions_per_agent;
        drop(map);
        let slot = ConnectionSlot {
            agent: agent.to_string(),
            connections: c.clone(),
        };
        if total >= self.max_connections {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "the server is at its limit of {} connections; try again later",
                    self.max_connections
                ),
            ));
        }
        if over_agent {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "{agent} already has {} open sessions, the most allowed; close one first",
                    self.max_sessions_per_agent
                ),
            ));
        }
        Ok(slot)
    }

    /// Open WebSocket sessions on this server.
    pub fn open_connections(&self) -> usize {
        self.connections.total.load(Ordering::Acquire)
    }

    /// A fresh request-rate limiter for one WebSocket session (`None`: no
    /// limit configured).
    pub fn session_limiter(&self) -> Option<DefaultDirectRateLimiter> {
        self.ws_quota.map(RateLimiter::direct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TransportConfig {
        TransportConfig {
            allowed_origins: vec![
                "http://127.0.0.1:8080/".into(),
                "HTTPS://Desk.Example".into(),
            ],
            max_sessions_per_agent: 2,
            max_connections: 3,
            login_attempts_per_ip_per_min: 5,
            login_attempts_per_username_per_min: 2,
            ..TransportConfig::default()
        }
    }

    #[test]
    fn origins() {
        let l = Limits::new(&config());
        assert!(l.origin_allowed(None));
        assert!(l.origin_allowed(Some("http://127.0.0.1:8080")));
        assert!(l.origin_allowed(Some("https://desk.example")));
        assert!(!l.origin_allowed(Some("http://127.0.0.1:8081")));
        assert!(!l.origin_allowed(Some("https://evil.example")));
        assert!(!l.origin_allowed(Some("null")));
        assert!(
            default_origins("127.0.0.1:9000".parse().unwrap())
                .contains(&"http://localhost:9000".to_string())
        );
    }

    #[test]
    fn connection_caps_and_release() {
        let l = Limits::new(&config());
        let a1 = l.acquire_connection("a").unwrap();
        let _a2 = l.acquire_connection("a").unwrap();
        let e = l.acquire_connection("a").unwrap_err();
        assert_eq!(e.code, ErrorCode::RateLimited);
        drop(a1);
        let _a3 = l.acquire_connection("a").unwrap();
        let _b1 = l.acquire_connection("b").unwrap();
        assert_eq!(l.open_connections(), 3);
        assert_eq!(
            l.acquire_connection("c").unwrap_err().code,
            ErrorCode::Unavailable
        );
        assert_eq!(l.open_connections(), 3, "refusals give their slot back");
    }

    #[test]
    fn login_limits() {
        let l = Limits::new(&config());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(l.check_login(ip, "u").is_ok());
        assert!(l.check_login(ip, "u").is_ok());
        let (which, after) = l.check_login(ip, "u").unwrap_err();
        assert_eq!(which, LoginLimit::Username);
        assert!(after.secs() >= 1);
        assert!(l.check_login(ip, "v").is_ok());
        assert!(l.check_login(ip, "w").is_ok());
        assert_eq!(l.check_login(ip, "x").unwrap_err().0, LoginLimit::Ip);
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.check_login(other, "y").is_ok());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(RetryAfter(Duration::from_millis(1)).secs(), 1);
        assert_eq!(RetryAfter(Duration::from_secs(6)).secs(), 6);
        assert_eq!(RetryAfter(Duration::from_millis(6001)).secs(), 7);
        assert_eq!(RetryAfter(Duration::ZERO).secs(), 1);
    }
}
