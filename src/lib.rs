//! Switchboard: a real-time presence and work-routing server for help desks.
//!
//! # Layout
//! Layers point down only (`scripts/check-layers.sh` checks it in CI):
//!
//! - Layer 0, pure data and helpers:
//!   - [`domain`]: the pure core (presence, active cells, eligibility,
//!     routing, queues, work items) and the log entries every replica
//!     applies. No I/O, no async, no clock reads.
//!   - [`clock`]: the one clock above the core, wall time that advances with
//!     tokio's (paused in timer tests).
//!   - [`api_error`]: the typed errors every boundary answers with.
//!   - [`integrations`]: API keys of integrations, scoped to groups.
//! - Layer 1, things the engine uses:
//!   - [`store`]: the log and what goes with it (in memory, embedded SQLite,
//!     Redis), behind one contract.
//!   - [`auth`]: passwords, login tokens (in memory or in a store).
//!   - [`webhooks`]: signed outbound events: integrations' durable
//!     webhooks read from the store's event journal, and the legacy
//!     server-wide ones.
//!   - [`metrics`]: the Prometheus exporter and metric names.
//!   - [`directory_file`]: reading the TOML directory of agents and groups,
//!     and writing the live one back (export).
//!   - [`replica`]: the replicated state machine (the core, the event
//!     sequence, visitor chats, the audit), pure, fed log entries.
//! - Layer 2: [`engine`], the single task that owns the core and this node's
//!   sessions, a replica of the log in every mode.
//! - Layer 3: [`transport`], the HTTP API and WebSockets and the accept
//!   loop serving them; [`demo`], the simulated traffic of `serve --demo`.
//! - Layer 4: [`server`], starting a node over its storage and serving until
//!   shutdown; [`cli`], the command line; [`admin_client`], the
//!   `export-directory` and `import-directory` commands (clients of a running
//!   server's administration API).
pub mod admin_client;
pub mod api_error;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod demo;
pub mod directory_file;
pub mod domain;
pub mod engine;
pub mod integrations;
pub mod metrics;
pub mod replica;
pub mod server;
pub mod store;
pub mod transport;
pub mod webhooks;
