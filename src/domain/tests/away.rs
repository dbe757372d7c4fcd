//! Work of an agent who is away (Not Responding, or a status whose reason
//! takes no chats) moves after the group's limits, like a logged-out
//! agent's; plain Unavailable keeps it.

use super::*;

/// Accepted chats move after 30 s away, tickets after 60 s; alice and bob.
fn core_reassigning() -> Core {
    Builder::default()
        .agent("alice", AGENT, 3, true)
        .agent("bob", AGENT, 3, true)
        .group("g", [auto(), auto(), off()])
        .settings(GroupSettings {
            disconnect_ms: 30_000,
            reassign_tickets_after_logout_ms: Some(60_000),
            not_responding_after: 1,
            queue_when_offline: true,
            ..GroupSettings::default()
        })
        .member("alice", "g", [Primary; 3], None, ON)
        .member("bob", "g", [Secondary; 3], None, ON)
        .build()
}

const A: AgentIx = AgentIx(0);
const B: AgentIx = AgentIx(1);
const G: GroupIx = GroupIx(0);

fn set_status(core: &mut Core, now: Millis, a: AgentIx, status: &str) {
    ok(
        core,
        now,
        Command::SetStatus {
            actor: a,
            agent: a,
            status: status.into(),
        },
    );
}

#[test]
fn at_lunch_her_accepted_chat_and_ticket_move_after_the_limits_with_their_wait() {
    let mut core = core_reassigning();
    login(&mut core, 0, A);
    login(&mut core, 0, B);
    let chat = create(&mut core, 10, G, Chat, 0);
    let ticket = create(&mut core, 20, G, Ticket, 0);
    ok(
        &mut core,
        30,
        Command::Accept {
            actor: A,
            item: chat,
        },
    );
    assert_eq!(assignee(&core, ticket), Some(A));
    set_status(&mut core, 1_000, A, "Lunch");
    assert_eq!(core.logout_hand_off_at(chat), Some(31_000));
    core.handle_timeout(30_999);
    assert_eq!(assignee(&core, chat), Some(A));
    core.handle_timeout(31_000);
    assert_eq!(assignee(&core, chat), Some(B), "the chat moved on");
    let it = core.item(chat).unwrap();
    assert_eq!((it.created_at, it.history[0].why), (10, HandOff::Away));
    core.handle_timeout(61_000);
    assert_eq!(assignee(&core, ticket), Some(B));
    assert_eq!(core.item(ticket).unwrap().created_at, 20);
}

#[test]
fn plain_unavailable_or_back_in_time_keeps_the_work() {
    let mut core = core_reassigning();
    login(&mut core, 0, A);
    login(&mut core, 0, B);
    let chat = create(&mut core, 10, G, Chat, 0);
    ok(
        &mut core,
        30,
        Command::Accept {
            actor: A,
            item: chat,
        },
    );
    set_avail(&mut core, 1_000, A, false);
    core.handle_timeout(100_000);
    assert_eq!(assignee(&core, chat), Some(A), "finishing chats, not away");
    set_status(&mut core, 100_001, A, "Meeting");
    set_status(&mut core, 110_000, A, "Available");
    core.handle_timeout(200_000);
    assert_eq!(assignee(&core, chat), Some(A), "back before the limit");
}

#[test]
fn a_not_responding_agent_loses_its_ticket_after_the_limit() {
    let mut core = core_reassigning();
    login(&mut core, 0, A);
    login(&mut core, 0, B);
    let ticket = create(&mut core, 10, G, Ticket, 0);
    assert_eq!(assignee(&core, ticket), Some(A));
    let chat = create(&mut core, 20, G, Chat, 0);
    assert_eq!(assignee(&core, chat), Some(A));
    // The chat is not accepted in time: alice is Not Responding (limit 1).
    let no_response = GroupSettings::default().no_response_ms;
    core.handle_timeout(20 + no_response);
    assert!(core.presence(A).not_responding);
    core.handle_timeout(20 + no_response + 59_999);
    assert_eq!(assignee(&core, ticket), Some(A), "not yet");
    core.handle_timeout(20 + no_response + 60_000);
    // Away from alice (bob let the chat run out too, so it waits queued).
    let it = core.item(ticket).unwrap();
    assert_ne!(it.assignee, Some(A));
    assert_eq!((it.created_at, it.history[0].why), (10, HandOff::Away));
}
