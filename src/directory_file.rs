//! The directory file (TOML): agents with roles and argon2 password hashes,
//! groups with per-channel settings, memberships with per-channel handling.
//! The format is documented in docs/configuration.md; the demo directory
//! built into the binary (`demo_directory.toml`) is an example of it.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::domain::{
    AgentDef, AwayReason, Channel, ChannelConfig, Directory, DirectoryError, Distribution,
    GroupDef, GroupSettings, Handling, MembershipSpec, Roles, StatusSettings,
};
use crate::integrations::{GroupScope, Integration, IntegrationKey};

/// The demo directory shipped inside the binary.
pub const DEMO_DIRECTORY: &str = include_str!("demo_directory.toml");

/// A directory ready to serve: the routing directory, the password hashes
/// and the integrations' key digests (kept apart so the core never holds a
/// secret).
#[derive(Debug, Clone)]
pub struct LoadedDirectory {
    /// Agents, groups, memberships.
    pub directory: Directory,
    /// Agent id → argon2 PHC string.
    pub password_hashes: HashMap<String, String>,
    /// API keys (as SHA-256 digests) of the integrations, with their scopes.
    pub integrations: Vec<IntegrationKey>,
    /// The TOML it was parsed from (stored in Redis for the other nodes).
    pub source: String,
    /// Whether the file has a `[statuses]` table (an import without one
    /// leaves the live statuses alone).
    pub has_statuses: bool,
}

/// Why a directory file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryFileError {
    /// The file could not be read.
    #[error("cannot read directory file {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown or mistyped fields.
    #[error("directory file is not valid: {0}")]
    Parse(#[from] toml::de::Error),
    /// A role, channel or reference is wrong.
    #[error("directory file is not valid: {0}")]
    Invalid(String),
    /// Ids clash or references dangle.
    #[error("directory is not consistent: {0}")]
    Directory(#[from] DirectoryError),
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileDirectory {
    #[serde(default)]
    agents: Vec<FileAgent>,
    #[serde(default)]
    groups: Vec<FileGroup>,
    #[serde(default)]
    memberships: Vec<FileMembership>,
    #[serde(default)]
    integrations: Vec<FileIntegration>,
    /// Absent: the default reasons (Lunch, Break, Meeting, Training).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    statuses: Option<FileStatuses>,
}

/// `[statuses]`: the reasons agents may give, besides the plain
/// `Available` and `Unavailable`.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileStatuses {
    #[serde(default)]
    managers_set_status: bool,
    #[serde(default)]
    reasons: Vec<FileReason>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileReason {
    name: String,
    #[serde(default)]
    takes_chats: bool,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileIntegration {
    name: String,
    key_sha256: String,
    groups: Vec<String>,
    /// It may assign work to an agent at its cap.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    override_capacity: bool,
    /// It may set the status and active cells of its groups' agents.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    set_presence: bool,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileAgent {
    id: String,
    name: String,
    #[serde(default = "default_roles")]
    roles: Vec<String>,
    /// Absent: the agent has no password until an admin sets one (an
    /// export without hashes; on import an existing agent keeps its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password_hash: Option<String>,
    #[serde(default = "default_chat_cap")]
    chat_cap: u32,
    #[serde(default = "yes")]
    manage_own_status: bool,
    #[serde(default)]
    take_assigned: bool,
}

fn default_roles() -> Vec<String> {
    vec!["agent".into()]
}
fn default_chat_cap() -> u32 {
    3
}
fn yes() -> bool {
    true
}

#[derive(Deserialize, Serialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct FileChannel {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    distribution: FileDistribution,
    /// After closing an item of this channel, no new one for this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wrap_up: Option<String>,
    /// Held items per channel that keep this channel's new work away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blocked_by: Option<FileBlockedBy>,
}

#[derive(Deserialize, Serialize, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct FileBlockedBy {
    #[serde(default, skip_serializing_if = "is_zero")]
    chat: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    ticket: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    voice: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Deserialize, Serialize, Default, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum FileDistribution {
    #[default]
    Auto,
    Pull,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileGroup {
    id: String,
    name: String,
    #[serde(default)]
    department: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    chat: Option<FileChannel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ticket: Option<FileChannel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    voice: Option<FileChannel>,
    #[serde(default)]
    queue_when_offline: bool,
    ring_timeout: Option<String>,
    no_response_timeout: Option<String>,
    disconnect_timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    not_responding_after: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    abandon_after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auto_away: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reassign_tickets_after_logout: Option<String>,
}

fn duration_ms(
    group: &str,
    field: &str,
    v: Option<&str>,
    default: u64,
) -> Result<u64, DirectoryFileError> {
    match v {
        None => Ok(default),
        Some(text) => humantime::parse_duration(text)
            .map(|d| d.as_millis() as u64)
            .map_err(|e| {
                DirectoryFileError::Invalid(format!("group {group}: {field} {text:?}: {e}"))
            }),
    }
}

#[derive(Deserialize, Serialize, Clone, Copy, Default)]
#[serde(rename_all = "snake_case")]
enum FileHandling {
    #[default]
    Primary,
    Secondary,
    Pull,
    Excluded,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileMembership {
    agent: String,
    group: String,
    #[serde(default)]
    chat: FileHandling,
    #[serde(default)]
    ticket: FileHandling,
    #[serde(default)]
    voice: FileHandling,
    #[serde(skip_serializing_if = "Option::is_none")]
    ticket_cap: Option<u32>,
    active: Option<Vec<String>>,
}

fn channel_config(
    group: &str,
    name: &str,
    c: Option<FileChannel>,
) -> Result<ChannelConfig, DirectoryFileError> {
    // A channel left out of a group is disabled there (N/A for everyone).
    let c = c.unwrap_or(FileChannel {
        enabled: false,
        distribution: FileDistribution::Auto,
        wrap_up: None,
        blocked_by: None,
    });
    let b = c.blocked_by.unwrap_or_default();
    Ok(ChannelConfig {
        enabled: c.enabled,
        distribution: match c.distribution {
            FileDistribution::Auto => Distribution::Auto,
            FileDistribution::Pull => Distribution::Pull,
        },
        wrap_up_ms: duration_ms(group, &format!("{name}.wrap_up"), c.wrap_up.as_deref(), 0)?,
        blocked_by: [b.chat, b.ticket, b.voice],
    })
}

fn handling(h: FileHandling) -> Handling {
    match h {
        FileHandling::Primary => Handling::Primary,
        FileHandling::Secondary => Handling::Secondary,
        FileHandling::Pull => Handling::Pull,
        FileHandling::Excluded => Handling::Excluded,
    }
}

/// Parses a directory from TOML text.
pub fn parse(text: &str) -> Result<LoadedDirectory, DirectoryFileError> {
    let file: FileDirectory = toml::from_str(text)?;
    let group_ids: Vec<String> = file.groups.iter().map(|g| g.id.clone()).collect();
    let integrations = integrations(file.integrations, &group_ids)?;
    let mut password_hashes = HashMap::new();
    let mut agents = Vec::with_capacity(file.agents.len());
    for a in file.agents {
        let mut roles = Roles::default();
        for r in &a.roles {
            match r.as_str() {
                "agent" => roles.agent = true,
                "manager" => roles.manager = true,
                "admin" => roles.admin = true,
                other => {
                    return Err(DirectoryFileError::Invalid(format!(
                        "agent {}: unknown role {other:?} (agent, manager, admin)",
                        a.id
                    )));
                }
            }
        }
        if let Some(hash) = a.password_hash {
            if argon2::PasswordHash::new(&hash).is_err() {
                return Err(DirectoryFileError::Invalid(format!(
                    "agent {}: password_hash is not a PHC string (use `switchboard hash-password`)",
                    a.id
                )));
            }
            password_hashes.insert(a.id.clone(), hash);
        }
        agents.push(AgentDef {
            id: a.id,
            name: a.name,
            roles,
            chat_cap: a.chat_cap,
            manage_own_status: a.manage_own_status,
            take_assigned: a.take_assigned,
        });
    }
    let defaults = GroupSettings::default();
    let mut settings = Vec::with_capacity(file.groups.len());
    for g in &file.groups {
        settings.push(GroupSettings {
            ring_timeout_ms: duration_ms(
                &g.id,
                "ring_timeout",
                g.ring_timeout.as_deref(),
                defaults.ring_timeout_ms,
            )?,
            no_response_ms: duration_ms(
                &g.id,
                "no_response_timeout",
                g.no_response_timeout.as_deref(),
                defaults.no_response_ms,
            )?,
            disconnect_ms: duration_ms(
                &g.id,
                "disconnect_timeout",
                g.disconnect_timeout.as_deref(),
                defaults.disconnect_ms,
            )?,
            queue_when_offline: g.queue_when_offline,
            not_responding_after: g
                .not_responding_after
                .unwrap_or(defaults.not_responding_after),
            abandon_after_ms: duration_ms(
                &g.id,
                "abandon_after",
                g.abandon_after.as_deref(),
                defaults.abandon_after_ms,
            )?,
            auto_away_ms: duration_ms(
                &g.id,
                "auto_away",
                g.auto_away.as_deref(),
                defaults.auto_away_ms,
            )?,
            reassign_tickets_after_logout_ms: g
                .reassign_tickets_after_logout
                .as_deref()
                .map(|text| duration_ms(&g.id, "reassign_tickets_after_logout", Some(text), 0))
                .transpose()?,
        });
    }
    let mut groups = Vec::with_capacity(file.groups.len());
    for g in file.groups {
        let channels = [
            channel_config(&g.id, "chat", g.chat)?,
            channel_config(&g.id, "ticket", g.ticket)?,
            channel_config(&g.id, "voice", g.voice)?,
        ];
        groups.push(GroupDef {
            id: g.id,
            name: g.name,
            department: g.department,
            channels,
        });
    }
    let mut memberships = Vec::new();
    for m in file.memberships {
        let initially_active = match &m.active {
            None => [true; 3],
            Some(list) => {
                let mut on = [false; 3];
                for name in list {
                    let c = Channel::parse(name).ok_or_else(|| {
                        DirectoryFileError::Invalid(format!(
                            "membership {}/{}: unknown channel {name:?} (chat, ticket, voice)",
                            m.agent, m.group
                        ))
                    })?;
                    on[c.index()] = true;
                }
                on
            }
        };
        memberships.push(MembershipSpec {
            agent: m.agent,
            group: m.group,
            handling: [handling(m.chat), handling(m.ticket), handling(m.voice)],
            ticket_cap: m.ticket_cap,
            initially_active,
        });
    }
    let mut directory = Directory::new(agents, groups, memberships)?;
    for (i, st) in settings.into_iter().enumerate() {
        directory.set_settings(crate::domain::GroupIx(i as u32), st);
    }
    let has_statuses = file.statuses.is_some();
    if let Some(st) = file.statuses {
        let settings = StatusSettings {
            reasons: st
                .reasons
                .into_iter()
                .map(|r| AwayReason {
                    name: r.name,
                    takes_chats: r.takes_chats,
                })
                .collect(),
            managers_set_status: st.managers_set_status,
        };
        StatusSettings::check_reasons(&settings.reasons)
            .map_err(|e| DirectoryFileError::Invalid(format!("statuses: {e}")))?;
        directory.set_status_settings(settings);
    }
    Ok(LoadedDirectory {
        has_statuses,
        source: text.to_string(),
        directory,
        password_hashes,
        integrations,
    })
}

/// Checks the `[[integrations]]`: unique names, a 64-hex-digit digest used
/// once, and a scope of existing groups or `["*"]`.
fn integrations(
    file: Vec<FileIntegration>,
    group_ids: &[String],
) -> Result<Vec<IntegrationKey>, DirectoryFileError> {
    let mut out: Vec<IntegrationKey> = Vec::with_capacity(file.len());
    for i in file {
        let bad =
            |why: String| DirectoryFileError::Invalid(format!("integration {}: {why}", i.name));
        if i.name.is_empty() || out.iter().any(|k| k.integration.name == i.name) {
            return Err(bad("name is empty or used twice".into()));
        }
        let mut digest = [0u8; 32];
        hex::decode_to_slice(i.key_sha256.to_ascii_lowercase(), &mut digest).map_err(|_| {
            bad("key_sha256 is not 64 hex digits (use `switchboard new-api-key`)".into())
        })?;
        if out.iter().any(|k| k.key_sha256 == digest) {
            return Err(bad("key_sha256 is another integration's key".into()));
        }
        let scope = if i.groups.iter().any(|g| g == "*") {
            if i.groups.len() > 1 {
                return Err(bad("groups is either [\"*\"] or a list of group ids".into()));
            }
            GroupScope::All
        } else {
            if i.groups.is_empty() {
                return Err(bad("groups is empty (use [\"*\"] for every group)".into()));
            }
            if let Some(g) = i.groups.iter().find(|g| !group_ids.contains(g)) {
                return Err(bad(format!("unknown group {g:?}")));
            }
            GroupScope::Only(i.groups.clone())
        };
        out.push(IntegrationKey {
            key_sha256: digest,
            integration: std::sync::Arc::new(Integration {
                name: i.name,
                scope,
                override_capacity: i.override_capacity,
                set_presence: i.set_presence,
            }),
        });
    }
    Ok(out)
}

/// An integration as an export writes it: its current key's digest.
pub struct ExportedIntegration {
    /// Its name.
    pub name: String,
    /// Where it may act.
    pub scope: GroupScope,
    /// SHA-256 (hex) of its current key.
    pub key_sha256: String,
    /// It may assign work to an agent at its cap.
    pub override_capacity: bool,
    /// It may set the status and active cells of its groups' agents.
    pub set_presence: bool,
}

/// What an export writes besides the directory itself.
pub struct ExportExtras<'a> {
    /// Agent id → password hash, when the export includes them.
    pub password_hashes: Option<&'a std::collections::BTreeMap<String, String>>,
    /// Integrations: name, scope and the SHA-256 (hex) of their current key.
    pub integrations: Vec<ExportedIntegration>,
    /// Whether a member's cell is on now (exported as `active`).
    pub active: &'a dyn Fn(crate::domain::MemberIx, Channel) -> bool,
}

/// Writes a live directory as a directory file that [`parse`] reads back
/// to the same directory: agents, groups with their timers, memberships
/// with their handling and current active cells, integrations.
pub fn to_toml(dir: &Directory, extras: &ExportExtras<'_>) -> Result<String, toml::ser::Error> {
    let file_distribution = |d: Distribution| match d {
        Distribution::Auto => FileDistribution::Auto,
        Distribution::Pull => FileDistribution::Pull,
    };
    let file_handling = |h: Handling| match h {
        Handling::Primary => FileHandling::Primary,
        Handling::Secondary => FileHandling::Secondary,
        Handling::Pull => FileHandling::Pull,
        Handling::Excluded => FileHandling::Excluded,
    };
    let timer = |ms: u64| {
        Some(humantime::format_duration(std::time::Duration::from_millis(ms)).to_string())
    };
    let agents = dir
        .live_agents()
        .map(|(_, a)| FileAgent {
            id: a.id.clone(),
            name: a.name.clone(),
            roles: crate::replica::audit::roles_json(a.roles)
                .into_iter()
                .map(str::to_string)
                .collect(),
            password_hash: extras.password_hashes.and_then(|h| h.get(&a.id).cloned()),
            chat_cap: a.chat_cap,
            manage_own_status: a.manage_own_status,
            take_assigned: a.take_assigned,
        })
        .collect();
    let mut memberships = Vec::new();
    let groups = dir
        .live_groups()
        .map(|(g, def)| {
            for &m in dir.members_of(g) {
                let ms = dir.membership(m);
                memberships.push(FileMembership {
                    agent: dir.agent(ms.agent).id.clone(),
                    group: def.id.clone(),
                    chat: file_handling(ms.handling[0]),
                    ticket: file_handling(ms.handling[1]),
                    voice: file_handling(ms.handling[2]),
                    ticket_cap: ms.ticket_cap,
                    active: Some(
                        Channel::ALL
                            .into_iter()
                            .filter(|&c| (extras.active)(m, c))
                            .map(|c| c.as_str().to_string())
                            .collect(),
                    ),
                });
            }
            let s = dir.settings(g);
            let channel = |c: Channel| {
                let cfg = def.channels[c.index()];
                Some(FileChannel {
                    enabled: cfg.enabled,
                    distribution: file_distribution(cfg.distribution),
                    wrap_up: (cfg.wrap_up_ms > 0)
                        .then(|| timer(cfg.wrap_up_ms))
                        .flatten(),
                    blocked_by: (cfg.blocked_by != [0; 3]).then_some(FileBlockedBy {
                        chat: cfg.blocked_by[0],
                        ticket: cfg.blocked_by[1],
                        voice: cfg.blocked_by[2],
                    }),
                })
            };
            FileGroup {
                id: def.id.clone(),
                name: def.name.clone(),
                department: def.department.clone(),
                chat: channel(Channel::Chat),
                ticket: channel(Channel::Ticket),
                voice: channel(Channel::Voice),
                queue_when_offline: s.queue_when_offline,
                ring_timeout: timer(s.ring_timeout_ms),
                no_response_timeout: timer(s.no_response_ms),
                disconnect_timeout: timer(s.disconnect_ms),
                not_responding_after: Some(s.not_responding_after),
                abandon_after: timer(s.abandon_after_ms),
                auto_away: (s.auto_away_ms > 0)
                    .then(|| timer(s.auto_away_ms))
                    .flatten(),
                reassign_tickets_after_logout: s.reassign_tickets_after_logout_ms.and_then(timer),
            }
        })
        .collect();
    let integrations = extras
        .integrations
        .iter()
        .map(|i| FileIntegration {
            name: i.name.clone(),
            key_sha256: i.key_sha256.clone(),
            groups: match &i.scope {
                GroupScope::All => vec!["*".into()],
                GroupScope::Only(ids) => ids.clone(),
            },
            override_capacity: i.override_capacity,
            set_presence: i.set_presence,
        })
        .collect();
    let st = dir.status_settings();
    let statuses = Some(FileStatuses {
        managers_set_status: st.managers_set_status,
        reasons: st
            .reasons
            .iter()
            .map(|r| FileReason {
                name: r.name.clone(),
                takes_chats: r.takes_chats,
            })
            .collect(),
    });
    let file = FileDirectory {
        agents,
        groups,
        memberships,
        integrations,
        statuses,
    };
    toml::to_string(&file)
}

/// Reads and parses a directory file.
pub fn load(path: &Path) -> Result<LoadedDirectory, DirectoryFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| DirectoryFileError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text)
}

/// The built-in demo directory.
pub fn demo() -> LoadedDirectory {
    parse(DEMO_DIRECTORY).expect("the built-in demo directory is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_directory_parses() {
        let d = demo();
        assert!(d.directory.agents().len() >= 20);
        assert_eq!(d.directory.groups().len(), 6);
    }

    #[test]
    fn unknown_fields_and_roles_are_refused() {
        let bad = "[[agents]]\nid='a'\nname='A'\npassword_hash='x'\ncolour='red'\n";
        assert!(matches!(parse(bad), Err(DirectoryFileError::Parse(_))));
        let hash =
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$4gq9H8iBx0S+aAfr2cvp4aGHxqSqt0RqkbxoBsQU5UE";
        let bad_role =
            format!("[[agents]]\nid='a'\nname='A'\nroles=['boss']\npassword_hash='{hash}'\n");
        assert!(matches!(
            parse(&bad_role),
            Err(DirectoryFileError::Invalid(_))
        ));
    }

    #[test]
    fn integrations_are_checked() {
        let base = "[[groups]]\nid='g'\nname='G'\nchat={}\n";
        let digest = "ab".repeat(32);
        let ok =
            format!("{base}[[integrations]]\nname='crm'\nkey_sha256='{digest}'\ngroups=['g']\n");
        let d = parse(&ok).unwrap();
        assert_eq!(d.integrations.len(), 1);
        assert!(d.integrations[0].integration.allows("g"));
        assert!(!d.integrations[0].integration.allows("h"));
        assert!(!d.integrations[0].integration.override_capacity);
        let allowed = ok.replace("groups=['g']", "groups=['g']\noverride_capacity=true");
        assert!(
            parse(&allowed).unwrap().integrations[0]
                .integration
                .override_capacity
        );
        for bad in [
            format!("{base}[[integrations]]\nname='x'\nkey_sha256='{digest}'\ngroups=['h']\n"),
            format!("{base}[[integrations]]\nname='x'\nkey_sha256='zz'\ngroups=['g']\n"),
            format!("{base}[[integrations]]\nname='x'\nkey_sha256='{digest}'\ngroups=[]\n"),
            format!("{ok}[[integrations]]\nname='y'\nkey_sha256='{digest}'\ngroups=['*']\n"),
        ] {
            assert!(
                matches!(parse(&bad), Err(DirectoryFileError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn missing_channel_is_disabled_and_dangling_membership_refused() {
        let hash =
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$4gq9H8iBx0S+aAfr2cvp4aGHxqSqt0RqkbxoBsQU5UE";
        let text = format!(
            "[[agents]]\nid='a'\nname='A'\npassword_hash='{hash}'\n[[groups]]\nid='g'\nname='G'\nchat={{}}\n[[memberships]]\nagent='a'\ngroup='nope'\n"
        );
        assert!(matches!(
            parse(&text),
            Err(DirectoryFileError::Directory(_))
        ));
    }

    #[test]
    fn statuses_are_read_checked_and_written_back() {
        let base = "[[groups]]\nid='g'\nname='G'\nchat={}\n";
        let d = parse(base).unwrap();
        assert!(!d.has_statuses);
        assert_eq!(
            d.directory.status_settings(),
            &StatusSettings::default(),
            "no table: the default reasons"
        );
        let text = format!(
            "{base}[statuses]\nmanagers_set_status=true\n[[statuses.reasons]]\nname='Back office'\ntakes_chats=true\n"
        );
        let d = parse(&text).unwrap();
        assert!(d.has_statuses);
        let st = d.directory.status_settings();
        assert!(st.managers_set_status);
        assert_eq!(st.reasons.len(), 1);
        assert!(st.reasons[0].takes_chats);
        let written = to_toml(
            &d.directory,
            &ExportExtras {
                password_hashes: None,
                integrations: Vec::new(),
                active: &|_, _| true,
            },
        )
        .unwrap();
        assert_eq!(parse(&written).unwrap().directory.status_settings(), st);
        let twice = format!(
            "{base}[statuses]\n[[statuses.reasons]]\nname='Lunch'\n[[statuses.reasons]]\nname='LUNCH'\n"
        );
        assert!(matches!(parse(&twice), Err(DirectoryFileError::Invalid(_))));
    }
}
