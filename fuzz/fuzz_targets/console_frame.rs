//! A console's WebSocket text frame, as `transport::ws` parses it: every
//! input is either a typed request or a typed error, never a panic; an
//! accepted frame's id is one the protocol allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchboard::transport::frames::parse_frame;

fuzz_target!(|data: &[u8]| {
    // The socket hands over text only (tungstenite checks UTF-8 first).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_frame(text) {
        Ok(frame) => {
            assert!(!frame.request.name().is_empty());
            match &frame.id {
                Value::Null => {}
                Value::Number(n) => assert!(n.is_i64() || n.is_u64()),
                Value::String(s) => assert!(s.len() <= 64),
                other => panic!("accepted an id of another type: {other}"),
            }
        }
        Err(e) => assert!(!e.error.message.is_empty()),
    }
});
