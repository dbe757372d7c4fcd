//! Administering a running help desk over the wire: onboarding an agent,
//! memberships, caps and timers, integration keys, on one node (embedded,
//! across a restart) and on two nodes sharing Redis.

mod common;

use std::time::Duration;

use common::binary::BinaryNode;
use common::{API_KEY, Client, TestRedis, TestServer, test_directory};
use serde_json::{Value, json};

const GRACE: Duration = Duration::from_secs(5);
const NINA_PASSWORD: &str = "nina-is-new-here";

async fn send(req: reqwest::RequestBuilder, token: &str) -> (u16, Value) {
    let r = req.bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json::<Value>().await.unwrap_or(Value::Null))
}

async fn login_as(s: &TestServer, user: &str, password: &str) -> (u16, Value) {
    let r = s
        .http
        .post(s.url("/api/login"))
        .json(&json!({ "username": user, "password": password }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json::<Value>().await.unwrap_or(Value::Null))
}

/// The admin creates `nina` and makes her a member of g1, active for chat.
async fn onboard_nina(s: &TestServer, admin: &str) {
    let (status, body) = send(
        s.http.post(s.url("/api/admin/agents")).json(&json!({
            "id": "nina", "name": "Nina New", "password": NINA_PASSWORD, "chat_cap": 2
        })),
        admin,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["id"], "nina");
    assert_eq!(body["enabled"], true);
}

async fn add_nina_to_g1(s: &TestServer, admin: &str) {
    let (status, body) = send(
        s.http.post(s.url("/api/admin/memberships")).json(&json!({
            "agent": "nina", "group": "g1",
            "handling": { "ticket": "excluded" },
            "active": { "chat": true }
        })),
        admin,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["handling"]["ticket"], "excluded");
}

#[tokio::test]
async fn an_agent_created_live_logs_in_joins_a_group_and_gets_a_chat() {
    let s = TestServer::start(GRACE).await;
    let admin = s.login("admin").await;
    onboard_nina(&s, &admin).await;
    let (status, login) = login_as(&s, "nina", NINA_PASSWORD).await;
    assert_eq!(status, 200, "{login}");
    let token = login["token"].as_str().unwrap().to_string();
    let mut nina = Client::connect(s.addr, &token).await;
    assert_eq!(nina.welcome["groups"], json!([]), "no group yet");
    add_nina_to_g1(&s, &admin).await;
    // Her console learns it at once: a fresh view with the new row.
    let changed = nina.push("groups_changed").await;
    assert_eq!(changed["groups"][0]["id"], "g1", "{changed}");
    assert_eq!(changed["groups"][0]["cells"]["chat"], "on");
    // Only she is online for chat in g1 (bob, active there, is not logged
    // in): a new chat goes to her.
    let chat = s.create_work("g1", "chat", 0).await;
    assert_eq!(chat["assignee"], "nina", "{chat}");
    nina.push_where("item", |f| f["item"]["id"] == chat["id"])
        .await;
    s.stop().await;
}

/// The real binary in its default (embedded) mode over `data`.
async fn start_binary(data: &std::path::Path, directory: &std::path::Path) -> BinaryNode {
    BinaryNode::start(vec![
        "--data-dir".into(),
        data.into(),
        "--directory".into(),
        directory.into(),
    ])
    .await
}

#[tokio::test]
async fn administered_changes_survive_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("directory.toml");
    std::fs::write(&file, test_directory()).unwrap();
    let state = data.path().join("state");
    let mut node = start_binary(&state, &file).await;
    let admin = node.login("admin").await;
    let req = |m: reqwest::Method, path: &str| node.http.request(m, node.url(path));
    let (status, body) = send(
        req(reqwest::Method::POST, "/api/admin/agents").json(&json!({
            "id": "nina", "name": "Nina New", "password": NINA_PASSWORD
        })),
        &admin,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send(
        req(reqwest::Method::POST, "/api/admin/memberships")
            .json(&json!({ "agent": "nina", "group": "g1" })),
        &admin,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send(
        req(reqwest::Method::PATCH, "/api/admin/groups/g1").json(&json!({
            "no_response_ms": 90_000,
            "name": "Group One (renamed)",
            "reassign_tickets_after_logout_ms": 300_000
        })),
        &admin,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    node.kill_9();

    let node = start_binary(&state, &file).await;
    let admin = node.login("admin").await;
    let agent = node.get("/api/admin/agents/nina", &admin).await;
    assert_eq!(agent["groups"], json!(["g1"]), "{agent}");
    let group = node.get("/api/admin/groups/g1", &admin).await;
    assert_eq!(group["name"], "Group One (renamed)");
    assert_eq!(group["no_response_ms"], 90_000);
    assert_eq!(group["reassign_tickets_after_logout_ms"], 300_000);
    // `null` switches it off again: tickets stay with a logged-out agent.
    let (status, body) = send(
        node.http
            .patch(node.url("/api/admin/groups/g1"))
            .json(&json!({ "reassign_tickets_after_logout_ms": null })),
        &admin,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["reassign_tickets_after_logout_ms"],
        Value::Null,
        "{body}"
    );
    assert_eq!(body["no_response_ms"], 90_000, "the rest kept: {body}");
    let login = node
        .http
        .post(node.url("/api/login"))
        .json(&json!({ "username": "nina", "password": NINA_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "her password survived");
    // The audit names who changed what, with the old and new values.
    let audit = node.get("/api/audit?group=g1", &admin).await;
    let renamed = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["what"] == "group" && e["new"]["name"] == "Group One (renamed)")
        .unwrap_or_else(|| panic!("no audit of the rename: {audit}"));
    assert_eq!(renamed["by"], "admin");
    assert_eq!(renamed["old"]["name"], "Group One");
    // The directory commands, against the running binary: the export holds
    // the administered agent, and importing it back changes nothing.
    let exported = data.path().join("exported.toml");
    let run = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(args)
            .args([
                "--server".as_ref(),
                node.url("").as_ref() as &std::ffi::OsStr,
            ])
            .args(["--user", "admin"])
            .env("SWITCHBOARD_PASSWORD", common::PASSWORD)
            .output()
            .unwrap()
    };
    let out = run(&[
        "export-directory".as_ref(),
        "--out".as_ref(),
        exported.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&exported).unwrap();
    assert!(text.contains("id = \"nina\""), "{text}");
    let out = run(&["import-directory".as_ref(), exported.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no change"));
}

#[tokio::test]
async fn removing_a_member_who_holds_a_chat_sends_it_back_to_routing_with_its_created_at() {
    let s = TestServer::start(GRACE).await;
    let admin = s.login("admin").await;
    let mut bob = s.console("bob").await;
    let chat = s.create_work("g1", "chat", 0).await;
    assert_eq!(chat["assignee"], "bob", "{chat}");
    let (status, body) = send(
        s.http.delete(s.url("/api/admin/memberships/g1/bob")),
        &admin,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    // Bob's console hears the chat is gone and his groups changed.
    bob.push_where("item", |f| {
        f["item"]["id"] == chat["id"] && f["reason"] == "handed_off"
    })
    .await;
    let changed = bob.push("groups_changed").await;
    assert_eq!(changed["groups"], json!([]), "{changed}");
    let queue = s
        .http
        .get(s.url("/api/groups/g1/queue"))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let back = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == chat["id"])
        .unwrap_or_else(|| panic!("not queued again: {queue}"));
    assert_eq!(back["created_at"], chat["created_at"], "the wait is kept");
    assert_eq!(back["history"][0]["why"], "removed");
    s.stop().await;
}

#[tokio::test]
async fn a_manager_is_refused_outside_its_groups_and_a_deleted_group_with_work_is_refused() {
    let s = TestServer::start(GRACE).await;
    let mgr = s.login("mgr").await;
    let admin = s.login("admin").await;
    let (status, body) = send(
        s.http
            .post(s.url("/api/admin/memberships"))
            .json(&json!({ "agent": "alice", "group": "pullg" })),
        &mgr,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (403, json!("forbidden")),
        "{body}"
    );
    let (status, body) = send(
        s.http
            .patch(s.url("/api/admin/groups/g1"))
            .json(&json!({ "ring_timeout_ms": 0 })),
        &mgr,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"]["field"], "ring_timeout_ms");
    let ticket = s.create_work("pullg", "ticket", 0).await;
    let (status, body) = send(s.http.delete(s.url("/api/admin/groups/pullg")), &admin).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["details"]["items"], json!([ticket["id"]]));
    let (status, body) = send(
        s.http.delete(s.url("/api/admin/groups/pullg?move_to=g2")),
        &admin,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = send(s.http.get(s.url("/api/admin/groups/pullg")), &admin).await;
    assert_eq!(status, 404);
    s.stop().await;
}

async fn create_work_with_key(s: &TestServer, key: &str) -> u16 {
    // A new connection each time: the test jumps the paused clock, past the
    // server's read timeout of an idle kept-alive connection.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    fresh
        .post(s.url("/api/work"))
        .header("x-api-key", key)
        .json(&json!({ "group": "g2", "channel": "ticket", "title": "from the crm" }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(start_paused = true)]
async fn a_rotated_key_works_beside_the_old_one_until_the_overlap_ends() {
    let s = TestServer::start(GRACE).await;
    let admin = s.login("admin").await;
    let (status, created) = send(
        s.http
            .post(s.url("/api/admin/integrations"))
            .json(&json!({ "name": "crm", "groups": ["g2"] })),
        &admin,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let old = created["key"].as_str().unwrap().to_string();
    assert_eq!(create_work_with_key(&s, &old).await, 201);
    let (status, rotated) = send(
        s.http
            .post(s.url("/api/admin/integrations/crm/rotate"))
            .json(&json!({ "overlap_seconds": 60 })),
        &admin,
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["key"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(
        create_work_with_key(&s, &old).await,
        201,
        "old key in the overlap"
    );
    assert_eq!(create_work_with_key(&s, &new).await, 201, "new key");
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(
        create_work_with_key(&s, &old).await,
        401,
        "old key after it"
    );
    assert_eq!(create_work_with_key(&s, &new).await, 201);
    // The listing never shows a key, only a prefix of each digest.
    let (_, list) = send(s.http.get(s.url("/api/admin/integrations")), &admin).await;
    assert!(!list.to_string().contains(&new));
    let (status, _) = send(s.http.delete(s.url("/api/admin/integrations/crm")), &admin).await;
    assert_eq!(status, 204);
    assert_eq!(create_work_with_key(&s, &new).await, 401, "revoked");
    s.stop().await;
}

#[tokio::test]
async fn a_password_reset_closes_the_agents_sessions_and_its_own_change_needs_the_old_one() {
    let s = TestServer::start(GRACE).await;
    let admin = s.login("admin").await;
    let alice_token = s.login("alice").await;
    let mut alice = Client::connect(s.addr, &alice_token).await;
    let (status, body) = send(
        s.http
            .post(s.url("/api/password"))
            .json(&json!({ "old_password": "wrong", "new_password": "a-new-long-one" })),
        &alice_token,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"]["field"], "old_password");
    let (status, body) = send(
        s.http
            .post(s.url("/api/admin/agents/alice/password"))
            .json(&json!({ "password": "short" })),
        &admin,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = send(
        s.http
            .post(s.url("/api/admin/agents/alice/password"))
            .json(&json!({ "password": "reset-by-the-admin" })),
        &admin,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let closing = alice.push("closing").await;
    assert_eq!(closing["reason"], "revoked");
    assert_eq!(s.get("/api/agents/alice", &alice_token).await.0, 401);
    assert_eq!(login_as(&s, "alice", common::PASSWORD).await.0, 401);
    assert_eq!(login_as(&s, "alice", "reset-by-the-admin").await.0, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_two_nodes_an_agent_created_on_one_works_on_the_other() {
    let redis = TestRedis::start();
    let a = TestServer::start_node(&redis.url(), &test_directory(), GRACE).await;
    let b = TestServer::start_node(&redis.url(), &test_directory(), GRACE).await;
    let admin = a.login("admin").await;
    onboard_nina(&a, &admin).await;
    add_nina_to_g1(&a, &admin).await;
    // Node b applies the same entries; she logs in there.
    let mut token = None;
    for _ in 0..100 {
        let (status, login) = login_as(&b, "nina", NINA_PASSWORD).await;
        if status == 200 {
            token = login["token"].as_str().map(str::to_string);
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let token = token.expect("nina logs in on node b");
    let mut nina = Client::connect(b.addr, &token).await;
    assert_eq!(nina.welcome["groups"][0]["id"], "g1", "{}", nina.welcome);
    let chat = a.create_work("g1", "chat", 0).await;
    assert_eq!(chat["assignee"], "nina", "{chat}");
    nina.push_where("item", |f| f["item"]["id"] == chat["id"])
        .await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn the_directory_exports_and_an_import_shows_its_changes_then_applies_them_as_one() {
    let s = TestServer::start(GRACE).await;
    let admin = s.login("admin").await;
    let export = s
        .http
        .get(s.url("/api/admin/directory"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    let text = export.text().await.unwrap();
    assert!(!text.contains("argon2"), "no hashes unless asked");
    // The export reads back as a valid directory with every agent.
    let parsed = switchboard::directory_file::parse(&text).expect("the export parses");
    assert!(parsed.directory.agent_ix("alice").is_some());
    // Importing it unchanged changes nothing.
    let import = |body: String, apply: bool| {
        s.http
            .post(s.url(&format!("/api/admin/directory/import?apply={apply}")))
            .bearer_auth(&admin)
            .body(body)
            .send()
    };
    let same: Value = import(text.clone(), false)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(same["changes"], json!([]), "{same}");
    // A changed file: a new agent, a renamed group, and the importing
    // admin renamed (its roles untouched: not a change of its own roles).
    let changed = format!(
        "{}\n[[agents]]\nid = \"omar\"\nname = \"Omar\"\npassword_hash = \"{}\"\n\n[[memberships]]\nagent = \"omar\"\ngroup = \"g2\"\n",
        text.replace("name = \"Group One\"", "name = \"Group Uno\"")
            .replace("name = \"ADMIN\"", "name = \"The Admin\""),
        common::cheap_hash("omar-password-1")
    );
    let preview: Value = import(changed.clone(), false)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ops: Vec<String> = preview["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["op"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ops,
        ["update_agent", "create_agent", "update_group", "add_member"],
        "{preview}"
    );
    assert_eq!(preview["applied"], false);
    let (status, _) = send(s.http.get(s.url("/api/admin/agents/omar")), &admin).await;
    assert_eq!(status, 404, "a preview changes nothing");
    let applied = import(changed, true).await.unwrap();
    assert_eq!(applied.status(), 200);
    let (_, omar) = send(s.http.get(s.url("/api/admin/agents/omar")), &admin).await;
    assert_eq!(omar["groups"], json!(["g2"]), "{omar}");
    assert_eq!(login_as(&s, "omar", "omar-password-1").await.0, 200);
    let (_, g1) = send(s.http.get(s.url("/api/admin/groups/g1")), &admin).await;
    assert_eq!(g1["name"], "Group Uno");
    let (_, me) = send(s.http.get(s.url("/api/admin/agents/admin")), &admin).await;
    assert_eq!(me["name"], "The Admin");
    // All or nothing: a file that drops a group holding work is refused
    // whole, even its other changes.
    s.create_work("pullg", "ticket", 0).await;
    let without_pullg = {
        let mut file: toml::Table = toml::from_str(&text).unwrap();
        let groups = file["groups"].as_array_mut().unwrap();
        groups.retain(|g| g["id"].as_str() != Some("pullg"));
        let members = file["memberships"].as_array_mut().unwrap();
        members.retain(|m| m["group"].as_str() != Some("pullg"));
        toml::to_string(&file)
            .unwrap()
            .replace("name = \"Group Uno\"", "name = \"Group Eins\"")
    };
    let refused = import(without_pullg, true).await.unwrap();
    assert_eq!(refused.status(), 409);
    let (_, g1) = send(s.http.get(s.url("/api/admin/groups/g1")), &admin).await;
    assert_eq!(
        g1["name"], "Group Uno",
        "nothing of a refused import applied"
    );
    s.stop().await;
}
