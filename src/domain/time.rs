//! Time as the core sees it: a plain number passed in by the caller.

/// Milliseconds since the Unix epoch. The core never reads a clock: every
/// method that needs the time takes one of these, so tests step time by hand.
pub type Millis = u64;
