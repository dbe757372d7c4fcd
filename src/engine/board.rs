//! The supervisors' board that answers `watch`, as JSON text: whole, or in
//! pieces read from the state as the session's socket drains.
//!
//! **Whole**: built from the views straight to text ([`views::watch_text`]),
//! once per state of the core: supervisors log in together (a shift starts)
//! and watch the same groups, so the last snapshot is kept with the sequence
//! number it was built at and handed out again, shared, until the next event.
//!
//! Why the sequence number is enough: every change of the core that a view
//! shows (presence, cells, load, queues) comes out of [`Engine::publish`] as
//! an event, and each event bumps `seq`. Who may watch which group is checked
//! by the caller before it asks for a snapshot.
//!
//! **In pieces**: the `watch` answers only the head (`seq` and the groups)
//! and a [`BoardCursor`]; the session then asks for one piece of agents at a
//! time ([`Engine::board_piece`]), each read from the state as it is when
//! asked, and asks for the next only when its socket has room. No whole
//! board is ever built for it: a supervisor's session costs the server a few
//! pieces in flight, not a copy of a megabyte snapshot that the allocator
//! keeps after it is sent. The session was registered as a watcher before
//! the head was read, so every change after the head's `seq` reaches it as a
//! push; a piece that already shows such a change is then overwritten by
//! that push, which carries the same or a later state.

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

/// How a `watch` is answered.
#[derive(Debug)]
pub enum WatchAnswer {
    /// The whole snapshot: the `data` of the `ok`.
    Whole(Arc<str>),
    /// The head of the `data` (`{"seq":S,"groups":[…]`, without the closing
    /// brace) and where the agents start.
    Pieces {
        /// `{"seq":S,"groups":[…]`.
        head: String,
        /// The first piece of agents.
        cursor: BoardCursor,
    },
}

/// Where the agents of a board sent in pieces are: the groups it shows and
/// the index of the next agent to consider. Held by the session between two
/// pieces; the engine keeps nothing of it.
#[derive(Debug)]
pub struct BoardCursor {
    groups: Box<[GroupIx]>,
    next: u32,
}

/// One piece of agents and where the next starts.
#[derive(Debug)]
pub struct BoardPiece {
    /// The text asked for with the statuses appended, comma separated.
    pub text: String,
    /// Whether any status was appended.
    pub any: bool,
    /// Where the next piece starts; `None` when every agent was sent.
    pub rest: Option<BoardCursor>,
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

    /// The head of a board of `groups` sent in pieces, and its first cursor.
    pub(super) fn board_head(&self, groups: Vec<GroupIx>) -> WatchAnswer {
        WatchAnswer::Pieces {
            head: views::watch_head(self.state.core(), &groups, self.state.seq()),
            cursor: BoardCursor {
                groups: groups.into_boxed_slice(),
                next: 0,
            },
        }
    }

    /// Appends to `out` the next piece of agents at `cursor`, while `out`
    /// stays within `limit` bytes.
    pub(super) fn board_piece(
        &self,
        mut cursor: BoardCursor,
        mut out: String,
        limit: usize,
    ) -> BoardPiece {
        let before = out.len();
        let next = views::watch_agents_piece(
            self.state.core(),
            &cursor.groups,
            cursor.next,
            &mut out,
            limit,
        );
        BoardPiece {
            any: out.len() > before,
            text: out,
            rest: next.map(|n| {
                cursor.next = n;
                cursor
            }),
        }
    }
}
