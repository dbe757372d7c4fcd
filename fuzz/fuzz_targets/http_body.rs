//! The JSON bodies of the HTTP API, parsed as the handlers parse them
//! (axum's `Json` extractor over the body bytes, then the handler's own
//! checks). The first byte picks the endpoint, the rest is the body.
#![no_main]

use axum::Json;
use libfuzzer_sys::fuzz_target;
use switchboard::transport::bodies::{LoginBody, StartBody, WorkBody};

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            let _ = Json::<LoginBody>::from_bytes(body);
        }
        1 => {
            if let Ok(Json(work)) = Json::<WorkBody>::from_bytes(body)
                && let Ok(channel) = work.check()
            {
                assert_eq!(channel.as_str(), work.channel);
            }
        }
        _ => {
            if let Ok(Json(start)) = Json::<StartBody>::from_bytes(body)
                && start.check().is_ok()
            {
                assert!(!start.name.trim().is_empty());
            }
        }
    }
});
