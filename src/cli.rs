//! The command line: `switchboard serve`, `switchboard hash-password`,
//! `switchboard new-api-key`, and `export-directory` / `import-directory`
//! (clients of a running server's administration API).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// Switchboard: real-time presence and work routing for help desks.
///
/// Agents keep a console open (their WebSocket session is their logged-in
/// state), switch themselves Available/Unavailable and Active/Inactive per
/// group and channel; chats, tickets and calls created through the HTTP API
/// are pushed at once to an eligible agent or wait in the group's live queue.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a Switchboard node (state kept in ./switchboard-data unless
    /// --data-dir, --memory or --redis-url say otherwise; the built-in demo
    /// directory unless --directory is given). Consoles are served at
    /// http://LISTEN/.
    Serve(Box<ServeArgs>),
    /// Print the argon2 hash of a password for a directory file's
    /// `password_hash`. Reads the password from standard input (one line).
    HashPassword,
    /// Generate a new random API key for an integration: prints the key
    /// (give it to the integration, it is shown only once) and the
    /// `[[integrations]]` entry with its SHA-256 for the directory file.
    NewApiKey {
        /// The integration's name, as logs will show it (e.g. `crm`).
        name: String,
        /// A group id the key may act in; repeatable. Without it: every
        /// group (`groups = ["*"]`).
        #[arg(long = "group", value_name = "GROUP_ID")]
        groups: Vec<String>,
    },
    /// Write the live directory of a running server as a directory file
    /// (TOML) to standard output or --out. Logs in as an admin (password
    /// from $SWITCHBOARD_PASSWORD, or one line of standard input).
    ExportDirectory(Box<ExportArgs>),
    /// Compare a directory file with a running server's live directory and
    /// print the changes it would make; with --apply, make them as one
    /// change (all or nothing). Logs in as an admin like export-directory.
    ImportDirectory(Box<ImportArgs>),
}

/// Where and as whom the directory commands reach a server.
#[derive(Debug, clap::Args)]
pub struct AdminClientArgs {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// An admin's login name.
    #[arg(long)]
    pub user: String,
}

/// Flags of `export-directory`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Server and admin.
    #[command(flatten)]
    pub client: AdminClientArgs,
    /// Include the agents' password hashes (argon2; treat the file as a
    /// secret then).
    #[arg(long)]
    pub password_hashes: bool,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Flags of `import-directory`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The directory file to import.
    pub file: PathBuf,
    /// Server and admin.
    #[command(flatten)]
    pub client: AdminClientArgs,
    /// Make the changes (without it, only print them).
    #[arg(long)]
    pub apply: bool,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Flags of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "SWITCHBOARD_LISTEN")]
    pub listen: SocketAddr,
    /// TOML directory of agents, groups and memberships (see
    /// docs/configuration.md). Without it the built-in demo directory is used.
    #[arg(long, env = "SWITCHBOARD_DIRECTORY")]
    pub directory: Option<PathBuf>,
    /// API key integrations send in `X-Api-Key` to create work. Without it a
    /// random key is generated and printed at start.
    #[arg(long, env = "SWITCHBOARD_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// How long a dropped console session is forgiven before its agent is
    /// logged out (a page reload must not log anyone out), e.g. `10s`, `500ms`.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub grace: Duration,
    /// Login tokens expire after this long without use, e.g. `12h`.
    #[arg(long, default_value = "12h", value_parser = humantime::parse_duration)]
    pub token_ttl: Duration,
    /// Directory of the browser consoles' files. Defaults to `static/` in the
    /// working directory, else the one in the source tree.
    #[arg(long)]
    pub static_dir: Option<PathBuf>,
    /// Frames queued for one session before the server cuts it off as a slow
    /// consumer.
    #[arg(long, default_value_t = 1024)]
    pub outbox_capacity: usize,
    /// An origin allowed to open the console WebSocket, as browsers send it
    /// in `Origin` (e.g. `https://desk.example.com`); repeatable. Without it,
    /// only the server's own origin: `http://LISTEN`, and
    /// `http://localhost:PORT` / `http://127.0.0.1:PORT`. Behind a proxy or
    /// on 0.0.0.0, name the public origin. Clients that send no Origin
    /// (non-browsers) are always allowed.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// Open console sessions (tabs) one agent may have.
    #[arg(long, default_value_t = 10)]
    pub max_sessions_per_agent: usize,
    /// Open console sessions the server accepts in all; more are refused
    /// with 503 before the upgrade.
    #[arg(long, default_value_t = 20_000)]
    pub max_connections: usize,
    /// Login attempts per minute from one client IP (0: no limit). Behind a
    /// reverse proxy every client has the proxy's IP: raise it or rate-limit
    /// at the proxy.
    #[arg(long, default_value_t = 30)]
    pub login_attempts_per_ip: u32,
    /// Login attempts per minute for one username (0: no limit).
    #[arg(long, default_value_t = 10)]
    pub login_attempts_per_user: u32,
    /// Chats and tickets visitors may start per minute from one IP address
    /// through the public visitor endpoints (0: no limit).
    #[arg(long, default_value_t = 20)]
    pub visitor_starts_per_ip: u32,
    /// Requests per second one console session may make (0: no limit);
    /// excess requests are answered `rate_limited`.
    #[arg(long, default_value_t = 50)]
    pub ws_requests_per_sec: u32,
    /// Requests a console session may make in a burst above its rate.
    #[arg(long, default_value_t = 100)]
    pub ws_request_burst: u32,
    /// Close an HTTP connection whose request headers are not all in after
    /// this long (a "slowloris" client sending them a byte at a time would
    /// otherwise hold a descriptor for ever). An idle keep-alive connection
    /// is closed after the same time; clients open a new one.
    #[arg(long, default_value = "10s", value_parser = positive_duration)]
    pub header_read_timeout: Duration,
    /// Refuse a request whose body is not all in this long after its headers
    /// (`408 request_timeout`, and the connection is closed).
    #[arg(long, default_value = "30s", value_parser = positive_duration)]
    pub body_read_timeout: Duration,
    /// Open TCP connections one client address may hold (HTTP and
    /// WebSocket alike; 0: no cap). More are closed at once. Raise it when
    /// many agents share one public address (an office NAT); set 0 behind a
    /// reverse proxy, where every connection comes from the proxy's address
    /// (cap per client at the proxy instead).
    #[arg(long, default_value_t = 1000)]
    pub max_connections_per_address: usize,
    /// How long shutdown waits for open connections to finish.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,
    /// Where this node keeps its state: a data directory holding one SQLite
    /// database (`switchboard.db`) with the log of every change, snapshots,
    /// login tokens and the audit. Queued and assigned work, active cells,
    /// availability, disabled accounts and logins survive a restart or a
    /// crash. Created if missing; one server per data directory.
    #[arg(
        long,
        default_value = "switchboard-data",
        env = "SWITCHBOARD_DATA_DIR",
        conflicts_with_all = ["memory", "redis_url"]
    )]
    pub data_dir: PathBuf,
    /// Keep everything in memory only: a restart forgets every queued item,
    /// assignment and login. For tests and throwaway demos.
    #[arg(long, conflicts_with = "redis_url")]
    pub memory: bool,
    /// Share state with other nodes through this Redis (`redis://host:port/db`)
    /// instead of a data directory; or through the primary that Sentinels
    /// name, following their failovers:
    /// `redis+sentinel://[:PASSWORD@]HOST:26379,HOST:26379,…/PRIMARY_NAME[/DB]`
    /// (the password is the primary's). See docs/operations.md.
    #[arg(long, env = "SWITCHBOARD_REDIS_URL")]
    pub redis_url: Option<String>,
    /// With Redis: acknowledge a write only once this many replicas have it
    /// (`WAIT`), so that a failover to a replica loses nothing acknowledged.
    /// 0 (the default) acknowledges once the primary has it: a failover may
    /// then lose the last writes acknowledged.
    #[arg(long, default_value_t = 0, requires = "redis_url")]
    pub redis_min_replicas: u32,
    /// With --redis-min-replicas: how long a write waits for its replicas;
    /// a write they did not confirm in time is answered `outcome_unknown`.
    #[arg(long, default_value = "1s", value_parser = positive_duration, requires = "redis_url")]
    pub redis_replica_timeout: Duration,
    /// Demo traffic: an integration creates a chat, ticket or call every few
    /// seconds in random groups, visitors write, and three simulated agents
    /// accept, answer, close and pick work, so the consoles come alive at once.
    #[arg(long)]
    pub demo: bool,
    /// Auto-away: switch an agent Unavailable after this long without any
    /// console activity (e.g. `15m`). Off by default, since availability is
    /// the agent's own switch; the change is audited as made by `system`. A
    /// group may set its own (`auto_away` in the directory, `auto_away_ms`
    /// in the admin API), which wins for its members.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub auto_away: Option<Duration>,
    /// With Redis: a node whose heartbeat is older than this is dead and its
    /// sessions drop out of presence (its agents get the reconnect grace).
    /// Each node beats every third of it and checks its peers after each
    /// beat, so a dead or cut-off node is found within 4/3 of it. Shorter
    /// moves a dead node's work sooner; but a node (or Redis) that stalls
    /// for longer is counted dead, and its consoles must reconnect.
    #[arg(long, default_value = "6s", value_parser = humantime::parse_duration)]
    pub heartbeat_ttl: Duration,
    /// How often a snapshot of the state is stored and the command log
    /// trimmed before it (so the log, on disk or in Redis, stays short and a
    /// starting node does not replay from the beginning).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub snapshot_interval: Duration,
    /// Legacy, not durable: POST every item event (created, queued,
    /// assigned, accepted, handed off, transferred, taken over, closed) as a
    /// signed JSON webhook to this `http://` or `https://` URL; repeatable.
    /// Needs --webhook-secret. Prefer an integration's own webhooks
    /// (durable, with presence events). See docs/webhooks.md.
    #[arg(long = "webhook-url", value_name = "URL", requires = "webhook_secret")]
    pub webhook_urls: Vec<String>,
    /// The secret webhooks are signed with (`X-Switchboard-Signature:
    /// sha256=<HMAC-SHA256 of the body>`).
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// A PEM file of CA certificates trusted for `https://` webhook URLs
    /// besides the system's (a private CA).
    #[arg(long, value_name = "PEM_FILE")]
    pub webhook_ca: Option<std::path::PathBuf>,
    /// Attempts per webhook event before it becomes a dead letter.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub webhook_attempts: u32,
    /// Wait before a webhook's second attempt; doubled before each further
    /// one.
    #[arg(long, default_value = "500ms", value_parser = positive_duration)]
    pub webhook_backoff: Duration,
    /// Integration events kept in the journal (the event stream resumes and
    /// webhooks catch up within them). About 1 KB each, in the data
    /// directory, in Redis, or with --memory in this process's memory; see
    /// docs/webhooks.md, Retention.
    #[arg(long, default_value_t = 500_000, value_parser = clap::value_parser!(u64).range(1_000..))]
    pub event_retention: u64,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// A duration over zero (`10s`, `500ms`): a zero read timeout would close
/// every connection at once.
fn positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err("must be over zero".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}
