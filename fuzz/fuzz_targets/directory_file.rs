//! The TOML directory file (agents, groups, memberships, integrations), as
//! `serve --directory` and a node reading the stored directory parse it:
//! a bad file is a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::directory_file::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(loaded) = parse(text) {
        // What parsed is what the server will run with.
        assert_eq!(loaded.source, text);
    }
});
