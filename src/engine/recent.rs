//! The bounded ring of recent pushes that lets a reconnecting console resume
//! from the last sequence it saw instead of starting over.
//!
//! Each agent-facing push is kept with its sequence and audience (one agent,
//! or the receiving members of a group's channel). Sequences come from the
//! events every replica applies in the same order, so a console may resume on
//! any node. Board (watch) pushes are not kept: a board re-sends `watch` and
//! gets a fresh snapshot.

use std::collections::VecDeque;

use super::outbox::Frame;
use crate::domain::{AgentIx, Channel, Core, GroupIx, Handling};

/// Who a kept push was for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Audience {
    /// One agent's sessions.
    Agent(AgentIx),
    /// Every member of the group not excluded from the channel.
    Receivers(GroupIx, Channel),
}

/// The ring.
#[derive(Debug)]
pub(super) struct RecentPushes {
    frames: VecDeque<(u64, Audience, Frame)>,
    capacity: usize,
    /// The newest sequence evicted: a resume from before it is too old.
    evicted_upto: u64,
}

impl RecentPushes {
    pub(super) fn new(capacity: usize) -> Self {
        RecentPushes {
            frames: VecDeque::with_capacity(capacity.min(1 << 16)),
            capacity,
            evicted_upto: 0,
        }
    }

    /// Forgets everything: after a resync, no kept push is known to match
    /// the state, so a resume from before `seq` gets a fresh `welcome`.
    pub(super) fn reset(&mut self, seq: u64) {
        self.frames.clear();
        self.evicted_upto = seq;
    }

    pub(super) fn record(&mut self, seq: u64, audience: Audience, frame: &Frame) {
        if self.frames.len() == self.capacity
            && let Some((old, _, _)) = self.frames.pop_front()
        {
            self.evicted_upto = old;
        }
        self.frames.push_back((seq, audience, frame.clone()));
    }

    /// The pushes `agent` missed after `seen`, in order; `None` when the ring
    /// no longer holds them all (or `seen` is from another history), so the
    /// console must start from a fresh `welcome`.
    pub(super) fn missed(
        &self,
        core: &Core,
        agent: AgentIx,
        seen: u64,
        now_seq: u64,
    ) -> Option<Vec<Frame>> {
        if seen < self.evicted_upto || seen > now_seq {
            return None;
        }
        let dir = core.directory();
        let mut out: Vec<Frame> = Vec::new();
        let mut last: Option<(u64, *const u8)> = None;
        for (seq, audience, frame) in &self.frames {
            if *seq <= seen {
                continue;
            }
            let for_me = match *audience {
                Audience::Agent(a) => a == agent,
                Audience::Receivers(g, c) => dir
                    .member(agent, g)
                    .is_some_and(|m| dir.membership(m).handling[c.index()] != Handling::Excluded),
            };
            // One push may be kept for several audiences: send it once.
            let key = (*seq, frame.as_str().as_ptr());
            if for_me && last != Some(key) {
                out.push(frame.clone());
                last = Some(key);
            }
        }
        Some(out)
    }
}
