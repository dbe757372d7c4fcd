//! Small helpers: a clock comparable across worker processes, server URLs,
//! /proc probes of the server process, duration parsing.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

static ANCHOR: OnceLock<(Instant, u64)> = OnceLock::new();

/// Nanoseconds since the Unix epoch, monotonic within a process (an `Instant`
/// offset from one wall-clock reading taken at start), so that timestamps taken
/// in different worker processes of the same box can be compared.
pub fn now_ns() -> u64 {
    let (i, base) = ANCHOR.get_or_init(|| {
        let sys = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        (Instant::now(), sys.as_nanos() as u64)
    });
    base + i.elapsed().as_nanos() as u64
}

/// A server as given on the command line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Server {
    /// `http://host:port` (no trailing slash).
    pub base: String,
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Server {
    /// Parses `http://host:port`, `host:port`, or `ws://host:port`.
    pub fn parse(s: &str) -> Result<Server, String> {
        let rest = s
            .strip_prefix("http://")
            .or_else(|| s.strip_prefix("ws://"))
            .unwrap_or(s)
            .trim_end_matches('/');
        if s.starts_with("https://") || s.starts_with("wss://") {
            return Err(format!(
                "{s}: TLS is not supported by the load tester; use http://"
            ));
        }
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("{s}: expected host:port"))?;
        let port: u16 = port.parse().map_err(|_| format!("{s}: bad port"))?;
        Ok(Server {
            base: format!("http://{host}:{port}"),
            host: host.to_string(),
            port,
        })
    }
}

/// Parses `500ms`, `10s`, `2m`, `1h` or a plain number of seconds (`2.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mul) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad duration {s:?} (use 500ms, 10s, 2m)"))?;
    if v.is_nan() || v < 0.0 {
        return Err(format!("bad duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(v * mul))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn pct(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// VmRSS of a process in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// utime+stime of a process in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields start after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14, stime 15.
    let ut: u64 = f.get(11)?.parse().ok()?;
    let st: u64 = f.get(12)?.parse().ok()?;
    Some(ut + st)
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 if that fails).
pub fn clk_tck() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// (soft, hard) open-file limits of this process, from /proc/self/limits.
pub fn nofile_limits() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/self/limits").ok()?;
    let l = s.lines().find(|l| l.starts_with("Max open files"))?;
    let f: Vec<&str> = l.split_whitespace().collect();
    let soft = f.get(3)?.parse().ok()?;
    let hard = f.get(4)?.parse().ok()?;
    Some((soft, hard))
}

/// What the server process looked like over a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerProbe {
    /// Server pid.
    pub pid: u32,
    /// VmRSS before the sessions were opened (KiB).
    pub rss_before_kib: Option<u64>,
    /// VmRSS with every session open, after a short settle (KiB).
    pub rss_after_kib: Option<u64>,
    /// Sessions open when `rss_after_kib` was read.
    pub sessions_at_after: u64,
    /// (after - before) / sessions, KiB.
    pub rss_per_session_kib: Option<f64>,
    /// CPU used by the server over the hold / run phase, percent of one core.
    pub cpu_percent: Option<f64>,
    /// Length of that phase, seconds.
    pub cpu_window_s: Option<f64>,
}

impl ServerProbe {
    /// Fills `rss_per_session_kib`.
    pub fn finish(&mut self) {
        if let (Some(b), Some(a)) = (self.rss_before_kib, self.rss_after_kib)
            && self.sessions_at_after > 0
        {
            self.rss_per_session_kib = Some((a as f64 - b as f64) / self.sessions_at_after as f64);
        }
    }
}

/// Measures CPU use of `pid` between `start()` and `stop()`.
pub struct CpuWindow {
    pid: u32,
    t0: Instant,
    ticks0: Option<u64>,
}

impl CpuWindow {
    /// Starts the window.
    pub fn start(pid: u32) -> CpuWindow {
        CpuWindow {
            pid,
            t0: Instant::now(),
            ticks0: cpu_ticks(pid),
        }
    }
    /// Returns (percent of one core, seconds).
    pub fn stop(&self) -> Option<(f64, f64)> {
        let t1 = cpu_ticks(self.pid)?;
        let secs = self.t0.elapsed().as_secs_f64();
        let used = (t1 - self.ticks0?) as f64 / clk_tck() as f64;
        Some((100.0 * used / secs.max(1e-9), secs))
    }
}

/// Lets the kernel pick a socket's source port at `connect` rather than at
/// `bind` (Linux `IP_BIND_ADDRESS_NO_PORT`). `--source-addrs` binds every
/// socket to an address with port 0, and such a bind must find a port free
/// on that address for any destination: a search that grows with the ports
/// in use. At the end of an 18,000-session ramp from one address, 85 % of
/// the box's CPU was in that search (`perf`: `inet_csk_get_port`,
/// `inet_bind2_bucket_find`; BENCHMARKS.md §7). At `connect` the kernel
/// knows the destination and only needs a free 4-tuple. Best effort: where
/// the option is missing the bind works as before.
#[allow(unsafe_code)]
pub fn bind_port_at_connect(sock: &tokio::net::TcpSocket) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let one: libc::c_int = 1;
        // SAFETY: `sock` owns an open socket for the whole call, and the
        // option value is a c_int of exactly the length passed.
        let _ = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&raw const one).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = sock;
}
