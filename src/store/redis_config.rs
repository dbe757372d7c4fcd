//! How a node reaches Redis and how sure a write must be before it is
//! acknowledged: the `--redis-url` (one Redis, or its Sentinels) and the
//! replica wait (`--redis-min-replicas`, `--redis-replica-timeout`).

use std::time::Duration;

/// The port Sentinels listen on unless the URL names another.
pub const SENTINEL_PORT: u16 = 26379;

/// What a node needs to use Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://host:port/db`, or `redis+sentinel://host:port,…/primary/db`.
    pub url: String,
    /// A write is acknowledged only once this many replicas have it
    /// (`WAIT`); 0 acknowledges it once the primary has it.
    pub min_replicas: u32,
    /// How long an append waits for those replicas before its outcome is
    /// answered as unknown.
    pub replica_timeout: Duration,
}

impl RedisConfig {
    /// `url` with no replica wait.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            min_replicas: 0,
            replica_timeout: Duration::from_secs(1),
        }
    }
}

/// Where the primary is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// At this fixed URL.
    Direct(String),
    /// Wherever these Sentinels say the primary named `primary` is, now.
    Sentinel {
        /// The Sentinels' addresses (`host`, `port`).
        sentinels: Vec<(String, u16)>,
        /// The name the Sentinels monitor the primary under.
        primary: String,
        /// The database number on the primary.
        db: i64,
        /// The user name on the primary and its replicas, if any.
        username: Option<String>,
        /// The password on the primary and its replicas, if any.
        password: Option<String>,
    },
}

/// Why a Redis URL cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RedisUrlError {
    /// A Sentinel URL without a primary's name.
    #[error(
        "{0}: a Sentinel URL names the primary after the hosts: \
         redis+sentinel://host:26379,host:26379/PRIMARY_NAME[/DB]"
    )]
    NoPrimaryName(String),
    /// A Sentinel URL without hosts, or with an unreadable one.
    #[error("{0}: bad Sentinel address {1:?} (expected host or host:port)")]
    BadSentinel(String, String),
    /// A database number that is not a number.
    #[error("{0}: the database after the primary's name must be a number")]
    BadDb(String),
}

const SENTINEL_SCHEME: &str = "redis+sentinel://";

impl RedisTarget {
    /// Reads `url`: `redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/PRIMARY[/DB]`
    /// goes through Sentinel; anything else is a plain Redis URL, checked
    /// when connecting.
    pub fn parse(url: &str) -> Result<Self, RedisUrlError> {
        let Some(rest) = url.strip_prefix(SENTINEL_SCHEME) else {
            return Ok(RedisTarget::Direct(url.to_string()));
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (credentials, hosts) = match authority.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, authority),
        };
        let (username, password) = match credentials {
            None => (None, None),
            Some(c) => {
                let (user, pass) = c.split_once(':').unwrap_or((c, ""));
                let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
                (some(user), some(pass))
            }
        };
        let sentinels = hosts
            .split(',')
            .map(|h| parse_host(h).ok_or_else(|| bad_sentinel(url, h)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut segments = path.split('/').filter(|s| !s.is_empty());
        let primary = segments
            .next()
            .ok_or_else(|| RedisUrlError::NoPrimaryName(redacted(url)))?
            .to_string();
        let db = match segments.next() {
            None => 0,
            Some(d) => d.parse().map_err(|_| RedisUrlError::BadDb(redacted(url)))?,
        };
        Ok(RedisTarget::Sentinel {
            sentinels,
            primary,
            db,
            username,
            password,
        })
    }
}

fn bad_sentinel(url: &str, host: &str) -> RedisUrlError {
    RedisUrlError::BadSentinel(redacted(url), host.to_string())
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn parse_host(text: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match text.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        None => SENTINEL_PORT,
        Some(p) => p.parse().ok()?,
    };
    Some((host.to_string(), port))
}

/// The URL without its password, for error messages.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_url_is_used_as_it_is() {
        assert_eq!(
            RedisTarget::parse("redis://127.0.0.1:6379/"),
            Ok(RedisTarget::Direct("redis://127.0.0.1:6379/".into()))
        );
    }

    #[test]
    fn a_sentinel_url_names_its_sentinels_the_primary_and_the_database() {
        let target =
            RedisTarget::parse("redis+sentinel://:secret@10.0.0.1,10.0.0.2:26380,[::1]:7/desk/2");
        assert_eq!(
            target,
            Ok(RedisTarget::Sentinel {
                sentinels: vec![
                    ("10.0.0.1".into(), SENTINEL_PORT),
                    ("10.0.0.2".into(), 26380),
                    ("::1".into(), 7),
                ],
                primary: "desk".into(),
                db: 2,
                username: None,
                password: Some("secret".into()),
            })
        );
    }

    #[test]
    fn a_sentinel_url_without_a_primary_or_with_a_bad_host_is_refused_without_its_password() {
        let no_name = RedisTarget::parse("redis+sentinel://u:pw@h1:26379").unwrap_err();
        assert_eq!(
            no_name,
            RedisUrlError::NoPrimaryName("redis+sentinel://***@h1:26379".into())
        );
        assert!(!no_name.to_string().contains("pw"));
        assert!(matches!(
            RedisTarget::parse("redis+sentinel://h1:port/desk"),
            Err(RedisUrlError::BadSentinel(_, h)) if h == "h1:port"
        ));
        assert!(matches!(
            RedisTarget::parse("redis+sentinel://h1/desk/x"),
            Err(RedisUrlError::BadDb(_))
        ));
    }
}
