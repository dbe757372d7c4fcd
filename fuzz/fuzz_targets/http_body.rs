//! The JSON bodies of the HTTP API, parsed as the handlers parse them
//! (axum's `Json` extractor over the body bytes, then the handler's own
//! checks), the items API's included. The first byte picks the endpoint,
//! the rest is the body.
#![no_main]

use axum::Json;
use libfuzzer_sys::fuzz_target;
use switchboard::transport::bodies::{
    AssignBody, ItemPatchBody, LoginBody, MAX_TITLE_CHARS, MoveBody, StartBody, WorkBody,
};

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 6 {
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
        2 => {
            if let Ok(Json(start)) = Json::<StartBody>::from_bytes(body)
                && start.check().is_ok()
            {
                assert!(!start.name.trim().is_empty());
            }
        }
        3 => {
            if let Ok(Json(patch)) = Json::<ItemPatchBody>::from_bytes(body)
                && patch.check().is_ok()
            {
                assert!(patch.title.is_some() || patch.priority.is_some());
                assert!(
                    patch
                        .title
                        .is_none_or(|t| t.chars().count() <= MAX_TITLE_CHARS)
                );
            }
        }
        4 => {
            if let Ok(Json(to)) = Json::<MoveBody>::from_bytes(body) {
                let _ = to.check();
            }
        }
        _ => {
            let _ = Json::<AssignBody>::from_bytes(body);
        }
    }
});
