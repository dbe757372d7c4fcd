//! Wrap-up: after closing an item of a channel, no new work of that
//! channel for the group's wrap-up time, or until the agent is ready.

use super::*;

/// One group with a 30 s ticket wrap-up and none for chats; alice alone.
fn core_with_wrap_up() -> Core {
    let mut ticket = auto();
    ticket.wrap_up_ms = 30_000;
    Builder::default()
        .agent("alice", AGENT, 3, true)
        .group("g", [auto(), ticket, off()])
        .settings(GroupSettings {
            queue_when_offline: true,
            ..GroupSettings::default()
        })
        .member("alice", "g", [Primary; 3], None, ON)
        .build()
}

const A: AgentIx = AgentIx(0);
const G: GroupIx = GroupIx(0);

#[test]
fn a_closed_ticket_holds_the_next_one_for_the_wrap_up_time_only() {
    let mut core = core_with_wrap_up();
    login(&mut core, 0, A);
    let t1 = create(&mut core, 10, G, Ticket, 0);
    assert_eq!(assignee(&core, t1), Some(A));
    events(&mut core);
    close_item(&mut core, 1_000, t1);
    assert_eq!(core.presence(A).wrap_up_until, [0, 31_000, 0]);
    assert!(events(&mut core).contains(&Event::WrapUp {
        agent: A,
        channel: Ticket,
        until: Some(31_000)
    }));
    let t2 = create(&mut core, 2_000, G, Ticket, 0);
    assert_eq!(state(&core, t2), ItemState::Queued, "wrapping up");
    let why = core.explain(t2).unwrap();
    assert_eq!(why, vec![(A, Verdict::KeptOut(KeptOut::WrappingUp))]);
    // Chats have no wrap-up here: they still come.
    let c = create(&mut core, 2_001, G, Chat, 0);
    assert_eq!(assignee(&core, c), Some(A));
    core.handle_timeout(30_999);
    assert_eq!(state(&core, t2), ItemState::Queued, "not yet");
    core.handle_timeout(31_000);
    assert_eq!(assignee(&core, t2), Some(A), "wrap-up over: drained");
    assert_eq!(core.presence(A).wrap_up_until, [0; 3]);
}

#[test]
fn ready_ends_the_wrap_up_at_once() {
    let mut core = core_with_wrap_up();
    login(&mut core, 0, A);
    let t1 = create(&mut core, 10, G, Ticket, 0);
    close_item(&mut core, 1_000, t1);
    let t2 = create(&mut core, 2_000, G, Ticket, 0);
    assert_eq!(state(&core, t2), ItemState::Queued);
    ok(&mut core, 3_000, Command::Ready { agent: A });
    assert_eq!(assignee(&core, t2), Some(A));
    // The old timer firing later changes nothing.
    core.handle_timeout(31_000);
    assert_eq!(assignee(&core, t2), Some(A));
    assert_eq!(core.presence(A).wrap_up_until, [0; 3]);
}

#[test]
fn the_wrap_up_survives_a_snapshot_and_still_ends() {
    let mut core = core_with_wrap_up();
    login(&mut core, 0, A);
    let t1 = create(&mut core, 10, G, Ticket, 0);
    close_item(&mut core, 1_000, t1);
    let t2 = create(&mut core, 2_000, G, Ticket, 0);
    let snapshot: CoreSnapshot =
        serde_json::from_str(&serde_json::to_string(&core.snapshot()).unwrap()).unwrap();
    let mut restored =
        Core::restore(core.directory().clone(), CoreConfig::default(), snapshot).unwrap();
    assert_eq!(restored.presence(A).wrap_up_until[Ticket.index()], 31_000);
    assert_eq!(restored.poll_timeout(), Some(31_000));
    restored.handle_timeout(31_000);
    assert_eq!(restored.item(t2).and_then(|i| i.assignee), Some(A));
}
