//! Changing the directory live (`Command::Admin`): who may, and what
//! happens to work and cells.

use super::*;

fn admin(core: &mut Core, now: Millis, actor: AgentIx, change: AdminChange) -> Reply {
    ok(
        core,
        now,
        Command::Admin {
            actor: Actor::Agent(actor),
            change: Box::new(change),
        },
    )
}

fn by(actor: AgentIx, change: AdminChange) -> Command {
    Command::Admin {
        actor: Actor::Agent(actor),
        change: Box::new(change),
    }
}

fn newcomer(id: &str) -> AgentDef {
    AgentDef {
        id: id.into(),
        name: "Newcomer".into(),
        roles: AGENT,
        chat_cap: 2,
        manage_own_status: true,
        take_assigned: false,
    }
}

fn member_of(a: AgentIx, g: GroupIx) -> Membership {
    Membership {
        agent: a,
        group: g,
        handling: [Primary; 3],
        ticket_cap: None,
        initially_active: ON,
    }
}

#[test]
fn a_new_agent_added_to_a_group_gets_its_work_at_once() {
    let mut core = fixture();
    admin(
        &mut core,
        0,
        ADA,
        AdminChange::CreateAgent(newcomer("nina")),
    );
    let nina = core.directory().agent_ix("nina").expect("created");
    login(&mut core, 2, nina);
    let membership = member_of(nina, SALES);
    admin(&mut core, 3, ADA, AdminChange::AddMember { membership });
    // Only nina is logged in and active in sales.
    let chat = create(&mut core, 4, SALES, Chat, 0);
    assert_eq!(core.item(chat).and_then(|i| i.assignee), Some(nina));
    assert!(core.directory().member(nina, SALES).is_some());
}

#[test]
fn removing_a_member_who_holds_a_chat_sends_it_back_to_routing_with_its_created_at() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    let chat = create(&mut core, 10, SALES, Chat, 0);
    assert_eq!(core.item(chat).and_then(|i| i.assignee), Some(ALICE));
    login(&mut core, 20, MAX);
    admin(
        &mut core,
        30,
        ADA,
        AdminChange::RemoveMember {
            agent: ALICE,
            group: SALES,
        },
    );
    let item = core.item(chat).expect("still open");
    assert_eq!(item.created_at, 10, "the wait is kept");
    assert_ne!(item.assignee, Some(ALICE));
    assert_eq!(item.history.last().map(|h| h.why), Some(HandOff::Removed));
    assert_eq!(core.presence(ALICE).load[Chat.index()], 0);
    assert!(core.directory().member(ALICE, SALES).is_none());
    // Nobody else is active in sales (max and ada start inactive): queued.
    assert_eq!(item.state, ItemState::Queued);
}

#[test]
fn a_group_with_open_items_is_deleted_only_by_moving_them() {
    let mut core = fixture();
    let t = create(&mut core, 0, PULLQ, Ticket, 0);
    let refusal = core.apply(
        1,
        by(
            ADA,
            AdminChange::DeleteGroup {
                group: PULLQ,
                move_to: None,
            },
        ),
    );
    assert!(
        matches!(&refusal, Err(DomainError::HasWork { items, .. }) if items == &vec![t]),
        "{refusal:?}"
    );
    admin(
        &mut core,
        2,
        ADA,
        AdminChange::DeleteGroup {
            group: PULLQ,
            move_to: Some(SALES),
        },
    );
    assert_eq!(core.item(t).map(|i| i.group), Some(SALES));
    assert_eq!(core.item(t).map(|i| i.created_at), Some(0));
    assert!(core.directory().group_ix("pullq").is_none());
    assert!(core.directory().member(ALICE, PULLQ).is_none());
    assert!(matches!(
        core.apply(
            3,
            Command::CreateWork {
                group: PULLQ,
                channel: Ticket,
                priority: 0,
                title: "late".into()
            }
        ),
        Err(DomainError::NoSuchGroup(_))
    ));
}

#[test]
fn a_channel_with_queued_items_is_not_disabled_and_an_excluded_cell_turns_off() {
    let mut core = fixture();
    let t = create(&mut core, 0, PULLQ, Ticket, 0);
    let mut patch = GroupPatch::default();
    patch.channels[Ticket.index()].enabled = Some(false);
    let refusal = core.apply(
        1,
        by(
            ADA,
            AdminChange::UpdateGroup {
                group: PULLQ,
                patch: patch.clone(),
            },
        ),
    );
    assert!(matches!(refusal, Err(DomainError::HasWork { ref items, .. }) if items == &vec![t]));
    let m = core.directory().member(ALICE, BILLING).expect("member");
    assert!(core.is_active(m, Chat));
    admin(
        &mut core,
        2,
        ADA,
        AdminChange::UpdateMember {
            agent: ALICE,
            group: BILLING,
            patch: MemberPatch {
                handling: Some([Excluded, Primary, Primary]),
                ticket_cap: None,
            },
        },
    );
    assert!(!core.is_active(m, Chat), "an N/A cell is never on");
}

#[test]
fn lowering_a_cap_takes_nothing_away() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    let a = create(&mut core, 1, SALES, Chat, 0);
    let b = create(&mut core, 2, SALES, Chat, 0);
    let patch = AgentPatch {
        chat_cap: Some(1),
        ..AgentPatch::default()
    };
    admin(
        &mut core,
        3,
        ADA,
        AdminChange::UpdateAgent {
            agent: ALICE,
            patch,
        },
    );
    assert_eq!(core.item(a).and_then(|i| i.assignee), Some(ALICE));
    assert_eq!(core.item(b).and_then(|i| i.assignee), Some(ALICE));
    let c = create(&mut core, 4, SALES, Chat, 0);
    assert_eq!(core.item(c).map(|i| i.state), Some(ItemState::Queued));
}

#[test]
fn managers_change_only_their_groups_and_nobody_their_own_roles() {
    let mut core = fixture();
    let managers_only = DomainError::Forbidden(
        "managers may change only memberships, caps and settings of the groups they manage",
    );
    // mia manages billing, not sales.
    let into_sales = Membership {
        agent: BOB,
        group: SALES,
        handling: [Primary; 3],
        ticket_cap: None,
        initially_active: ON,
    };
    refused(
        &mut core,
        0,
        by(
            MIA,
            AdminChange::AddMember {
                membership: into_sales.clone(),
            },
        ),
        managers_only.clone(),
    );
    admin(
        &mut core,
        1,
        MAX,
        AdminChange::AddMember {
            membership: into_sales,
        },
    );
    let mut rename = GroupPatch {
        name: Some("Money".into()),
        ..GroupPatch::default()
    };
    refused(
        &mut core,
        2,
        by(
            MIA,
            AdminChange::UpdateGroup {
                group: BILLING,
                patch: rename.clone(),
            },
        ),
        managers_only.clone(),
    );
    rename.name = None;
    rename.no_response_ms = Some(30_000);
    admin(
        &mut core,
        3,
        MIA,
        AdminChange::UpdateGroup {
            group: BILLING,
            patch: rename,
        },
    );
    assert_eq!(core.directory().settings(BILLING).no_response_ms, 30_000);
    refused(
        &mut core,
        4,
        by(
            ADA,
            AdminChange::UpdateAgent {
                agent: ADA,
                patch: AgentPatch {
                    roles: Some(AGENT),
                    ..AgentPatch::default()
                },
            },
        ),
        DomainError::Forbidden("nobody may change their own roles"),
    );
    refused(
        &mut core,
        5,
        by(BOB, AdminChange::CreateAgent(newcomer("x"))),
        DomainError::Forbidden("only an admin may change the directory"),
    );
    admin(
        &mut core,
        6,
        ADA,
        AdminChange::SetManagersAdminister { allowed: false },
    );
    refused(
        &mut core,
        7,
        by(
            MIA,
            AdminChange::RemoveMember {
                agent: BOB,
                group: BILLING,
            },
        ),
        managers_only,
    );
}

#[test]
fn bad_fields_are_named_and_ids_are_unique() {
    let mut core = fixture();
    let mut def = newcomer("alice");
    refused(
        &mut core,
        0,
        by(ADA, AdminChange::CreateAgent(def.clone())),
        DomainError::Exists("agent \"alice\"".into()),
    );
    def.id = "zed".into();
    def.chat_cap = MAX_CHAT_CAP + 1;
    let got = core.apply(1, by(ADA, AdminChange::CreateAgent(def)));
    assert!(matches!(
        got,
        Err(DomainError::Invalid {
            field: "chat_cap",
            ..
        })
    ));
}

#[test]
fn a_deleted_agent_is_logged_out_its_work_rerouted_and_its_id_free() {
    let mut core = fixture();
    login(&mut core, 0, ALICE);
    login(&mut core, 0, BOB);
    let chat = create(&mut core, 1, BILLING, Chat, 0);
    let holder = core.item(chat).and_then(|i| i.assignee).expect("routed");
    let other = if holder == ALICE { BOB } else { ALICE };
    admin(
        &mut core,
        2,
        ADA,
        AdminChange::DeleteAgent { agent: holder },
    );
    assert!(!core.presence(holder).logged_in);
    assert_eq!(core.item(chat).and_then(|i| i.assignee), Some(other));
    let id = core.directory().agent(holder).id.clone();
    assert!(core.directory().agent_ix(&id).is_none());
    assert!(matches!(
        core.apply(
            3,
            Command::OpenSession {
                agent: holder,
                session: 9
            }
        ),
        Err(DomainError::NoSuchAgent(_))
    ));
    admin(&mut core, 4, ADA, AdminChange::CreateAgent(newcomer(&id)));
    assert_ne!(core.directory().agent_ix(&id), Some(holder));
}

#[test]
fn a_snapshot_carries_the_changed_directory() {
    let mut core = fixture();
    admin(
        &mut core,
        0,
        ADA,
        AdminChange::CreateAgent(newcomer("nina")),
    );
    let nina = core.directory().agent_ix("nina").expect("created");
    admin(
        &mut core,
        1,
        ADA,
        AdminChange::AddMember {
            membership: member_of(nina, BILLING),
        },
    );
    let json = serde_json::to_string(&core.snapshot()).expect("serialises");
    let back: CoreSnapshot = serde_json::from_str(&json).expect("reads back");
    let restored =
        Core::restore(fixture().directory().clone(), core.config(), back).expect("restores");
    assert_eq!(restored.directory().agent_ix("nina"), Some(nina));
    assert!(restored.directory().member(nina, BILLING).is_some());
}
