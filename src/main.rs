//! The `switchboard` binary: parses the command line and calls the library.

use std::io::BufRead;
use std::path::PathBuf;

use clap::Parser;
use switchboard::auth::{hash_password, random_secret};
use switchboard::cli::{Cli, Command, LogFormat, ServeArgs};
use switchboard::directory_file;
use switchboard::domain::CoreConfig;
use switchboard::integrations::{new_key, toml_entry};
use switchboard::server::EventsConfig;
use switchboard::server::{self, ServerConfig, Storage};
use switchboard::store::redis_config::RedisConfig;
use switchboard::transport::TransportConfig;
use switchboard::webhooks::WebhookConfig;
use switchboard::webhooks::delivery::DeliveryConfig;
use tracing_subscriber::EnvFilter;

fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn static_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.unwrap_or_else(|| {
        let local = PathBuf::from("static");
        if local.is_dir() {
            local
        } else {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/static"))
        }
    })
}

/// The legacy webhook flags, checked: `http://` or `https://` URLs and a
/// non-empty secret.
fn webhook_config(
    urls: Vec<String>,
    secret: Option<String>,
) -> Result<Option<WebhookConfig>, String> {
    if urls.is_empty() {
        return Ok(None);
    }
    let secret = secret
        .filter(|s| !s.is_empty())
        .ok_or("--webhook-url needs --webhook-secret (or SWITCHBOARD_WEBHOOK_SECRET)")?;
    for url in &urls {
        match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                return Err(format!(
                    "--webhook-url {url}: not an http:// or https:// URL"
                ));
            }
        }
    }
    Ok(Some(WebhookConfig::new(urls, secret)))
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    init_logs(args.log_format);
    let (directory, demo) = match &args.directory {
        Some(path) => (
            directory_file::load(path).map_err(|e| e.to_string())?,
            false,
        ),
        None => (directory_file::demo(), true),
    };
    let api_key = match args.api_key {
        Some(k) if k.len() >= 16 => k,
        Some(_) => return Err("--api-key must be at least 16 characters".into()),
        None => {
            let k = random_secret();
            println!("API key for integrations (X-Api-Key, integration \"cli\", every group): {k}");
            k
        }
    };
    let ca_pem = match &args.webhook_ca {
        Some(path) => {
            Some(std::fs::read(path).map_err(|e| format!("--webhook-ca {}: {e}", path.display()))?)
        }
        None => None,
    };
    let mut webhooks = webhook_config(args.webhook_urls, args.webhook_secret)?;
    if let Some(w) = &mut webhooks {
        w.ca_pem = ca_pem.clone();
    }
    let events = EventsConfig {
        capacity: args.event_retention as usize,
        delivery: DeliveryConfig {
            max_attempts: args.webhook_attempts,
            first_backoff: args.webhook_backoff,
            ca_pem,
            ..DeliveryConfig::default()
        },
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(
        %addr,
        agents = directory.directory.agents().len(),
        groups = directory.directory.groups().len(),
        demo,
        "Switchboard listening; consoles at http://{addr}/"
    );
    let storage = match (args.redis_url, args.memory) {
        (Some(url), _) => Storage::Redis(RedisConfig {
            url,
            min_replicas: args.redis_min_replicas,
            replica_timeout: args.redis_replica_timeout,
        }),
        (None, true) => Storage::Memory,
        (None, false) => Storage::Embedded(args.data_dir),
    };
    let config = ServerConfig {
        directory,
        api_key,
        core: CoreConfig {
            grace_ms: args.grace.as_millis() as u64,
        },
        token_ttl: args.token_ttl,
        transport: TransportConfig {
            outbox_capacity: args.outbox_capacity.max(1),
            static_dir: static_dir(args.static_dir),
            allowed_origins: args.allowed_origins,
            max_sessions_per_agent: args.max_sessions_per_agent,
            max_connections: args.max_connections,
            login_attempts_per_ip_per_min: args.login_attempts_per_ip,
            visitor_starts_per_ip_per_min: args.visitor_starts_per_ip,
            login_attempts_per_username_per_min: args.login_attempts_per_user,
            ws_requests_per_sec: args.ws_requests_per_sec,
            ws_request_burst: args.ws_request_burst,
            header_read_timeout: args.header_read_timeout,
            body_read_timeout: args.body_read_timeout,
            max_connections_per_address: args.max_connections_per_address,
            ..TransportConfig::default()
        },
        shutdown_timeout: args.shutdown_timeout,
        storage,
        heartbeat_ttl: args.heartbeat_ttl,
        snapshot_interval: args.snapshot_interval,
        auto_away: args.auto_away,
        demo: args.demo,
        webhooks,
        events,
    };
    server::run(listener, config, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::HashPassword => {
            let mut line = String::new();
            match std::io::stdin().lock().read_line(&mut line) {
                Ok(_) if !line.trim_end_matches(['\r', '\n']).is_empty() => {
                    println!("{}", hash_password(line.trim_end_matches(['\r', '\n'])));
                    Ok(())
                }
                Ok(_) => Err("no password on standard input".to_string()),
                Err(e) => Err(format!("cannot read standard input: {e}")),
            }
        }
        Command::NewApiKey { name, groups } => {
            let key = new_key();
            println!("API key for {name} (X-Api-Key; store it now, it is not kept anywhere):");
            println!("{key}");
            println!();
            println!("Add to the directory file:");
            print!("{}", toml_entry(&name, &key, &groups));
            Ok(())
        }
        Command::ExportDirectory(args) => tokio::runtime::Runtime::new()
            .map_err(|e| e.to_string())
            .and_then(|rt| {
                rt.block_on(switchboard::admin_client::export(*args))
                    .map_err(|e| e.to_string())
            }),
        Command::ImportDirectory(args) => tokio::runtime::Runtime::new()
            .map_err(|e| e.to_string())
            .and_then(|rt| {
                rt.block_on(switchboard::admin_client::import(*args))
                    .map_err(|e| e.to_string())
            }),
        Command::Serve(args) => tokio::runtime::Runtime::new()
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(serve(*args))),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
