//! Switchboard: a real-time presence and work-routing server for help desks.
//!
//! # Layout
//! - [`domain`]: the pure core (presence, active cells, eligibility, routing,
//!   queues, work items). No I/O, no async, no clock reads.
//! - [`engine`]: the single task that owns the core and the local sessions.
//! - [`api_error`]: the typed errors every boundary answers with.
//! - [`auth`] and [`integrations`]: who a request comes from (login tokens,
//!   API keys scoped to groups).
pub mod api_error;
pub mod auth;
pub mod cli;
pub mod demo;
pub mod directory_file;
pub mod domain;
pub mod engine;
pub mod integrations;
pub mod metrics;
pub mod server;
pub mod store;
pub mod transport;
pub mod webhooks;
