//! Wrap-up: after an item of a channel is closed, its holder gets no new
//! work of that channel for the group's wrap-up time (to write notes, file
//! the call), or until it says it is ready.
//!
//! The time is per group and channel (0: none, the default, as before).
//! While it runs the agent is kept out of that channel's routing only; other
//! channels keep coming by their own rules.

use super::command::Reply;
use super::core::{Core, Timer};
use super::directory::{AgentIx, Channel, GroupIx};
use super::error::DomainError;
use super::event::Event;
use super::time::Millis;

impl Core {
    /// The holder of a closed item starts the wrap-up of its channel, when
    /// the group has one (a longer one already running is kept).
    pub(super) fn start_wrap_up(&mut self, now: Millis, a: AgentIx, g: GroupIx, c: Channel) {
        let ms = self.dir.group(g).channels[c.index()].wrap_up_ms;
        if ms == 0 {
            return;
        }
        let until = now.saturating_add(ms);
        let current = self.presence(a).wrap_up_until[c.index()];
        if current >= until {
            return;
        }
        if current != 0 {
            self.timers.remove(&(current, Timer::WrapUp(a, c)));
        }
        self.agent_mut(a).wrap_up_until[c.index()] = until;
        self.timers.insert((until, Timer::WrapUp(a, c)));
        self.events.push(Event::WrapUp {
            agent: a,
            channel: c,
            until: Some(until),
        });
    }

    /// A wrap-up timer fired: the channel's work comes again.
    pub(super) fn wrap_up_over(&mut self, a: AgentIx, c: Channel, at: Millis) {
        if self.presence(a).wrap_up_until[c.index()] == at {
            self.end_wrap_up(a, c);
        }
    }

    fn end_wrap_up(&mut self, a: AgentIx, c: Channel) {
        let until = std::mem::take(&mut self.agent_mut(a).wrap_up_until[c.index()]);
        if until == 0 {
            return;
        }
        self.timers.remove(&(until, Timer::WrapUp(a, c)));
        self.events.push(Event::WrapUp {
            agent: a,
            channel: c,
            until: None,
        });
        self.mark_agent_dirty(a, &[c]);
    }

    /// The agent says it is ready: every wrap-up ends now, and a Not
    /// Responding agent is back in routing.
    pub(super) fn ready(&mut self, now: Millis, a: AgentIx) -> Result<Reply, DomainError> {
        for c in Channel::ALL {
            self.end_wrap_up(a, c);
        }
        self.agent_acted(now, a);
        Ok(Reply::Done)
    }
}
