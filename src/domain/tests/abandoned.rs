//! Abandoned chats: a queued chat whose visitor stays gone leaves the
//! queue and never reaches an agent; a held chat's visitor leaving is only
//! marked.

use super::*;

/// One group queueing chats offline, abandoning after 60 s; alice in it.
fn core_abandoning() -> Core {
    Builder::default()
        .agent("alice", AGENT, 3, true)
        .group("g", [auto(), auto(), off()])
        .settings(GroupSettings {
            queue_when_offline: true,
            abandon_after_ms: 60_000,
            ..GroupSettings::default()
        })
        .member("alice", "g", [Primary; 3], None, ON)
        .build()
}

const A: AgentIx = AgentIx(0);
const G: GroupIx = GroupIx(0);

fn visitor(core: &mut Core, now: Millis, item: ItemId, socket: u64, back: bool) {
    let cmd = if back {
        Command::VisitorBack { item, socket }
    } else {
        Command::VisitorLeft { item, socket }
    };
    ok(core, now, cmd);
}

#[test]
fn a_queued_chat_whose_visitor_stays_gone_is_abandoned_and_never_routed() {
    let mut core = core_abandoning();
    let chat = create(&mut core, 0, G, Chat, 0);
    visitor(&mut core, 1, chat, 7, true);
    visitor(&mut core, 10_000, chat, 7, false);
    core.handle_timeout(69_999);
    assert_eq!(state(&core, chat), ItemState::Queued, "not yet");
    events(&mut core);
    core.handle_timeout(70_000);
    assert!(core.item(chat).is_none(), "gone");
    assert_eq!(core.queue(G, Chat).count(), 0);
    let evs = events(&mut core);
    assert!(evs.iter().any(|e| matches!(
        e,
        Event::Dequeued { reason: DequeueReason::Abandoned, item } if item.id == chat
    )));
    assert!(evs.iter().any(|e| matches!(
        e,
        Event::ItemChanged { reason: ItemReason::Abandoned, item, .. }
            if item.id == chat && item.state == ItemState::Closed
    )));
    // Alice logs in later: nothing comes.
    login(&mut core, 80_000, A);
    assert!(core.presence(A).held.is_empty());
}

#[test]
fn a_visitor_back_in_time_keeps_the_chat_and_a_late_close_of_its_old_socket_changes_nothing() {
    let mut core = core_abandoning();
    let chat = create(&mut core, 0, G, Chat, 0);
    visitor(&mut core, 1, chat, 7, true);
    visitor(&mut core, 10_000, chat, 7, false);
    visitor(&mut core, 20_000, chat, 8, true);
    // The first node reports socket 7 closed again, late: ignored.
    visitor(&mut core, 25_000, chat, 7, false);
    core.handle_timeout(200_000);
    assert_eq!(state(&core, chat), ItemState::Queued);
    assert_eq!(core.item(chat).unwrap().visitor_gone_since, None);
    login(&mut core, 200_001, A);
    assert_eq!(assignee(&core, chat), Some(A));
}

#[test]
fn a_held_chats_visitor_leaving_is_marked_not_abandoned() {
    let mut core = core_abandoning();
    login(&mut core, 0, A);
    let chat = create(&mut core, 1, G, Chat, 0);
    assert_eq!(assignee(&core, chat), Some(A));
    ok(
        &mut core,
        2,
        Command::Accept {
            actor: A,
            item: chat,
        },
    );
    visitor(&mut core, 2, chat, 7, true);
    events(&mut core);
    visitor(&mut core, 10_000, chat, 7, false);
    assert!(events(&mut core).iter().any(|e| matches!(
        e,
        Event::ItemChanged { reason: ItemReason::VisitorLeft, item, .. }
            if item.visitor_gone_since == Some(10_000)
    )));
    core.handle_timeout(500_000);
    assert_eq!(assignee(&core, chat), Some(A), "a held chat stays");
    visitor(&mut core, 500_001, chat, 9, true);
    assert!(events(&mut core).iter().any(|e| matches!(
        e,
        Event::ItemChanged {
            reason: ItemReason::VisitorBack,
            ..
        }
    )));
}

#[test]
fn tickets_have_no_visitor_socket() {
    let mut core = core_abandoning();
    let ticket = create(&mut core, 0, G, Ticket, 0);
    let e = core
        .apply(
            1,
            Command::VisitorLeft {
                item: ticket,
                socket: 1,
            },
        )
        .unwrap_err();
    assert!(matches!(e, DomainError::InvalidState(_)));
}
