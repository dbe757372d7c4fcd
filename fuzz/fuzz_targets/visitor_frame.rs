//! A visitor's WebSocket text frame, as `transport::visitor` parses it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::transport::frames::{VisitorFrame, parse_visitor_frame};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_visitor_frame(text) {
        Ok(VisitorFrame::Message { text: said }) => {
            assert!(text.contains("message"), "a message frame names its type");
            let _ = said.chars().count();
        }
        Err(e) => assert!(!e.message.is_empty()),
    }
});
