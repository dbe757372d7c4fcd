//! The permission table: every role against every HTTP endpoint and every
//! WebSocket request that touches a group, an agent or an item, each cell
//! the exact outcome (allowed, `forbidden` or `unauthorized`). The group
//! under test is `g1` (tests/common: `mgr` manages it, `alice` and `bob` are
//! plain members, `carol` is in `g2` only, `admin` is an admin member of
//! `g2` only: membership gates communications whatever the role).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{API_KEY, Client, TestServer, test_directory};
use serde_json::{Value, json};
use switchboard::integrations::key_digest_hex;
use tokio_tungstenite::tungstenite;

const GRACE: Duration = Duration::from_secs(5);
const KEY_G1: &str = "key-of-the-g1-integration-0001";
const KEY_G2: &str = "key-of-the-g2-integration-0002";

/// Who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Role {
    Admin,
    Manager,
    Member,
    Outsider,
    IntegrationIn,
    IntegrationOut,
    Anonymous,
    BadToken,
}

const ROLES: [Role; 8] = [
    Role::Admin,
    Role::Manager,
    Role::Member,
    Role::Outsider,
    Role::IntegrationIn,
    Role::IntegrationOut,
    Role::Anonymous,
    Role::BadToken,
];

/// The agent behind a console role.
fn agent_of(role: Role) -> Option<&'static str> {
    match role {
        Role::Admin => Some("admin"),
        Role::Manager => Some("mgr"),
        Role::Member => Some("alice"),
        Role::Outsider => Some("carol"),
        _ => None,
    }
}

/// An outcome: "allowed" or an error code.
type Want = &'static str;
const A: Want = "allowed";
const F: Want = "forbidden";
const U: Want = "unauthorized";

/// The test directory plus an integration scoped to g1 (allowed to set
/// presence) and one to g2.
pub fn directory_with_integrations() -> String {
    format!(
        "{}\n[[integrations]]\nname = \"crm-g1\"\nkey_sha256 = \"{}\"\ngroups = [\"g1\"]\nset_presence = true\n\n\
         [[integrations]]\nname = \"crm-g2\"\nkey_sha256 = \"{}\"\ngroups = [\"g2\"]\n",
        test_directory(),
        key_digest_hex(KEY_G1),
        key_digest_hex(KEY_G2)
    )
}

/// What an HTTP row asks.
#[derive(Debug, Clone, Copy)]
enum Http {
    CreateWork,
    Queue,
    GroupStatus,
    AgentStatus,
    Explain,
    Audit,
    VisitorChat,
    VisitorTicket,
    Disable,
    Enable,
    ListAgents,
    GroupStats,
    AdminListAgents,
    AdminCreateAgent,
    AdminCapOfAlice,
    AdminDeleteAgent,
    AdminGetGroup,
    AdminGroupTimers,
    AdminCreateGroup,
    AdminAddMember,
    AdminMemberCap,
    AdminRemoveOutsideMember,
    AdminIntegrations,
    AdminRotateKey,
    AdminGetSettings,
    AdminSetSettings,
    GetItem,
    ListItems,
    UpdateItem,
    CancelItem,
    CloseItem,
    MoveItem,
    MoveItemWithin,
    AssignItem,
    AssignOverCap,
    SetBobStatus,
    SetBobAvailability,
    SetBobCell,
}

struct Ctx {
    s: TestServer,
    tokens: HashMap<Role, String>,
    consoles: HashMap<Role, Client>,
    /// Bob's console: the holder of the chats `take_over` takes.
    bob: Client,
}

impl Ctx {
    fn with_credentials(
        &self,
        req: reqwest::RequestBuilder,
        role: Role,
    ) -> reqwest::RequestBuilder {
        match role {
            Role::IntegrationIn => req.header("x-api-key", KEY_G1),
            Role::IntegrationOut => req.header("x-api-key", KEY_G2),
            Role::Anonymous => req,
            Role::BadToken => req.bearer_auth("not-a-token"),
            _ => req.bearer_auth(&self.tokens[&role]),
        }
    }

    /// A fresh queued ticket in g1 (nobody logged in handles g1 tickets).
    async fn fresh_ticket(&self) -> u64 {
        let item = self.s.create_work("g1", "ticket", 0).await;
        assert_eq!(item["state"], "queued", "{item}");
        item["id"].as_u64().unwrap()
    }

    /// A fresh chat in g1, routed to bob.
    async fn chat_held_by_bob(&mut self) -> u64 {
        let item = self.s.create_work("g1", "chat", 0).await;
        assert_eq!(item["assignee"], "bob", "{item}");
        item["id"].as_u64().unwrap()
    }

    async fn http(&self, what: Http, role: Role) -> (String, String) {
        let s = &self.s;
        let req = match what {
            Http::CreateWork => s
                .http
                .post(s.url("/api/work"))
                .json(&json!({ "group": "g1", "channel": "ticket", "title": "t" })),
            Http::Queue => s.http.get(s.url("/api/groups/g1/queue")),
            Http::GroupStatus => s.http.get(s.url("/api/groups/g1/status")),
            Http::AgentStatus => s.http.get(s.url("/api/agents/bob")),
            Http::Explain => {
                let item = self.fresh_ticket().await;
                s.http.get(s.url(&format!("/api/items/{item}/explain")))
            }
            Http::Audit => s.http.get(s.url("/api/audit?group=g1")),
            Http::VisitorChat => s
                .http
                .post(s.url("/api/visitor/chats"))
                .json(&json!({ "group": "g1", "name": "Vi", "text": "hello" })),
            Http::VisitorTicket => s
                .http
                .post(s.url("/api/visitor/tickets"))
                .json(&json!({ "group": "g1", "name": "Vi", "text": "hello" })),
            Http::Disable => s.http.post(s.url("/api/agents/dora/disable")),
            Http::Enable => s.http.post(s.url("/api/agents/dora/enable")),
            Http::ListAgents => s.http.get(s.url("/api/agents?group=g1")),
            Http::GroupStats => s.http.get(s.url("/api/groups/g1/stats")),
            Http::AdminListAgents => s.http.get(s.url("/api/admin/agents")),
            Http::AdminCreateAgent => s.http.post(s.url("/api/admin/agents")).json(&json!({
                "id": format!("new-{role:?}").to_lowercase(), "name": "New", "password": "a-long-password"
            })),
            Http::AdminCapOfAlice => s
                .http
                .patch(s.url("/api/admin/agents/alice"))
                .json(&json!({ "chat_cap": 3 })),
            Http::AdminDeleteAgent => s.http.delete(s.url(&format!("/api/admin/agents/t{:02}", 11 + role as usize))),
            Http::AdminGetGroup => s.http.get(s.url("/api/admin/groups/g1")),
            Http::AdminGroupTimers => s
                .http
                .patch(s.url("/api/admin/groups/g1"))
                .json(&json!({ "no_response_ms": 3_600_000 })),
            Http::AdminCreateGroup => s.http.post(s.url("/api/admin/groups")).json(&json!({
                "id": format!("new-{role:?}").to_lowercase(), "name": "New group"
            })),
            Http::AdminAddMember => s.http.post(s.url("/api/admin/memberships")).json(&json!({
                "agent": format!("t{:02}", 1 + role as usize), "group": "g1"
            })),
            Http::AdminMemberCap => s
                .http
                .patch(s.url("/api/admin/memberships/g1/alice"))
                .json(&json!({ "ticket_cap": 5 })),
            Http::AdminRemoveOutsideMember => s.http.delete(s.url("/api/admin/memberships/g2/carol")),
            Http::AdminIntegrations => s.http.get(s.url("/api/admin/integrations")),
            Http::AdminRotateKey => s
                .http
                .post(s.url("/api/admin/integrations/crm-g2/rotate"))
                .json(&json!({ "overlap_seconds": 3600 })),
            Http::AdminGetSettings => s.http.get(s.url("/api/admin/settings")),
            Http::GetItem => {
                let item = self.fresh_ticket().await;
                s.http.get(s.url(&format!("/api/items/{item}")))
            }
            Http::ListItems => s.http.get(s.url("/api/items?group=g1")),
            Http::UpdateItem => {
                let item = self.fresh_ticket().await;
                s.http
                    .patch(s.url(&format!("/api/items/{item}")))
                    .json(&json!({ "priority": 2 }))
            }
            Http::CancelItem => {
                let item = self.fresh_ticket().await;
                s.http.post(s.url(&format!("/api/items/{item}/cancel")))
            }
            Http::CloseItem => {
                let item = self.fresh_ticket().await;
                s.http.post(s.url(&format!("/api/items/{item}/close")))
            }
            Http::MoveItem | Http::MoveItemWithin => {
                let item = self.fresh_ticket().await;
                let to = if matches!(what, Http::MoveItem) { "g2" } else { "g1" };
                s.http
                    .post(s.url(&format!("/api/items/{item}/move")))
                    .json(&json!({ "group": to }))
            }
            Http::AssignItem | Http::AssignOverCap => {
                let item = self.fresh_ticket().await;
                let over = matches!(what, Http::AssignOverCap);
                s.http
                    .post(s.url(&format!("/api/items/{item}/assign")))
                    .json(&json!({ "agent": "alice", "override_capacity": over }))
            }
            // Bob stays available with his g1 chat cell on: the rows test
            // who may, without changing what later rows rely on.
            Http::SetBobStatus => s
                .http
                .put(s.url("/api/agents/bob/status"))
                .json(&json!({ "status": "Available" })),
            Http::SetBobAvailability => s
                .http
                .put(s.url("/api/agents/bob/availability"))
                .json(&json!({ "available": true })),
            Http::SetBobCell => s
                .http
                .put(s.url("/api/agents/bob/cells"))
                .json(&json!({ "cells": [{ "group": "g1", "channel": "chat", "active": true }] })),
            Http::AdminSetSettings => s
                .http
                .patch(s.url("/api/admin/settings"))
                .json(&json!({ "managers_administer": true })),
        };
        let r = self.with_credentials(req, role).send().await.unwrap();
        let ok = r.status().is_success();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if ok {
            (A.to_string(), String::new())
        } else {
            (
                body["error"]["code"].as_str().unwrap_or("?").to_string(),
                body["error"]["message"].as_str().unwrap_or("").to_string(),
            )
        }
    }

    /// The frame of a WebSocket row for this cell (fresh items where it
    /// needs one).
    async fn frame(&mut self, kind: &str) -> Value {
        match kind {
            "set_active" => {
                json!({ "cells": [{ "group": "g1", "channel": "chat", "active": false }] })
            }
            "set_active_other" => {
                json!({ "agent": "bob", "cells": [{ "group": "g1", "channel": "chat", "active": true }] })
            }
            "set_active_row" => json!({ "agent": "bob", "group": "g1", "active": true }),
            "set_status" => json!({ "status": "Available" }),
            "set_status_other" => json!({ "agent": "bob", "status": "Available" }),
            "set_active_column" => json!({ "agent": "bob", "channel": "chat", "active": true }),
            "take_over" => json!({ "item": self.chat_held_by_bob().await }),
            "transfer" => json!({ "item": self.fresh_ticket().await, "group": "g2" }),
            "message" => json!({ "item": self.fresh_ticket().await, "text": "hi" }),
            "watch" | "unwatch" => json!({ "group": "g1" }),
            _ => json!({ "item": self.fresh_ticket().await }),
        }
    }
}

async fn setup() -> Ctx {
    let s = TestServer::start_directory(&directory_with_integrations(), GRACE, |c| {
        c.transport.visitor_starts_per_ip_per_min = 0;
        c.transport.login_attempts_per_ip_per_min = 0;
        c.transport.ws_requests_per_sec = 0;
    })
    .await;
    let mut tokens = HashMap::new();
    let mut consoles = HashMap::new();
    for role in ROLES {
        if let Some(agent) = agent_of(role) {
            let token = s.login(agent).await;
            consoles.insert(role, Client::connect(s.addr, &token).await);
            tokens.insert(role, token);
        }
    }
    let bob = s.console("bob").await;
    Ctx {
        s,
        tokens,
        consoles,
        bob,
    }
}

/// One cell that did not come out as the table says.
fn mismatch(row: &str, role: Role, want: Want, got: &str, message: &str) -> String {
    format!("{row:<34} {role:<15?} want {want:<13} got {got} ({message})")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_against_every_endpoint_and_request() {
    let mut ctx = setup().await;
    let mut failures = Vec::new();

    // Who may not open a console at all: every frame is `unauthorized`
    // for them (the upgrade is refused before any frame).
    for role in [
        Role::IntegrationIn,
        Role::IntegrationOut,
        Role::Anonymous,
        Role::BadToken,
    ] {
        let token = match role {
            Role::IntegrationIn => KEY_G1,
            Role::IntegrationOut => KEY_G2,
            Role::Anonymous => "",
            _ => "not-a-token",
        };
        let (status, got) =
            match tokio_tungstenite::connect_async(format!("ws://{}/ws?token={token}", ctx.s.addr))
                .await
            {
                Ok(_) => (101, A.to_string()),
                Err(tungstenite::Error::Http(resp)) => {
                    let body: Value = resp
                        .body()
                        .as_ref()
                        .and_then(|b| serde_json::from_slice(b).ok())
                        .unwrap_or(Value::Null);
                    let code = body["error"]["code"].as_str().unwrap_or("?").to_string();
                    (resp.status().as_u16(), code)
                }
                Err(e) => (0, e.to_string()),
            };
        if status != 401 || got != U {
            failures.push(mismatch(
                "GET /ws (upgrade)",
                role,
                U,
                &got,
                &status.to_string(),
            ));
        }
    }

    let ws_rows: [(&str, &str, [Want; 4]); 17] = [
        ("set_status (own)", "set_status", [A, A, A, A]),
        // Managers only when the help desk allows it (off by default).
        ("set_status (bob's)", "set_status_other", [A, F, F, F]),
        ("set_active (own g1 cell)", "set_active", [F, A, A, F]),
        (
            "set_active (bob's g1 cell)",
            "set_active_other",
            [A, A, F, F],
        ),
        ("set_active_row (bob, g1)", "set_active_row", [A, A, F, F]),
        ("set_active_column (bob)", "set_active_column", [A, A, F, F]),
        ("take (queued g1 item)", "take", [F, A, A, F]),
        ("accept (queued g1 item)", "accept", [F, F, F, F]),
        ("answer (queued g1 item)", "answer", [F, F, F, F]),
        ("decline (queued g1 item)", "decline", [F, F, F, F]),
        ("close (queued g1 item)", "close", [F, A, F, F]),
        ("take_over (bob's g1 chat)", "take_over", [F, A, F, F]),
        ("transfer (g1 item to g2)", "transfer", [F, A, F, F]),
        ("explain (g1 item)", "explain", [F, A, F, F]),
        ("message (g1 item not held)", "message", [F, F, F, F]),
        ("watch (g1)", "watch", [F, A, F, F]),
        ("unwatch (g1)", "unwatch", [A, A, A, A]),
    ];
    for (name, kind, wants) in ws_rows {
        for (role, want) in ROLES.into_iter().take(4).zip(wants) {
            let fields = ctx.frame(kind).await;
            let wire = kind.trim_end_matches("_other");
            let console = ctx.consoles.get_mut(&role).unwrap();
            let answer = console.request(wire, fields).await;
            let got = if answer["type"] == "ok" {
                A
            } else {
                answer["code"].as_str().unwrap_or("?")
            };
            if got != want {
                let message = answer["message"].as_str().unwrap_or("");
                failures.push(mismatch(name, role, want, got, message));
            }
        }
    }
    // HTTP after the console requests: the visitor chats below fill bob's
    // chat cap, and take_over needs chats routed to bob.
    // Roles, in order: admin, manager of g1, member of g1, agent outside
    // g1, integration scoped to g1, integration scoped to g2, no
    // credentials, a bad token.
    let http_rows: [(&str, Http, [Want; 8]); 38] = [
        (
            "POST /api/work (g1)",
            Http::CreateWork,
            [F, F, F, F, A, F, U, U],
        ),
        (
            "GET /api/groups/g1/queue",
            Http::Queue,
            [F, A, A, F, A, F, U, U],
        ),
        ("GET /api/groups/g1/status", Http::GroupStatus, [A; 8]),
        (
            "GET /api/agents/bob",
            Http::AgentStatus,
            [A, A, F, F, A, F, U, U],
        ),
        (
            "GET /api/items/{g1 item}/explain",
            Http::Explain,
            [F, A, F, F, A, F, U, U],
        ),
        (
            "GET /api/audit?group=g1",
            Http::Audit,
            [A, A, F, F, F, F, U, U],
        ),
        ("POST /api/visitor/chats (g1)", Http::VisitorChat, [A; 8]),
        (
            "POST /api/visitor/tickets (g1)",
            Http::VisitorTicket,
            [A; 8],
        ),
        (
            "POST /api/agents/dora/disable",
            Http::Disable,
            [A, F, F, F, F, F, U, U],
        ),
        (
            "POST /api/agents/dora/enable",
            Http::Enable,
            [A, F, F, F, F, F, U, U],
        ),
        // Presence: everyone sees what is theirs to see (the list is
        // filtered); figures are for managers and scoped keys.
        (
            "GET /api/agents?group=g1",
            Http::ListAgents,
            [A, A, A, A, A, F, U, U],
        ),
        (
            "GET /api/groups/g1/stats",
            Http::GroupStats,
            [F, A, F, F, A, F, U, U],
        ),
        // Administration: admins everything; the manager of g1 its
        // memberships, caps and settings; integrations and others nothing.
        (
            "GET /api/admin/agents",
            Http::AdminListAgents,
            [A, A, F, F, U, U, U, U],
        ),
        (
            "POST /api/admin/agents",
            Http::AdminCreateAgent,
            [A, F, F, F, U, U, U, U],
        ),
        (
            "PATCH /api/admin/agents/alice (cap)",
            Http::AdminCapOfAlice,
            [A, A, F, F, U, U, U, U],
        ),
        (
            "DELETE /api/admin/agents/{t1x}",
            Http::AdminDeleteAgent,
            [A, F, F, F, U, U, U, U],
        ),
        (
            "GET /api/admin/groups/g1",
            Http::AdminGetGroup,
            [A, A, F, F, U, U, U, U],
        ),
        (
            "PATCH /api/admin/groups/g1 (timer)",
            Http::AdminGroupTimers,
            [A, A, F, F, U, U, U, U],
        ),
        (
            "POST /api/admin/groups",
            Http::AdminCreateGroup,
            [A, F, F, F, U, U, U, U],
        ),
        (
            "POST /api/admin/memberships (g1)",
            Http::AdminAddMember,
            [A, A, F, F, U, U, U, U],
        ),
        (
            "PATCH /api/admin/memberships/g1/alice",
            Http::AdminMemberCap,
            [A, A, F, F, U, U, U, U],
        ),
        (
            "DELETE /api/admin/memberships/g2/carol",
            Http::AdminRemoveOutsideMember,
            [A, F, F, F, U, U, U, U],
        ),
        (
            "GET /api/admin/integrations",
            Http::AdminIntegrations,
            [A, F, F, F, U, U, U, U],
        ),
        (
            "POST /api/admin/integrations/crm-g2/rotate",
            Http::AdminRotateKey,
            [A, F, F, F, U, U, U, U],
        ),
        (
            "GET /api/admin/settings",
            Http::AdminGetSettings,
            [A, A, F, F, U, U, U, U],
        ),
        (
            "PATCH /api/admin/settings",
            Http::AdminSetSettings,
            [A, F, F, F, U, U, U, U],
        ),
        // The items API: integrations only, in their scope (consoles use
        // their requests); a move also needs the target in scope, and
        // assigning over the cap a key allowed to (crm-g1 is not).
        (
            "GET /api/items/{g1 item}",
            Http::GetItem,
            [F, F, F, F, A, F, U, U],
        ),
        (
            "GET /api/items?group=g1",
            Http::ListItems,
            [F, F, F, F, A, F, U, U],
        ),
        (
            "PATCH /api/items/{g1 item}",
            Http::UpdateItem,
            [F, F, F, F, A, F, U, U],
        ),
        (
            "POST /api/items/{g1 item}/cancel",
            Http::CancelItem,
            [F, F, F, F, A, F, U, U],
        ),
        (
            "POST /api/items/{g1 item}/close",
            Http::CloseItem,
            [F, F, F, F, A, F, U, U],
        ),
        (
            "POST /api/items/{g1 item}/move (g2)",
            Http::MoveItem,
            [F, F, F, F, F, F, U, U],
        ),
        (
            "POST /api/items/{g1 item}/move (g1)",
            Http::MoveItemWithin,
            [F, F, F, F, A, F, U, U],
        ),
        (
            "POST /api/items/{g1 item}/assign",
            Http::AssignItem,
            [F, F, F, F, A, F, U, U],
        ),
        (
            "POST …/assign override_capacity",
            Http::AssignOverCap,
            [F, F, F, F, F, F, U, U],
        ),
        // Presence: an admin, a manager of the group for cells (a status
        // only when the help desk lets managers), the key allowed to.
        (
            "PUT /api/agents/bob/status",
            Http::SetBobStatus,
            [A, F, F, F, A, F, U, U],
        ),
        (
            "PUT /api/agents/bob/availability",
            Http::SetBobAvailability,
            [A, F, F, F, A, F, U, U],
        ),
        (
            "PUT /api/agents/bob/cells (g1)",
            Http::SetBobCell,
            [A, A, F, F, A, F, U, U],
        ),
    ];
    for (name, what, wants) in http_rows {
        for (role, want) in ROLES.into_iter().zip(wants) {
            let (got, message) = ctx.http(what, role).await;
            if got != want {
                failures.push(mismatch(name, role, want, &got, &message));
            }
        }
    }

    // Bob's console only held chats; keep it open until the end.
    let _ = ctx.bob.request("ping", json!({})).await;
    assert!(
        failures.is_empty(),
        "{} cell(s) of the permission table differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    ctx.s.stop().await;
}

#[tokio::test]
async fn the_cli_api_key_still_acts_in_every_group() {
    let ctx = setup().await;
    for group in ["g1", "g2"] {
        let r = ctx
            .s
            .http
            .get(ctx.s.url(&format!("/api/groups/{group}/queue")))
            .header("x-api-key", API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{group}");
    }
    ctx.s.stop().await;
}
