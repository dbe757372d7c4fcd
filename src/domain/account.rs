//! Disabling and enabling an agent's account (admins only).
//!
//! A disabled agent is logged out at once: its sessions leave presence in the
//! same step, with no reconnect grace (the account is not coming back on a
//! page reload), and its held chats start the group's disconnect limit
//! exactly as after a grace that ran out, so they are handed off by the same
//! rule. Its tickets stay assigned, as for any logged-out holder. Opening a
//! session is refused while the account is disabled, so a console that
//! raced the disable (its token checked just before) cannot log it back in.

use super::command::{Actor, Reply};
use super::core::{Core, Timer};
use super::directory::AgentIx;
use super::error::DomainError;
use super::event::{Event, PresenceWhat};
use super::time::Millis;

impl Core {
    /// Whether an admin disabled the agent's account.
    pub fn is_disabled(&self, a: AgentIx) -> bool {
        self.presence(a).disabled
    }

    /// Applies `SetEnabled`: checks the actor is an admin and not disabling
    /// itself (the last admin could lock everyone out), then flips the flag;
    /// disabling logs the agent out at once.
    pub(super) fn set_enabled(
        &mut self,
        now: Millis,
        actor: AgentIx,
        a: AgentIx,
        enabled: bool,
    ) -> Result<Reply, DomainError> {
        if !self.dir.agent(actor).roles.admin {
            return Err(DomainError::Forbidden(
                "only an admin may disable or enable an account",
            ));
        }
        if actor == a && !enabled {
            return Err(DomainError::Forbidden(
                "you may not disable your own account",
            ));
        }
        let was_enabled = !self.presence(a).disabled;
        if was_enabled == enabled {
            return Ok(Reply::Done);
        }
        self.agents[a.0 as usize].disabled = !enabled;
        self.events.push(Event::Presence {
            at: now,
            by: Actor::Agent(actor),
            agent: a,
            what: PresenceWhat::Enabled {
                old: was_enabled,
                new: enabled,
            },
        });
        if !enabled {
            self.log_out_now(now, a, Actor::Agent(actor));
        }
        Ok(Reply::Done)
    }

    /// Closes every session of `a` and logs it out without a grace; held
    /// chats start their disconnect limit.
    pub(super) fn log_out_now(&mut self, now: Millis, a: AgentIx, by: Actor) {
        let agent = &mut self.agents[a.0 as usize];
        agent.sessions.clear();
        if let Some(until) = agent.grace_until.take() {
            self.timers.remove(&(until, Timer::Grace(a)));
        }
        if self.agents[a.0 as usize].logged_in {
            self.mark_logged_out(now, a, by);
        }
    }
}
