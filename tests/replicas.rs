//! The deterministic multi-replica harness: three replicas of the
//! [`StateMachine`] over one in-process log, driven by a proptest seed.
//!
//! Each step the seed picks one of: a node proposes an entry (a console's
//! or an integration's command, a timer tick, a chat message, a node
//! dropped, a logout), a replica applies the next few entries it has not
//! applied, a snapshot is stored and the log trimmed before the least
//! position any replica reached, or a replica restarts from the stored
//! snapshot. After every step each replica must equal, snapshot for
//! snapshot, a reference replica that applied the same prefix of the log
//! once and in order; and no item may ever be held by two agents or be both
//! queued and assigned. This is the property the whole cluster rests on:
//! replicas that apply the same entries compute the same state, whatever
//! their pace, restarts and trims.

use proptest::prelude::*;
use switchboard::directory_file;
use switchboard::domain::{
    Actor, AdminChange, AgentIx, AgentPatch, CellChange, Channel, Command, Core, CoreConfig,
    GroupIx, GroupScope, Handling, ItemState, LogEntry, LogOp, Membership, NewVisitor, VisitorJoin,
};
use switchboard::replica::credentials::Credentials;
use switchboard::replica::{ReplicaSnapshot, StateMachine};

const DIRECTORY: &str = r#"
[[agents]]
id = "a0"
name = "A0"
roles = ["agent", "manager"]
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$uR1Bz2S7q2dYx8bNQ8c4C0oB8fJ2b2bC7mRjK1gGJ8U"
chat_cap = 2

[[agents]]
id = "a1"
name = "A1"
roles = ["agent"]
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$uR1Bz2S7q2dYx8bNQ8c4C0oB8fJ2b2bC7mRjK1gGJ8U"
chat_cap = 1

[[agents]]
id = "a2"
name = "A2"
roles = ["agent"]
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$uR1Bz2S7q2dYx8bNQ8c4C0oB8fJ2b2bC7mRjK1gGJ8U"

[[groups]]
id = "g0"
name = "G0"
chat = { enabled = true }
ticket = { enabled = true }
voice = { enabled = true }
queue_when_offline = true
no_response_timeout = "2s"
disconnect_timeout = "1s"
ring_timeout = "1s"

[[groups]]
id = "g1"
name = "G1"
chat = { enabled = true, distribution = "pull" }
ticket = { enabled = true }
queue_when_offline = true

[[memberships]]
agent = "a0"
group = "g0"

[[memberships]]
agent = "a1"
group = "g0"

[[memberships]]
agent = "a2"
group = "g0"

[[memberships]]
agent = "a0"
group = "g1"

[[memberships]]
agent = "a2"
group = "g1"
ticket_cap = 2
"#;

const AGENTS: u32 = 3;
const GROUPS: u32 = 2;
const CHANNELS: [Channel; 3] = [Channel::Chat, Channel::Ticket, Channel::Voice];

fn core() -> Core {
    let dir = directory_file::parse(DIRECTORY).expect("the test directory");
    Core::new(dir.directory, CoreConfig { grace_ms: 1_500 })
}

/// What the seed asks of the harness in one step.
#[derive(Debug, Clone)]
enum Step {
    /// Node `node` proposes an entry made from `op`, `ms` after the last,
    /// with an idempotency key when `key` (a retried write reuses one).
    Propose {
        node: u32,
        ms: u64,
        op: Op,
        key: Option<u8>,
    },
    /// Replica `replica` applies up to `n` entries it has not applied yet.
    Apply { replica: usize, n: usize },
    /// Replica `replica` stores a snapshot of its state; the log is trimmed
    /// before the least position any replica reached.
    SnapshotAndTrim { replica: usize },
    /// Replica `replica` restarts from the stored snapshot.
    Restart { replica: usize },
}

/// An operation, with small numbers the harness resolves against the
/// directory and the items created so far.
#[derive(Debug, Clone)]
enum Op {
    Open {
        agent: u32,
        session: u8,
    },
    Close {
        agent: u32,
        session: u8,
    },
    Availability {
        agent: u32,
        available: bool,
    },
    Cell {
        agent: u32,
        group: u32,
        channel: usize,
        on: bool,
    },
    Create {
        group: u32,
        channel: usize,
        priority: i32,
    },
    Take {
        agent: u32,
        item: u8,
    },
    Accept {
        agent: u32,
        item: u8,
    },
    Decline {
        agent: u32,
        item: u8,
    },
    CloseItem {
        agent: u32,
        item: u8,
    },
    Transfer {
        agent: u32,
        item: u8,
        group: u32,
    },
    TakeOver {
        item: u8,
    },
    Tick,
    DropNode {
        node: u32,
    },
    Visitor {
        item: u8,
    },
    Message {
        item: u8,
        agent: Option<u32>,
    },
    Logout,
    /// An administrator adds or removes a membership.
    Member {
        agent: u32,
        group: u32,
        add: bool,
    },
    /// An administrator changes an agent's chat cap.
    Cap {
        agent: u32,
        cap: u32,
    },
    /// An integration scoped to g0 changes an item: `kind` 0 close, 1
    /// cancel, 2 update, 3 assign to `agent`, 4 move to `group`.
    Integration {
        kind: u8,
        item: u8,
        agent: u32,
        group: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let agent = 0..AGENTS;
    let group = 0..GROUPS;
    let item = any::<u8>();
    prop_oneof![
        3 => (agent.clone(), 0..2u8).prop_map(|(agent, session)| Op::Open { agent, session }),
        1 => (agent.clone(), 0..2u8).prop_map(|(agent, session)| Op::Close { agent, session }),
        1 => (agent.clone(), any::<bool>()).prop_map(|(agent, available)| Op::Availability { agent, available }),
        1 => (agent.clone(), group.clone(), 0..3usize, any::<bool>())
            .prop_map(|(agent, group, channel, on)| Op::Cell { agent, group, channel, on }),
        4 => (group.clone(), 0..3usize, -1..2i32)
            .prop_map(|(group, channel, priority)| Op::Create { group, channel, priority }),
        2 => (agent.clone(), item).prop_map(|(agent, item)| Op::Take { agent, item }),
        2 => (agent.clone(), item).prop_map(|(agent, item)| Op::Accept { agent, item }),
        1 => (agent.clone(), item).prop_map(|(agent, item)| Op::Decline { agent, item }),
        2 => (agent.clone(), item).prop_map(|(agent, item)| Op::CloseItem { agent, item }),
        1 => (agent.clone(), item, group.clone()).prop_map(|(agent, item, group)| Op::Transfer { agent, item, group }),
        1 => item.prop_map(|item| Op::TakeOver { item }),
        3 => Just(Op::Tick),
        1 => (1..4u32).prop_map(|node| Op::DropNode { node }),
        1 => item.prop_map(|item| Op::Visitor { item }),
        1 => (item, proptest::option::of(agent.clone())).prop_map(|(item, agent)| Op::Message { item, agent }),
        1 => Just(Op::Logout),
        1 => (agent.clone(), group.clone(), any::<bool>())
            .prop_map(|(agent, group, add)| Op::Member { agent, group, add }),
        1 => (agent.clone(), 0..3u32).prop_map(|(agent, cap)| Op::Cap { agent, cap }),
        2 => (0..5u8, item, agent.clone(), group.clone())
            .prop_map(|(kind, item, agent, group)| Op::Integration { kind, item, agent, group }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (1..4u32, 0..3_000u64, op(), proptest::option::weighted(0.3, 0..4u8))
            .prop_map(|(node, ms, op, key)| Step::Propose { node, ms, op, key }),
        4 => (0..3usize, 1..6usize).prop_map(|(replica, n)| Step::Apply { replica, n }),
        1 => (0..3usize).prop_map(|replica| Step::SnapshotAndTrim { replica }),
        1 => (0..3usize).prop_map(|replica| Step::Restart { replica }),
    ]
}

/// The in-process log: entries from position `trimmed + 1` on (positions
/// count from 1, ids are `"<n>-0"`), the stored snapshot, and the reference
/// replica's state after every position still needed.
struct Log {
    entries: Vec<LogEntry>,
    trimmed: usize,
    snapshot: Option<ReplicaSnapshot>,
    now: u64,
    /// Items created so far (ids are given by the core: 1, 2, …).
    items: u64,
}

impl Log {
    fn len(&self) -> usize {
        self.trimmed + self.entries.len()
    }

    fn entry(&self, position: usize) -> LogEntry {
        self.entries[position - self.trimmed - 1].clone()
    }
}

/// A replica and how far it applied the log.
struct Replica {
    state: StateMachine,
    at: usize,
}

fn position(id: &str) -> usize {
    id.split('-').next().unwrap().parse().unwrap()
}

fn item_id(log: &Log, n: u8) -> u64 {
    1 + u64::from(n) % log.items.max(1)
}

fn command(log: &Log, op: &Op) -> LogOp {
    let a = |n: u32| AgentIx(n);
    let session = |agent: u32, s: u8| (u64::from(agent) << 8) | u64::from(s) | (1 << 32);
    LogOp::Command(match op {
        Op::Open { agent, session: s } => Command::OpenSession {
            agent: a(*agent),
            session: session(*agent, *s),
        },
        Op::Close { agent, session: s } => Command::CloseSession {
            agent: a(*agent),
            session: session(*agent, *s),
        },
        Op::Availability { agent, available } => Command::SetAvailability {
            agent: a(*agent),
            available: *available,
        },
        Op::Cell {
            agent,
            group,
            channel,
            on,
        } => Command::SetActive {
            actor: a(*agent),
            agent: a(*agent),
            change: CellChange::Cells(vec![(GroupIx(*group), CHANNELS[*channel], *on)]),
        },
        Op::Create {
            group,
            channel,
            priority,
        } => {
            let command = Command::CreateWork {
                group: GroupIx(*group),
                channel: CHANNELS[*channel],
                priority: *priority,
                title: "work".into(),
            };
            if CHANNELS[*channel] != Channel::Chat {
                command
            } else {
                return LogOp::NewChat {
                    command,
                    visitor: NewVisitor {
                        token_sha256: format!("token-{}", log.items + 1),
                        name: "Visitor".into(),
                        first: "hello".into(),
                    },
                };
            }
        }
        Op::Take { agent, item } => Command::Take {
            actor: a(*agent),
            item: item_id(log, *item),
        },
        Op::Accept { agent, item } => Command::Accept {
            actor: a(*agent),
            item: item_id(log, *item),
        },
        Op::Decline { agent, item } => Command::Decline {
            actor: a(*agent),
            item: item_id(log, *item),
        },
        Op::CloseItem { agent, item } => Command::Close {
            actor: Actor::Agent(a(*agent)),
            item: item_id(log, *item),
        },
        Op::Transfer { agent, item, group } => Command::Transfer {
            actor: Actor::Agent(a(*agent)),
            item: item_id(log, *item),
            group: GroupIx(*group),
            agent: None,
            note: String::new(),
        },
        Op::TakeOver { item } => Command::TakeOver {
            actor: a(0),
            item: item_id(log, *item),
        },
        Op::Integration {
            kind,
            item,
            agent,
            group,
        } => {
            let (actor, item) = (Actor::Integration, item_id(log, *item));
            let command = match kind {
                0 => Command::Close { actor, item },
                1 => Command::Cancel { actor, item },
                2 => Command::Update {
                    actor,
                    item,
                    title: Some("renamed".into()),
                    priority: Some(1),
                },
                3 => Command::Assign {
                    actor,
                    item,
                    agent: a(*agent),
                    override_capacity: false,
                },
                _ => Command::Transfer {
                    actor,
                    item,
                    group: GroupIx(*group),
                    agent: None,
                    note: String::new(),
                },
            };
            return LogOp::ByIntegration {
                name: "crm".into(),
                scope: GroupScope::Only(vec!["g0".into()]),
                command,
            };
        }
        Op::Tick => return LogOp::Tick,
        Op::DropNode { node } => return LogOp::DropNode(*node),
        Op::Visitor { item } => {
            return LogOp::VisitorJoined(VisitorJoin {
                item: item_id(log, *item),
                group: GroupIx(0),
                token_sha256: format!("token-{item}"),
                name: "Visitor".into(),
                first: "hello".into(),
            });
        }
        Op::Message { item, agent } => {
            return LogOp::ChatMessage {
                item: item_id(log, *item),
                from_agent: agent.map(a),
                text: "a message".into(),
            };
        }
        Op::Logout => return LogOp::CloseLogin("digest".into()),
        Op::Member { agent, group, add } => Command::Admin {
            actor: Actor::System,
            change: Box::new(if *add {
                AdminChange::AddMember {
                    membership: Membership {
                        agent: a(*agent),
                        group: GroupIx(*group),
                        handling: [Handling::Primary; 3],
                        ticket_cap: None,
                        initially_active: [true; 3],
                    },
                }
            } else {
                AdminChange::RemoveMember {
                    agent: a(*agent),
                    group: GroupIx(*group),
                }
            }),
        },
        Op::Cap { agent, cap } => Command::Admin {
            actor: Actor::System,
            change: Box::new(AdminChange::UpdateAgent {
                agent: a(*agent),
                patch: AgentPatch {
                    chat_cap: Some(*cap),
                    ..AgentPatch::default()
                },
            }),
        },
    })
}

fn json(s: &ReplicaSnapshot) -> String {
    serde_json::to_string(s).unwrap()
}

/// No item is held by two agents, none is both queued and held, and every
/// queued item is in its queue exactly once.
fn check_items(state: &StateMachine) {
    let core = state.core();
    let mut queued = Vec::new();
    for g in 0..GROUPS {
        for c in CHANNELS {
            queued.extend(core.queue(GroupIx(g), c).map(|i| i.id));
        }
    }
    let before = queued.len();
    queued.sort_unstable();
    queued.dedup();
    assert_eq!(before, queued.len(), "an item is queued twice");
    for item in core.items() {
        let in_queue = queued.binary_search(&item.id).is_ok();
        match item.state {
            ItemState::Queued => {
                assert!(in_queue, "item {} queued but in no queue", item.id);
                assert!(item.assignee.is_none(), "item {} queued and held", item.id);
            }
            _ => {
                assert!(!in_queue, "item {} held and queued", item.id);
            }
        }
    }
}

fn run(steps: Vec<Step>) {
    let mut log = Log {
        entries: Vec::new(),
        trimmed: 0,
        snapshot: None,
        now: 1_700_000_000_000,
        items: 0,
    };
    let mut reference = StateMachine::new(core(), Credentials::default(), 1_000);
    // The reference's snapshot after each position (index 0: before any).
    let mut expected: Vec<String> = vec![json(&reference.snapshot())];
    let mut replicas: Vec<Replica> = (0..3)
        .map(|_| Replica {
            state: StateMachine::new(core(), Credentials::default(), 1_000),
            at: 0,
        })
        .collect();
    for step in steps {
        match step {
            Step::Propose { node, ms, op, key } => {
                log.now += ms;
                let entry = LogEntry {
                    origin: node,
                    req: log.len() as u64 + 1,
                    now: log.now,
                    op: command(&log, &op),
                    key: key.map(|k| format!("a:a0:k{k}")),
                };
                if matches!(op, Op::Create { .. }) {
                    log.items += 1;
                }
                log.entries.push(entry.clone());
                let id = format!("{}-0", log.len());
                reference.apply(&id, entry);
                check_items(&reference);
                expected.push(json(&reference.snapshot()));
            }
            Step::Apply { replica, n } => {
                let r = &mut replicas[replica];
                if r.at < log.trimmed {
                    continue;
                }
                for _ in 0..n {
                    if r.at == log.len() {
                        break;
                    }
                    r.at += 1;
                    let entry = log.entry(r.at);
                    r.state.apply(&format!("{}-0", r.at), entry);
                }
            }
            Step::SnapshotAndTrim { replica } => {
                let snap = replicas[replica].state.snapshot();
                let at = position(&snap.after);
                if log
                    .snapshot
                    .as_ref()
                    .is_none_or(|s| position(&s.after) < at)
                {
                    log.snapshot = Some(snap);
                }
                let least = replicas.iter().map(|r| r.at).min().unwrap();
                let keep_from = least.min(log.snapshot.as_ref().map_or(0, |s| position(&s.after)));
                if keep_from > log.trimmed {
                    log.entries.drain(..keep_from - log.trimmed);
                    log.trimmed = keep_from;
                }
            }
            Step::Restart { replica } => {
                let mut state = StateMachine::new(core(), Credentials::default(), 1_000);
                let at = match &log.snapshot {
                    Some(snap) => {
                        state.restore(snap.clone()).expect("restore");
                        position(&snap.after)
                    }
                    None if log.trimmed == 0 => 0,
                    None => unreachable!("the log is trimmed only after a snapshot"),
                };
                replicas[replica] = Replica { state, at };
            }
        }
        for (i, r) in replicas.iter().enumerate() {
            assert_eq!(
                json(&r.state.snapshot()),
                expected[r.at],
                "replica {i} at position {} differs from the reference",
                r.at
            );
            check_items(&r.state);
        }
    }
    // Every replica catches up and ends equal to the reference.
    for r in &mut replicas {
        if r.at < log.trimmed {
            let snap = log.snapshot.clone().expect("trimmed after a snapshot");
            r.at = position(&snap.after);
            r.state.restore(snap).expect("restore");
        }
        while r.at < log.len() {
            r.at += 1;
            let entry = log.entry(r.at);
            r.state.apply(&format!("{}-0", r.at), entry);
        }
        assert_eq!(json(&r.state.snapshot()), json(&reference.snapshot()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("proptest-regressions/replicas.txt"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn three_replicas_compute_the_same_state(steps in proptest::collection::vec(step(), 1..200)) {
        run(steps);
    }
}

/// An integration's change is refused, with nothing changed, when a group
/// it touches is outside its scope at the change's place in the log (the
/// item moved there since the engine checked it), and audited under its
/// name when applied.
#[test]
fn an_integrations_change_is_checked_against_its_scope_where_it_is_applied() {
    use switchboard::domain::{DomainError, Reply};
    use switchboard::replica::Outcome;
    let mut state = StateMachine::new(core(), Credentials::default(), 1_000);
    let mut at = 0u64;
    let mut apply = |state: &mut StateMachine, op: LogOp| {
        at += 1;
        match apply_at(state, at, op) {
            Outcome::Command(result) => result,
            other => panic!("{other:?}"),
        }
    };
    let create = Command::CreateWork {
        group: GroupIx(0),
        channel: Channel::Ticket,
        priority: 0,
        title: "t".into(),
    };
    let Ok(Reply::Item(item)) = apply(&mut state, LogOp::Command(create)) else {
        panic!("created")
    };
    let by_crm = |command| LogOp::ByIntegration {
        name: "crm".into(),
        scope: GroupScope::Only(vec!["g0".into()]),
        command,
    };
    let to_g1 = Command::Transfer {
        actor: Actor::Integration,
        item,
        group: GroupIx(1),
        agent: None,
        note: String::new(),
    };
    assert_eq!(
        apply(&mut state, by_crm(to_g1)),
        Err(DomainError::OutOfScope(GroupIx(1)))
    );
    assert_eq!(state.core().item(item).unwrap().group, GroupIx(0));
    // A manager moves it out of the integration's scope; its close, checked
    // by the engine before that, is refused where it is applied.
    let by_a0 = Command::Transfer {
        actor: Actor::Agent(AgentIx(0)),
        item,
        group: GroupIx(1),
        agent: None,
        note: String::new(),
    };
    assert!(apply(&mut state, LogOp::Command(by_a0)).is_ok());
    let close = Command::Close {
        actor: Actor::Integration,
        item,
    };
    assert_eq!(
        apply(&mut state, by_crm(close.clone())),
        Err(DomainError::OutOfScope(GroupIx(1)))
    );
    assert!(state.core().item(item).is_some(), "nothing changed");
    let everywhere = LogOp::ByIntegration {
        name: "crm".into(),
        scope: GroupScope::All,
        command: close,
    };
    assert_eq!(apply(&mut state, everywhere), Ok(Reply::Item(item)));
    let query = switchboard::replica::audit::AuditQuery {
        limit: 10,
        ..Default::default()
    };
    let records = state.audit().query(state.core().directory(), &query);
    let last = serde_json::to_value(records.last().unwrap()).unwrap();
    assert_eq!(
        (&last["by"], &last["what"], &last["item"]),
        (
            &serde_json::json!("crm"),
            &serde_json::json!("item_closed"),
            &serde_json::json!(item)
        )
    );
}

/// One entry applied at position `at` (1, 2, …), its outcome.
fn apply_at(state: &mut StateMachine, at: u64, op: LogOp) -> switchboard::replica::Outcome {
    let entry = LogEntry {
        origin: 1,
        req: at,
        now: 1_000 + at,
        op,
        key: None,
    };
    state.apply(&format!("{at}-0"), entry).outcome
}

/// A node that died took its visitors' sockets with it: every replica
/// marks those chats' visitors gone where the node is dropped, so a queued
/// one is abandoned if its visitor does not come back elsewhere.
#[test]
fn a_dropped_nodes_visitors_are_gone_on_every_replica() {
    use switchboard::domain::Reply;
    use switchboard::replica::Outcome;
    let mut state = StateMachine::new(core(), Credentials::default(), 1_000);
    let mut chats = Vec::new();
    for (at, node) in [(1, 2u32), (3, 3u32)] {
        let create = Command::CreateWork {
            group: GroupIx(0),
            channel: Channel::Chat,
            priority: 0,
            title: "chat".into(),
        };
        let Outcome::Command(Ok(Reply::Item(item))) =
            apply_at(&mut state, at, LogOp::Command(create))
        else {
            panic!("created")
        };
        let socket = (u64::from(node) << 32) | 7;
        let back = Command::VisitorBack { item, socket };
        assert!(matches!(
            apply_at(&mut state, at + 1, LogOp::Command(back)),
            Outcome::Command(Ok(_))
        ));
        chats.push(item);
    }
    apply_at(&mut state, 5, LogOp::DropNode(2));
    let gone = |state: &StateMachine, item| state.core().item(item).unwrap().visitor_gone_since;
    assert_eq!(
        gone(&state, chats[0]),
        Some(1_005),
        "node 2's visitor is gone"
    );
    assert_eq!(
        gone(&state, chats[1]),
        None,
        "node 3's visitor is still there"
    );
}

/// An integration's presence change is checked against its scope where it
/// is applied, and audited under its name.
#[test]
fn an_integrations_presence_change_stays_in_its_scope() {
    use switchboard::domain::{DomainError, IntegrationPresence};
    use switchboard::replica::Outcome;
    let mut state = StateMachine::new(core(), Credentials::default(), 1_000);
    let by_g1 = |agent: u32, change| LogOp::ByIntegration {
        name: "wfm".into(),
        scope: GroupScope::Only(vec!["g1".into()]),
        command: Command::PresenceByIntegration {
            agent: AgentIx(agent),
            change,
        },
    };
    let refused = |o: Outcome| match o {
        Outcome::Command(Err(e)) => e,
        other => panic!("{other:?}"),
    };
    // a1 is in g0 only; a cell of g0 is outside the scope.
    let lunch = IntegrationPresence::Status("Lunch".into());
    assert!(matches!(
        refused(apply_at(&mut state, 1, by_g1(1, lunch.clone()))),
        DomainError::Forbidden(_)
    ));
    let g0_chat = IntegrationPresence::Cells(vec![(GroupIx(0), Channel::Chat, false)]);
    assert_eq!(
        refused(apply_at(&mut state, 2, by_g1(2, g0_chat))),
        DomainError::OutOfScope(GroupIx(0))
    );
    assert!(matches!(
        apply_at(&mut state, 3, by_g1(2, lunch)),
        Outcome::Command(Ok(_))
    ));
    assert_eq!(state.core().presence(AgentIx(2)).status(), "Lunch");
    let query = switchboard::replica::audit::AuditQuery {
        limit: 10,
        ..Default::default()
    };
    let records = state.audit().query(state.core().directory(), &query);
    let last = serde_json::to_value(records.last().unwrap()).unwrap();
    assert_eq!(last["by"], "wfm", "{last}");
}
