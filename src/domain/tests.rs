//! Unit tests of the domain core, one or more per presence and routing rule.
//!
//! Every test builds the same small directory with [`fixture`] (or a custom
//! one with [`Builder`]) and logs in only the agents it needs, so that
//! routing has exactly the candidates the test names.

use super::*;

mod abandoned;
mod accounts;
mod admin;
mod cross_channel;
mod item_ops;
mod not_responding;
mod status;
mod wrap_up;

// ----- the test directory -----

/// Agents of [`fixture`].
const ALICE: AgentIx = AgentIx(0); // agent, chat cap 2; billing, sales (ticket cap 1), pullq
const BOB: AgentIx = AgentIx(1); // agent, chat cap 2; billing (ticket cap 2), pullq
const CAROL: AgentIx = AgentIx(2); // agent; billing: chat and ticket secondary
const DAVE: AgentIx = AgentIx(3); // agent without manage_own_status; billing: ticket excluded
const MIA: AgentIx = AgentIx(4); // manager, member of billing; chat cap 1
const MAX: AgentIx = AgentIx(5); // manager, member of sales only
const ADA: AgentIx = AgentIx(6); // admin, member of sales only
const PAT: AgentIx = AgentIx(7); // billing: chat and ticket pull handling, voice excluded

/// Groups of [`fixture`].
const BILLING: GroupIx = GroupIx(0); // chat, ticket, voice: all auto
const SALES: GroupIx = GroupIx(1); // chat and ticket auto; voice disabled
const PULLQ: GroupIx = GroupIx(2); // chat and ticket pull; voice disabled

use Channel::{Chat, Ticket, Voice};
use Handling::{Excluded, Primary, Pull, Secondary};

const GRACE: Millis = 10_000;

fn auto() -> ChannelConfig {
    ChannelConfig {
        enabled: true,
        distribution: Distribution::Auto,
        wrap_up_ms: 0,
        blocked_by: [0; 3],
    }
}

fn pull() -> ChannelConfig {
    ChannelConfig {
        enabled: true,
        distribution: Distribution::Pull,
        wrap_up_ms: 0,
        blocked_by: [0; 3],
    }
}

fn off() -> ChannelConfig {
    ChannelConfig {
        enabled: false,
        distribution: Distribution::Auto,
        wrap_up_ms: 0,
        blocked_by: [0; 3],
    }
}

/// Builds a directory piece by piece.
#[derive(Default)]
struct Builder {
    agents: Vec<AgentDef>,
    groups: Vec<GroupDef>,
    members: Vec<MembershipSpec>,
    settings: std::collections::HashMap<usize, GroupSettings>,
}

impl Builder {
    fn agent(mut self, id: &str, roles: Roles, chat_cap: u32, manage_own_status: bool) -> Self {
        self.agents.push(AgentDef {
            id: id.into(),
            name: id.to_uppercase(),
            roles,
            chat_cap,
            manage_own_status,
            take_assigned: false,
        });
        self
    }

    /// Lets the last agent added take over assigned items.
    fn take_assigned(mut self) -> Self {
        self.agents.last_mut().expect("an agent").take_assigned = true;
        self
    }

    fn group(mut self, id: &str, channels: [ChannelConfig; 3]) -> Self {
        self.groups.push(GroupDef {
            id: id.into(),
            name: id.to_uppercase(),
            department: "support".into(),
            channels,
        });
        self
    }

    fn member(
        mut self,
        agent: &str,
        group: &str,
        handling: [Handling; 3],
        ticket_cap: Option<u32>,
        active: [bool; 3],
    ) -> Self {
        self.members.push(MembershipSpec {
            agent: agent.into(),
            group: group.into(),
            handling,
            ticket_cap,
            initially_active: active,
        });
        self
    }

    /// Settings of the last group added (by default every group of these
    /// tests queues chats while offline, so that queues can be filled before
    /// anyone logs in).
    fn settings(mut self, settings: GroupSettings) -> Self {
        let g = self.groups.len() - 1;
        self.settings.insert(g, settings);
        self
    }

    fn build(self) -> Core {
        let n = self.groups.len();
        let mut dir =
            Directory::new(self.agents, self.groups, self.members).expect("valid directory");
        for g in 0..n {
            let s = self.settings.get(&g).copied().unwrap_or(GroupSettings {
                queue_when_offline: true,
                ..GroupSettings::default()
            });
            dir.set_settings(GroupIx(g as u32), s);
        }
        Core::new(dir, CoreConfig { grace_ms: GRACE })
    }
}

const AGENT: Roles = Roles {
    agent: true,
    manager: false,
    admin: false,
};
const MANAGER: Roles = Roles {
    agent: true,
    manager: true,
    admin: false,
};
const ADMIN: Roles = Roles {
    agent: true,
    manager: false,
    admin: true,
};
const ON: [bool; 3] = [true; 3];
const NONE: [bool; 3] = [false; 3];

/// The standard directory; see the constants above.
fn fixture() -> Core {
    Builder::default()
        .agent("alice", AGENT, 2, true)
        .agent("bob", AGENT, 2, true)
        .agent("carol", AGENT, 2, true)
        .agent("dave", AGENT, 2, false)
        .agent("mia", MANAGER, 1, true)
        .agent("max", MANAGER, 2, true)
        .agent("ada", ADMIN, 2, true)
        .agent("pat", AGENT, 2, true)
        .group("billing", [auto(), auto(), auto()])
        .group("sales", [auto(), auto(), off()])
        .group("pullq", [pull(), pull(), off()])
        .member("alice", "billing", [Primary; 3], None, ON)
        .member("alice", "sales", [Primary, Primary, Primary], Some(1), ON)
        .member("alice", "pullq", [Primary; 3], None, ON)
        .member("bob", "billing", [Primary; 3], Some(2), ON)
        .member("bob", "pullq", [Primary; 3], None, ON)
        .member(
            "carol",
            "billing",
            [Secondary, Secondary, Primary],
            None,
            ON,
        )
        .member("dave", "billing", [Primary, Excluded, Primary], None, ON)
        .member("mia", "billing", [Primary; 3], None, NONE)
        .member("max", "sales", [Primary; 3], None, NONE)
        .member("ada", "sales", [Primary; 3], None, NONE)
        .member("pat", "billing", [Pull, Pull, Excluded], None, ON)
        .build()
}

// ----- helpers -----

fn ok(core: &mut Core, now: Millis, cmd: Command) -> Reply {
    core.apply(now, cmd.clone())
        .unwrap_or_else(|e| panic!("{cmd:?} refused: {e}"))
}

fn events(core: &mut Core) -> Vec<Event> {
    core.drain_events().collect()
}

/// Opens session `a.0 * 100` of `a` and discards the events.
fn login(core: &mut Core, now: Millis, a: AgentIx) {
    ok(
        core,
        now,
        Command::OpenSession {
            agent: a,
            session: u64::from(a.0) * 100,
        },
    );
    core.drain_events().for_each(drop);
}

fn open(core: &mut Core, now: Millis, a: AgentIx, session: u64) {
    ok(core, now, Command::OpenSession { agent: a, session });
}

fn close_session(core: &mut Core, now: Millis, a: AgentIx, session: u64) {
    ok(core, now, Command::CloseSession { agent: a, session });
}

fn create(core: &mut Core, now: Millis, group: GroupIx, channel: Channel, priority: i32) -> ItemId {
    match ok(
        core,
        now,
        Command::CreateWork {
            group,
            channel,
            priority,
            title: format!("{channel:?} at {now}"),
        },
    ) {
        Reply::Item(id) => id,
        Reply::Done => panic!("CreateWork answers with the item"),
    }
}

fn close_item(core: &mut Core, now: Millis, item: ItemId) {
    ok(
        core,
        now,
        Command::Close {
            actor: Actor::System,
            item,
        },
    );
}

fn assignee(core: &Core, id: ItemId) -> Option<AgentIx> {
    core.item(id).expect("open item").assignee
}

fn state(core: &Core, id: ItemId) -> ItemState {
    core.item(id).expect("open item").state
}

fn set_avail(core: &mut Core, now: Millis, agent: AgentIx, available: bool) {
    ok(core, now, Command::SetAvailability { agent, available });
}

fn set_cells(core: &mut Core, now: Millis, actor: AgentIx, agent: AgentIx, change: CellChange) {
    ok(
        core,
        now,
        Command::SetActive {
            actor,
            agent,
            change,
        },
    );
}

fn cell(core: &Core, a: AgentIx, g: GroupIx, c: Channel) -> bool {
    let m = core.directory().member(a, g).expect("member");
    core.is_active(m, c)
}

/// A canonical dump of everything a command may change, to check that a
/// refused command changed nothing.
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
            "{i} {cells:?} {} {}\n",
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
            out += &format!("{g} {c:?} {ids:?}\n");
        }
    }
    out += &format!("{:?}\n", core.poll_timeout());
    out
}

/// Applies a command that must be refused with `want`, and checks that it
/// changed nothing and produced no event.
fn refused(core: &mut Core, now: Millis, cmd: Command, want: DomainError) {
    core.drain_events().for_each(drop);
    let before = snapshot(core);
    let got = core.apply(now, cmd.clone());
    assert_eq!(got, Err(want), "{cmd:?}");
    assert_eq!(snapshot(core), before, "{cmd:?} changed the state");
    assert_eq!(events(core), vec![], "{cmd:?} produced events");
}

fn presence_events(evs: &[Event]) -> Vec<(AgentIx, PresenceWhat)> {
    evs.iter()
        .filter_map(|e| match e {
            Event::Presence { agent, what, .. } => Some((*agent, what.clone())),
            _ => None,
        })
        .collect()
}

/// (item, assignee, reason) of every ItemChanged event, in order.
fn item_changes(evs: &[Event]) -> Vec<(ItemId, Option<AgentIx>, ItemReason)> {
    evs.iter()
        .filter_map(|e| match e {
            Event::ItemChanged { item, reason, .. } => Some((item.id, item.assignee, *reason)),
            _ => None,
        })
        .collect()
}

// ----- §2.1 login, logout, grace -----

#[test]
fn first_session_logs_in_once() {
    let mut core = fixture();
    assert!(!core.presence(ALICE).logged_in);
    open(&mut core, 5, ALICE, 1);
    let evs = events(&mut core);
    assert_eq!(
        evs,
        vec![Event::Presence {
            at: 5,
            by: Actor::Agent(ALICE),
            agent: ALICE,
            what: PresenceWhat::LoggedIn
        }]
    );
    assert!(core.presence(ALICE).logged_in);
    // A second tab: no second LoggedIn.
    open(&mut core, 6, ALICE, 2);
    assert_eq!(events(&mut core), vec![]);
    // The same session again is a no-op.
    open(&mut core, 7, ALICE, 2);
    assert_eq!(events(&mut core), vec![]);
    assert_eq!(core.presence(ALICE).sessions.len(), 2);
}

#[test]
fn reload_within_grace_does_not_flap() {
    let mut core = fixture();
    open(&mut core, 1_000, ALICE, 1);
    events(&mut core);
    close_session(&mut core, 2_000, ALICE, 1);
    assert_eq!(events(&mut core), vec![]);
    assert!(core.presence(ALICE).logged_in, "forgiven during the grace");
    assert_eq!(core.poll_timeout(), Some(2_000 + GRACE));
    // The reloaded page opens a new session before the grace ends.
    open(&mut core, 2_000 + GRACE - 1, ALICE, 2);
    assert_eq!(events(&mut core), vec![], "no LoggedIn on a reload");
    assert_eq!(core.poll_timeout(), None, "the grace timer is cancelled");
    core.handle_timeout(2_000 + GRACE + 5_000);
    assert_eq!(events(&mut core), vec![], "no LoggedOut on a reload");
    assert!(core.presence(ALICE).logged_in);
}

#[test]
fn logout_past_grace_exactly_once() {
    let mut core = fixture();
    open(&mut core, 1_000, ALICE, 1);
    events(&mut core);
    close_session(&mut core, 2_000, ALICE, 1);
    core.handle_timeout(2_000 + GRACE - 1);
    assert_eq!(events(&mut core), vec![]);
    assert!(core.presence(ALICE).logged_in);
    core.handle_timeout(2_000 + GRACE);
    assert_eq!(
        presence_events(&events(&mut core)),
        vec![(ALICE, PresenceWhat::LoggedOut)]
    );
    assert!(!core.presence(ALICE).logged_in);
    assert_eq!(core.presence(ALICE).grace_until, None);
    assert_eq!(core.poll_timeout(), None);
    core.handle_timeout(2_000 + 3 * GRACE);
    assert_eq!(events(&mut core), vec![], "LoggedOut only once");
    // Closing an unknown session, or the same one again, changes nothing.
    close_session(&mut core, 50_000, ALICE, 1);
    assert_eq!(core.poll_timeout(), None);
    assert_eq!(events(&mut core), vec![]);
    // And a later login is a real one.
    open(&mut core, 60_000, ALICE, 3);
    assert_eq!(
        presence_events(&events(&mut core)),
        vec![(ALICE, PresenceWhat::LoggedIn)]
    );
}

#[test]
fn two_sessions_logged_out_only_after_last_plus_grace() {
    let mut core = fixture();
    open(&mut core, 0, ALICE, 1);
    open(&mut core, 0, ALICE, 2);
    events(&mut core);
    close_session(&mut core, 1_000, ALICE, 1);
    assert_eq!(core.poll_timeout(), None, "another session is still open");
    core.handle_timeout(1_000 + 2 * GRACE);
    assert_eq!(events(&mut core), vec![]);
    assert!(core.presence(ALICE).logged_in);
    close_session(&mut core, 30_000, ALICE, 2);
    assert_eq!(core.poll_timeout(), Some(30_000 + GRACE));
    core.handle_timeout(30_000 + GRACE - 1);
    assert!(core.presence(ALICE).logged_in);
    assert_eq!(events(&mut core), vec![]);
    core.handle_timeout(30_000 + GRACE);
    assert_eq!(
        presence_events(&events(&mut core)),
        vec![(ALICE, PresenceWhat::LoggedOut)]
    );
}

#[test]
fn second_reload_restarts_the_grace() {
    let mut core = fixture();
    open(&mut core, 0, ALICE, 1);
    close_session(&mut core, 1_000, ALICE, 1);
    open(&mut core, 2_000, ALICE, 2);
    close_session(&mut core, 8_000, ALICE, 2);
    events(&mut core);
    // The first grace would have ended at 11_000: it must not fire.
    core.handle_timeout(1_000 + GRACE);
    assert_eq!(events(&mut core), vec![]);
    assert!(core.presence(ALICE).logged_in);
    core.handle_timeout(8_000 + GRACE);
    assert_eq!(
        presence_events(&events(&mut core)),
        vec![(ALICE, PresenceWhat::LoggedOut)]
    );
}

#[test]
fn agent_in_grace_is_still_routed_and_logged_out_is_not() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    close_session(&mut core, 1_000, ALICE, 0);
    let chat = create(&mut core, 2_000, BILLING, Chat, 0);
    assert_eq!(assignee(&core, chat), Some(ALICE));
    ok(
        &mut core,
        2_001,
        Command::Accept {
            actor: ALICE,
            item: chat,
        },
    );
    core.handle_timeout(1_000 + GRACE);
    let chat2 = create(&mut core, 1_000 + GRACE, BILLING, Chat, 0);
    assert_eq!(state(&core, chat2), ItemState::Queued);
    // Logging out does not take away an accepted chat at once.
    assert_eq!(assignee(&core, chat), Some(ALICE));
}

// ----- §2.2 availability -----

#[test]
fn availability_event_only_on_change() {
    let mut core = fixture();
    assert!(core.presence(ALICE).available, "available by default");
    set_avail(&mut core, 3, ALICE, false);
    assert_eq!(
        events(&mut core),
        vec![Event::Presence {
            at: 3,
            by: Actor::Agent(ALICE),
            agent: ALICE,
            what: PresenceWhat::Availability {
                old: true,
                new: false
            }
        }]
    );
    set_avail(&mut core, 4, ALICE, false);
    assert_eq!(events(&mut core), vec![]);
    assert!(!core.presence(ALICE).available);
}

#[test]
fn unavailable_gates_new_chats_only() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    let held = create(&mut core, 1, BILLING, Chat, 0);
    assert_eq!(assignee(&core, held), Some(ALICE));
    set_avail(&mut core, 2, ALICE, false);
    // Held chats are kept.
    assert_eq!(assignee(&core, held), Some(ALICE));
    assert_eq!(core.presence(ALICE).held, vec![held]);
    // New chats are not routed to it.
    let chat = create(&mut core, 3, BILLING, Chat, 0);
    assert_eq!(state(&core, chat), ItemState::Queued);
    let m = core.directory().member(ALICE, BILLING).unwrap();
    assert_eq!(core.kept_out(m, Chat), Some(KeptOut::Unavailable));
    // Tickets and calls still are.
    let ticket = create(&mut core, 4, BILLING, Ticket, 0);
    assert_eq!(assignee(&core, ticket), Some(ALICE));
    let call = create(&mut core, 5, BILLING, Voice, 0);
    assert_eq!(assignee(&core, call), Some(ALICE));
    assert_eq!(core.kept_out(m, Ticket), None);
}

// ----- §2.3 active cells -----

#[test]
fn set_own_cell_emits_one_event_per_change() {
    let mut core = fixture();
    set_cells(
        &mut core,
        7,
        ALICE,
        ALICE,
        CellChange::Cells(vec![(BILLING, Chat, false)]),
    );
    assert_eq!(
        events(&mut core),
        vec![Event::Presence {
            at: 7,
            by: Actor::Agent(ALICE),
            agent: ALICE,
            what: PresenceWhat::Active {
                group: BILLING,
                channel: Chat,
                old: true,
                new: false
            }
        }]
    );
    assert!(!cell(&core, ALICE, BILLING, Chat));
    // Setting it to what it already is: no event.
    set_cells(
        &mut core,
        8,
        ALICE,
        ALICE,
        CellChange::Cells(vec![(BILLING, Chat, false)]),
    );
    assert_eq!(events(&mut core), vec![]);
}

#[test]
fn active_cells_are_sticky_across_logout_and_login() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    set_cells(
        &mut core,
        1,
        ALICE,
        ALICE,
        CellChange::Cells(vec![(BILLING, Chat, false)]),
    );
    close_session(&mut core, 2, ALICE, 0);
    core.handle_timeout(2 + GRACE);
    assert!(!core.presence(ALICE).logged_in);
    assert!(!cell(&core, ALICE, BILLING, Chat));
    assert!(cell(&core, ALICE, BILLING, Ticket));
    login(&mut core, 100_000, ALICE);
    assert!(!cell(&core, ALICE, BILLING, Chat), "still off after login");
    assert!(cell(&core, ALICE, BILLING, Ticket), "still on after login");
    // Setting cells while logged out works and sticks too.
    close_session(&mut core, 100_001, ALICE, 0);
    core.handle_timeout(100_001 + GRACE);
    set_cells(
        &mut core,
        200_000,
        ALICE,
        ALICE,
        CellChange::Cells(vec![(BILLING, Chat, true)]),
    );
    login(&mut core, 300_000, ALICE);
    assert!(cell(&core, ALICE, BILLING, Chat));
}

#[test]
fn initially_active_is_masked_for_na_cells() {
    let core = fixture();
    // alice/sales voice: channel disabled; dave/billing ticket: excluded;
    // both were listed as initially active.
    assert!(!cell(&core, ALICE, SALES, Voice));
    assert!(!cell(&core, DAVE, BILLING, Ticket));
    assert!(cell(&core, DAVE, BILLING, Chat));
}

#[test]
fn na_cells_are_refused_unchanged() {
    let mut core = fixture();
    // Channel disabled in the group.
    refused(
        &mut core,
        1,
        Command::SetActive {
            actor: ALICE,
            agent: ALICE,
            change: CellChange::Cells(vec![(SALES, Voice, true)]),
        },
        DomainError::NotApplicable {
            agent: ALICE,
            group: SALES,
            channel: Voice,
        },
    );
    // Handling excluded (set by an admin, since dave may not set his own).
    refused(
        &mut core,
        1,
        Command::SetActive {
            actor: ADA,
            agent: DAVE,
            change: CellChange::Cells(vec![(BILLING, Ticket, true)]),
        },
        DomainError::NotApplicable {
            agent: DAVE,
            group: BILLING,
            channel: Ticket,
        },
    );
    // Turning an N/A cell off is refused too.
    refused(
        &mut core,
        1,
        Command::SetActive {
            actor: PAT,
            agent: PAT,
            change: CellChange::Cells(vec![(BILLING, Voice, false)]),
        },
        DomainError::NotApplicable {
            agent: PAT,
            group: BILLING,
            channel: Voice,
        },
    );
}

#[test]
fn cells_change_is_atomic() {
    let mut core = fixture();
    // First cell fine, second N/A: nothing changes.
    refused(
        &mut core,
        1,
        Command::SetActive {
            actor: ALICE,
            agent: ALICE,
            change: CellChange::Cells(vec![
                (BILLING, Chat, false),
                (SALES, Ticket, false),
                (SALES, Voice, false),
            ]),
        },
        DomainError::NotApplicable {
            agent: ALICE,
            group: SALES,
            channel: Voice,
        },
    );
    assert!(cell(&core, ALICE, BILLING, Chat));
    assert!(cell(&core, ALICE, SALES, Ticket));
    // A non-member group among the cells: nothing changes either.
    refused(
        &mut core,
        1,
        Command::SetActive {
            actor: BOB,
            agent: BOB,
            change: CellChange::Cells(vec![(BILLING, Chat, false), (SALES, Chat, false)]),
        },
        DomainError::NotMember(SALES),
    );
    assert!(cell(&core, BOB, BILLING, Chat));
    // A manager with rights in one group and not the other: nothing changes.
    refused(
        &mut core,
        1,
        Command::SetActive {
            actor: MIA,
            agent: ALICE,
            change: CellChange::Cells(vec![(BILLING, Chat, false), (SALES, Chat, false)]),
        },
        DomainError::Forbidden(
            "only a manager of the group or an admin may set another agent's active groups",
        ),
    );
    assert!(cell(&core, ALICE, BILLING, Chat));
}

#[test]
fn column_change_skips_na_cells() {
    let mut core = fixture();
    // Alice's voice column: billing voice is on; sales and pullq voice are
    // disabled (N/A) and skipped rather than refused.
    set_cells(&mut core, 1, ALICE, ALICE, CellChange::Column(Voice, false));
    assert_eq!(
        presence_events(&events(&mut core)),
        vec![(
            ALICE,
            PresenceWhat::Active {
                group: BILLING,
                channel: Voice,
                old: true,
                new: false
            }
        )]
    );
    assert!(!cell(&core, ALICE, BILLING, Voice));
    // The chat column changes every group at once.
    set_cells(&mut core, 2, ALICE, ALICE, CellChange::Column(Chat, false));
    let evs = presence_events(&events(&mut core));
    assert_eq!(evs.len(), 3);
    for g in [BILLING, SALES, PULLQ] {
        assert!(!cell(&core, ALICE, g, Chat));
    }
    // Column for the admin on dave (ticket excluded in his only group).
    set_cells(&mut core, 3, ADA, DAVE, CellChange::Column(Ticket, true));
    assert_eq!(events(&mut core), vec![]);
    set_cells(&mut core, 3, ADA, DAVE, CellChange::Column(Chat, false));
    assert_eq!(presence_events(&events(&mut core)).len(), 1);
}

#[test]
fn column_change_is_atomic_over_permissions() {
    let mut core = fixture();
    // Mia manages billing but not sales or pullq: the whole column of alice
    // is refused, billing included.
    refused(
        &mut core,
        1,
        Command::SetActive {
            actor: MIA,
            agent: ALICE,
            change: CellChange::Column(Chat, false),
        },
        DomainError::Forbidden(
            "only a manager of the group or an admin may set another agent's active groups",
        ),
    );
    assert!(cell(&core, ALICE, BILLING, Chat));
    // But bob is only in billing and pullq... and mia does not manage pullq.
    // Carol is only in billing: mia may set her whole column.
    set_cells(&mut core, 2, MIA, CAROL, CellChange::Column(Chat, false));
    assert!(!cell(&core, CAROL, BILLING, Chat));
}

#[test]
fn row_change_skips_na_cells() {
    let mut core = fixture();
    set_cells(&mut core, 1, ALICE, ALICE, CellChange::Row(SALES, false));
    let evs = presence_events(&events(&mut core));
    assert_eq!(
        evs,
        vec![
            (
                ALICE,
                PresenceWhat::Active {
                    group: SALES,
                    channel: Chat,
                    old: true,
                    new: false
                }
            ),
            (
                ALICE,
                PresenceWhat::Active {
                    group: SALES,
                    channel: Ticket,
                    old: true,
                    new: false
                }
            ),
        ]
    );
    assert!(!cell(&core, ALICE, SALES, Chat));
    assert!(!cell(&core, ALICE, SALES, Ticket));
    assert!(!cell(&core, ALICE, SALES, Voice));
    // Other rows untouched.
    assert!(cell(&core, ALICE, BILLING, Chat));
    // A row of a group the agent is not in.
    refused(
        &mut core,
        2,
        Command::SetActive {
            actor: BOB,
            agent: BOB,
            change: CellChange::Row(SALES, false),
        },
        DomainError::NotMember(SALES),
    );
}

// ----- §2.3 permissions -----

#[test]
fn agent_without_manage_own_status_is_refused() {
    let mut core = fixture();
    for change in [
        CellChange::Cells(vec![(BILLING, Chat, false)]),
        CellChange::Column(Chat, false),
        CellChange::Row(BILLING, false),
    ] {
        refused(
            &mut core,
            1,
            Command::SetActive {
                actor: DAVE,
                agent: DAVE,
                change,
            },
            DomainError::Forbidden("you may not manage your own active groups"),
        );
    }
    assert!(cell(&core, DAVE, BILLING, Chat));
}

#[test]
fn manager_of_the_group_may_set_others_cells() {
    let mut core = fixture();
    // The "called in sick but left the console open" case.
    set_cells(&mut core, 1, MIA, DAVE, CellChange::Row(BILLING, false));
    let evs = events(&mut core);
    assert_eq!(
        presence_events(&evs).len(),
        2,
        "chat and voice; ticket is N/A"
    );
    for e in &evs {
        match e {
            Event::Presence { by, agent, .. } => {
                assert_eq!(*by, Actor::Agent(MIA));
                assert_eq!(*agent, DAVE);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(!cell(&core, DAVE, BILLING, Chat));
}

#[test]
fn manager_of_another_group_is_refused() {
    let mut core = fixture();
    // Max manages sales only; bob is in billing.
    refused(
        &mut core,
        1,
        Command::SetActive {
            actor: MAX,
            agent: BOB,
            change: CellChange::Cells(vec![(BILLING, Chat, false)]),
        },
        DomainError::Forbidden(
            "only a manager of the group or an admin may set another agent's active groups",
        ),
    );
    // A plain agent may not set someone else's cells.
    refused(
        &mut core,
        1,
        Command::SetActive {
            actor: BOB,
            agent: ALICE,
            change: CellChange::Cells(vec![(BILLING, Chat, false)]),
        },
        DomainError::Forbidden(
            "only a manager of the group or an admin may set another agent's active groups",
        ),
    );
}

#[test]
fn admin_may_set_cells_anywhere() {
    let mut core = fixture();
    // Ada is an admin and a member of sales only; bob is in billing and pullq.
    set_cells(&mut core, 1, ADA, BOB, CellChange::Column(Chat, false));
    assert!(!cell(&core, BOB, BILLING, Chat));
    assert!(!cell(&core, BOB, PULLQ, Chat));
    set_cells(
        &mut core,
        2,
        ADA,
        BOB,
        CellChange::Cells(vec![(BILLING, Chat, true)]),
    );
    assert!(cell(&core, BOB, BILLING, Chat));
}

#[test]
fn manager_may_set_own_cells_even_without_permission_in_its_group() {
    // A manager without manage_own_status still manages its own group.
    let mut core = Builder::default()
        .agent("m", MANAGER, 1, false)
        .group("g", [auto(), auto(), auto()])
        .member("m", "g", [Primary; 3], None, ON)
        .build();
    set_cells(
        &mut core,
        1,
        AgentIx(0),
        AgentIx(0),
        CellChange::Row(GroupIx(0), false),
    );
    assert!(!cell(&core, AgentIx(0), GroupIx(0), Chat));
}

// ----- §2.6 receiving nothing -----

#[test]
fn logged_in_receiving_nothing() {
    let mut core = fixture();
    assert!(!core.is_receiving(MIA), "logged out");
    login(&mut core, 0, MIA);
    assert!(core.presence(MIA).logged_in);
    assert!(!core.is_receiving(MIA), "logged in, receiving nothing");
    set_cells(
        &mut core,
        1,
        MIA,
        MIA,
        CellChange::Cells(vec![(BILLING, Ticket, true)]),
    );
    assert!(core.is_receiving(MIA));
    set_cells(&mut core, 2, MIA, MIA, CellChange::Row(BILLING, false));
    assert!(!core.is_receiving(MIA));
    // Active but logged out: not receiving.
    assert!(!core.is_receiving(BOB));
    login(&mut core, 3, BOB);
    assert!(core.is_receiving(BOB));
}

// ----- §3 eligibility -----

#[test]
fn kept_out_names_the_first_failing_rule() {
    let mut core = fixture();
    let dir = core.directory();
    let alice_b = dir.member(ALICE, BILLING).unwrap();
    let alice_s = dir.member(ALICE, SALES).unwrap();
    let alice_p = dir.member(ALICE, PULLQ).unwrap();
    let dave_b = dir.member(DAVE, BILLING).unwrap();
    let pat_b = dir.member(PAT, BILLING).unwrap();
    let mia_b = dir.member(MIA, BILLING).unwrap();
    assert_eq!(core.kept_out(alice_b, Chat), Some(KeptOut::LoggedOut));
    for a in [ALICE, DAVE, PAT, MIA] {
        login(&mut core, 0, a);
    }
    assert_eq!(core.kept_out(alice_b, Chat), None);
    assert_eq!(
        core.kept_out(alice_s, Voice),
        Some(KeptOut::ChannelDisabled)
    );
    assert_eq!(core.kept_out(dave_b, Ticket), Some(KeptOut::Excluded));
    assert_eq!(core.kept_out(pat_b, Chat), Some(KeptOut::PullOnly));
    assert_eq!(core.kept_out(alice_p, Chat), Some(KeptOut::PullOnly));
    assert_eq!(core.kept_out(mia_b, Chat), Some(KeptOut::Inactive));
    set_avail(&mut core, 1, ALICE, false);
    assert_eq!(core.kept_out(alice_b, Chat), Some(KeptOut::Unavailable));
    set_avail(&mut core, 1, ALICE, true);
    create(&mut core, 2, BILLING, Chat, 0);
    create(&mut core, 2, BILLING, Chat, 0);
    create(&mut core, 2, BILLING, Chat, 0);
    assert_eq!(core.kept_out(alice_b, Chat), Some(KeptOut::AtCapacity));
    create(&mut core, 3, SALES, Ticket, 0);
    assert_eq!(core.kept_out(alice_s, Ticket), Some(KeptOut::AtCapacity));
    // dave got the third chat; give him a call.
    create(&mut core, 4, BILLING, Voice, 0);
    let on_call = [ALICE, DAVE]
        .into_iter()
        .find(|&a| core.presence(a).load[Voice.index()] == 1)
        .expect("someone took the call");
    let m = core.directory().member(on_call, BILLING).unwrap();
    assert_eq!(core.kept_out(m, Voice), Some(KeptOut::OnCall));
}

#[test]
fn chat_cap_is_global_across_groups() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    let a = create(&mut core, 1, BILLING, Chat, 0);
    let b = create(&mut core, 2, SALES, Chat, 0);
    assert_eq!(assignee(&core, a), Some(ALICE));
    assert_eq!(assignee(&core, b), Some(ALICE));
    let c = create(&mut core, 3, SALES, Chat, 0);
    assert_eq!(
        state(&core, c),
        ItemState::Queued,
        "alice is at her chat cap of 2"
    );
    assert_eq!(core.presence(ALICE).load, [2, 0, 0]);
}

#[test]
fn ticket_cap_is_per_group_and_chats_do_not_count() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    // Alice's chat cap does not limit tickets.
    create(&mut core, 1, BILLING, Chat, 0);
    create(&mut core, 1, BILLING, Chat, 0);
    let t1 = create(&mut core, 2, SALES, Ticket, 0);
    assert_eq!(assignee(&core, t1), Some(ALICE));
    let t2 = create(&mut core, 3, SALES, Ticket, 0);
    assert_eq!(state(&core, t2), ItemState::Queued, "sales ticket cap is 1");
    // No cap in billing.
    for t in 4..8 {
        let id = create(&mut core, t, BILLING, Ticket, 0);
        assert_eq!(assignee(&core, id), Some(ALICE));
    }
    let m = core.directory().member(ALICE, BILLING).unwrap();
    assert_eq!(core.tickets_held(m), 4);
}

// ----- §3 chat round robin -----

#[test]
fn chat_round_robin_fewest_chats_then_longest_since_last() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    login(&mut core, 0, BOB);
    let c1 = create(&mut core, 10, BILLING, Chat, 0);
    assert_eq!(assignee(&core, c1), Some(ALICE), "tie: directory order");
    let c2 = create(&mut core, 20, BILLING, Chat, 0);
    assert_eq!(assignee(&core, c2), Some(BOB), "fewest chats");
    let c3 = create(&mut core, 30, BILLING, Chat, 0);
    assert_eq!(
        assignee(&core, c3),
        Some(ALICE),
        "equal load: alice's last chat (10) is older than bob's (20)"
    );
    // Bob closes his: he has fewer chats now, though his last is newer.
    close_item(&mut core, 40, c2);
    let c4 = create(&mut core, 50, BILLING, Chat, 0);
    assert_eq!(assignee(&core, c4), Some(BOB));
    // Everyone closes everything; alice's last chat is at 30, bob's at 50.
    for id in [c1, c3, c4] {
        close_item(&mut core, 60, id);
    }
    let c5 = create(&mut core, 70, BILLING, Chat, 0);
    assert_eq!(
        assignee(&core, c5),
        Some(ALICE),
        "longest since its last chat"
    );
    let c6 = create(&mut core, 80, BILLING, Chat, 0);
    assert_eq!(assignee(&core, c6), Some(BOB));
}

#[test]
fn chat_load_counts_chats_of_every_group() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    login(&mut core, 0, BOB);
    // Alice gets a sales chat (bob is not in sales).
    create(&mut core, 1, SALES, Chat, 0);
    let c = create(&mut core, 2, BILLING, Chat, 0);
    assert_eq!(
        assignee(&core, c),
        Some(BOB),
        "alice already holds one chat"
    );
}

#[test]
fn chat_primaries_before_secondaries() {
    let mut core = fixture();
    login(&mut core, 0, CAROL); // secondary for chat
    login(&mut core, 0, ALICE); // primary
    let c1 = create(&mut core, 1, BILLING, Chat, 0);
    assert_eq!(assignee(&core, c1), Some(ALICE));
    let c2 = create(&mut core, 2, BILLING, Chat, 0);
    assert_eq!(
        assignee(&core, c2),
        Some(ALICE),
        "a primary with more chats still comes before an idle secondary"
    );
    // Alice at her cap: now the secondary.
    let c3 = create(&mut core, 3, BILLING, Chat, 0);
    assert_eq!(assignee(&core, c3), Some(CAROL));
    // Alice frees one: she comes first again.
    close_item(&mut core, 4, c1);
    let c4 = create(&mut core, 5, BILLING, Chat, 0);
    assert_eq!(assignee(&core, c4), Some(ALICE));
    // Alice unavailable: the secondary.
    close_item(&mut core, 6, c2);
    set_avail(&mut core, 7, ALICE, false);
    let c5 = create(&mut core, 8, BILLING, Chat, 0);
    assert_eq!(assignee(&core, c5), Some(CAROL));
    // Alice inactive for chat in billing: the secondary.
    set_avail(&mut core, 9, ALICE, true);
    events(&mut core);
    set_cells(
        &mut core,
        10,
        ALICE,
        ALICE,
        CellChange::Cells(vec![(BILLING, Chat, false)]),
    );
    close_item(&mut core, 10, c3); // carol was at her cap of 2
    let c6 = create(&mut core, 11, BILLING, Chat, 0);
    assert_eq!(assignee(&core, c6), Some(CAROL));
}

#[test]
fn chat_pull_handling_and_excluded_never_routed() {
    let mut core = fixture();
    login(&mut core, 0, PAT); // pull handling for chat in billing
    let c = create(&mut core, 1, BILLING, Chat, 0);
    assert_eq!(state(&core, c), ItemState::Queued);
    assert_eq!(core.choose(BILLING, Chat), None);
    // Pat may still cherry-pick it.
    ok(
        &mut core,
        2,
        Command::Take {
            actor: PAT,
            item: c,
        },
    );
    assert_eq!(assignee(&core, c), Some(PAT));
}

// ----- §3 ticket rotation -----

#[test]
fn ticket_rotation_one_after_the_other() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    login(&mut core, 0, BOB);
    let who: Vec<_> = (1..=4)
        .map(|t| {
            let id = create(&mut core, t * 10, BILLING, Ticket, 0);
            assignee(&core, id).unwrap()
        })
        .collect();
    assert_eq!(
        who,
        vec![ALICE, BOB, ALICE, BOB],
        "load does not matter, turn does"
    );
    // Bob has reached his billing ticket cap of 2: alice, twice.
    let t5 = create(&mut core, 50, BILLING, Ticket, 0);
    let t6 = create(&mut core, 60, BILLING, Ticket, 0);
    assert_eq!(assignee(&core, t5), Some(ALICE));
    assert_eq!(assignee(&core, t6), Some(ALICE));
    // Bob frees one: his turn has come (his last ticket is the oldest).
    let bobs = core.presence(BOB).held[0];
    close_item(&mut core, 70, bobs);
    let t7 = create(&mut core, 80, BILLING, Ticket, 0);
    assert_eq!(assignee(&core, t7), Some(BOB));
}

#[test]
fn ticket_rotation_primaries_before_secondaries() {
    let mut core = fixture();
    login(&mut core, 0, CAROL); // secondary for tickets
    login(&mut core, 0, BOB); // primary, cap 2
    let who: Vec<_> = (1..=3)
        .map(|t| {
            let id = create(&mut core, t, BILLING, Ticket, 0);
            assignee(&core, id).unwrap()
        })
        .collect();
    assert_eq!(
        who,
        vec![BOB, BOB, CAROL],
        "the secondary only once bob is capped"
    );
}

// ----- §3 calls -----

#[test]
fn calls_go_to_the_longest_idle_and_never_to_one_on_a_call() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    login(&mut core, 0, BOB);
    let k1 = create(&mut core, 1, BILLING, Voice, 0);
    let k2 = create(&mut core, 2, BILLING, Voice, 0);
    assert_eq!(assignee(&core, k1), Some(ALICE));
    assert_eq!(assignee(&core, k2), Some(BOB), "alice is on a call");
    let k3 = create(&mut core, 3, BILLING, Voice, 0);
    assert_eq!(state(&core, k3), ItemState::Queued, "both on a call");
    // Bob hangs up: the waiting call goes to him, not to alice.
    close_item(&mut core, 10, k2);
    assert_eq!(assignee(&core, k3), Some(BOB));
    close_item(&mut core, 20, k1); // alice idle since 20
    close_item(&mut core, 30, k3); // bob idle since 30
    let k4 = create(&mut core, 40, BILLING, Voice, 0);
    assert_eq!(
        assignee(&core, k4),
        Some(ALICE),
        "idle since 20 beats idle since 30"
    );
    // Calls are not gated by availability or the chat cap.
    close_item(&mut core, 41, k4);
    set_avail(&mut core, 42, ALICE, false);
    set_avail(&mut core, 42, BOB, false);
    let k5 = create(&mut core, 50, BILLING, Voice, 0);
    assert_eq!(assignee(&core, k5), Some(BOB), "idle since 30 beats 41");
}

// ----- §3 pull -----

#[test]
fn pull_distribution_never_assigns_and_sounds() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    login(&mut core, 0, BOB);
    for c in [Chat, Ticket] {
        let id = create(&mut core, 1, PULLQ, c, 0);
        assert_eq!(state(&core, id), ItemState::Queued);
        let evs = events(&mut core);
        assert_eq!(evs.len(), 1);
        match &evs[0] {
            Event::Queued { item, sound } => {
                assert_eq!(item.id, id);
                assert!(*sound, "a pull arrival is announced with a sound");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(core.choose(PULLQ, c), None);
    }
    // Nothing drains a pull queue: becoming available, turning active.
    set_avail(&mut core, 2, ALICE, false);
    set_avail(&mut core, 3, ALICE, true);
    set_cells(&mut core, 4, ALICE, ALICE, CellChange::Row(PULLQ, false));
    set_cells(&mut core, 5, ALICE, ALICE, CellChange::Row(PULLQ, true));
    assert_eq!(core.queue_len(PULLQ, Chat), 1);
    assert_eq!(core.queue_len(PULLQ, Ticket), 1);
    assert!(item_changes(&events(&mut core)).is_empty());
}

#[test]
fn auto_queue_arrival_has_no_sound() {
    let mut core = fixture();
    let id = create(&mut core, 1, BILLING, Chat, 0);
    let evs = events(&mut core);
    assert!(matches!(&evs[..], [Event::Queued { item, sound: false }] if item.id == id));
}

#[test]
fn routed_item_events() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    let id = create(&mut core, 5, BILLING, Chat, 3);
    let evs: Vec<Event> = events(&mut core)
        .into_iter()
        .filter(|e| matches!(e, Event::ItemChanged { .. }))
        .collect();
    assert_eq!(evs.len(), 1, "{evs:?}");
    match &evs[0] {
        Event::ItemChanged {
            item,
            reason,
            previous,
        } => {
            assert_eq!(*reason, ItemReason::Routed);
            assert_eq!(*previous, None);
            assert_eq!(item.id, id);
            assert_eq!(item.state, ItemState::Assigned);
            assert_eq!(item.assignee, Some(ALICE));
            assert_eq!(item.created_at, 5);
            assert_eq!(item.assigned_at, Some(5));
            assert_eq!(item.priority, 3);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(core.presence(ALICE).held, vec![id]);
    assert_eq!(core.presence(ALICE).last_chat_at, 5);
}

/// An item routed at creation was never queued: no queue watcher (board,
/// visitor positions) may be told it left a queue it never entered.
#[test]
fn routed_item_is_never_dequeued() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    create(&mut core, 5, BILLING, Chat, 3);
    let evs = events(&mut core);
    assert!(
        !evs.iter().any(|e| matches!(e, Event::Dequeued { .. })),
        "{evs:?}"
    );
}

// ----- §3 queue -----

#[test]
fn queue_order_is_priority_then_oldest() {
    let mut core = fixture();
    let a = create(&mut core, 1, BILLING, Chat, 0);
    let b = create(&mut core, 2, BILLING, Chat, 5);
    let c = create(&mut core, 3, BILLING, Chat, 0);
    let d = create(&mut core, 4, BILLING, Chat, 5);
    let e = create(&mut core, 4, BILLING, Chat, 5); // same millisecond: by id
    let f = create(&mut core, 0, BILLING, Chat, -1);
    let order: Vec<_> = core.queue(BILLING, Chat).map(|i| i.id).collect();
    assert_eq!(order, vec![b, d, e, a, c, f]);
    for (pos, id) in order.iter().enumerate() {
        assert_eq!(core.queue_position(*id), Some(pos + 1));
    }
    assert_eq!(core.queue_len(BILLING, Chat), 6);
    assert_eq!(core.queue_oldest(BILLING, Chat), Some(0));
    assert_eq!(core.queue_len(BILLING, Ticket), 0);
    // Routing serves it in that order: alice (cap 2) then bob (cap 2).
    login(&mut core, 10, ALICE);
    assert_eq!(core.presence(ALICE).held, vec![b, d]);
    login(&mut core, 11, BOB);
    assert_eq!(core.presence(BOB).held, vec![e, a]);
    assert_eq!(
        core.queue(BILLING, Chat).map(|i| i.id).collect::<Vec<_>>(),
        vec![c, f]
    );
    assert_eq!(core.queue_position(c), Some(1));
    assert_eq!(core.queue_position(a), None, "no longer queued");
}

// ----- §3 drain -----

/// The Dequeued(Assigned) + ItemChanged(Drained) pairs of a drain.
fn drained(evs: &[Event]) -> Vec<(ItemId, AgentIx)> {
    let mut out = Vec::new();
    let mut pending = None;
    for e in evs {
        match e {
            Event::Dequeued {
                item,
                reason: DequeueReason::Assigned,
            } => pending = Some(item.id),
            Event::ItemChanged {
                item,
                reason: ItemReason::Drained,
                ..
            } => {
                assert_eq!(pending.take(), Some(item.id), "Dequeued precedes Drained");
                out.push((item.id, item.assignee.expect("drained to someone")));
            }
            _ => {}
        }
    }
    out
}

#[test]
fn drain_on_login_oldest_first() {
    let mut core = fixture();
    let a = create(&mut core, 1, BILLING, Chat, 0);
    let b = create(&mut core, 2, BILLING, Chat, 0);
    let c = create(&mut core, 3, BILLING, Chat, 0);
    let t = create(&mut core, 4, BILLING, Ticket, 0);
    events(&mut core);
    open(&mut core, 10, ALICE, 1);
    let evs = events(&mut core);
    assert!(matches!(
        evs[0],
        Event::Presence {
            what: PresenceWhat::LoggedIn,
            ..
        }
    ));
    let mut got = drained(&evs);
    got.sort_by_key(|&(id, _)| id);
    assert_eq!(got, vec![(a, ALICE), (b, ALICE), (t, ALICE)]);
    assert_eq!(state(&core, c), ItemState::Queued, "chat cap 2");
    let it = core.item(a).unwrap();
    assert_eq!(
        (it.created_at, it.assigned_at),
        (1, Some(10)),
        "created_at kept"
    );
}

#[test]
fn drain_on_available() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    set_avail(&mut core, 1, ALICE, false);
    let a = create(&mut core, 2, BILLING, Chat, 0);
    assert_eq!(state(&core, a), ItemState::Queued);
    events(&mut core);
    set_avail(&mut core, 3, ALICE, true);
    assert_eq!(drained(&events(&mut core)), vec![(a, ALICE)]);
}

#[test]
fn drain_on_turning_active() {
    let mut core = fixture();
    login(&mut core, 0, MIA); // logged in, all cells off
    let t = create(&mut core, 1, BILLING, Ticket, 0);
    let k = create(&mut core, 2, BILLING, Voice, 0);
    events(&mut core);
    set_cells(
        &mut core,
        3,
        MIA,
        MIA,
        CellChange::Cells(vec![(BILLING, Ticket, true)]),
    );
    assert_eq!(drained(&events(&mut core)), vec![(t, MIA)]);
    assert_eq!(state(&core, k), ItemState::Queued);
    // Turning a cell off does not drain anything.
    set_cells(
        &mut core,
        4,
        MIA,
        MIA,
        CellChange::Cells(vec![(BILLING, Ticket, false)]),
    );
    assert_eq!(drained(&events(&mut core)), vec![]);
    set_cells(&mut core, 5, MIA, MIA, CellChange::Column(Voice, true));
    assert_eq!(drained(&events(&mut core)), vec![(k, MIA)]);
}

#[test]
fn drain_on_close_frees_capacity() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    let a = create(&mut core, 1, BILLING, Chat, 0);
    let b = create(&mut core, 2, BILLING, Chat, 0);
    let c = create(&mut core, 3, BILLING, Chat, 1);
    let d = create(&mut core, 4, SALES, Chat, 2);
    assert_eq!(state(&core, c), ItemState::Queued);
    assert_eq!(state(&core, d), ItemState::Queued);
    events(&mut core);
    ok(
        &mut core,
        5,
        Command::Close {
            actor: Actor::Agent(ALICE),
            item: a,
        },
    );
    let evs = events(&mut core);
    let freed = drained(&evs);
    assert_eq!(freed.len(), 1, "one place freed, one item drained");
    assert_eq!(core.presence(ALICE).load[Chat.index()], 2);
    // Ticket cap freed by a close drains too.
    let t1 = create(&mut core, 6, SALES, Ticket, 0);
    let t2 = create(&mut core, 7, SALES, Ticket, 0);
    assert_eq!(assignee(&core, t1), Some(ALICE));
    assert_eq!(state(&core, t2), ItemState::Queued);
    events(&mut core);
    close_item(&mut core, 8, t1);
    assert_eq!(drained(&events(&mut core)), vec![(t2, ALICE)]);
    let _ = b;
}

#[test]
fn drain_goes_to_the_first_agent_who_becomes_eligible() {
    let mut core = fixture();
    let a = create(&mut core, 1, BILLING, Ticket, 0);
    let b = create(&mut core, 2, BILLING, Ticket, 0);
    login(&mut core, 3, MIA); // inactive
    login(&mut core, 4, CAROL); // secondary, but eligible: gets them all
    assert_eq!(assignee(&core, a), Some(CAROL));
    assert_eq!(assignee(&core, b), Some(CAROL));
}

/// The drain rule: "Whenever an agent becomes eligible (...), queued items of
/// its auto groups are assigned to it at once, oldest first." With room for
/// one chat and a chat waiting in each of two groups, the older one must go.
#[test]
fn drain_across_groups_oldest_first() {
    let mut core = Builder::default()
        .agent("a", AGENT, 1, true)
        .group("g1", [auto(), auto(), auto()])
        .group("g2", [auto(), auto(), auto()])
        .member("a", "g1", [Primary; 3], None, ON)
        .member("a", "g2", [Primary; 3], None, ON)
        .build();
    let old = create(&mut core, 1, GroupIx(0), Chat, 0);
    let new = create(&mut core, 2, GroupIx(1), Chat, 0);
    login(&mut core, 10, AgentIx(0));
    assert_eq!(
        assignee(&core, old),
        Some(AgentIx(0)),
        "the oldest waiting chat"
    );
    assert_eq!(state(&core, new), ItemState::Queued);
}

/// Same rule, the other membership order.
#[test]
fn drain_across_groups_oldest_first_last_group() {
    let mut core = Builder::default()
        .agent("a", AGENT, 1, true)
        .group("g1", [auto(), auto(), auto()])
        .group("g2", [auto(), auto(), auto()])
        .member("a", "g1", [Primary; 3], None, ON)
        .member("a", "g2", [Primary; 3], None, ON)
        .build();
    let new = create(&mut core, 2, GroupIx(0), Chat, 0);
    let old = create(&mut core, 1, GroupIx(1), Chat, 0);
    login(&mut core, 10, AgentIx(0));
    assert_eq!(assignee(&core, old), Some(AgentIx(0)));
    assert_eq!(state(&core, new), ItemState::Queued);
}

// ----- §3 take -----

#[test]
fn take_exactly_one_winner() {
    let mut core = fixture();
    let id = create(&mut core, 1, PULLQ, Chat, 0);
    events(&mut core);
    assert_eq!(
        ok(
            &mut core,
            2,
            Command::Take {
                actor: BOB,
                item: id
            }
        ),
        Reply::Item(id)
    );
    let evs = events(&mut core);
    assert!(matches!(
        &evs[..],
        [
            Event::Dequeued {
                reason: DequeueReason::Taken,
                ..
            },
            Event::ItemChanged {
                reason: ItemReason::Taken,
                previous: None,
                ..
            },
        ]
    ));
    assert_eq!(assignee(&core, id), Some(BOB));
    assert_eq!(state(&core, id), ItemState::Assigned);
    assert_eq!(core.queue_len(PULLQ, Chat), 0);
    // The loser, in the same millisecond, is told who won.
    refused(
        &mut core,
        2,
        Command::Take {
            actor: ALICE,
            item: id,
        },
        DomainError::AlreadyTaken { winner: BOB },
    );
    // The winner taking it again is told too, and nothing changes.
    refused(
        &mut core,
        3,
        Command::Take {
            actor: BOB,
            item: id,
        },
        DomainError::AlreadyTaken { winner: BOB },
    );
    // Once accepted, still taken.
    ok(
        &mut core,
        4,
        Command::Accept {
            actor: BOB,
            item: id,
        },
    );
    refused(
        &mut core,
        5,
        Command::Take {
            actor: ALICE,
            item: id,
        },
        DomainError::AlreadyTaken { winner: BOB },
    );
}

#[test]
fn take_from_an_auto_queue_works_without_being_eligible() {
    let mut core = fixture();
    let id = create(&mut core, 1, BILLING, Ticket, 0);
    // Mia is logged out and inactive: she may still cherry-pick.
    ok(
        &mut core,
        2,
        Command::Take {
            actor: MIA,
            item: id,
        },
    );
    assert_eq!(assignee(&core, id), Some(MIA));
    let m = core.directory().member(MIA, BILLING).unwrap();
    assert_eq!(core.tickets_held(m), 1);
}

#[test]
fn take_refusals() {
    let mut core = fixture();
    let chat = create(&mut core, 1, BILLING, Chat, 0);
    let ticket = create(&mut core, 1, BILLING, Ticket, 0);
    refused(
        &mut core,
        2,
        Command::Take {
            actor: MAX,
            item: chat,
        },
        DomainError::NotMember(BILLING),
    );
    refused(
        &mut core,
        2,
        Command::Take {
            actor: ADA,
            item: chat,
        },
        DomainError::NotMember(BILLING),
    );
    refused(
        &mut core,
        2,
        Command::Take {
            actor: DAVE,
            item: ticket,
        },
        DomainError::NotApplicable {
            agent: DAVE,
            group: BILLING,
            channel: Ticket,
        },
    );
    refused(
        &mut core,
        2,
        Command::Take {
            actor: ALICE,
            item: 999,
        },
        DomainError::NoSuchItem(999),
    );
}

#[test]
fn take_over_cap_refused_unless_manager() {
    let mut core = fixture();
    let ids: Vec<_> = (0..4)
        .map(|t| create(&mut core, t, BILLING, Chat, 0))
        .collect();
    ok(
        &mut core,
        5,
        Command::Take {
            actor: ALICE,
            item: ids[0],
        },
    );
    ok(
        &mut core,
        5,
        Command::Take {
            actor: ALICE,
            item: ids[1],
        },
    );
    refused(
        &mut core,
        6,
        Command::Take {
            actor: ALICE,
            item: ids[2],
        },
        DomainError::AtCapacity(Chat),
    );
    // Mia (manager of billing, chat cap 1) may go over.
    ok(
        &mut core,
        7,
        Command::Take {
            actor: MIA,
            item: ids[2],
        },
    );
    ok(
        &mut core,
        7,
        Command::Take {
            actor: MIA,
            item: ids[3],
        },
    );
    assert_eq!(core.presence(MIA).load[Chat.index()], 2);
    // Ticket cap: alice's sales cap of 1.
    let t1 = create(&mut core, 8, SALES, Ticket, 0);
    let t2 = create(&mut core, 8, SALES, Ticket, 0);
    ok(
        &mut core,
        9,
        Command::Take {
            actor: ALICE,
            item: t1,
        },
    );
    refused(
        &mut core,
        9,
        Command::Take {
            actor: ALICE,
            item: t2,
        },
        DomainError::AtCapacity(Ticket),
    );
    // One call at a time.
    let k1 = create(&mut core, 10, BILLING, Voice, 0);
    let k2 = create(&mut core, 10, BILLING, Voice, 0);
    ok(
        &mut core,
        11,
        Command::Take {
            actor: BOB,
            item: k1,
        },
    );
    refused(
        &mut core,
        11,
        Command::Take {
            actor: BOB,
            item: k2,
        },
        DomainError::AtCapacity(Voice),
    );
}

/// The take-over rule: "Taking an item assigned to another agent is a manager's
/// (or a permitted agent's) right; the previous owner is told."
#[test]
fn manager_may_take_over_an_assigned_item() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    let id = create(&mut core, 1, BILLING, Chat, 0);
    assert_eq!(assignee(&core, id), Some(ALICE));
    events(&mut core);
    // Take is for queued items only: a manager is told too.
    refused(
        &mut core,
        2,
        Command::Take {
            actor: MIA,
            item: id,
        },
        DomainError::AlreadyTaken { winner: ALICE },
    );
    // A plain member may not take it over.
    refused(
        &mut core,
        2,
        Command::TakeOver {
            actor: BOB,
            item: id,
        },
        DomainError::Forbidden(
            "only a manager of the group or an agent allowed to take assigned work may take it over",
        ),
    );
    refused(
        &mut core,
        2,
        Command::TakeOver {
            actor: MAX,
            item: id,
        },
        DomainError::NotMember(BILLING),
    );
    ok(
        &mut core,
        3,
        Command::TakeOver {
            actor: MIA,
            item: id,
        },
    );
    assert_eq!(assignee(&core, id), Some(MIA));
    assert!(core.presence(ALICE).held.is_empty());
    assert_eq!(core.presence(ALICE).load, [0, 0, 0]);
    assert_eq!(core.presence(MIA).held, vec![id]);
    let evs = events(&mut core);
    assert!(
        evs.iter().any(|e| matches!(
            e,
            Event::ItemChanged { reason: ItemReason::TakenOver, previous: Some(p), item }
                if *p == ALICE && item.assignee == Some(MIA)
        )),
        "the previous owner is told: {evs:?}"
    );
    assert_eq!(core.item(id).unwrap().created_at, 1, "wait time kept");
    refused(
        &mut core,
        4,
        Command::TakeOver {
            actor: MIA,
            item: id,
        },
        DomainError::InvalidState("already yours"),
    );
}

#[test]
fn agent_with_take_assigned_may_take_over_within_its_cap() {
    let mut core = Builder::default()
        .agent("a", AGENT, 1, true)
        .agent("b", AGENT, 1, true)
        .take_assigned()
        .group("g", [auto(), auto(), auto()])
        .member("a", "g", [Primary; 3], None, ON)
        .member("b", "g", [Primary; 3], None, ON)
        .build();
    let (a, b) = (AgentIx(0), AgentIx(1));
    login(&mut core, 0, a);
    let c1 = create(&mut core, 1, GroupIx(0), Chat, 0);
    ok(&mut core, 2, Command::TakeOver { actor: b, item: c1 });
    assert_eq!(assignee(&core, c1), Some(b));
    // b is at its chat cap of 1 now: a second take-over is refused.
    let c2 = create(&mut core, 3, GroupIx(0), Chat, 0);
    assert_eq!(assignee(&core, c2), Some(a));
    refused(
        &mut core,
        4,
        Command::TakeOver { actor: b, item: c2 },
        DomainError::AtCapacity(Chat),
    );
    // a queued item is for Take, not TakeOver.
    let c3 = create(&mut core, 5, GroupIx(0), Chat, 0);
    assert_eq!(state(&core, c3), ItemState::Queued);
    refused(
        &mut core,
        6,
        Command::TakeOver { actor: a, item: c3 },
        DomainError::Forbidden(
            "only a manager of the group or an agent allowed to take assigned work may take it over",
        ),
    );
    refused(
        &mut core,
        6,
        Command::TakeOver { actor: b, item: c3 },
        DomainError::InvalidState("queued: use take"),
    );
}

// ----- §3 offline, hand-offs, transfers -----

/// Two agents in one group with short timers; chats are refused offline.
fn handoff_core() -> Core {
    Builder::default()
        .agent("a", AGENT, 2, true)
        .agent("b", AGENT, 2, true)
        .agent("m", MANAGER, 2, true)
        .group("g", [auto(), auto(), auto()])
        .settings(GroupSettings {
            ring_timeout_ms: 1_000,
            no_response_ms: 5_000,
            disconnect_ms: 30_000,
            queue_when_offline: false,
            not_responding_after: 0,
            abandon_after_ms: 0,
            auto_away_ms: 0,
            reassign_tickets_after_logout_ms: Some(60_000),
        })
        .group("h", [auto(), auto(), pull()])
        .member("a", "g", [Primary; 3], None, ON)
        .member("b", "g", [Primary; 3], None, ON)
        .member("m", "g", [Primary; 3], None, NONE)
        .member("m", "h", [Primary; 3], None, ON)
        .member("b", "h", [Primary; 3], None, ON)
        .build()
}
const HA: AgentIx = AgentIx(0);
const HB: AgentIx = AgentIx(1);
const HM: AgentIx = AgentIx(2);
const HG: GroupIx = GroupIx(0);
const HH: GroupIx = GroupIx(1);

#[test]
fn offline_group_refuses_new_chats_but_not_tickets() {
    let mut core = handoff_core();
    assert!(!core.is_chat_online(HG));
    refused(
        &mut core,
        1,
        Command::CreateWork {
            group: HG,
            channel: Chat,
            priority: 0,
            title: "x".into(),
        },
        DomainError::Offline(HG),
    );
    let t = create(&mut core, 2, HG, Ticket, 0);
    assert_eq!(state(&core, t), ItemState::Queued);
    // Online as soon as someone is logged in, available and active for chat.
    login(&mut core, 3, HA);
    assert!(core.is_chat_online(HG));
    set_avail(&mut core, 4, HA, false);
    assert!(!core.is_chat_online(HG));
}

#[test]
fn no_response_hands_the_chat_to_another_agent() {
    let mut core = handoff_core();
    login(&mut core, 0, HA);
    login(&mut core, 0, HB);
    let c = create(&mut core, 10, HG, Chat, 0);
    assert_eq!(assignee(&core, c), Some(HA));
    events(&mut core);
    core.handle_timeout(10 + 4_999);
    assert_eq!(assignee(&core, c), Some(HA), "not yet");
    core.handle_timeout(10 + 5_000);
    assert_eq!(
        assignee(&core, c),
        Some(HB),
        "the next agent, not the same one"
    );
    let it = core.item(c).unwrap();
    assert_eq!(it.created_at, 10, "wait time not reset");
    assert_eq!(it.history.len(), 1);
    assert_eq!(it.history[0].why, HandOff::NoResponse);
    assert_eq!(it.history[0].from, Some(HA));
    assert!(core.presence(HA).held.is_empty());
    // Bob does not answer either: back to the queue (alice let it go once).
    core.handle_timeout(10 + 10_000);
    assert_eq!(state(&core, c), ItemState::Queued);
    assert!(core.presence(HB).held.is_empty());
}

#[test]
fn accepted_chat_is_not_handed_off() {
    let mut core = handoff_core();
    login(&mut core, 0, HA);
    login(&mut core, 0, HB);
    let c = create(&mut core, 10, HG, Chat, 0);
    ok(&mut core, 11, Command::Accept { actor: HA, item: c });
    core.handle_timeout(100_000);
    assert_eq!(assignee(&core, c), Some(HA));
    assert_eq!(state(&core, c), ItemState::Active);
}

#[test]
fn ring_timeout_and_decline_move_the_call_on() {
    let mut core = handoff_core();
    login(&mut core, 0, HA);
    login(&mut core, 0, HB);
    let k = create(&mut core, 10, HG, Voice, 0);
    assert_eq!(assignee(&core, k), Some(HA));
    core.handle_timeout(10 + 1_000);
    assert_eq!(assignee(&core, k), Some(HB), "rang out: the next agent");
    refused(
        &mut core,
        1_020,
        Command::Decline { actor: HA, item: k },
        DomainError::Forbidden("only the rung agent may decline"),
    );
    ok(&mut core, 1_020, Command::Decline { actor: HB, item: k });
    assert_eq!(state(&core, k), ItemState::Queued, "both passed: it waits");
    assert_eq!(core.presence(HB).load, [0, 0, 0]);
}

#[test]
fn disconnected_holder_loses_its_chats_after_the_limit() {
    let mut core = handoff_core();
    login(&mut core, 0, HA);
    let c = create(&mut core, 10, HG, Chat, 0);
    ok(&mut core, 11, Command::Accept { actor: HA, item: c });
    login(&mut core, 12, HB);
    close_session(&mut core, 20, HA, 0);
    core.handle_timeout(20 + GRACE); // logged out now
    assert!(!core.presence(HA).logged_in);
    assert_eq!(assignee(&core, c), Some(HA), "not yet");
    core.handle_timeout(20 + GRACE + 30_000);
    assert_eq!(assignee(&core, c), Some(HB));
    assert_eq!(core.item(c).unwrap().history[0].why, HandOff::Disconnected);
}

#[test]
fn reconnect_before_the_limit_keeps_the_chats() {
    let mut core = handoff_core();
    login(&mut core, 0, HA);
    let c = create(&mut core, 10, HG, Chat, 0);
    ok(&mut core, 11, Command::Accept { actor: HA, item: c });
    login(&mut core, 12, HB);
    close_session(&mut core, 20, HA, 0);
    core.handle_timeout(20 + GRACE);
    login(&mut core, 25_000, HA);
    core.handle_timeout(20 + GRACE + 30_000);
    assert_eq!(assignee(&core, c), Some(HA));
}

/// Logs `a` (session `a.0 * 100`) out: its session closes at `at` and the
/// grace runs out.
fn log_out(core: &mut Core, at: Millis, a: AgentIx) {
    close_session(core, at, a, u64::from(a.0) * 100);
    core.handle_timeout(at + GRACE);
    assert!(!core.presence(a).logged_in);
}

#[test]
fn offered_chat_and_ringing_call_move_at_once_when_their_agent_is_logged_out() {
    // Group timers longer than the grace: only the logout moves them.
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    let c = create(&mut core, 10, BILLING, Chat, 0);
    let k = create(&mut core, 11, BILLING, Voice, 0);
    assert_eq!(
        (assignee(&core, c), assignee(&core, k)),
        (Some(ALICE), Some(ALICE))
    );
    login(&mut core, 12, BOB);
    close_session(&mut core, 20, ALICE, 0);
    core.handle_timeout(20 + GRACE - 1);
    assert_eq!(assignee(&core, c), Some(ALICE), "the grace still runs");
    events(&mut core);
    core.handle_timeout(20 + GRACE);
    for id in [c, k] {
        let it = core.item(id).unwrap();
        assert_eq!(it.assignee, Some(BOB), "item {id} went on at the logout");
        assert_eq!(it.history.len(), 1);
        assert_eq!(it.history[0].why, HandOff::LoggedOut);
        assert_eq!(it.history[0].from, Some(ALICE));
    }
    assert_eq!(core.item(c).unwrap().created_at, 10);
    assert_eq!(core.item(k).unwrap().created_at, 11);
    assert!(core.presence(ALICE).held.is_empty());
    let evs = events(&mut core);
    assert_eq!(
        presence_events(&evs),
        vec![(ALICE, PresenceWhat::LoggedOut)],
        "one logout"
    );
}

#[test]
fn tickets_of_a_logged_out_agent_go_back_to_routing_after_the_group_setting() {
    let mut core = handoff_core();
    login(&mut core, 0, HA);
    let t1 = create(&mut core, 10, HG, Ticket, 0);
    let t2 = create(&mut core, 11, HG, Ticket, 1);
    ok(
        &mut core,
        12,
        Command::Accept {
            actor: HA,
            item: t1,
        },
    );
    login(&mut core, 13, HB);
    log_out(&mut core, 20, HA);
    let out = 20 + GRACE;
    assert_eq!(core.logout_hand_off_at(t1), Some(out + 60_000));
    core.handle_timeout(out + 59_999);
    assert_eq!(
        (assignee(&core, t1), assignee(&core, t2)),
        (Some(HA), Some(HA))
    );
    core.handle_timeout(out + 60_000);
    for (id, created) in [(t1, 10), (t2, 11)] {
        let it = core.item(id).unwrap();
        assert_eq!(it.assignee, Some(HB));
        assert_eq!(it.created_at, created, "wait kept");
        assert_eq!(it.history[0].why, HandOff::Disconnected);
        assert_eq!(it.history[0].from, Some(HA));
    }
    assert_eq!(core.presence(HA).load, [0, 0, 0]);
}

#[test]
fn tickets_stay_with_a_logged_out_agent_by_default() {
    let mut core = fixture();
    login(&mut core, 0, BOB);
    let t = create(&mut core, 10, BILLING, Ticket, 0);
    assert_eq!(assignee(&core, t), Some(BOB));
    login(&mut core, 11, ALICE);
    log_out(&mut core, 20, BOB);
    assert_eq!(core.logout_hand_off_at(t), None);
    core.handle_timeout(20 + GRACE + 86_400_000);
    assert_eq!(assignee(&core, t), Some(BOB));
}

#[test]
fn an_agent_back_before_the_limit_keeps_its_tickets_and_a_later_logout_starts_it_again() {
    let mut core = handoff_core();
    login(&mut core, 0, HA);
    let t = create(&mut core, 10, HG, Ticket, 0);
    login(&mut core, 11, HB);
    log_out(&mut core, 20, HA);
    login(&mut core, 40_000, HA);
    core.handle_timeout(20 + GRACE + 60_000);
    assert_eq!(assignee(&core, t), Some(HA), "back in time");
    // Out again: the limit counts from this logout, not the first.
    log_out(&mut core, 50_000, HA);
    core.handle_timeout(50_000 + GRACE + 59_999);
    assert_eq!(assignee(&core, t), Some(HA));
    core.handle_timeout(50_000 + GRACE + 60_000);
    assert_eq!(assignee(&core, t), Some(HB));
}

#[test]
fn changing_the_ticket_setting_applies_to_agents_already_logged_out() {
    let mut core = fixture();
    login(&mut core, 0, BOB);
    let t = create(&mut core, 10, BILLING, Ticket, 0);
    login(&mut core, 11, ALICE);
    log_out(&mut core, 20, BOB);
    let out = 20 + GRACE;
    let set = |core: &mut Core, now, ms| {
        ok(
            core,
            now,
            Command::Admin {
                actor: Actor::Agent(ADA),
                change: Box::new(AdminChange::UpdateGroup {
                    group: BILLING,
                    patch: GroupPatch {
                        reassign_tickets_after_logout_ms: Some(ms),
                        ..GroupPatch::default()
                    },
                }),
            },
        )
    };
    set(&mut core, out + 1_000, Some(5_000));
    assert_eq!(core.logout_hand_off_at(t), Some(out + 5_000));
    // Raised before it fired: the first deadline passes without a move.
    set(&mut core, out + 2_000, Some(9_000));
    core.handle_timeout(out + 5_000);
    assert_eq!(assignee(&core, t), Some(BOB));
    core.handle_timeout(out + 9_000);
    assert_eq!(assignee(&core, t), Some(ALICE));
    let it = core.item(t).unwrap();
    assert_eq!(
        (it.created_at, it.history[0].why),
        (10, HandOff::Disconnected)
    );
}

#[test]
fn a_ticket_transferred_to_a_logged_out_agent_moves_after_the_limit_from_the_transfer() {
    let mut core = handoff_core();
    login(&mut core, 0, HA);
    login(&mut core, 0, HB);
    log_out(&mut core, 1, HB);
    let t = create(&mut core, 100_000, HG, Ticket, 0);
    assert_eq!(assignee(&core, t), Some(HA));
    ok(
        &mut core,
        100_001,
        Command::Transfer {
            actor: Actor::Agent(HA),
            item: t,
            group: HG,
            agent: Some(HB),
            note: String::new(),
        },
    );
    assert_eq!(assignee(&core, t), Some(HB));
    assert_eq!(core.logout_hand_off_at(t), Some(100_001 + 60_000));
    core.handle_timeout(100_001 + 60_000);
    let it = core.item(t).unwrap();
    assert_eq!(it.assignee, Some(HA), "routed again, not kept by bob");
    assert_eq!(
        (it.history[1].why, it.history[1].from),
        (HandOff::Disconnected, Some(HB))
    );
}

#[test]
fn transfer_to_a_group_and_to_a_named_member() {
    let mut core = handoff_core();
    login(&mut core, 0, HA);
    login(&mut core, 0, HM);
    let t = create(&mut core, 10, HG, Ticket, 0);
    assert_eq!(assignee(&core, t), Some(HA));
    refused(
        &mut core,
        11,
        Command::Transfer {
            actor: Actor::Agent(HB),
            item: t,
            group: HH,
            agent: None,
            note: String::new(),
        },
        DomainError::Forbidden("only the holder or a manager of the group may transfer it"),
    );
    // To group h, routed by its rules: m is the one logged in there.
    ok(
        &mut core,
        12,
        Command::Transfer {
            actor: Actor::Agent(HA),
            item: t,
            group: HH,
            agent: None,
            note: "billing question".into(),
        },
    );
    let it = core.item(t).unwrap();
    assert_eq!((it.group, it.assignee, it.created_at), (HH, Some(HM), 10));
    assert_eq!(it.history[0].note, "billing question");
    assert!(core.presence(HA).held.is_empty());
    // Named transfer back into g, to b who is logged out: tickets may go.
    ok(
        &mut core,
        13,
        Command::Transfer {
            actor: Actor::Agent(HM),
            item: t,
            group: HG,
            agent: Some(HB),
            note: String::new(),
        },
    );
    assert_eq!(assignee(&core, t), Some(HB));
    // A chat may not go to a logged-out agent.
    let c = create(&mut core, 14, HG, Chat, 0);
    assert_eq!(assignee(&core, c), Some(HA));
    refused(
        &mut core,
        15,
        Command::Transfer {
            actor: Actor::Agent(HA),
            item: c,
            group: HG,
            agent: Some(HB),
            note: String::new(),
        },
        DomainError::TargetLoggedOut(HB),
    );
}

/// A manager transfers a queued ticket to another group: it must leave the
/// first group's queue and wait (or be routed) in the second only.
#[test]
fn transfer_of_a_queued_item_leaves_its_old_queue() {
    let mut core = handoff_core();
    let t = create(&mut core, 1, HG, Ticket, 0); // nobody logged in: queued in g
    events(&mut core);
    ok(
        &mut core,
        2,
        Command::Transfer {
            actor: Actor::Agent(HM),
            item: t,
            group: HH,
            agent: None,
            note: String::new(),
        },
    );
    let evs = events(&mut core);
    assert_eq!(
        core.queue_len(HG, Ticket),
        0,
        "still in g's queue; events {evs:?}"
    );
    assert_eq!(core.queue_len(HH, Ticket), 1);
    assert_eq!(
        evs.iter()
            .filter(|e| matches!(e, Event::Queued { .. }))
            .count(),
        1,
        "{evs:?}"
    );
    // Closing it must not leave a dangling id behind in g's queue.
    close_item(&mut core, 3, t);
    assert_eq!(core.queue(HG, Ticket).count(), 0);
}

// ----- §3 accept -----

#[test]
fn accept_only_by_assignee_and_only_when_assigned() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    let id = create(&mut core, 1, BILLING, Chat, 0);
    refused(
        &mut core,
        2,
        Command::Accept {
            actor: BOB,
            item: id,
        },
        DomainError::Forbidden("only the item's assignee may accept it"),
    );
    refused(
        &mut core,
        2,
        Command::Accept {
            actor: MIA,
            item: id,
        },
        DomainError::Forbidden("only the item's assignee may accept it"),
    );
    assert_eq!(
        ok(
            &mut core,
            3,
            Command::Accept {
                actor: ALICE,
                item: id
            }
        ),
        Reply::Item(id)
    );
    assert_eq!(state(&core, id), ItemState::Active);
    assert_eq!(
        item_changes(&events(&mut core)),
        vec![(id, Some(ALICE), ItemReason::Accepted)]
    );
    refused(
        &mut core,
        4,
        Command::Accept {
            actor: ALICE,
            item: id,
        },
        DomainError::InvalidState("active"),
    );
    // A queued item has no assignee to accept it.
    let q = create(&mut core, 5, PULLQ, Chat, 0);
    refused(
        &mut core,
        6,
        Command::Accept {
            actor: ALICE,
            item: q,
        },
        DomainError::Forbidden("only the item's assignee may accept it"),
    );
    refused(
        &mut core,
        6,
        Command::Accept {
            actor: ALICE,
            item: 4242,
        },
        DomainError::NoSuchItem(4242),
    );
    // Accepting does not change the load.
    assert_eq!(core.presence(ALICE).load, [1, 0, 0]);
}

// ----- §3 close -----

#[test]
fn close_releases_the_holder() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    let chat = create(&mut core, 1, BILLING, Chat, 0);
    let ticket = create(&mut core, 1, SALES, Ticket, 0);
    ok(
        &mut core,
        2,
        Command::Accept {
            actor: ALICE,
            item: chat,
        },
    );
    events(&mut core);
    assert_eq!(
        ok(
            &mut core,
            3,
            Command::Close {
                actor: Actor::Agent(ALICE),
                item: chat
            }
        ),
        Reply::Item(chat)
    );
    let evs = events(&mut core);
    assert!(matches!(
        &evs[..],
        [Event::ItemChanged { item, reason: ItemReason::Closed, .. }]
            if item.id == chat && item.state == ItemState::Closed
    ));
    assert!(core.item(chat).is_none(), "closed items are forgotten");
    assert_eq!(core.presence(ALICE).load, [0, 1, 0]);
    assert_eq!(core.presence(ALICE).held, vec![ticket]);
    close_item(&mut core, 4, ticket);
    let m = core.directory().member(ALICE, SALES).unwrap();
    assert_eq!(core.tickets_held(m), 0);
    assert!(core.presence(ALICE).held.is_empty());
    refused(
        &mut core,
        5,
        Command::Close {
            actor: Actor::System,
            item: chat,
        },
        DomainError::NoSuchItem(chat),
    );
}

#[test]
fn close_queued_item() {
    let mut core = fixture();
    let a = create(&mut core, 1, BILLING, Chat, 0);
    let b = create(&mut core, 2, BILLING, Chat, 0);
    events(&mut core);
    ok(
        &mut core,
        3,
        Command::Close {
            actor: Actor::Integration,
            item: a,
        },
    );
    let evs = events(&mut core);
    assert!(matches!(
        &evs[..],
        [
            Event::Dequeued {
                reason: DequeueReason::Closed,
                ..
            },
            Event::ItemChanged {
                reason: ItemReason::Closed,
                ..
            },
        ]
    ));
    assert_eq!(
        core.queue(BILLING, Chat).map(|i| i.id).collect::<Vec<_>>(),
        vec![b]
    );
    assert_eq!(core.queue_position(b), Some(1));
}

#[test]
fn close_permissions() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    let id = create(&mut core, 1, BILLING, Chat, 0);
    refused(
        &mut core,
        2,
        Command::Close {
            actor: Actor::Agent(MAX),
            item: id,
        },
        DomainError::NotMember(BILLING),
    );
    refused(
        &mut core,
        2,
        Command::Close {
            actor: Actor::Agent(BOB),
            item: id,
        },
        DomainError::Forbidden("only the assignee or a manager of the group may close it"),
    );
    ok(
        &mut core,
        3,
        Command::Close {
            actor: Actor::Agent(MIA),
            item: id,
        },
    );
    assert!(core.item(id).is_none());
}

// ----- errors change nothing -----

#[test]
fn refused_commands_leave_timers_and_dirty_state_alone() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    close_session(&mut core, 1, ALICE, 0);
    let timeout = core.poll_timeout();
    refused(
        &mut core,
        2,
        Command::SetActive {
            actor: ALICE,
            agent: ALICE,
            change: CellChange::Cells(vec![(BILLING, Chat, true), (SALES, Voice, true)]),
        },
        DomainError::NotApplicable {
            agent: ALICE,
            group: SALES,
            channel: Voice,
        },
    );
    assert_eq!(core.poll_timeout(), timeout);
}

#[test]
fn directory_rejects_duplicates_and_unknowns() {
    let dup = Directory::new(
        vec![
            Builder::default()
                .agent("x", AGENT, 1, true)
                .agents
                .remove(0),
            Builder::default()
                .agent("x", AGENT, 1, true)
                .agents
                .remove(0),
        ],
        vec![],
        vec![],
    );
    assert_eq!(dup.err(), Some(DirectoryError::DuplicateAgent("x".into())));
    let b = Builder::default()
        .agent("x", AGENT, 1, true)
        .group("g", [auto(), auto(), auto()])
        .member("x", "nope", [Primary; 3], None, ON);
    assert_eq!(
        Directory::new(b.agents, b.groups, b.members).err(),
        Some(DirectoryError::UnknownGroup("nope".into()))
    );
    let b = Builder::default()
        .agent("x", AGENT, 1, true)
        .group("g", [auto(), auto(), auto()])
        .member("x", "g", [Primary; 3], None, ON)
        .member("x", "g", [Primary; 3], None, ON);
    assert_eq!(
        Directory::new(b.agents, b.groups, b.members).err(),
        Some(DirectoryError::DuplicateMembership("x".into(), "g".into()))
    );
}

/// Channels serialise with their wire names, and the capitalised names of
/// logs and snapshots written by the previous release still read.
#[test]
fn channels_use_wire_names_and_read_the_old_ones() {
    for c in Channel::ALL {
        let wire = serde_json::to_string(&c).unwrap();
        assert_eq!(wire, format!("\"{}\"", c.as_str()));
        let old = format!("{c:?}");
        assert_eq!(
            serde_json::from_str::<Channel>(&format!("\"{old}\"")).unwrap(),
            c
        );
    }
}
