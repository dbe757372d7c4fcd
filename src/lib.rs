//! Switchboard: a real-time presence and work-routing server for help desks.
//!
//! # Layout
//! - [`domain`]: the pure core (presence, active cells, eligibility, routing,
//!   queues, work items). No I/O, no async, no clock reads.
pub mod domain;
