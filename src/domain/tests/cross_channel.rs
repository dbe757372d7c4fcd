//! Cross-channel capacity: held work of one channel keeps new work of
//! another away, per group and channel (Genesys's "interruptible by").

use super::*;

/// One group: a call in progress blocks new chats, two chats block calls;
/// alice alone in it.
fn core_with_blocks() -> Core {
    let mut chat = auto();
    chat.blocked_by = [0, 0, 1];
    let mut voice = auto();
    voice.blocked_by = [2, 0, 0];
    Builder::default()
        .agent("alice", AGENT, 3, true)
        .group("g", [chat, auto(), voice])
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
fn a_call_in_progress_keeps_new_chats_away_until_it_ends() {
    let mut core = core_with_blocks();
    login(&mut core, 0, A);
    let call = create(&mut core, 10, G, Voice, 0);
    assert_eq!(assignee(&core, call), Some(A));
    let chat = create(&mut core, 20, G, Chat, 0);
    assert_eq!(state(&core, chat), ItemState::Queued);
    let why = core.explain(chat).unwrap();
    assert_eq!(why, vec![(A, Verdict::KeptOut(KeptOut::BusyWith(Voice)))]);
    assert_eq!(KeptOut::BusyWith(Voice).as_str(), "busy_with_calls");
    // Tickets are not blocked by calls here.
    let ticket = create(&mut core, 30, G, Ticket, 0);
    assert_eq!(assignee(&core, ticket), Some(A));
    close_item(&mut core, 40, call);
    assert_eq!(assignee(&core, chat), Some(A), "the call ended: drained");
}

#[test]
fn two_chats_keep_calls_away_and_one_does_not() {
    let mut core = core_with_blocks();
    login(&mut core, 0, A);
    let c1 = create(&mut core, 10, G, Chat, 0);
    let call = create(&mut core, 20, G, Voice, 0);
    assert_eq!(assignee(&core, call), Some(A), "one chat does not block");
    close_item(&mut core, 30, call);
    let c2 = create(&mut core, 40, G, Chat, 0);
    assert_eq!(assignee(&core, c2), Some(A));
    let call = create(&mut core, 50, G, Voice, 0);
    assert_eq!(
        state(&core, call),
        ItemState::Queued,
        "two chats block calls"
    );
    close_item(&mut core, 60, c1);
    assert_eq!(assignee(&core, call), Some(A));
}

#[test]
fn by_default_nothing_blocks_across_channels() {
    let mut core = Builder::default()
        .agent("alice", AGENT, 3, true)
        .group("g", [auto(), auto(), auto()])
        .member("alice", "g", [Primary; 3], None, ON)
        .build();
    login(&mut core, 0, A);
    let call = create(&mut core, 10, G, Voice, 0);
    let chat = create(&mut core, 20, G, Chat, 0);
    let ticket = create(&mut core, 30, G, Ticket, 0);
    for it in [call, chat, ticket] {
        assert_eq!(assignee(&core, it), Some(A));
    }
}
