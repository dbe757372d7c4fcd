//! The server's one clock: wall-clock milliseconds that advance with tokio's
//! clock.
//!
//! Every reader of time above the domain core asks here, never
//! `SystemTime::now()`. The wall clock is read once, the first time; from then
//! on time is that reading plus the tokio [`Instant`] elapsed since. In
//! production that is the wall clock; in a test that pauses tokio's clock
//! (`tokio::time::pause`/`advance`), grace periods, ring timeouts, hand-offs
//! and auto-away fire when the test advances time, with no real sleeping.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::domain::Millis;

/// The wall clock and tokio's clock, read together once.
static ORIGIN: OnceLock<(Millis, Instant)> = OnceLock::new();

/// Milliseconds since the Unix epoch, as the domain core takes them.
pub fn now_ms() -> Millis {
    let (wall, at) = *ORIGIN.get_or_init(|| {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as Millis)
            .unwrap_or(0);
        (wall, Instant::now())
    });
    wall + Instant::now().saturating_duration_since(at).as_millis() as Millis
}
