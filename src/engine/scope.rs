//! What an integration may touch: the groups of its scope
//! (`[[integrations]]` in the directory file), checked by the engine on
//! every HTTP request that names a group, an item or an agent, in the same
//! step that answers it.

use crate::api_error::{ApiError, ErrorCode};
use crate::domain::{AgentIx, Directory};
use crate::integrations::{GroupScope, Integration};

/// `forbidden` unless the integration (if the caller is one) may act in
/// group `id`.
pub(super) fn check_group(integration: Option<&Integration>, id: &str) -> Result<(), ApiError> {
    match integration {
        Some(i) if !i.allows(id) => Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("the integration {} may not act in group {id}", i.name),
        )),
        _ => Ok(()),
    }
}

/// `forbidden` unless the integration (if the caller is one) may act in
/// some group the agent belongs to (or in every group).
pub(super) fn check_agent(
    integration: Option<&Integration>,
    dir: &Directory,
    agent: AgentIx,
) -> Result<(), ApiError> {
    let Some(i) = integration else {
        return Ok(());
    };
    let visible = i.scope == GroupScope::All
        || dir
            .memberships_of(agent)
            .iter()
            .any(|&m| i.allows(&dir.group(dir.membership(m).group).id));
    if visible {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "the integration {} may not see agent {}",
                i.name,
                dir.agent(agent).id
            ),
        ))
    }
}
