//! Property tests of the core's invariants: random command
//! sequences over a random small directory, with every invariant checked
//! after every step against the state before the step (the core is `Clone`)
//! and against simple reference models.
//!
//! Invariants checked after each step:
//! - no item is held by two agents; every held item's assignee lists it in
//!   `held` exactly once; loads and per-group ticket counts equal the counts;
//! - no item is both queued and assigned; queued items are exactly the
//!   queues' contents, each queue in reference order (priority desc, then
//!   created_at, then id) with matching positions;
//! - nobody ineligible is auto-assigned (Routed/Drained): the assignee is an
//!   auto member (primary/secondary) of an enabled auto channel, logged in,
//!   active, available for chats, within its caps after the step, and a
//!   Routed item goes to exactly `choose()` of the state before the step;
//! - caps are never exceeded except by a manager's take;
//! - a Drained assignment always takes the head of its queue;
//! - an eligible agent never idles while its auto queue has work;
//! - a refused command changes nothing and emits nothing; take, accept and
//!   close answer what a reference model of their rules says;
//! - presence: LoggedIn only when logged out, LoggedOut only when logged in
//!   with no session, and an open session means logged in.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use proptest::prelude::*;

use super::queue::Queue;
use super::*;

// ----- random directories -----

#[derive(Debug, Clone)]
struct AgentGen {
    manager: bool,
    admin: bool,
    chat_cap: u32,
    manage_own_status: bool,
    take_assigned: bool,
}

#[derive(Debug, Clone)]
struct MemberGen {
    handling: [Handling; 3],
    ticket_cap: Option<u32>,
    active: [bool; 3],
}

fn agent_gen() -> impl Strategy<Value = AgentGen> {
    (
        prop::bool::weighted(0.25),
        prop::bool::weighted(0.15),
        1u32..=3,
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(manager, admin, chat_cap, manage_own_status, take_assigned)| AgentGen {
                manager,
                admin,
                chat_cap,
                manage_own_status,
                take_assigned,
            },
        )
}

fn channel_config() -> impl Strategy<Value = ChannelConfig> {
    (
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.25),
        prop_oneof![3 => Just(0u64), 1 => 500u64..3_000],
        prop_oneof![3 => Just([0u32; 3]), 1 => [0u32..3, 0u32..3, 0u32..2]],
    )
        .prop_map(|(enabled, pull, wrap_up_ms, blocked_by)| ChannelConfig {
            enabled,
            distribution: if pull {
                Distribution::Pull
            } else {
                Distribution::Auto
            },
            wrap_up_ms,
            blocked_by,
        })
}

fn handling() -> impl Strategy<Value = Handling> {
    prop_oneof![
        5 => Just(Handling::Primary),
        3 => Just(Handling::Secondary),
        1 => Just(Handling::Pull),
        1 => Just(Handling::Excluded),
    ]
}

fn member_gen() -> impl Strategy<Value = MemberGen> {
    (
        [handling(), handling(), handling()],
        prop::option::weighted(0.4, 1u32..=2),
        [
            prop::bool::weighted(0.7),
            prop::bool::weighted(0.7),
            prop::bool::weighted(0.7),
        ],
    )
        .prop_map(|(handling, ticket_cap, active)| MemberGen {
            handling,
            ticket_cap,
            active,
        })
}

#[derive(Debug, Clone)]
struct DirGen {
    agents: Vec<AgentGen>,
    groups: Vec<[ChannelConfig; 3]>,
    /// One per group: short timers so that hand-offs happen within a case.
    settings: Vec<GroupSettings>,
    /// `agents.len() * groups.len()` slots, agent-major.
    members: Vec<Option<MemberGen>>,
}

fn settings_gen() -> impl Strategy<Value = GroupSettings> {
    (
        500u64..4_000,
        1_000u64..8_000,
        1_000u64..8_000,
        prop::bool::weighted(0.6),
        0u32..4,
        prop::option::weighted(0.6, 1_000u64..8_000),
    )
        .prop_map(
            |(
                ring_timeout_ms,
                no_response_ms,
                disconnect_ms,
                queue_when_offline,
                not_resp,
                reassign_tickets_after_logout_ms,
            )| GroupSettings {
                ring_timeout_ms,
                no_response_ms,
                disconnect_ms,
                queue_when_offline,
                not_responding_after: not_resp,
                abandon_after_ms: 2_000,
                auto_away_ms: 0,
                reassign_tickets_after_logout_ms,
            },
        )
}

fn dir_gen() -> impl Strategy<Value = DirGen> {
    (2usize..=6, 1usize..=3).prop_flat_map(|(na, ng)| {
        (
            prop::collection::vec(agent_gen(), na),
            prop::collection::vec([channel_config(), channel_config(), channel_config()], ng),
            prop::collection::vec(settings_gen(), ng),
            prop::collection::vec(prop::option::weighted(0.7, member_gen()), na * ng),
        )
            .prop_map(|(agents, groups, settings, members)| DirGen {
                agents,
                groups,
                settings,
                members,
            })
    })
}

const GRACE: Millis = 1_000;

fn build(d: &DirGen) -> Core {
    let agents = d
        .agents
        .iter()
        .enumerate()
        .map(|(i, a)| AgentDef {
            id: format!("a{i}"),
            name: format!("Agent {i}"),
            roles: Roles {
                agent: true,
                manager: a.manager,
                admin: a.admin,
            },
            chat_cap: a.chat_cap,
            manage_own_status: a.manage_own_status,
            take_assigned: a.take_assigned,
        })
        .collect();
    let groups = d
        .groups
        .iter()
        .enumerate()
        .map(|(i, channels)| GroupDef {
            id: format!("g{i}"),
            name: format!("Group {i}"),
            department: "dept".into(),
            channels: *channels,
        })
        .collect();
    let ng = d.groups.len();
    let members = d
        .members
        .iter()
        .enumerate()
        .filter_map(|(slot, m)| {
            m.as_ref().map(|m| MembershipSpec {
                agent: format!("a{}", slot / ng),
                group: format!("g{}", slot % ng),
                handling: m.handling,
                ticket_cap: m.ticket_cap,
                initially_active: m.active,
            })
        })
        .collect();
    let mut dir = Directory::new(agents, groups, members).expect("generated directory is valid");
    for (g, settings) in d.settings.iter().enumerate() {
        dir.set_settings(GroupIx(g as u32), *settings);
    }
    Core::new(dir, CoreConfig { grace_ms: GRACE })
}

// ----- random operations -----

/// Indices are taken modulo the directory's sizes when the op runs.
#[derive(Debug, Clone)]
enum Op {
    Open {
        agent: u8,
        session: u8,
    },
    Close {
        agent: u8,
        session: u8,
    },
    Avail {
        agent: u8,
        available: bool,
    },
    /// The agent says it is ready.
    Ready {
        agent: u8,
    },
    /// A chat's visitor opens (`back`) or closes socket `socket`.
    Visitor {
        item: u8,
        socket: u8,
        back: bool,
    },
    /// A status by name: index into [`STATUS_NAMES`].
    Status {
        actor: u8,
        agent: u8,
        status: u8,
    },
    Cell {
        actor: u8,
        agent: u8,
        group: u8,
        channel: u8,
        on: bool,
    },
    Cells {
        actor: u8,
        agent: u8,
        cells: Vec<(u8, u8, bool)>,
    },
    Column {
        actor: u8,
        agent: u8,
        channel: u8,
        on: bool,
    },
    Row {
        actor: u8,
        agent: u8,
        group: u8,
        on: bool,
    },
    Create {
        group: u8,
        channel: u8,
        priority: i32,
    },
    Take {
        actor: u8,
        item: u8,
    },
    /// `by_assignee`: the item's assignee accepts (else a random agent).
    Accept {
        actor: u8,
        item: u8,
        by_assignee: bool,
    },
    /// `who`: 0 the system, 1 or 2 the assignee, else a random agent.
    CloseItem {
        who: u8,
        actor: u8,
        item: u8,
    },
    /// The assignee (or a random agent) declines.
    Decline {
        actor: u8,
        item: u8,
        by_assignee: bool,
    },
    /// A random agent takes an assigned item over.
    TakeOver {
        actor: u8,
        item: u8,
    },
    /// The assignee (or a random agent) transfers to a group or a member.
    Transfer {
        actor: u8,
        item: u8,
        by_assignee: bool,
        group: u8,
        agent: Option<u8>,
    },
    /// An integration changes an item: `kind` 0 cancel, 1 update, 2
    /// assign (to `agent`, within its cap: an override breaks the cap
    /// invariant by design, and is unit-tested), 3 transfer (to `group`).
    Integration {
        kind: u8,
        item: u8,
        agent: u8,
        group: u8,
        priority: i32,
    },
    /// An integration sets an agent's status (`status`) or cells.
    Presence {
        agent: u8,
        status: Option<u8>,
        cells: Vec<(u8, u8, bool)>,
    },
    /// Time passes and due timers fire.
    Tick {
        ms: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let a = any::<u8>;
    prop_oneof![
        6 => (a(), 0u8..3).prop_map(|(agent, session)| Op::Open { agent, session }),
        3 => (a(), 0u8..3).prop_map(|(agent, session)| Op::Close { agent, session }),
        2 => (a(), any::<bool>()).prop_map(|(agent, available)| Op::Avail { agent, available }),
        1 => a().prop_map(|agent| Op::Ready { agent }),
        2 => (any::<u8>(), 0u8..2, any::<bool>())
            .prop_map(|(item, socket, back)| Op::Visitor { item, socket, back }),
        2 => (a(), a(), 0u8..STATUS_NAMES.len() as u8)
            .prop_map(|(actor, agent, status)| Op::Status { actor, agent, status }),
        3 => (a(), a(), a(), 0u8..3, any::<bool>()).prop_map(|(actor, agent, group, channel, on)| {
            Op::Cell { actor, agent, group, channel, on }
        }),
        1 => (a(), a(), prop::collection::vec((a(), 0u8..3, any::<bool>()), 1..4))
            .prop_map(|(actor, agent, cells)| Op::Cells { actor, agent, cells }),
        1 => (a(), a(), 0u8..3, any::<bool>())
            .prop_map(|(actor, agent, channel, on)| Op::Column { actor, agent, channel, on }),
        1 => (a(), a(), a(), any::<bool>())
            .prop_map(|(actor, agent, group, on)| Op::Row { actor, agent, group, on }),
        8 => (a(), 0u8..3, -1i32..=2)
            .prop_map(|(group, channel, priority)| Op::Create { group, channel, priority }),
        4 => (a(), a()).prop_map(|(actor, item)| Op::Take { actor, item }),
        3 => (a(), a(), prop::bool::weighted(0.8))
            .prop_map(|(actor, item, by_assignee)| Op::Accept { actor, item, by_assignee }),
        5 => (0u8..5, a(), a()).prop_map(|(who, actor, item)| Op::CloseItem { who, actor, item }),
        3 => (0u16..2_500).prop_map(|ms| Op::Tick { ms }),
        2 => (a(), a(), prop::bool::weighted(0.8))
            .prop_map(|(actor, item, by_assignee)| Op::Decline { actor, item, by_assignee }),
        2 => (a(), a()).prop_map(|(actor, item)| Op::TakeOver { actor, item }),
        2 => (a(), a(), prop::bool::weighted(0.7), a(), prop::option::of(a())).prop_map(
            |(actor, item, by_assignee, group, agent)| Op::Transfer { actor, item, by_assignee, group, agent }
        ),
        1 => (a(), prop::option::of(0u8..STATUS_NAMES.len() as u8),
               prop::collection::vec((a(), 0u8..3, any::<bool>()), 1..3))
            .prop_map(|(agent, status, cells)| Op::Presence { agent, status, cells }),
        3 => (0u8..4, a(), a(), a(), -1i32..=2).prop_map(
            |(kind, item, agent, group, priority)| Op::Integration { kind, item, agent, group, priority }
        ),
    ]
}

/// The command an op stands for in the current state (`None` for a tick).
fn command(core: &Core, op: &Op) -> Option<Command> {
    let dir = core.directory();
    let na = dir.agents().len();
    let ng = dir.groups().len();
    let agent = |x: u8| AgentIx(u32::from(x) % na as u32);
    let group = |x: u8| GroupIx(u32::from(x) % ng as u32);
    let channel = |x: u8| Channel::ALL[usize::from(x) % 3];
    // Open items by id; now and then an id that does not exist.
    let mut ids: Vec<ItemId> = core.items().map(|i| i.id).collect();
    ids.sort_unstable();
    let item = |x: u8| {
        if ids.is_empty() || x.is_multiple_of(10) {
            1_000_000
        } else {
            ids[usize::from(x) % ids.len()]
        }
    };
    // Cell changes: mostly agents setting their own cells.
    let actor_of = |actor: u8, a: u8| {
        if actor.is_multiple_of(4) {
            agent(actor / 4)
        } else {
            agent(a)
        }
    };
    Some(match *op {
        Op::Open { agent: a, session } => Command::OpenSession {
            agent: agent(a),
            session: u64::from(session),
        },
        Op::Close { agent: a, session } => Command::CloseSession {
            agent: agent(a),
            session: u64::from(session),
        },
        Op::Avail {
            agent: a,
            available,
        } => Command::SetAvailability {
            agent: agent(a),
            available,
        },
        Op::Ready { agent: a } => Command::Ready { agent: agent(a) },
        Op::Visitor {
            item: i,
            socket,
            back,
        } => {
            let (item, socket) = (item(i), u64::from(socket));
            if back {
                Command::VisitorBack { item, socket }
            } else {
                Command::VisitorLeft { item, socket }
            }
        }
        Op::Status {
            actor,
            agent: a,
            status,
        } => Command::SetStatus {
            actor: actor_of(actor, a),
            agent: agent(a),
            status: STATUS_NAMES[usize::from(status)].into(),
        },
        Op::Cell {
            actor,
            agent: a,
            group: g,
            channel: c,
            on,
        } => Command::SetActive {
            actor: actor_of(actor, a),
            agent: agent(a),
            change: CellChange::Cells(vec![(group(g), channel(c), on)]),
        },
        Op::Cells {
            actor,
            agent: a,
            ref cells,
        } => Command::SetActive {
            actor: actor_of(actor, a),
            agent: agent(a),
            change: CellChange::Cells(
                cells
                    .iter()
                    .map(|&(g, c, on)| (group(g), channel(c), on))
                    .collect(),
            ),
        },
        Op::Column {
            actor,
            agent: a,
            channel: c,
            on,
        } => Command::SetActive {
            actor: actor_of(actor, a),
            agent: agent(a),
            change: CellChange::Column(channel(c), on),
        },
        Op::Row {
            actor,
            agent: a,
            group: g,
            on,
        } => Command::SetActive {
            actor: actor_of(actor, a),
            agent: agent(a),
            change: CellChange::Row(group(g), on),
        },
        Op::Create {
            group: g,
            channel: c,
            priority,
        } => Command::CreateWork {
            group: group(g),
            channel: channel(c),
            priority,
            title: "w".into(),
        },
        Op::Take { actor, item: i } => Command::Take {
            actor: agent(actor),
            item: item(i),
        },
        Op::Accept {
            actor,
            item: i,
            by_assignee,
        } => {
            let id = item(i);
            let holder = core.item(id).and_then(|it| it.assignee);
            Command::Accept {
                actor: match holder {
                    Some(h) if by_assignee => h,
                    _ => agent(actor),
                },
                item: id,
            }
        }
        Op::CloseItem {
            who,
            actor,
            item: i,
        } => {
            let id = item(i);
            let holder = core.item(id).and_then(|it| it.assignee);
            Command::Close {
                actor: match (who, holder) {
                    (0, _) => Actor::System,
                    (1 | 2, Some(h)) => Actor::Agent(h),
                    _ => Actor::Agent(agent(actor)),
                },
                item: id,
            }
        }
        Op::Decline {
            actor,
            item: i,
            by_assignee,
        } => {
            let id = item(i);
            let holder = core.item(id).and_then(|it| it.assignee);
            Command::Decline {
                actor: match holder {
                    Some(h) if by_assignee => h,
                    _ => agent(actor),
                },
                item: id,
            }
        }
        Op::Integration {
            kind,
            item: i,
            agent: a,
            group: g,
            priority,
        } => {
            let (actor, item) = (Actor::Integration, item(i));
            match kind {
                0 => Command::Cancel { actor, item },
                1 => Command::Update {
                    actor,
                    item,
                    title: None,
                    priority: Some(priority),
                },
                2 => Command::Assign {
                    actor,
                    item,
                    agent: agent(a),
                    override_capacity: false,
                },
                _ => Command::Transfer {
                    actor,
                    item,
                    group: group(g),
                    agent: None,
                    note: String::new(),
                },
            }
        }
        Op::TakeOver { actor, item: i } => Command::TakeOver {
            actor: agent(actor),
            item: item(i),
        },
        Op::Transfer {
            actor,
            item: i,
            by_assignee,
            group: g,
            agent: target,
        } => {
            let id = item(i);
            let holder = core.item(id).and_then(|it| it.assignee);
            Command::Transfer {
                actor: Actor::Agent(match holder {
                    Some(h) if by_assignee => h,
                    _ => agent(actor),
                }),
                item: id,
                group: group(g),
                agent: target.map(agent),
                note: "n".into(),
            }
        }
        Op::Presence {
            agent: a,
            status,
            ref cells,
        } => Command::PresenceByIntegration {
            agent: agent(a),
            change: match status {
                Some(s) => IntegrationPresence::Status(STATUS_NAMES[usize::from(s)].into()),
                None => IntegrationPresence::Cells(
                    cells
                        .iter()
                        .map(|&(g, c, on)| (group(g), channel(c), on))
                        .collect(),
                ),
            },
        },
        Op::Tick { .. } => return None,
    })
}

// ----- reference models -----

/// The reference queue order: priority descending, then oldest, then id.
fn reference_key(item: &Item) -> (std::cmp::Reverse<i32>, Millis, ItemId) {
    (std::cmp::Reverse(item.priority), item.created_at, item.id)
}

/// What a take must answer, from the routing rules alone.
fn expected_take(prev: &Core, actor: AgentIx, id: ItemId) -> Result<(), DomainError> {
    let dir = prev.directory();
    let item = prev.item(id).ok_or(DomainError::NoSuchItem(id))?;
    let m = dir
        .member(actor, item.group)
        .ok_or(DomainError::NotMember(item.group))?;
    if dir.is_not_applicable(m, item.channel) {
        return Err(DomainError::NotApplicable {
            agent: actor,
            group: item.group,
            channel: item.channel,
        });
    }
    if let Some(winner) = item.assignee {
        return Err(DomainError::AlreadyTaken { winner });
    }
    let p = prev.presence(actor);
    let ms = dir.membership(m);
    let at_cap = match item.channel {
        Channel::Chat => p.load[0] >= dir.agent(actor).chat_cap,
        Channel::Ticket => ms.ticket_cap.is_some_and(|c| prev.tickets_held(m) >= c),
        Channel::Voice => p.load[2] >= 1,
    };
    let manager = dir.agent(actor).roles.manager;
    if at_cap && !manager {
        return Err(DomainError::AtCapacity(item.channel));
    }
    Ok(())
}

/// What a take-over must answer (a manager's or a permitted
/// agent's right, for an item someone else holds).
fn expected_take_over(prev: &Core, actor: AgentIx, id: ItemId) -> Result<(), DomainError> {
    let dir = prev.directory();
    let item = prev.item(id).ok_or(DomainError::NoSuchItem(id))?;
    let m = dir
        .member(actor, item.group)
        .ok_or(DomainError::NotMember(item.group))?;
    let manager = dir.agent(actor).roles.manager;
    if !manager && !dir.agent(actor).take_assigned {
        return Err(DomainError::Forbidden(
            "only a manager of the group or an agent allowed to take assigned work may take it over",
        ));
    }
    let Some(from) = item.assignee else {
        return Err(DomainError::InvalidState("queued: use take"));
    };
    if from == actor {
        return Err(DomainError::InvalidState("already yours"));
    }
    let p = prev.presence(actor);
    let at_cap = match item.channel {
        Channel::Chat => p.load[0] >= dir.agent(actor).chat_cap,
        Channel::Ticket => dir
            .membership(m)
            .ticket_cap
            .is_some_and(|c| prev.tickets_held(m) >= c),
        Channel::Voice => p.load[2] >= 1,
    };
    if at_cap && !manager {
        return Err(DomainError::AtCapacity(item.channel));
    }
    Ok(())
}

/// Whether an accept must succeed.
fn expected_accept(prev: &Core, actor: AgentIx, id: ItemId) -> bool {
    prev.item(id)
        .is_some_and(|i| i.assignee == Some(actor) && i.state == ItemState::Assigned)
}

/// Whether a close must succeed.
fn expected_close(prev: &Core, actor: Actor, id: ItemId) -> bool {
    let Some(item) = prev.item(id) else {
        return false;
    };
    match actor {
        Actor::Agent(a) => {
            item.assignee == Some(a) || prev.directory().is_manager_of(a, item.group)
        }
        Actor::System | Actor::Integration => true,
    }
}

/// Whether a cell change must succeed: every named cell of a member, none
/// N/A, and the actor permitted in every group it touches.
fn expected_set_active(prev: &Core, actor: AgentIx, agent: AgentIx, change: &CellChange) -> bool {
    let dir = prev.directory();
    let may = |g: GroupIx| {
        let def = dir.agent(actor);
        def.roles.admin
            || (def.roles.manager && dir.member(actor, g).is_some())
            || (actor == agent && def.manage_own_status)
    };
    match change {
        CellChange::Cells(cells) => cells.iter().all(|&(g, c, _)| {
            dir.member(agent, g)
                .is_some_and(|m| may(g) && !dir.is_not_applicable(m, c))
        }),
        CellChange::Column(..) => dir
            .memberships_of(agent)
            .iter()
            .all(|&m| may(dir.membership(m).group)),
        CellChange::Row(g, _) => dir.member(agent, *g).is_some() && may(*g),
    }
}

// ----- invariants -----

/// A canonical dump of the whole observable state.
fn snapshot(core: &Core) -> String {
    let dir = core.directory();
    let mut out = String::new();
    for i in 0..dir.agents().len() {
        out += &format!("{:?}\n", core.presence(AgentIx(i as u32)));
    }
    for i in 0..dir.membership_count() {
        let m = MemberIx(i as u32);
        let cells: Vec<bool> = Channel::ALL.iter().map(|&c| core.is_active(m, c)).collect();
        out += &format!(
            "{cells:?} {} {}\n",
            core.tickets_held(m),
            core.last_ticket_at(m)
        );
    }
    let mut items: Vec<&Item> = core.items().collect();
    items.sort_by_key(|i| i.id);
    out += &format!("{items:?}\n");
    for g in 0..dir.groups().len() {
        for c in Channel::ALL {
            let ids: Vec<ItemId> = core.queue(GroupIx(g as u32), c).map(|i| i.id).collect();
            out += &format!("{ids:?}\n");
        }
    }
    out += &format!("{:?}\n", core.poll_timeout());
    out
}

/// Invariants of one state on its own.
fn check_state(core: &Core) -> Result<(), TestCaseError> {
    let dir = core.directory();
    // Holding: each held item listed once by its assignee, nobody else.
    let mut holder: HashMap<ItemId, AgentIx> = HashMap::new();
    for i in 0..dir.agents().len() {
        let a = AgentIx(i as u32);
        let p = core.presence(a);
        let mut load = [0u32; 3];
        for &id in &p.held {
            let other = holder.insert(id, a);
            prop_assert!(
                other.is_none(),
                "item {} held by {:?} and {:?}",
                id,
                a,
                other
            );
            let item = core.item(id);
            prop_assert!(item.is_some(), "{:?} holds unknown item {}", a, id);
            let item = item.unwrap();
            prop_assert_eq!(item.assignee, Some(a));
            prop_assert!(item.state.is_held());
            load[item.channel.index()] += 1;
        }
        prop_assert_eq!(p.load, load, "load of {:?}", a);
        // Presence: an open session means logged in; logged in without a
        // session means a grace is running.
        if !p.sessions.is_empty() {
            prop_assert!(p.logged_in);
            prop_assert_eq!(p.grace_until, None);
        } else if p.logged_in {
            prop_assert!(p.grace_until.is_some());
        } else {
            prop_assert_eq!(p.grace_until, None);
        }
        // Caps: only a manager's take (or an integration's assign with
        // `override_capacity`, not generated) may go past them.
        if !dir.agent(a).roles.manager {
            prop_assert!(p.load[0] <= dir.agent(a).chat_cap, "chat cap of {:?}", a);
            prop_assert!(p.load[2] <= 1, "two calls for {:?}", a);
        }
    }
    // Per-group ticket counts.
    for i in 0..dir.membership_count() {
        let m = MemberIx(i as u32);
        let ms = dir.membership(m);
        let n = core
            .presence(ms.agent)
            .held
            .iter()
            .filter(|&&id| {
                let it = core.item(id).unwrap();
                it.channel == Channel::Ticket && it.group == ms.group
            })
            .count() as u32;
        prop_assert_eq!(core.tickets_held(m), n);
        if let Some(cap) = ms.ticket_cap
            && !dir.agent(ms.agent).roles.manager
        {
            prop_assert!(n <= cap, "ticket cap of member {:?}", m);
        }
        // N/A cells are never on.
        for c in Channel::ALL {
            if dir.is_not_applicable(m, c) {
                prop_assert!(!core.is_active(m, c));
            }
        }
    }
    // Items: queued <=> no assignee <=> in its queue; held <=> listed.
    let mut queued = 0usize;
    for item in core.items() {
        prop_assert!(item.state != ItemState::Closed);
        match item.state {
            ItemState::Queued => {
                queued += 1;
                prop_assert_eq!(item.assignee, None);
                prop_assert_eq!(item.assigned_at, None);
                prop_assert!(
                    core.queue_position(item.id).is_some(),
                    "queued item {} not in its queue",
                    item.id
                );
            }
            _ => {
                prop_assert_eq!(holder.get(&item.id).copied(), item.assignee);
                prop_assert!(item.assignee.is_some());
                prop_assert_eq!(
                    core.queue_position(item.id),
                    None,
                    "item {} both assigned and queued",
                    item.id
                );
            }
        }
    }
    prop_assert_eq!(
        holder.len(),
        core.items().filter(|i| i.state.is_held()).count()
    );
    // Queues: contents and order equal the reference model.
    let mut total = 0;
    for g in 0..dir.groups().len() {
        let g = GroupIx(g as u32);
        for c in Channel::ALL {
            let got: Vec<ItemId> = core.queue(g, c).map(|i| i.id).collect();
            let mut want: Vec<&Item> = core
                .items()
                .filter(|i| i.state == ItemState::Queued && i.group == g && i.channel == c)
                .collect();
            want.sort_by_key(|i| reference_key(i));
            let want: Vec<ItemId> = want.iter().map(|i| i.id).collect();
            prop_assert_eq!(&got, &want, "queue {:?} {:?}", g, c);
            prop_assert_eq!(core.queue_len(g, c), got.len());
            for (pos, id) in got.iter().enumerate() {
                prop_assert_eq!(core.queue_position(*id), Some(pos + 1));
            }
            let oldest = core.queue(g, c).map(|i| i.created_at).min();
            prop_assert_eq!(core.queue_oldest(g, c), oldest);
            total += got.len();
            // Nobody eligible idles while an auto queue has work.
            let cfg = dir.group(g).channels[c.index()];
            // (An item never goes back to an agent who declined it or let
            // it go unanswered: those are skipped for that item.)
            if cfg.enabled && cfg.distribution == Distribution::Auto {
                for item in core.queue(g, c) {
                    prop_assert_eq!(
                        core.choose_excluding(g, c, &item.excluded),
                        None,
                        "an eligible member idles while item {} waits in {:?} {:?}",
                        item.id,
                        g,
                        c
                    );
                }
            }
        }
    }
    prop_assert_eq!(total, queued);
    // is_receiving agrees with its definition.
    for i in 0..dir.agents().len() {
        let a = AgentIx(i as u32);
        let any_active = dir
            .memberships_of(a)
            .iter()
            .any(|&m| Channel::ALL.iter().any(|&c| core.is_active(m, c)));
        prop_assert_eq!(
            core.is_receiving(a),
            core.presence(a).logged_in && any_active
        );
    }
    Ok(())
}

/// Invariants of one step: `prev` before it, `core` after, `evs` its events.
fn check_step(
    prev: &Core,
    core: &Core,
    cmd: Option<&Command>,
    result: &Result<Reply, DomainError>,
    evs: &[Event],
) -> Result<(), TestCaseError> {
    let dir = core.directory();
    if result.is_err() {
        prop_assert_eq!(
            snapshot(prev),
            snapshot(core),
            "a refused command changed the state"
        );
        prop_assert!(evs.is_empty(), "a refused command emitted {:?}", evs);
        return Ok(());
    }
    // Wait time is never reset: no step (hand-off, transfer, take-over,
    // drain) changes an item's creation time, and history only grows.
    for item in prev.items() {
        if let Some(now) = core.item(item.id) {
            prop_assert_eq!(
                now.created_at,
                item.created_at,
                "item {} lost its wait time",
                item.id
            );
            prop_assert!(now.history.len() >= item.history.len());
        }
    }
    // Queue heads, in order, per (group, channel), as of before the step,
    // plus whatever this step queued.
    let mut pending: BTreeMap<(GroupIx, Channel), Vec<Item>> = BTreeMap::new();
    for g in 0..dir.groups().len() {
        let g = GroupIx(g as u32);
        for c in Channel::ALL {
            pending.insert((g, c), prev.queue(g, c).cloned().collect());
        }
    }
    let mut queued_now: BTreeSet<ItemId> = prev
        .items()
        .filter(|i| i.state == ItemState::Queued)
        .map(|i| i.id)
        .collect();
    let mut ahead: BTreeMap<ItemId, Vec<Item>> = BTreeMap::new();
    let mut cells: BTreeMap<(MemberIx, Channel), bool> = BTreeMap::new();
    let mut statuses: BTreeMap<AgentIx, (String, bool)> = BTreeMap::new();
    for e in evs {
        match e {
            Event::Queued { item, sound } => {
                let cfg = dir.group(item.group).channels[item.channel.index()];
                prop_assert_eq!(*sound, cfg.distribution == Distribution::Pull);
                prop_assert!(queued_now.insert(item.id), "queued twice: {}", item.id);
                let q = pending.get_mut(&(item.group, item.channel)).unwrap();
                q.push(item.clone());
                q.sort_by_key(reference_key);
            }
            Event::Dequeued { item, reason } => {
                prop_assert!(
                    queued_now.remove(&item.id),
                    "dequeued {} was not queued",
                    item.id
                );
                let q = pending.get_mut(&(item.group, item.channel)).unwrap();
                let pos = q.iter().position(|i| i.id == item.id);
                prop_assert!(pos.is_some());
                let pos = pos.unwrap();
                if *reason == DequeueReason::Assigned {
                    ahead.insert(item.id, q[..pos].to_vec());
                }
                q.remove(pos);
            }
            Event::ItemChanged {
                item,
                reason: reason @ (ItemReason::Routed | ItemReason::Drained),
                ..
            } => {
                prop_assert!(
                    !queued_now.contains(&item.id),
                    "assigned item {} still queued",
                    item.id
                );
                if *reason == ItemReason::Drained {
                    // The drain serves a queue from its head: every item
                    // still ahead of this one was skipped only because it
                    // must not go back to this agent.
                    let a = item.assignee.unwrap();
                    let before = ahead.remove(&item.id);
                    prop_assert!(before.is_some(), "drained {} without a Dequeued", item.id);
                    for y in before.unwrap() {
                        prop_assert!(
                            y.excluded.contains(&a),
                            "drained item {} to {:?} ahead of item {}",
                            item.id,
                            a,
                            y.id
                        );
                    }
                } else {
                    prop_assert!(
                        matches!(cmd, Some(Command::CreateWork { .. })),
                        "Routed outside CreateWork"
                    );
                }
                check_auto_assignment(prev, core, item, *reason)?;
            }
            Event::ItemChanged {
                item,
                reason: reason @ (ItemReason::HandedOff | ItemReason::Transferred),
                previous,
            } if item.assignee.is_some()
                && !matches!(cmd, Some(Command::Transfer { agent: Some(_), .. })) =>
            {
                // Routed again by the group's rules: never straight back.
                prop_assert!(item.assignee != *previous, "handed back to its holder");
                check_auto_assignment(prev, core, item, *reason)?;
            }
            Event::Presence {
                agent,
                what: PresenceWhat::LoggedIn,
                ..
            } => {
                prop_assert!(!prev.presence(*agent).logged_in, "LoggedIn while logged in");
                prop_assert!(core.presence(*agent).logged_in);
            }
            Event::Presence {
                agent,
                what: PresenceWhat::LoggedOut,
                ..
            } => {
                prop_assert!(
                    prev.presence(*agent).logged_in,
                    "LoggedOut while logged out"
                );
                prop_assert!(!core.presence(*agent).logged_in);
                prop_assert!(core.presence(*agent).sessions.is_empty());
                prop_assert!(cmd.is_none(), "logged out outside handle_timeout");
            }
            Event::Presence {
                agent,
                what:
                    PresenceWhat::Active {
                        group,
                        channel,
                        old,
                        new,
                    },
                ..
            } => {
                // Each event starts from the value the previous one left.
                let m = dir.member(*agent, *group).unwrap();
                let cur = cells
                    .entry((m, *channel))
                    .or_insert(prev.is_active(m, *channel));
                prop_assert_eq!(*cur, *old);
                prop_assert!(old != new);
                *cur = *new;
            }
            Event::Presence {
                agent,
                what: PresenceWhat::Availability { old, new },
                ..
            } => {
                prop_assert_eq!(prev.presence(*agent).available, *old);
                prop_assert_eq!(core.presence(*agent).available, *new);
                prop_assert!(old != new);
                if let Some(cur) = statuses.get_mut(agent) {
                    *cur = (status_name(*new, None).to_string(), *new);
                }
            }
            Event::Presence {
                agent,
                what:
                    PresenceWhat::Status {
                        old,
                        new,
                        available,
                    },
                ..
            } => {
                // Each event starts from the status the previous one left.
                let p = prev.presence(*agent);
                let cur = statuses
                    .entry(*agent)
                    .or_insert_with(|| (p.status().to_string(), p.available));
                prop_assert_eq!(cur.0.as_str(), old.as_str());
                prop_assert!(old != new);
                *cur = (new.clone(), *available);
            }
            Event::Presence {
                what: PresenceWhat::Enabled { .. },
                ..
            } => {
                prop_assert!(
                    matches!(cmd, Some(Command::SetEnabled { .. })),
                    "account enabled or disabled outside SetEnabled"
                );
            }
            Event::ItemChanged { .. } => {}
            Event::WrapUp {
                agent,
                channel,
                until,
            } => {
                // Starts with a close by (or of an item held by) the agent,
                // ends by the timer or when the agent says it is ready.
                let held_before = prev.presence(*agent).wrap_up_until[channel.index()];
                match until {
                    Some(at) => prop_assert!(*at > held_before),
                    None => prop_assert!(held_before != 0),
                }
            }
            Event::Directory { .. } => {
                prop_assert!(
                    matches!(cmd, Some(Command::Admin { .. })),
                    "directory changed outside an administration command"
                );
            }
        }
    }
    for (a, (st, available)) in &statuses {
        prop_assert_eq!(
            core.presence(*a).status(),
            st.as_str(),
            "status ends where its last event left it"
        );
        prop_assert_eq!(core.presence(*a).available, *available);
    }
    for (&(m, c), &v) in &cells {
        prop_assert_eq!(
            core.is_active(m, c),
            v,
            "cell ends where its last event left it"
        );
    }
    // Presence changes only through their events.
    for i in 0..dir.agents().len() {
        let a = AgentIx(i as u32);
        let (p, q) = (prev.presence(a), core.presence(a));
        let logins = evs
            .iter()
            .filter(|e| matches!(e, Event::Presence { agent, what: PresenceWhat::LoggedIn | PresenceWhat::LoggedOut, .. } if *agent == a))
            .count();
        prop_assert_eq!(
            usize::from(p.logged_in != q.logged_in),
            logins,
            "login flag of {:?} without its event",
            a
        );
        if p.available != q.available {
            prop_assert!(
                matches!(cmd, Some(Command::SetAvailability { agent, .. } | Command::SetStatus { agent, .. } | Command::PresenceByIntegration { agent, change: IntegrationPresence::Status(_) }) if *agent == a),
                "availability of {:?} changed by {:?}",
                a,
                cmd
            );
        }
    }
    Ok(())
}

/// An auto-assignment (Routed or Drained) must go to an eligible member.
fn check_auto_assignment(
    prev: &Core,
    core: &Core,
    item: &Item,
    reason: ItemReason,
) -> Result<(), TestCaseError> {
    let dir = core.directory();
    let a = item.assignee.expect("assigned");
    let m = dir.member(a, item.group);
    prop_assert!(m.is_some(), "auto-assigned to a non-member");
    let m = m.unwrap();
    let c = item.channel;
    let cfg = dir.group(item.group).channels[c.index()];
    prop_assert!(cfg.enabled, "auto-assigned in a disabled channel");
    prop_assert_eq!(
        cfg.distribution,
        Distribution::Auto,
        "auto-assigned in a pull channel"
    );
    prop_assert!(
        matches!(
            dir.membership(m).handling[c.index()],
            Handling::Primary | Handling::Secondary
        ),
        "auto-assigned to a pull or excluded member"
    );
    // Presence and cells cannot change after the assignment within a step,
    // and loads only grow: the state after the step shows whether the
    // assignee was eligible when it was chosen.
    let p = core.presence(a);
    prop_assert!(p.logged_in, "auto-assigned to a logged-out agent");
    prop_assert!(core.is_active(m, c), "auto-assigned to an inactive cell");
    prop_assert!(!p.not_responding, "auto-assigned to a Not Responding agent");
    prop_assert_eq!(
        p.wrap_up_until[c.index()],
        0,
        "auto-assigned to an agent in wrap-up of that channel"
    );
    match c {
        Channel::Chat => {
            prop_assert!(p.available, "chat auto-assigned to an unavailable agent");
            prop_assert!(
                p.load[0] <= dir.agent(a).chat_cap,
                "routing exceeded the chat cap"
            );
        }
        Channel::Ticket => {
            if let Some(cap) = dir.membership(m).ticket_cap {
                prop_assert!(
                    core.tickets_held(m) <= cap,
                    "routing exceeded the ticket cap"
                );
            }
        }
        Channel::Voice => prop_assert_eq!(p.load[2], 1, "routing rang an agent on a call"),
    }
    prop_assert!(
        !item.excluded.contains(&a),
        "given back to an agent who let it go"
    );
    if reason == ItemReason::Routed {
        // Created and routed in the same command: exactly the choice of the
        // state before, and that choice was eligible then.
        prop_assert_eq!(prev.choose(item.group, c), Some(m));
        prop_assert!(prev.is_eligible(m, c));
        for y in prev.queue(item.group, c) {
            prop_assert!(
                y.excluded.contains(&a),
                "new item {} jumped item {}",
                item.id,
                y.id
            );
        }
    }
    Ok(())
}

/// The reply of a command against the reference models.
fn check_reply(
    prev: &Core,
    cmd: &Command,
    result: &Result<Reply, DomainError>,
) -> Result<(), TestCaseError> {
    match *cmd {
        Command::Take { actor, item } => {
            let want = expected_take(prev, actor, item).map(|()| Reply::Item(item));
            prop_assert_eq!(result, &want);
        }
        Command::Accept { actor, item } => {
            prop_assert_eq!(
                result.is_ok(),
                expected_accept(prev, actor, item),
                "{:?}",
                result
            );
        }
        Command::Close { actor, item } => {
            prop_assert_eq!(
                result.is_ok(),
                expected_close(prev, actor, item),
                "{:?}",
                result
            );
        }
        Command::SetActive {
            actor,
            agent,
            ref change,
        } => {
            prop_assert_eq!(
                result.is_ok(),
                expected_set_active(prev, actor, agent, change),
                "{:?}",
                result
            );
        }
        Command::SetStatus {
            actor,
            agent,
            ref status,
        } => {
            let dir = prev.directory();
            let allowed = actor == agent
                || dir.agent(actor).roles.admin
                || (dir.status_settings().managers_set_status
                    && dir
                        .memberships_of(agent)
                        .iter()
                        .any(|&m| dir.is_manager_of(actor, dir.membership(m).group)));
            let known = dir.status_settings().resolve(status).is_some();
            prop_assert_eq!(result.is_ok(), allowed && known, "{:?}", result);
        }
        // Its scope and permission were checked before the core: only a
        // known status, and cells of the agent's groups that apply.
        Command::PresenceByIntegration { agent, ref change } => {
            let dir = prev.directory();
            let want = match change {
                IntegrationPresence::Status(status) => {
                    dir.status_settings().resolve(status).is_some()
                }
                IntegrationPresence::Cells(cells) => cells.iter().all(|&(g, c, _)| {
                    dir.member(agent, g)
                        .is_some_and(|m| !dir.is_not_applicable(m, c))
                }),
            };
            prop_assert_eq!(result.is_ok(), want, "{:?}", result);
        }
        Command::VisitorBack { item, .. } | Command::VisitorLeft { item, .. } => {
            let chat = prev.item(item).is_some_and(|i| i.channel == Channel::Chat);
            prop_assert_eq!(result.is_ok(), chat, "{:?}", result);
        }
        Command::OpenSession { .. }
        | Command::CloseSession { .. }
        | Command::SetAvailability { .. }
        | Command::Ready { .. }
        | Command::AutoAway { .. } => prop_assert!(result.is_ok()),
        // Not generated: accounts are covered by the unit tests of
        // `domain/account.rs`.
        // The property tests do not generate directory changes (the unit
        // tests in tests/admin.rs cover them).
        Command::SetEnabled { .. } | Command::Admin { .. } => {}
        Command::CreateWork { group, channel, .. } => {
            let offline = channel == Channel::Chat
                && !prev.directory().settings(group).queue_when_offline
                && !prev.is_chat_online(group);
            if offline {
                prop_assert!(
                    matches!(result, Err(DomainError::Offline(_))),
                    "{:?}",
                    result
                );
            } else {
                prop_assert!(result.is_ok(), "{:?}", result);
            }
        }
        Command::Decline { actor, item } => {
            let want = prev
                .item(item)
                .is_some_and(|i| i.assignee == Some(actor) && i.state == ItemState::Assigned);
            prop_assert_eq!(result.is_ok(), want, "{:?}", result);
        }
        Command::TakeOver { actor, item } => {
            let want = expected_take_over(prev, actor, item).map(|()| Reply::Item(item));
            prop_assert_eq!(result, &want);
        }
        // Transfers: no reply model; the state and step invariants apply.
        Command::Transfer { .. } => {}
        // An integration's changes: a missing item is refused; otherwise
        // no reply model, the state and step invariants apply.
        Command::Cancel { item, .. }
        | Command::Update { item, .. }
        | Command::Assign { item, .. } => {
            if prev.item(item).is_none() {
                prop_assert_eq!(result, &Err(DomainError::NoSuchItem(item)));
            } else if matches!(cmd, Command::Cancel { .. } | Command::Update { .. }) {
                prop_assert_eq!(result, &Ok(Reply::Item(item)));
            }
        }
    }
    Ok(())
}

/// Statuses the property tests pick: the plain two, default reasons, and
/// one the help desk does not define.
const STATUS_NAMES: [&str; 5] = ["Available", "Unavailable", "Lunch", "Meeting", "Napping"];

/// Runs one op; returns whether it was applied.
fn step(core: &mut Core, now: &mut Millis, op: &Op) -> Result<(), TestCaseError> {
    let Some(cmd) = command(core, op) else {
        // Time passes: fire the timers one deadline at a time (as the engine
        // would), so that each firing is checked on its own.
        let Op::Tick { ms } = op else { unreachable!() };
        let target = *now + Millis::from(*ms);
        while let Some(t) = core.poll_timeout()
            && t <= target
        {
            *now = t.max(*now);
            timeout_step(core, *now)?;
        }
        *now = target;
        return timeout_step(core, *now);
    };
    if KNOWN_BUG_TRANSFER_QUEUED
        && let Command::Transfer {
            item, agent: None, ..
        } = cmd
        && core
            .item(item)
            .is_some_and(|i| i.state == ItemState::Queued)
    {
        return Ok(());
    }
    let prev = core.clone();
    *now += 7;
    let result = core.apply(*now, cmd.clone());
    check_reply(&prev, &cmd, &result)?;
    let evs: Vec<Event> = core.drain_events().collect();
    check_step(&prev, core, Some(&cmd), &result, &evs)?;
    check_state(core)
}

/// One op without the invariant checks: its reply and events, to compare
/// two cores step by step.
fn plain_step(core: &mut Core, now: &mut Millis, op: &Op) -> (Option<String>, Vec<Event>) {
    let Some(cmd) = command(core, op) else {
        let Op::Tick { ms } = op else { unreachable!() };
        *now += Millis::from(*ms);
        core.handle_timeout(*now);
        return (None, core.drain_events().collect());
    };
    *now += 7;
    let reply = format!("{:?}", core.apply(*now, cmd));
    (Some(reply), core.drain_events().collect())
}

/// Skips transfers of queued items to a group: handoff.rs `hand_off` leaves
/// such an item in its old queue and queues it again (see
/// `tests::transfer_of_a_queued_item_leaves_its_old_queue`). Set to false
/// once that is fixed.
const KNOWN_BUG_TRANSFER_QUEUED: bool = false;

/// `handle_timeout(now)` as one checked step.
fn timeout_step(core: &mut Core, now: Millis) -> Result<(), TestCaseError> {
    let prev = core.clone();
    core.handle_timeout(now);
    if let Some(t) = core.poll_timeout() {
        prop_assert!(t > now, "a due timer was left");
    }
    let evs: Vec<Event> = core.drain_events().collect();
    check_step(&prev, core, None, &Ok(Reply::Done), &evs)?;
    check_logout_hand_offs(&prev, core, now)?;
    check_state(core)
}

/// The group's limit for a logged-out holder's item, as the settings say:
/// accepted chats after `disconnect_ms`, tickets after the reassign setting
/// when set, calls never.
fn logout_limit(core: &Core, item: &Item) -> Option<Millis> {
    let s = core.directory().settings(item.group);
    match item.channel {
        Channel::Chat => Some(s.disconnect_ms),
        Channel::Ticket => s.reassign_tickets_after_logout_ms,
        Channel::Voice => None,
    }
}

/// After timers fired at `now`: an agent logged out in this step holds no
/// offered chat or ringing call; no logged-out agent holds an item past its
/// group's limit; and only an agent who is logged out loses an item for it
/// (one back in time keeps its work).
fn check_logout_hand_offs(prev: &Core, core: &Core, now: Millis) -> Result<(), TestCaseError> {
    for i in 0..core.directory().agents().len() {
        let a = AgentIx(i as u32);
        let p = core.presence(a);
        // Away (Not Responding, or a reason taking no chats) counts as out.
        if p.logged_in && !p.is_away() {
            continue;
        }
        for &id in &p.held {
            let item = core.item(id).expect("held items exist");
            if !p.logged_in && prev.presence(a).logged_in {
                prop_assert!(
                    item.state != ItemState::Assigned || item.channel == Channel::Ticket,
                    "{:?}, logged out at {}, still has offered item {}",
                    a,
                    now,
                    id
                );
            }
            if let Some(limit) = logout_limit(core, item) {
                let due = p.since.max(item.assigned_at.unwrap_or(0)) + limit;
                prop_assert!(
                    now < due,
                    "{:?} logged out at {} still holds item {} at {} (limit {})",
                    a,
                    p.since,
                    id,
                    now,
                    limit
                );
            }
        }
    }
    for before in prev.items() {
        let (Some(after), Some(holder)) = (core.item(before.id), before.assignee) else {
            continue;
        };
        for h in &after.history[before.history.len()..] {
            if matches!(h.why, HandOff::LoggedOut | HandOff::Disconnected) && h.from == Some(holder)
            {
                prop_assert!(
                    !core.presence(holder).logged_in,
                    "item {} left {:?}, who is logged in, as {:?}",
                    before.id,
                    holder,
                    h.why
                );
            }
            if h.why == HandOff::Away && h.from == Some(holder) {
                let p = core.presence(holder);
                prop_assert!(
                    p.logged_in && p.is_away(),
                    "item {} left {:?}, who is not away, as away",
                    before.id,
                    holder
                );
            }
            if matches!(h.why, HandOff::Disconnected | HandOff::Away) && h.from == Some(holder) {
                let limit = logout_limit(prev, before);
                prop_assert!(limit.is_some(), "item {} has no limit", before.id);
                let since = prev.presence(holder).since;
                let due = since.max(before.assigned_at.unwrap_or(0)) + limit.unwrap_or(0);
                prop_assert!(
                    now >= due,
                    "item {} moved at {} before {}",
                    before.id,
                    now,
                    due
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random command sequences keep every invariant after every step.
    #[test]
    fn invariants_hold(d in dir_gen(), ops in prop::collection::vec(op(), 1..60)) {
        let mut core = build(&d);
        check_state(&core)?;
        let mut now: Millis = 1_000;
        for op in &ops {
            step(&mut core, &mut now, op)?;
        }
        // Finally everyone's sessions end and the graces run out: nobody is
        // logged in, and every item is still held or queued exactly once.
        let dir = core.directory().clone();
        for i in 0..dir.agents().len() {
            let a = AgentIx(i as u32);
            for s in core.presence(a).sessions.clone() {
                step(&mut core, &mut now, &Op::Close { agent: i as u8, session: s as u8 })?;
            }
        }
        step(&mut core, &mut now, &Op::Tick { ms: (GRACE + 1) as u16 })?;
        for i in 0..dir.agents().len() {
            prop_assert!(!core.presence(AgentIx(i as u32)).logged_in);
        }
    }

    /// A core restored from a snapshot (through JSON, as replicas store it)
    /// answers every later command exactly as the original does: same
    /// replies, same events, same state.
    #[test]
    fn restored_snapshot_behaves_like_the_original(
        d in dir_gen(),
        ops in prop::collection::vec(op(), 2..60),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut core = build(&d);
        let mut now: Millis = 1_000;
        let cut = cut.index(ops.len());
        for op in &ops[..cut] {
            step(&mut core, &mut now, op)?;
        }
        let json = serde_json::to_string(&core.snapshot()).expect("snapshot serializes");
        let restored: CoreSnapshot = serde_json::from_str(&json).expect("snapshot parses");
        let mut copy = Core::restore(core.directory().clone(), core.config(), restored)
            .expect("same directory");
        prop_assert_eq!(snapshot(&core), snapshot(&copy));
        for op in &ops[cut..] {
            let mut later = now;
            let a = plain_step(&mut core, &mut now, op);
            let b = plain_step(&mut copy, &mut later, op);
            prop_assert_eq!(a, b, "diverged at {:?}", op);
            prop_assert_eq!(snapshot(&core), snapshot(&copy));
        }
    }

    /// The queue against a sorted-vector reference model.
    #[test]
    fn queue_matches_reference_model(
        ops in prop::collection::vec((any::<bool>(), -2i32..=2, 0u64..20, any::<u8>()), 1..80)
    ) {
        let mut queue = Queue::default();
        let mut model: Vec<Item> = Vec::new();
        let mut next_id = 1;
        for (push, priority, created_at, pick) in ops {
            if push || model.is_empty() {
                let item = Item {
                    id: next_id,
                    group: GroupIx(0),
                    channel: Channel::Chat,
                    priority,
                    title: String::new(),
                    state: ItemState::Queued,
                    assignee: None,
                    created_at,
                    assigned_at: None,
                    excluded: Vec::new(),
                    history: Vec::new(),
                    visitor_socket: None,
                    visitor_gone_since: None,
                };
                next_id += 1;
                queue.push(&item);
                model.push(item);
            } else {
                let item = model.remove(usize::from(pick) % model.len());
                prop_assert!(queue.remove(&item));
                prop_assert!(!queue.remove(&item), "removed twice");
            }
            model.sort_by_key(reference_key);
            let ids: Vec<ItemId> = queue.ids().collect();
            let want: Vec<ItemId> = model.iter().map(|i| i.id).collect();
            prop_assert_eq!(&ids, &want);
            prop_assert_eq!(queue.len(), model.len());
            prop_assert_eq!(queue.head(), model.first().map(|i| i.id));
            prop_assert_eq!(queue.oldest_created_at(), model.iter().map(|i| i.created_at).min());
            for (pos, item) in model.iter().enumerate() {
                prop_assert_eq!(queue.position(item), Some(pos + 1));
            }
        }
    }
}
