//! Disabling and enabling accounts (`Command::SetEnabled`).

use super::*;

fn disable(core: &mut Core, now: Millis, actor: AgentIx, agent: AgentIx) {
    ok(
        core,
        now,
        Command::SetEnabled {
            actor,
            agent,
            enabled: false,
        },
    );
}

#[test]
fn only_an_admin_disables_and_not_itself() {
    let mut core = fixture();
    let by = |actor| Command::SetEnabled {
        actor,
        agent: ALICE,
        enabled: false,
    };
    let admin_only = DomainError::Forbidden("only an admin may disable or enable an account");
    refused(&mut core, 0, by(MIA), admin_only.clone());
    refused(&mut core, 0, by(BOB), admin_only);
    refused(
        &mut core,
        0,
        Command::SetEnabled {
            actor: ADA,
            agent: ADA,
            enabled: false,
        },
        DomainError::Forbidden("you may not disable your own account"),
    );
    ok(&mut core, 0, by(ADA));
    assert!(core.is_disabled(ALICE));
}

#[test]
fn disabling_logs_out_at_once_and_refuses_sessions_until_enabled() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    open(&mut core, 1, ALICE, 7);
    core.drain_events().for_each(drop);
    disable(&mut core, 10, ADA, ALICE);
    let p = core.presence(ALICE);
    assert!(!p.logged_in, "no grace for a disabled account");
    assert!(p.sessions.is_empty());
    assert_eq!(p.grace_until, None);
    assert_eq!(
        presence_events(&events(&mut core)),
        vec![
            (
                ALICE,
                PresenceWhat::Enabled {
                    old: true,
                    new: false
                }
            ),
            (ALICE, PresenceWhat::LoggedOut),
        ]
    );
    refused(
        &mut core,
        20,
        Command::OpenSession {
            agent: ALICE,
            session: 9,
        },
        DomainError::Disabled(ALICE),
    );
    // Disabling again changes nothing.
    disable(&mut core, 30, ADA, ALICE);
    assert_eq!(events(&mut core), vec![]);
    ok(
        &mut core,
        40,
        Command::SetEnabled {
            actor: ADA,
            agent: ALICE,
            enabled: true,
        },
    );
    open(&mut core, 50, ALICE, 9);
    assert!(core.presence(ALICE).logged_in);
}

#[test]
fn a_disabled_holder_loses_its_chats_by_the_disconnect_rule() {
    let (a, b, admin, g) = (AgentIx(0), AgentIx(1), AgentIx(2), GroupIx(0));
    let mut core = Builder::default()
        .agent("a", AGENT, 2, true)
        .agent("b", AGENT, 2, true)
        .agent("root", ADMIN, 2, true)
        .group("g", [auto(), auto(), off()])
        .settings(GroupSettings {
            disconnect_ms: 30_000,
            queue_when_offline: true,
            ..GroupSettings::default()
        })
        .member("a", "g", [Primary; 3], None, ON)
        .member("b", "g", [Primary; 3], None, ON)
        .build();
    login(&mut core, 0, a);
    let chat = create(&mut core, 10, g, Chat, 0);
    let ticket = create(&mut core, 10, g, Ticket, 0);
    ok(
        &mut core,
        11,
        Command::Accept {
            actor: a,
            item: chat,
        },
    );
    login(&mut core, 12, b);
    disable(&mut core, 20, admin, a);
    assert!(!core.presence(a).logged_in);
    assert_eq!(assignee(&core, chat), Some(a), "not before the limit");
    core.handle_timeout(20 + 30_000);
    assert_eq!(assignee(&core, chat), Some(b));
    assert_eq!(
        core.item(chat).unwrap().history[0].why,
        HandOff::Disconnected
    );
    assert_eq!(assignee(&core, ticket), Some(a), "tickets stay assigned");
}
