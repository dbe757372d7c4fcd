//! The supervisors' board snapshot that answers `watch`, as JSON text.
//!
//! Built from the views straight to text ([`views::watch_text`]), once per
//! state of the core: supervisors log in together (a shift starts) and watch
//! the same groups, so the last snapshot is kept with the sequence number it
//! was built at and handed out again, shared, until the next event.
//!
//! Why the sequence number is enough: every change of the core that a view
//! shows (presence, cells, load, queues) comes out of [`Engine::publish`] as
//! an event, and each event bumps `seq`. Who may watch which group is checked
//! by the caller before it asks for a snapshot.

use std::sync::Arc;

use super::Engine;
use super::views;
use crate::domain::GroupIx;

/// The last `watch` snapshot built, owned by the engine task.
#[derive(Debug, Default)]
pub(super) struct BoardCache {
    last: Option<Snapshot>,
}

#[derive(Debug)]
struct Snapshot {
    seq: u64,
    groups: Vec<GroupIx>,
    json: Arc<str>,
}

impl Engine {
    /// The `data` of the `watch` answer for `groups`, as JSON text: the
    /// cached one when nothing changed since it was built for the same
    /// groups, a new one otherwise.
    pub(super) fn board_snapshot(&mut self, groups: &[GroupIx]) -> Arc<str> {
        if let Some(s) = &self.board.last
            && s.seq == self.state.seq()
            && s.groups == groups
        {
            return s.json.clone();
        }
        let json: Arc<str> = views::watch_text(self.state.core(), groups, self.state.seq()).into();
        self.board.last = Some(Snapshot {
            seq: self.state.seq(),
            groups: groups.to_vec(),
            json: json.clone(),
        });
        json
    }
}
