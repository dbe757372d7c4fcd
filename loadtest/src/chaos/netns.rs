//! A network namespace for one node, so that its link to Redis can be cut
//! while its consoles stay connected: two veth links to the host, `redis`
//! (host `10.233.N.1`, namespace `.2`) and `consoles` (host `10.234.N.1`,
//! namespace `.2`). Needs root and iproute2; everything is named after this
//! process's id and removed when dropped.

use std::process::Command;

/// The namespace and its two links.
pub struct Namespace {
    /// `ip netns` name.
    pub name: String,
    redis_link: String,
    console_link: String,
    n: u32,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip (iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Why the namespace case cannot run here, if it cannot.
pub fn unavailable() -> Option<String> {
    // The effective user id, from `id -u` (`geteuid` would need unsafe).
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.as_deref() != Some("0") {
        return Some("needs root (ip netns, veth links)".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("needs iproute2 (`ip`)".into());
    }
    None
}

impl Namespace {
    /// Creates it, with both links up.
    pub fn create() -> Result<Namespace, String> {
        let n = std::process::id() % 250 + 1;
        let ns = Namespace {
            name: format!("sbchaos{n}"),
            redis_link: format!("sbxr{n}h"),
            console_link: format!("sbxc{n}h"),
            n,
        };
        ns.remove();
        ip(&["netns", "add", &ns.name])?;
        for (host, net) in [(&ns.redis_link, 233), (&ns.console_link, 234)] {
            let inner = host.replace('h', "n");
            ip(&["link", "add", host, "type", "veth", "peer", "name", &inner])?;
            ip(&["link", "set", &inner, "netns", &ns.name])?;
            ip(&["addr", "add", &format!("10.{net}.{n}.1/30"), "dev", host])?;
            ip(&["link", "set", host, "up"])?;
            let addr = format!("10.{net}.{n}.2/30");
            ip(&[
                "netns", "exec", &ns.name, "ip", "addr", "add", &addr, "dev", &inner,
            ])?;
            ip(&["netns", "exec", &ns.name, "ip", "link", "set", &inner, "up"])?;
        }
        ip(&["netns", "exec", &ns.name, "ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The host's address on the Redis link (Redis must listen on it).
    pub fn redis_host(&self) -> String {
        format!("10.233.{}.1", self.n)
    }

    /// The node's address on the console link.
    pub fn node_addr(&self) -> String {
        format!("10.234.{}.2", self.n)
    }

    /// Takes the Redis link down (`false`) or up again (`true`).
    pub fn redis_link_up(&self, up: bool) -> Result<(), String> {
        ip(&[
            "link",
            "set",
            &self.redis_link,
            if up { "up" } else { "down" },
        ])
    }

    fn remove(&self) {
        for link in [&self.redis_link, &self.console_link] {
            let _ = Command::new("ip").args(["link", "del", link]).output();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        self.remove();
    }
}
