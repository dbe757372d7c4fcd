//! Not Responding: offers that run out in a row take an agent out of
//! routing until it acts.

use super::*;

/// One group, chat no-response 5 s and ring 1 s, Not Responding after two
/// offers in a row; alice and bob in it, both active everywhere.
fn core_with_limit(limit: u32) -> Core {
    Builder::default()
        .agent("alice", AGENT, 3, true)
        .agent("bob", AGENT, 3, true)
        .group("g", [auto(), auto(), auto()])
        .settings(GroupSettings {
            ring_timeout_ms: 1_000,
            no_response_ms: 5_000,
            disconnect_ms: 30_000,
            queue_when_offline: true,
            not_responding_after: limit,
            abandon_after_ms: 0,
            auto_away_ms: 0,
            reassign_tickets_after_logout_ms: None,
        })
        .member("alice", "g", [Primary; 3], None, ON)
        .member("bob", "g", [Secondary; 3], None, ON)
        .build()
}

const A: AgentIx = AgentIx(0);
const B: AgentIx = AgentIx(1);
const G: GroupIx = GroupIx(0);

/// Offers a chat to alice (the primary) and lets it run out at `now`.
fn alice_lets_one_run_out(core: &mut Core, now: Millis) {
    let c = create(core, now, G, Chat, 0);
    assert_eq!(assignee(core, c), Some(A));
    core.handle_timeout(now + 5_000);
    assert_ne!(assignee(core, c), Some(A));
}

#[test]
fn two_offers_run_out_in_a_row_and_alice_gets_no_new_work_until_she_acts() {
    let mut core = core_with_limit(2);
    login(&mut core, 0, A);
    login(&mut core, 0, B);
    alice_lets_one_run_out(&mut core, 10);
    assert!(!core.presence(A).not_responding, "one is not enough");
    events(&mut core);
    alice_lets_one_run_out(&mut core, 10_000);
    assert!(core.presence(A).not_responding);
    assert_eq!(core.presence(A).status(), NOT_RESPONDING);
    let went: Vec<_> = events(&mut core)
        .into_iter()
        .filter_map(|e| match e {
            Event::Presence { by, what, .. } => Some((by, what)),
            _ => None,
        })
        .collect();
    assert_eq!(
        went,
        vec![(
            Actor::System,
            PresenceWhat::Status {
                old: "Available".into(),
                new: NOT_RESPONDING.into(),
                available: true
            }
        )]
    );
    // No new offer of any channel, though she is available and active.
    for ch in [Chat, Ticket, Voice] {
        let it = create(&mut core, 20_000, G, ch, 0);
        assert_eq!(assignee(&core, it), Some(B), "{ch:?} goes to bob");
        let why = core.explain(it).unwrap();
        assert!(why.contains(&(A, Verdict::KeptOut(KeptOut::NotResponding))));
    }
    // She says she is back: in routing again, her status unchanged.
    set_avail(&mut core, 30_000, A, true);
    assert!(!core.presence(A).not_responding);
    assert_eq!(core.presence(A).status(), "Available");
    let it = create(&mut core, 30_001, G, Ticket, 0);
    assert_eq!(assignee(&core, it), Some(A));
}

#[test]
fn accepting_an_offer_starts_the_count_again() {
    let mut core = core_with_limit(2);
    login(&mut core, 0, A);
    login(&mut core, 0, B);
    alice_lets_one_run_out(&mut core, 10);
    let c = create(&mut core, 10_000, G, Chat, 0);
    ok(&mut core, 10_001, Command::Accept { actor: A, item: c });
    alice_lets_one_run_out(&mut core, 20_000);
    assert!(!core.presence(A).not_responding);
    assert_eq!(core.presence(A).missed_offers, 1);
}

#[test]
fn calls_that_ring_out_count_too() {
    let mut core = core_with_limit(2);
    login(&mut core, 0, A);
    login(&mut core, 0, B);
    for at in [10, 10_000] {
        let k = create(&mut core, at, G, Voice, 0);
        assert_eq!(assignee(&core, k), Some(A));
        core.handle_timeout(at + 1_000);
        close_item(&mut core, at + 2_000, k);
    }
    assert!(core.presence(A).not_responding);
}

#[test]
fn a_limit_of_zero_never_switches_anyone() {
    let mut core = core_with_limit(0);
    login(&mut core, 0, A);
    login(&mut core, 0, B);
    for i in 0..5 {
        alice_lets_one_run_out(&mut core, 10 + i * 10_000);
    }
    assert!(!core.presence(A).not_responding);
}

#[test]
fn logging_in_again_or_a_manager_setting_the_status_brings_her_back() {
    let mut core = core_with_limit(1);
    login(&mut core, 0, A);
    login(&mut core, 0, B);
    alice_lets_one_run_out(&mut core, 10);
    assert!(core.presence(A).not_responding);
    ok(
        &mut core,
        6_000,
        Command::OpenSession {
            agent: A,
            session: 7,
        },
    );
    assert!(!core.presence(A).not_responding);
    alice_lets_one_run_out(&mut core, 10_000);
    assert!(core.presence(A).not_responding);
    // Auto-away leaves her as she is: out of routing already.
    ok(&mut core, 16_000, Command::AutoAway { agent: A });
    assert_eq!(core.presence(A).status(), NOT_RESPONDING);
    assert!(core.presence(A).available);
}

#[test]
fn the_state_survives_a_snapshot() {
    let mut core = core_with_limit(1);
    login(&mut core, 0, A);
    login(&mut core, 0, B);
    alice_lets_one_run_out(&mut core, 10);
    let snapshot: CoreSnapshot =
        serde_json::from_str(&serde_json::to_string(&core.snapshot()).unwrap()).unwrap();
    let restored =
        Core::restore(core.directory().clone(), CoreConfig::default(), snapshot).unwrap();
    assert!(restored.presence(A).not_responding);
    assert_eq!(restored.directory().settings(G).not_responding_after, 1);
}

#[test]
fn an_integration_setting_her_status_brings_her_back_and_is_recorded_as_the_integrations() {
    let mut core = core_with_limit(1);
    login(&mut core, 0, A);
    login(&mut core, 0, B);
    alice_lets_one_run_out(&mut core, 10);
    assert!(core.presence(A).not_responding);
    events(&mut core);
    core.apply(
        20_000,
        Command::PresenceByIntegration {
            agent: A,
            change: IntegrationPresence::Status("Available".into()),
        },
    )
    .unwrap();
    assert!(!core.presence(A).not_responding);
    let by: Vec<Actor> = events(&mut core)
        .into_iter()
        .filter_map(|e| match e {
            Event::Presence { by, .. } => Some(by),
            _ => None,
        })
        .collect();
    assert_eq!(by, vec![Actor::Integration]);
    // Its cells change without any person's permission (the replica
    // checked its scope), and an N/A cell still refuses the whole change.
    core.apply(
        20_001,
        Command::PresenceByIntegration {
            agent: A,
            change: IntegrationPresence::Cells(vec![(G, Chat, false)]),
        },
    )
    .unwrap();
    assert!(!core.is_eligible(core.directory().member(A, G).unwrap(), Chat));
}
