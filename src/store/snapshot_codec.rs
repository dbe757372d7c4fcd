//! The stored form of a replica snapshot: its JSON, deflated, in base64.
//!
//! Why: with 50,000 agents the JSON is ~12 MB, and Redis runs the store
//! script on it for 34-113 ms (BENCHMARKS.md §7), during which every node's
//! log appends wait. The JSON repeats the same keys for every agent, so it
//! deflates many times over; base64 keeps the stored value a string, so the
//! [`SharedLog`](super::SharedLog) contract and both stores are unchanged.
//! Compressing and decompressing run on a blocking thread, never on the
//! engine.
//!
//! A stored value that starts with `{` is a snapshot of an earlier release
//! (plain JSON) and is read as it is.

use std::io::{Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;

use super::StoreError;

/// Marks a stored snapshot as deflated JSON in base64.
const PREFIX: &str = "deflate+base64:";

/// The stored form of a snapshot's JSON.
pub fn encode(json: &str) -> String {
    let mut deflate = DeflateEncoder::new(Vec::new(), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = deflate.write_all(json.as_bytes());
    let packed = deflate.finish().unwrap_or_default();
    let mut out = String::with_capacity(PREFIX.len() + packed.len() * 4 / 3 + 4);
    out.push_str(PREFIX);
    STANDARD.encode_string(packed, &mut out);
    out
}

/// The snapshot's JSON from its stored form (either form).
pub fn decode(stored: &str) -> Result<String, StoreError> {
    if stored.starts_with('{') {
        return Ok(stored.to_string());
    }
    let Some(b64) = stored.strip_prefix(PREFIX) else {
        return Err(StoreError::Corrupt(
            "the stored snapshot is neither JSON nor deflated JSON".into(),
        ));
    };
    let packed = STANDARD
        .decode(b64)
        .map_err(|e| StoreError::Corrupt(format!("snapshot base64: {e}")))?;
    let mut json = String::new();
    DeflateDecoder::new(packed.as_slice())
        .read_to_string(&mut json)
        .map_err(|e| StoreError::Corrupt(format!("snapshot deflate: {e}")))?;
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_comes_back_as_it_was_stored_and_smaller() {
        let json = format!(
            "{{\"agents\":[{}]}}",
            vec!["{\"sessions\":[],\"logged_in\":false,\"available\":true}"; 1000].join(",")
        );
        let stored = encode(&json);
        assert!(stored.starts_with(PREFIX));
        assert!(
            stored.len() * 10 < json.len(),
            "{} of {}",
            stored.len(),
            json.len()
        );
        assert_eq!(decode(&stored).unwrap(), json);
    }

    #[test]
    fn a_plain_json_snapshot_of_an_earlier_release_is_read_as_it_is() {
        assert_eq!(decode("{\"format\":1}").unwrap(), "{\"format\":1}");
    }

    #[test]
    fn anything_else_is_refused_as_corrupt() {
        for bad in ["", "garbage", "deflate+base64:!!!", "deflate+base64:AAAA"] {
            assert!(
                matches!(decode(bad), Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }
    }
}
