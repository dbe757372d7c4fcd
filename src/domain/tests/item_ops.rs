//! An integration's changes of items: `Cancel`, `Update`, `Assign`, and the
//! consoles' `Transfer` by an integration.

use super::*;

const BY: Actor = Actor::Integration;

#[test]
fn a_cancel_frees_the_cap_at_once_and_the_next_item_is_drained() {
    let mut core = fixture();
    let chats: Vec<ItemId> = (1..=3)
        .map(|t| create(&mut core, t, SALES, Chat, 0))
        .collect();
    login(&mut core, 10, ALICE);
    assert_eq!(
        core.presence(ALICE).load[Chat.index()],
        2,
        "at her chat cap"
    );
    assert_eq!(state(&core, chats[2]), ItemState::Queued);
    events(&mut core);
    refused(
        &mut core,
        11,
        Command::Cancel {
            actor: Actor::Agent(ALICE),
            item: chats[0],
        },
        DomainError::Forbidden("people close, transfer and take over work from their consoles"),
    );
    ok(
        &mut core,
        12,
        Command::Cancel {
            actor: BY,
            item: chats[0],
        },
    );
    let changes = item_changes(&events(&mut core));
    assert_eq!(
        changes,
        vec![
            (chats[0], Some(ALICE), ItemReason::Cancelled),
            (chats[2], Some(ALICE), ItemReason::Drained),
        ]
    );
    assert!(
        core.item(chats[0]).is_none(),
        "a cancelled item is forgotten"
    );
    refused(
        &mut core,
        13,
        Command::Cancel {
            actor: BY,
            item: chats[0],
        },
        DomainError::NoSuchItem(chats[0]),
    );
}

#[test]
fn an_update_requeues_by_the_new_priority_and_keeps_the_age() {
    let mut core = fixture();
    let a = create(&mut core, 1, SALES, Ticket, 0);
    let b = create(&mut core, 2, SALES, Ticket, 0);
    let update = |item, title: Option<&str>, priority| Command::Update {
        actor: BY,
        item,
        title: title.map(str::to_string),
        priority,
    };
    ok(&mut core, 3, update(b, Some("urgent"), Some(5)));
    let queue: Vec<ItemId> = core.queue(SALES, Ticket).map(|i| i.id).collect();
    assert_eq!(queue, vec![b, a]);
    let item = core.item(b).unwrap();
    assert_eq!(
        (item.title.as_str(), item.priority, item.created_at),
        ("urgent", 5, 2)
    );
    assert_eq!(core.queue_oldest(SALES, Ticket), Some(1));
    assert_eq!(
        item_changes(&events(&mut core)).last(),
        Some(&(b, None, ItemReason::Updated))
    );
    refused(
        &mut core,
        4,
        update(a, Some(&"x".repeat(MAX_TITLE_CHARS + 1)), None),
        DomainError::Invalid {
            field: "title",
            why: format!("is over {MAX_TITLE_CHARS} characters"),
        },
    );
}

#[test]
fn an_assign_gives_to_the_named_member_within_its_cap_unless_overridden() {
    let mut core = fixture();
    let assign = |item, agent, override_capacity| Command::Assign {
        actor: BY,
        item,
        agent,
        override_capacity,
    };
    // Nobody logged in: tickets wait, and a ticket needs no login.
    let t: Vec<ItemId> = (1..=3)
        .map(|n| create(&mut core, n, BILLING, Ticket, 0))
        .collect();
    ok(&mut core, 4, assign(t[0], BOB, false));
    assert_eq!(assignee(&core, t[0]), Some(BOB));
    ok(&mut core, 5, assign(t[1], BOB, false));
    refused(
        &mut core,
        6,
        assign(t[2], BOB, false),
        DomainError::AtCapacity(Ticket),
    );
    ok(&mut core, 7, assign(t[2], BOB, true));
    assert_eq!(core.presence(BOB).load[Ticket.index()], 3);
    events(&mut core);
    // From one holder to another: a change of hands on the history.
    ok(&mut core, 8, assign(t[0], ALICE, false));
    let item = core.item(t[0]).unwrap();
    assert_eq!((item.assignee, item.created_at), (Some(ALICE), 1));
    assert_eq!(
        item.history.last().map(|h| (h.why, h.from)),
        Some((HandOff::Transferred, Some(BOB)))
    );
    assert_eq!(core.presence(BOB).load[Ticket.index()], 2);
    assert_eq!(
        item_changes(&events(&mut core)),
        vec![(t[0], Some(ALICE), ItemReason::Assigned)]
    );
    refused(
        &mut core,
        9,
        assign(t[0], ALICE, false),
        DomainError::InvalidState("already assigned to that agent"),
    );
    refused(
        &mut core,
        9,
        assign(t[1], MAX, false),
        DomainError::TargetNotMember(MAX, BILLING),
    );
    refused(
        &mut core,
        9,
        assign(t[1], DAVE, false),
        DomainError::NotApplicable {
            agent: DAVE,
            group: BILLING,
            channel: Ticket,
        },
    );
    let chat = create(&mut core, 10, BILLING, Chat, 0);
    refused(
        &mut core,
        11,
        assign(chat, CAROL, false),
        DomainError::TargetLoggedOut(CAROL),
    );
}

#[test]
fn an_integrations_transfer_routes_in_the_new_group_and_keeps_created_at() {
    let mut core = fixture();
    let ticket = create(&mut core, 1, BILLING, Ticket, 0);
    let call = create(&mut core, 2, BILLING, Voice, 0);
    let to = |item, group| Command::Transfer {
        actor: BY,
        item,
        group,
        agent: None,
        note: "wrong department".into(),
    };
    refused(
        &mut core,
        3,
        to(call, SALES),
        DomainError::ChannelDisabled(SALES, Voice),
    );
    ok(&mut core, 4, to(ticket, SALES));
    let item = core.item(ticket).unwrap();
    assert_eq!(
        (item.group, item.state, item.created_at),
        (SALES, ItemState::Queued, 1)
    );
    assert_eq!(
        item.history.last().map(|h| (h.by, h.note.as_str())),
        Some((None, "wrong department"))
    );
    assert_eq!(core.queue_len(BILLING, Ticket), 0);
    assert_eq!(core.queue_len(SALES, Ticket), 1);
    // Alice is a member of sales with ticket cap 1: she gets it at login.
    login(&mut core, 5, ALICE);
    assert_eq!(assignee(&core, ticket), Some(ALICE));
}

#[test]
fn a_transfer_logged_before_integrations_could_transfer_still_reads() {
    let old = r#"{"Transfer":{"actor":3,"item":9,"group":1,"agent":null,"note":""}}"#;
    let cmd: Command = serde_json::from_str(old).unwrap();
    assert!(matches!(
        cmd,
        Command::Transfer {
            actor: Actor::Agent(AgentIx(3)),
            item: 9,
            ..
        }
    ));
    let new = serde_json::to_string(&Command::Transfer {
        actor: BY,
        item: 9,
        group: GroupIx(1),
        agent: None,
        note: String::new(),
    })
    .unwrap();
    let back: Command = serde_json::from_str(&new).unwrap();
    assert!(matches!(
        back,
        Command::Transfer {
            actor: Actor::Integration,
            ..
        }
    ));
}

#[test]
fn an_assign_respects_cross_channel_capacity_unless_overridden() {
    // A call in progress blocks new chats; alice alone in the group.
    let mut chat = auto();
    chat.blocked_by = [0, 0, 1];
    let mut core = Builder::default()
        .agent("alice", AGENT, 3, true)
        .group("g", [chat, auto(), auto()])
        .member("alice", "g", [Primary; 3], None, NONE)
        .build();
    let (a, g) = (AgentIx(0), GroupIx(0));
    login(&mut core, 0, a);
    let call = create(&mut core, 1, g, Voice, 0);
    let waiting = create(&mut core, 2, g, Chat, 0);
    let assign = |item, override_capacity| Command::Assign {
        actor: BY,
        item,
        agent: a,
        override_capacity,
    };
    ok(&mut core, 3, assign(call, false));
    refused(
        &mut core,
        4,
        assign(waiting, false),
        DomainError::AtCapacity(Chat),
    );
    ok(&mut core, 5, assign(waiting, true));
    assert_eq!(assignee(&core, waiting), Some(a));
}
