//! The TOML directory a run needs (`switchboard serve --directory FILE`), and
//! the in-memory layout the scenarios derive from it.

use std::collections::{BTreeMap, BTreeSet};

use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, Version};
use clap::Args;
use serde::{Deserialize, Serialize};

/// Flags that shape a generated directory (shared by `directory` and the scenarios,
/// so that a scenario run without `--directory` derives the same layout as the file
/// the server loaded, given the same flags).
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct GenArgs {
    /// Number of auto-distribution groups (ids g0001, ...); chat and ticket enabled, voice disabled.
    #[arg(long, default_value_t = 10)]
    pub groups: usize,
    /// Number of pull groups (ids p0001, ...): chat and ticket distribution `pull`.
    #[arg(long, default_value_t = 1)]
    pub pull_groups: usize,
    /// How many agents (the first ones) are also members of every pull group, with handling `pull`
    /// (they are the takers of the `takes` scenario).
    #[arg(long, default_value_t = 20)]
    pub pull_members: usize,
    /// How many auto groups each agent is a primary member of (round robin over the groups).
    #[arg(long, default_value_t = 1)]
    pub groups_per_agent: usize,
    /// Chat cap of every agent (omitted from the file when 3, the server's default).
    #[arg(long, default_value_t = 3)]
    pub chat_cap: u32,
    /// The one password of every generated account (hashed once, argon2id m=8 KiB, t=1, p=1).
    #[arg(long, default_value = "loadtest-pw")]
    pub password: String,
}

/// The whole directory file.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct Directory {
    /// People.
    #[serde(default)]
    pub agents: Vec<Agent>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// Who is in which group, with which handling.
    #[serde(default)]
    pub memberships: Vec<Membership>,
}

/// One person.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Agent {
    /// Login name.
    pub id: String,
    /// Display name.
    pub name: String,
    /// agent, manager, admin.
    pub roles: Vec<String>,
    /// PHC string.
    pub password_hash: String,
    /// Chat cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_cap: Option<u32>,
}

/// Per-channel configuration of a group.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ChannelCfg {
    /// Enabled.
    pub enabled: bool,
    /// auto | pull.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<String>,
}

/// One group.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Group {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Department label.
    pub department: String,
    /// Chat channel.
    pub chat: ChannelCfg,
    /// Ticket channel.
    pub ticket: ChannelCfg,
    /// Voice channel.
    pub voice: ChannelCfg,
    /// How long a logged-out agent keeps its tickets of the group (unset:
    /// for good).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reassign_tickets_after_logout: Option<String>,
}

/// One membership.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Membership {
    /// Agent id.
    pub agent: String,
    /// Group id.
    pub group: String,
    /// primary | secondary | pull | excluded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<String>,
    /// primary | secondary | pull | excluded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// primary | secondary | pull | excluded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// Ticket cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_cap: Option<u32>,
    /// Initial active cells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<Vec<String>>,
}

/// Hashes `password` once with cheap argon2id parameters (m=8 KiB, t=1, p=1).
pub fn cheap_hash(password: &str) -> String {
    let params = Params::new(8, 1, 1, None).expect("argon2 params");
    let a2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = *b"switchboard-load";
    let h: PasswordHash = a2
        .hash_password_with_salt(password.as_bytes(), &salt)
        .expect("argon2 hash");
    h.to_string()
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

/// Builds the directory described by `a`.
/// `agents` plain agents (a00001...), `supervisors` supervisors (s0001..., roles
/// agent+manager, members of every group, excluded from every channel: they watch,
/// they are never routed work).
pub fn generate(agents: usize, supervisors: usize, a: &GenArgs) -> Directory {
    let hash = cheap_hash(&a.password);
    let mut d = Directory::default();
    let cap = if a.chat_cap == 3 {
        None
    } else {
        Some(a.chat_cap)
    };
    for i in 1..=agents {
        d.agents.push(Agent {
            id: format!("a{i:05}"),
            name: format!("Agent {i:05}"),
            roles: vec!["agent".into()],
            password_hash: hash.clone(),
            chat_cap: cap,
        });
    }
    for i in 1..=supervisors {
        d.agents.push(Agent {
            id: format!("s{i:04}"),
            name: format!("Supervisor {i:04}"),
            roles: vec!["agent".into(), "manager".into()],
            password_hash: hash.clone(),
            chat_cap: None,
        });
    }
    let auto = |enabled: bool| ChannelCfg {
        enabled,
        distribution: if enabled { s("auto") } else { None },
    };
    for i in 1..=a.groups {
        d.groups.push(Group {
            id: format!("g{i:04}"),
            name: format!("Group {i:04}"),
            department: format!("Dept {:02}", (i - 1) % 10 + 1),
            chat: auto(true),
            ticket: auto(true),
            voice: auto(false),
            reassign_tickets_after_logout: None,
        });
    }
    for i in 1..=a.pull_groups {
        d.groups.push(Group {
            id: format!("p{i:04}"),
            name: format!("Pull {i:04}"),
            department: "Pull".into(),
            chat: ChannelCfg {
                enabled: true,
                distribution: s("pull"),
            },
            ticket: ChannelCfg {
                enabled: true,
                distribution: s("pull"),
            },
            voice: auto(false),
            reassign_tickets_after_logout: None,
        });
    }
    if a.groups > 0 {
        let per = a.groups_per_agent.clamp(1, a.groups);
        for i in 0..agents {
            let mut seen = BTreeSet::new();
            for j in 0..per {
                let g = (i * per + j) % a.groups;
                if !seen.insert(g) {
                    continue;
                }
                d.memberships.push(Membership {
                    agent: format!("a{:05}", i + 1),
                    group: format!("g{:04}", g + 1),
                    chat: s("primary"),
                    ticket: s("primary"),
                    voice: s("excluded"),
                    ticket_cap: None,
                    active: Some(vec!["chat".into(), "ticket".into()]),
                });
            }
        }
    }
    for p in 1..=a.pull_groups {
        for i in 0..a.pull_members.min(agents) {
            d.memberships.push(Membership {
                agent: format!("a{:05}", i + 1),
                group: format!("p{p:04}"),
                chat: s("pull"),
                ticket: s("pull"),
                voice: s("excluded"),
                ticket_cap: None,
                active: Some(vec!["chat".into(), "ticket".into()]),
            });
        }
    }
    let all_groups: Vec<String> = d.groups.iter().map(|g| g.id.clone()).collect();
    for i in 1..=supervisors {
        for g in &all_groups {
            d.memberships.push(Membership {
                agent: format!("s{i:04}"),
                group: g.clone(),
                chat: s("excluded"),
                ticket: s("excluded"),
                voice: s("excluded"),
                ticket_cap: None,
                active: Some(vec![]),
            });
        }
    }
    d
}

/// What a scenario needs to know about the directory.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Plain agents (no manager/admin role), in file order.
    pub agents: Vec<String>,
    /// Managers/admins (watchers), in file order.
    pub supervisors: Vec<String>,
    /// Every account: agents first, then supervisors; the index is the account index.
    pub accounts: Vec<String>,
    /// account id -> index in `accounts`.
    pub index: BTreeMap<String, u32>,
    /// Groups whose chat is enabled with `auto` distribution.
    pub auto_groups: Vec<String>,
    /// Groups with a `pull` distribution on chat or ticket.
    pub pull_groups: Vec<String>,
    /// account index -> groups it is a member of.
    pub groups_of: Vec<Vec<String>>,
    /// account indices of the members of each pull group with a non-excluded handling.
    pub pull_members: BTreeMap<String, Vec<u32>>,
}

impl Layout {
    /// Derives the layout from a directory.
    pub fn from_directory(d: &Directory) -> Layout {
        let is_sup = |a: &Agent| a.roles.iter().any(|r| r == "manager" || r == "admin");
        let agents: Vec<String> = d
            .agents
            .iter()
            .filter(|a| !is_sup(a))
            .map(|a| a.id.clone())
            .collect();
        let supervisors: Vec<String> = d
            .agents
            .iter()
            .filter(|a| is_sup(a))
            .map(|a| a.id.clone())
            .collect();
        let accounts: Vec<String> = agents.iter().chain(supervisors.iter()).cloned().collect();
        let index: BTreeMap<String, u32> = accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.clone(), i as u32))
            .collect();
        let auto_groups = d
            .groups
            .iter()
            .filter(|g| {
                g.chat.enabled && g.chat.distribution.as_deref().unwrap_or("auto") == "auto"
            })
            .map(|g| g.id.clone())
            .collect();
        let pull: Vec<String> = d
            .groups
            .iter()
            .filter(|g| {
                (g.chat.enabled && g.chat.distribution.as_deref() == Some("pull"))
                    || (g.ticket.enabled && g.ticket.distribution.as_deref() == Some("pull"))
            })
            .map(|g| g.id.clone())
            .collect();
        let mut groups_of = vec![Vec::new(); accounts.len()];
        let mut pull_members: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for m in &d.memberships {
            if let Some(&i) = index.get(&m.agent) {
                groups_of[i as usize].push(m.group.clone());
                let excluded = m.chat.as_deref() == Some("excluded")
                    && m.ticket.as_deref() == Some("excluded");
                if pull.contains(&m.group) && !excluded && (i as usize) < agents.len() {
                    pull_members.entry(m.group.clone()).or_default().push(i);
                }
            }
        }
        Layout {
            agents,
            supervisors,
            accounts,
            index,
            auto_groups,
            pull_groups: pull,
            groups_of,
            pull_members,
        }
    }
}
