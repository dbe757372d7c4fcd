//! Statuses with reasons: availability plus the reason an agent gives.

use super::*;

fn set_status(core: &mut Core, now: Millis, actor: AgentIx, agent: AgentIx, status: &str) {
    ok(
        core,
        now,
        Command::SetStatus {
            actor,
            agent,
            status: status.into(),
        },
    );
}

fn status_of(core: &Core, a: AgentIx) -> &str {
    let p = core.presence(a);
    status_name(p.available, p.reason.as_deref())
}

#[test]
fn lunch_keeps_new_chats_away_but_not_tickets() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    set_status(&mut core, 1, ALICE, ALICE, "Lunch");
    assert_eq!(status_of(&core, ALICE), "Lunch");
    assert!(!core.presence(ALICE).available);
    assert_eq!(core.presence(ALICE).since, 1);
    let ticket = create(&mut core, 2, SALES, Ticket, 0);
    assert_eq!(assignee(&core, ticket), Some(ALICE));
    // Sales queues chats when nobody takes them only if set so; billing
    // has others, but none logged in: the chat is refused or queued, never
    // offered to alice.
    let _ = core.apply(
        3,
        Command::CreateWork {
            group: BILLING,
            channel: Chat,
            priority: 0,
            title: "c".into(),
        },
    );
    assert!(
        core.presence(ALICE)
            .held
            .iter()
            .all(|id| core.item(*id).map(|i| i.channel) != Some(Chat))
    );
}

#[test]
fn a_reason_that_takes_chats_keeps_the_agent_receiving_them() {
    let mut core = fixture();
    let mut st = core.directory().status_settings().clone();
    st.reasons.push(AwayReason {
        name: "Back office".into(),
        takes_chats: true,
    });
    ok(
        &mut core,
        0,
        Command::Admin {
            actor: Actor::Agent(ADA),
            change: Box::new(AdminChange::SetStatusSettings(st)),
        },
    );
    login(&mut core, 1, ALICE);
    set_status(&mut core, 2, ALICE, ALICE, "Back office");
    let chat = create(&mut core, 3, SALES, Chat, 0);
    assert_eq!(assignee(&core, chat), Some(ALICE));
    assert_eq!(status_of(&core, ALICE), "Back office");
}

#[test]
fn every_change_names_the_old_and_new_status_and_who_made_it() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    events(&mut core);
    set_status(&mut core, 1, ALICE, ALICE, "Meeting");
    set_avail(&mut core, 2, ALICE, true);
    set_avail(&mut core, 3, ALICE, false);
    let whats: Vec<_> = events(&mut core)
        .into_iter()
        .filter_map(|e| match e {
            Event::Presence { what, by, .. } => Some((what, by)),
            _ => None,
        })
        .collect();
    assert_eq!(
        whats,
        vec![
            (
                PresenceWhat::Status {
                    old: "Available".into(),
                    new: "Meeting".into(),
                    available: false
                },
                Actor::Agent(ALICE)
            ),
            (
                PresenceWhat::Status {
                    old: "Meeting".into(),
                    new: "Available".into(),
                    available: true
                },
                Actor::Agent(ALICE)
            ),
            (
                PresenceWhat::Availability {
                    old: true,
                    new: false
                },
                Actor::Agent(ALICE)
            ),
        ]
    );
}

#[test]
fn an_unknown_status_changes_nothing() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    events(&mut core);
    let e = core
        .apply(
            1,
            Command::SetStatus {
                actor: ALICE,
                agent: ALICE,
                status: "Napping".into(),
            },
        )
        .unwrap_err();
    assert!(matches!(
        e,
        DomainError::Invalid {
            field: "status",
            ..
        }
    ));
    assert_eq!(status_of(&core, ALICE), "Available");
    assert!(events(&mut core).is_empty());
}

#[test]
fn managers_set_a_members_status_only_when_the_help_desk_allows_it() {
    let mut core = fixture();
    let refused = core.apply(
        0,
        Command::SetStatus {
            actor: MIA,
            agent: BOB,
            status: "Unavailable".into(),
        },
    );
    assert!(matches!(refused, Err(DomainError::Forbidden(_))));
    let mut st = core.directory().status_settings().clone();
    st.managers_set_status = true;
    ok(
        &mut core,
        1,
        Command::Admin {
            actor: Actor::Agent(ADA),
            change: Box::new(AdminChange::SetStatusSettings(st)),
        },
    );
    set_status(&mut core, 2, MIA, BOB, "Unavailable");
    assert_eq!(status_of(&core, BOB), "Unavailable");
    // Not a member of a group mia manages: still refused.
    let refused = core.apply(
        3,
        Command::SetStatus {
            actor: MIA,
            agent: ADA,
            status: "Unavailable".into(),
        },
    );
    assert!(matches!(refused, Err(DomainError::Forbidden(_))));
    // An agent may not set another's.
    let refused = core.apply(
        4,
        Command::SetStatus {
            actor: ALICE,
            agent: BOB,
            status: "Available".into(),
        },
    );
    assert!(matches!(refused, Err(DomainError::Forbidden(_))));
    // Admins always may.
    set_status(&mut core, 5, ADA, BOB, "Training");
    assert_eq!(status_of(&core, BOB), "Training");
}

#[test]
fn becoming_available_from_a_reason_drains_the_chat_queue() {
    let mut core = Builder::default()
        .agent("alice", AGENT, 2, true)
        .group("g", [auto(), auto(), off()])
        .member("alice", "g", [Primary; 3], None, ON)
        .settings(GroupSettings {
            queue_when_offline: true,
            ..GroupSettings::default()
        })
        .build();
    let alice = AgentIx(0);
    login(&mut core, 0, alice);
    set_status(&mut core, 1, alice, alice, "Lunch");
    let chat = create(&mut core, 2, GroupIx(0), Chat, 0);
    assert_eq!(state(&core, chat), ItemState::Queued);
    set_status(&mut core, 3, alice, alice, "Available");
    assert_eq!(assignee(&core, chat), Some(alice));
}

#[test]
fn reasons_are_checked_and_only_admins_change_them() {
    let mut core = fixture();
    let reasons = |names: &[&str]| StatusSettings {
        reasons: names
            .iter()
            .map(|n| AwayReason {
                name: (*n).into(),
                takes_chats: false,
            })
            .collect(),
        managers_set_status: false,
    };
    for bad in [
        reasons(&["Lunch", "lunch"]),
        reasons(&["available"]),
        reasons(&[""]),
        reasons(&[" Lunch"]),
        reasons(&[&"x".repeat(41)]),
    ] {
        let e = core
            .apply(
                0,
                Command::Admin {
                    actor: Actor::Agent(ADA),
                    change: Box::new(AdminChange::SetStatusSettings(bad.clone())),
                },
            )
            .unwrap_err();
        assert!(
            matches!(
                e,
                DomainError::Invalid {
                    field: "reasons",
                    ..
                }
            ),
            "{bad:?}: {e}"
        );
    }
    let by_manager = core.apply(
        0,
        Command::Admin {
            actor: Actor::Agent(MIA),
            change: Box::new(AdminChange::SetStatusSettings(reasons(&["Coaching"]))),
        },
    );
    assert!(matches!(by_manager, Err(DomainError::Forbidden(_))));
    assert_eq!(core.directory().status_settings().reasons.len(), 4);
}

#[test]
fn the_status_survives_a_snapshot() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    set_status(&mut core, 1, ALICE, ALICE, "Training");
    let snapshot: CoreSnapshot =
        serde_json::from_str(&serde_json::to_string(&core.snapshot()).expect("writes"))
            .expect("reads");
    let restored = Core::restore(
        fixture().directory().clone(),
        CoreConfig::default(),
        snapshot,
    )
    .expect("restores");
    assert_eq!(status_of(&restored, ALICE), "Training");
    assert_eq!(
        restored.directory().status_settings(),
        core.directory().status_settings()
    );
    assert_eq!(restored.presence(ALICE).since, 1);
}
