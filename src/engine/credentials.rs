//! Keeping this node's login and API-key checks on the replicated secrets:
//! after every change the log brings (and after a snapshot is restored),
//! the engine publishes a fresh [`CredentialTable`] that [`crate::auth::Auth`]
//! reads; an admin's password reset closes the agent's sessions here.

use std::sync::Arc;

use super::Engine;
use crate::auth::CredentialTable;

impl Engine {
    /// Publishes the current secrets to this node's authenticator.
    pub(super) fn publish_credentials(&self) {
        if let Some(out) = &self.credentials_out {
            let table = CredentialTable::from_credentials(self.state.credentials());
            out.send_replace(Arc::new(table));
        }
    }

    /// A secret changed (applied on every replica).
    pub(super) fn credentials_changed(&mut self, reset: Option<&str>) {
        self.publish_credentials();
        if let Some(agent) = reset
            && let Some(a) = self.state.core().directory().agent_ix(agent)
        {
            self.close_agent_sessions(a);
        }
    }
}
