//! Revocation inside the engine: closing the sessions of a login that logged
//! out, and of an agent an admin disabled, on every node.
//!
//! # How the close reaches every node
//! - **Disable** is a domain command (`Command::SetEnabled`), so every
//!   replica applies it at the same log position: the core drops the agent's
//!   sessions from presence and logs it out there, and each node, seeing the
//!   resulting `Enabled { new: false }` event in `publish`, closes the
//!   sessions it holds locally (close reason `revoked`). No node has to know
//!   another's sessions.
//! - **Logout** is about one token, which the domain knows nothing of, so it
//!   travels as the log entry `LogOp::CloseLogin(digest)`, in every mode.
//!   Each session remembers the digest of
//!   the token that opened it; each node closes its own sessions with that
//!   digest (close reason `logged_out`) and tells the core they closed, as
//!   for any closed tab, so the agent gets the usual reconnect grace from
//!   its other logins. The log is the one path every node already reads in
//!   order, so this needs no second channel between nodes.

use serde_json::{Value, json};

use super::Engine;
use super::outbox::CloseReason;
use super::submit::{After, Pending, Step};
use crate::api_error::{ApiError, ErrorCode};
use crate::domain::LogOp;
use crate::domain::{AgentIx, Command};

pub(super) use crate::replica::errors::account_disabled;

impl Engine {
    /// `POST /api/agents/{id}/disable|enable`: only an admin's token (the
    /// core checks the role, so every replica agrees).
    pub(super) fn set_enabled_step(
        &self,
        actor: Option<AgentIx>,
        agent: &str,
        enabled: bool,
    ) -> Result<Step, ApiError> {
        let actor = actor.ok_or_else(|| {
            ApiError::new(
                ErrorCode::Forbidden,
                "only an admin may disable or enable an account",
            )
        })?;
        let target = self
            .state
            .core()
            .directory()
            .agent_ix(agent)
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no agent {agent:?}")))?;
        Ok(Step::Submit(
            Command::SetEnabled {
                actor,
                agent: target,
                enabled,
            },
            After::Status(target),
        ))
    }

    /// A token was revoked: close the sessions it opened, on every node,
    /// once the log brings `CloseLogin` back.
    pub(super) fn handle_logout(&mut self, login: String, answer: super::Answer<Value>) {
        self.submit_op(
            LogOp::CloseLogin(login),
            After::Nothing,
            Pending::Value(answer),
        );
    }

    /// Closes this node's sessions opened with the token of digest `login`
    /// (`logged_out`), and tells the core each one closed. Applied on every
    /// node (`LogOp::CloseLogin`).
    pub(super) fn close_login_sessions(&mut self, login: &str) {
        let key = crate::auth::login_key(login);
        let mine: Vec<u64> = self
            .local
            .by_id
            .iter()
            .filter(|(_, e)| e.login == key)
            .map(|(&s, _)| s)
            .collect();
        for session in mine {
            self.say_closing(session, CloseReason::LoggedOut);
            self.handle_disconnect(session);
        }
    }

    /// The agent's account was disabled (applied on every replica): close
    /// its sessions on this node (`revoked`). The core already dropped them
    /// from presence, so it is not told again.
    pub(super) fn revoke_agent_sessions(&mut self, agent: AgentIx) {
        let sessions = std::mem::take(&mut self.local.of_agent[agent.0 as usize]);
        for session in sessions {
            self.say_closing(session, CloseReason::Revoked);
            if let Some(entry) = self.local.by_id.remove(&session) {
                for g in entry.watching {
                    self.local.watchers[g.0 as usize].retain(|&s| s != session);
                }
            }
        }
    }

    /// An admin reset the agent's password (applied on every replica):
    /// close its sessions on this node (`revoked`) and tell the core each
    /// one closed, as for a logout.
    pub(super) fn close_agent_sessions(&mut self, agent: AgentIx) {
        for session in self.local.of_agent[agent.0 as usize].clone() {
            self.say_closing(session, CloseReason::Revoked);
            self.handle_disconnect(session);
        }
    }

    /// Pushes the `closing` frame and marks why the session ends; the
    /// socket task sends the close frame once the engine drops the sender.
    fn say_closing(&self, session: u64, reason: CloseReason) {
        if let Some(entry) = self.local.by_id.get(&session) {
            let frame = json!({ "type": "closing", "reason": reason.as_str() });
            entry.outbox.push(frame.to_string().into());
            entry.outbox.close(reason);
        }
    }
}
