//! The JSON shapes of docs/protocol.md §2.3, built from the core's state.
//!
//! They borrow from the core, so building one costs no string copies; each
//! push is serialised once and the same bytes go to every recipient.

use serde::Serialize;

use crate::domain::{AgentIx, Channel, Core, GroupIx, Item, Millis};

/// An item as clients see it.
#[derive(Debug, Serialize)]
pub struct ItemView<'a> {
    id: u64,
    group: &'a str,
    channel: &'static str,
    priority: i32,
    title: &'a str,
    state: &'static str,
    assignee: Option<&'a str>,
    assignee_name: Option<&'a str>,
    created_at: Millis,
    assigned_at: Option<Millis>,
    history: Vec<HistoryView<'a>>,
    /// A visitor chat whose visitor has no page open: since when.
    #[serde(skip_serializing_if = "Option::is_none")]
    visitor_left_at: Option<Millis>,
}

/// One change of hands of an item.
#[derive(Debug, Serialize)]
pub struct HistoryView<'a> {
    at: Millis,
    why: &'static str,
    from: Option<&'a str>,
    by: Option<&'a str>,
    by_name: Option<&'a str>,
    note: &'a str,
}

/// Builds the view of an item.
pub fn item<'a>(core: &'a Core, item: &'a Item) -> ItemView<'a> {
    let dir = core.directory();
    let assignee = item.assignee.map(|a| dir.agent(a));
    ItemView {
        id: item.id,
        group: &dir.group(item.group).id,
        channel: item.channel.as_str(),
        priority: item.priority,
        title: &item.title,
        state: item.state.as_str(),
        assignee: assignee.map(|a| a.id.as_str()),
        assignee_name: assignee.map(|a| a.name.as_str()),
        created_at: item.created_at,
        assigned_at: item.assigned_at,
        visitor_left_at: item.visitor_gone_since,
        history: item
            .history
            .iter()
            .map(|h| HistoryView {
                at: h.at,
                why: h.why.as_str(),
                from: h.from.map(|a| dir.agent(a).id.as_str()),
                by: h.by.map(|a| dir.agent(a).id.as_str()),
                by_name: h.by.map(|a| dir.agent(a).name.as_str()),
                note: &h.note,
            })
            .collect(),
    }
}

/// Per-channel counts.
#[derive(Debug, Serialize)]
pub struct PerChannel<T> {
    chat: T,
    ticket: T,
    voice: T,
}

impl<T> PerChannel<T> {
    fn from_fn(mut f: impl FnMut(Channel) -> T) -> Self {
        PerChannel {
            chat: f(Channel::Chat),
            ticket: f(Channel::Ticket),
            voice: f(Channel::Voice),
        }
    }
}

/// One active cell of an agent.
#[derive(Debug, Serialize)]
pub struct CellView<'a> {
    group: &'a str,
    channel: &'static str,
    state: &'static str,
    /// Present (true) only when one more item of this channel would exceed
    /// the agent's cap here, so the board can count who is at cap per group
    /// and channel without the snapshot growing by a field per cell.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    at_cap: bool,
}

/// Whether one more item of `c` would exceed a cap of membership `m`: the
/// chat cap, the group's ticket cap, one call at a time. The same rule the
/// core routes by, read from what the core exposes.
pub(super) fn at_cap(core: &Core, m: crate::domain::MemberIx, c: Channel) -> bool {
    let dir = core.directory();
    let ms = dir.membership(m);
    let load = core.presence(ms.agent).load[c.index()];
    match c {
        Channel::Chat => load >= dir.agent(ms.agent).chat_cap,
        Channel::Ticket => ms.ticket_cap.is_some_and(|cap| core.tickets_held(m) >= cap),
        Channel::Voice => load > 0,
    }
}

/// What caused an `agent_status` push.
#[derive(Debug, Serialize)]
pub struct ChangeView<'a> {
    /// `login`, `logout`, `availability`, `active`, `load`.
    pub what: &'static str,
    /// An agent id or `system`.
    pub by: &'a str,
}

/// An agent's status (docs/protocol.md AgentStatus).
#[derive(Debug, Serialize)]
pub struct AgentStatusView<'a> {
    agent: &'a str,
    name: &'a str,
    roles: Vec<&'static str>,
    logged_in: bool,
    available: bool,
    /// `Available`, `Unavailable`, `Not Responding` or the reason the
    /// agent gave.
    status: &'a str,
    /// Per channel in wrap-up, when it ends (absent when none runs).
    #[serde(skip_serializing_if = "WrapUps::is_empty")]
    wrap_up: WrapUps,
    receiving: bool,
    since: Millis,
    load: PerChannel<u32>,
    cells: Vec<CellView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    change: Option<ChangeView<'a>>,
}

/// The on/off/na word of a cell.
pub fn cell_state(core: &Core, m: crate::domain::MemberIx, c: Channel) -> &'static str {
    if core.directory().is_not_applicable(m, c) {
        "na"
    } else if core.is_active(m, c) {
        "on"
    } else {
        "off"
    }
}

/// Builds an agent's status.
pub fn agent_status<'a>(
    core: &'a Core,
    a: AgentIx,
    change: Option<ChangeView<'a>>,
) -> AgentStatusView<'a> {
    let dir = core.directory();
    let def = dir.agent(a);
    let p = core.presence(a);
    let mut cells = Vec::with_capacity(dir.memberships_of(a).len() * 3);
    for &m in dir.memberships_of(a) {
        let group = &dir.group(dir.membership(m).group).id;
        for c in Channel::ALL {
            let state = cell_state(core, m, c);
            cells.push(CellView {
                group,
                channel: c.as_str(),
                state,
                at_cap: state != "na" && at_cap(core, m, c),
            });
        }
    }
    AgentStatusView {
        agent: &def.id,
        name: &def.name,
        roles: role_names(def.roles),
        logged_in: p.logged_in,
        available: p.available,
        status: p.status(),
        wrap_up: wrap_ups(p),
        receiving: core.is_receiving(a),
        since: p.since,
        load: PerChannel::from_fn(|c| p.load[c.index()]),
        cells,
        change,
    }
}

/// A queue's depth and oldest wait.
#[derive(Debug, Serialize)]
pub struct QueueStat {
    depth: usize,
    oldest_created_at: Option<Millis>,
}

/// A group's queues (docs/protocol.md GroupStatus).
#[derive(Debug, Serialize)]
pub struct GroupStatusView<'a> {
    id: &'a str,
    name: &'a str,
    department: &'a str,
    queues: PerChannel<QueueStat>,
}

/// Builds a group's status.
pub fn group_status(core: &Core, g: GroupIx) -> GroupStatusView<'_> {
    let def = core.directory().group(g);
    GroupStatusView {
        id: &def.id,
        name: &def.name,
        department: &def.department,
        queues: PerChannel::from_fn(|c| QueueStat {
            depth: core.queue_len(g, c),
            oldest_created_at: core.queue_oldest(g, c),
        }),
    }
}

/// The `data` of the `ok` answering `watch` (docs/protocol.md §2.3) as JSON
/// text: the sequence number it was built at, the watched groups' queues and
/// the status of every member of them (each listed once, in agent order).
///
/// Written straight to text, never through a `serde_json::Value`: with 100
/// groups of 1,000 agents and managers in all of them it is ~2 MB, and a
/// `Value` tree of it cost a `BTreeMap` and owned strings per object (seconds
/// of engine time and a GB of heap for 100 supervisors logging in).
///
/// A client that watches in pieces never gets this text: its session reads
/// the head ([`watch_head`]) and then the agents a piece at a time
/// ([`watch_agents_piece`]) from the state as the socket drains.
pub fn watch_text(core: &Core, groups: &[GroupIx], seq: u64) -> String {
    let mut out = watch_head(core, groups, seq);
    out.push_str(",\"agents\":[");
    watch_agents_piece(core, groups, 0, &mut out, usize::MAX);
    out.push_str("]}");
    out
}

/// The start of a `watch` answer's `data`, up to the agents:
/// `{"seq":S,"groups":[GroupStatus…]`.
pub fn watch_head(core: &Core, groups: &[GroupIx], seq: u64) -> String {
    let group_views: Vec<GroupStatusView<'_>> =
        groups.iter().map(|&g| group_status(core, g)).collect();
    let mut out = format!("{{\"seq\":{seq},\"groups\":").into_bytes();
    let _ = serde_json::to_writer(&mut out, &group_views);
    String::from_utf8(out).unwrap_or_default()
}

/// Appends to `out`, comma separated, the statuses of the agents a board of
/// `groups` shows (every member of one of them, once, in agent order),
/// starting at the agent of index `from`, while `out` stays within `limit`
/// bytes (the first status goes in whatever its size). Returns the index to
/// start the next piece at, or `None` when the list is done.
///
/// Reads the state as it is now: a board built piece by piece shows each
/// agent as it was when its piece was read.
pub fn watch_agents_piece(
    core: &Core,
    groups: &[GroupIx],
    from: u32,
    out: &mut String,
    limit: usize,
) -> Option<u32> {
    let dir = core.directory();
    let count = u32::try_from(dir.agents().len()).unwrap_or(u32::MAX);
    let mut bytes = std::mem::take(out).into_bytes();
    let mut wrote = false;
    let mut next = None;
    for a in from..count {
        let shown = dir
            .memberships_of(AgentIx(a))
            .iter()
            .any(|&m| groups.contains(&dir.membership(m).group));
        if !shown {
            continue;
        }
        let before = bytes.len();
        if wrote {
            bytes.push(b',');
        }
        let _ = serde_json::to_writer(&mut bytes, &agent_status(core, AgentIx(a), None));
        if wrote && bytes.len() > limit {
            bytes.truncate(before);
            next = Some(a);
            break;
        }
        wrote = true;
    }
    *out = String::from_utf8(bytes).unwrap_or_default();
    next
}

/// One row of the Active Groups view.
#[derive(Debug, Serialize)]
pub struct ActiveGroupRow<'a> {
    id: &'a str,
    name: &'a str,
    department: &'a str,
    cells: PerChannel<&'static str>,
    distribution: PerChannel<&'static str>,
}

/// The agent part of `welcome`.
#[derive(Debug, Serialize)]
pub struct WelcomeAgent<'a> {
    id: &'a str,
    name: &'a str,
    roles: Vec<&'static str>,
    available: bool,
    status: &'a str,
    /// When the status (or login) last changed.
    since: Millis,
    #[serde(skip_serializing_if = "WrapUps::is_empty")]
    wrap_up: WrapUps,
}

/// Channels in wrap-up and when each ends.
pub type WrapUps = std::collections::BTreeMap<&'static str, Millis>;

/// The wrap-ups an agent has running.
pub fn wrap_ups(p: &crate::domain::AgentPresence) -> WrapUps {
    Channel::ALL
        .into_iter()
        .filter(|c| p.wrap_up_until[c.index()] != 0)
        .map(|c| (c.as_str(), p.wrap_up_until[c.index()]))
        .collect()
}

/// A status an agent may pick, as the console lists it.
#[derive(Debug, Serialize)]
pub struct StatusChoice<'a> {
    name: &'a str,
    takes_chats: bool,
}

/// The statuses of the help desk: the two plain ones, then its reasons.
pub fn status_choices(core: &Core) -> Vec<StatusChoice<'_>> {
    let plain = [
        (crate::domain::AVAILABLE, true),
        (crate::domain::UNAVAILABLE, false),
    ]
    .into_iter()
    .map(|(name, takes_chats)| StatusChoice { name, takes_chats });
    let reasons = core
        .directory()
        .status_settings()
        .reasons
        .iter()
        .map(|r| StatusChoice {
            name: &r.name,
            takes_chats: r.takes_chats,
        });
    plain.chain(reasons).collect()
}

/// The first frame of every session.
#[derive(Debug, Serialize)]
pub struct Welcome<'a> {
    /// `welcome`, or `groups_changed` when pushed again after a directory
    /// change.
    pub(super) r#type: &'static str,
    seq: u64,
    session: u64,
    grace_ms: Millis,
    agent: WelcomeAgent<'a>,
    groups: Vec<ActiveGroupRow<'a>>,
    /// The statuses the agent may pick.
    statuses: Vec<StatusChoice<'a>>,
    work: Vec<ItemView<'a>>,
    queues: Vec<ItemView<'a>>,
    /// The conversations of the visitor chats in `work`, so that a console
    /// that reloads in the middle of one has it back.
    pub(super) chats: Vec<WelcomeChat>,
}

/// A visitor chat the agent holds, with its messages so far.
#[derive(Debug, Serialize)]
pub struct WelcomeChat {
    /// The chat's item id.
    pub item: crate::domain::ItemId,
    /// Its messages, oldest first.
    pub messages: Vec<crate::replica::chats::ChatMessage>,
}

/// The role names of an agent.
pub fn role_names(roles: crate::domain::Roles) -> Vec<&'static str> {
    crate::replica::audit::roles_json(roles)
}

/// Builds the `welcome` frame: Active Groups, availability, work, queues.
pub fn welcome(core: &Core, a: AgentIx, session: u64, seq: u64) -> Welcome<'_> {
    let dir = core.directory();
    let def = dir.agent(a);
    let mut groups = Vec::new();
    let mut queues = Vec::new();
    for &m in dir.memberships_of(a) {
        let g = dir.membership(m).group;
        let gd = dir.group(g);
        groups.push(ActiveGroupRow {
            id: &gd.id,
            name: &gd.name,
            department: &gd.department,
            cells: PerChannel::from_fn(|c| cell_state(core, m, c)),
            distribution: PerChannel::from_fn(|c| match gd.channels[c.index()].distribution {
                crate::domain::Distribution::Auto => "auto",
                crate::domain::Distribution::Pull => "pull",
            }),
        });
        for c in Channel::ALL {
            if !dir.is_not_applicable(m, c) {
                queues.extend(core.queue(g, c).map(|i| item(core, i)));
            }
        }
    }
    let work = core
        .presence(a)
        .held
        .iter()
        .filter_map(|id| core.item(*id))
        .map(|i| item(core, i))
        .collect();
    Welcome {
        r#type: "welcome",
        seq,
        session,
        grace_ms: core.config().grace_ms,
        agent: WelcomeAgent {
            id: &def.id,
            name: &def.name,
            roles: role_names(def.roles),
            available: core.presence(a).available,
            status: core.presence(a).status(),
            since: core.presence(a).since,
            wrap_up: wrap_ups(core.presence(a)),
        },
        groups,
        statuses: status_choices(core),
        work,
        queues,
        chats: Vec::new(),
    }
}
