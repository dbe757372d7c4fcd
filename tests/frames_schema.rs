//! docs/frames.schema.json against real sessions: consoles and a visitor go
//! through a realistic flow (welcome, offers, accept, visitor messages,
//! queue updates of a pull group, a board watched whole and in pieces,
//! errors, logout, resume) and every frame sent or received is validated
//! against the definition its `type` names, every `ok`'s `data` against the
//! answer of the request it answers.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{API_KEY, TestServer};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const SCHEMA: &str = include_str!("../docs/frames.schema.json");
const WAIT: Duration = Duration::from_secs(5);

/// The frames schema, one compiled validator per definition.
struct Schemas {
    doc: Value,
    compiled: HashMap<String, jsonschema::Validator>,
}

impl Schemas {
    fn new() -> Self {
        Schemas {
            doc: serde_json::from_str(SCHEMA).expect("docs/frames.schema.json is JSON"),
            compiled: HashMap::new(),
        }
    }

    /// Fails the test, saying why, unless `v` is valid under `$defs/name`.
    fn check(&mut self, name: &str, v: &Value) {
        let errors = self.errors(name, v);
        assert!(errors.is_empty(), "{name} {v}:\n{}", errors.join("\n"));
    }

    /// Why `v` is not valid under `$defs/name` (nothing: it is).
    fn errors(&mut self, name: &str, v: &Value) -> Vec<String> {
        assert!(
            self.doc["$defs"].get(name).is_some(),
            "docs/frames.schema.json has no definition {name} for {v}"
        );
        let defs = self.doc["$defs"].clone();
        let validator = self.compiled.entry(name.to_string()).or_insert_with(|| {
            let schema = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$ref": format!("#/$defs/{name}"),
                "$defs": defs,
            });
            jsonschema::validator_for(&schema).expect("the schema compiles")
        });
        validator
            .iter_errors(v)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }
}

/// A WebSocket whose every frame, both ways, is checked against the schema.
struct Session {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// `console` (`/ws`) or `visitor` (`/visitor`): which definitions apply.
    visitor: bool,
    next_id: u64,
    /// The type of each request sent, by id, to check its answer's data.
    asked: HashMap<u64, String>,
    /// Frames read while waiting for another.
    buffered: Vec<Value>,
    /// Every frame type received, to show what the flow covered.
    seen: Vec<String>,
}

impl Session {
    async fn open(url: String, visitor: bool) -> Session {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Session {
            ws,
            visitor,
            next_id: 1,
            asked: HashMap::new(),
            buffered: Vec::new(),
            seen: Vec::new(),
        }
    }

    /// The next frame, checked; `None` once the socket closes.
    async fn read(&mut self, schemas: &mut Schemas) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time")?
                .ok()?;
            let text = match msg {
                Message::Text(t) => t,
                Message::Close(_) => return None,
                _ => continue,
            };
            let frame: Value = serde_json::from_str(text.as_str()).unwrap();
            self.check_received(schemas, &frame);
            return Some(frame);
        }
    }

    fn check_received(&mut self, schemas: &mut Schemas, frame: &Value) {
        let kind = frame["type"].as_str().expect("a type").to_string();
        if self.visitor {
            schemas.check(&format!("visitor_{kind}"), frame);
        } else {
            schemas.check(&kind, frame);
            if kind == "ok" {
                let asked = frame["id"].as_u64().and_then(|id| self.asked.get(&id));
                let asked = asked.expect("an ok answers a request sent").clone();
                schemas.check(&format!("answer_{asked}"), &frame["data"]);
            }
        }
        self.seen.push(kind);
    }

    /// Sends a console request (checked), returns its answer.
    async fn request(&mut self, schemas: &mut Schemas, kind: &str, mut fields: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        fields["id"] = json!(id);
        fields["type"] = json!(kind);
        schemas.check(&format!("request_{kind}"), &fields);
        self.asked.insert(id, kind.to_string());
        self.send_raw(&fields.to_string()).await;
        loop {
            let f = self.read(schemas).await.expect("an answer");
            if f["id"] == json!(id) && (f["type"] == "ok" || f["type"] == "error") {
                return f;
            }
            self.buffered.push(f);
        }
    }

    async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next frame of `kind` (buffered ones first).
    async fn push(&mut self, schemas: &mut Schemas, kind: &str) -> Value {
        if let Some(i) = self.buffered.iter().position(|f| f["type"] == kind) {
            return self.buffered.remove(i);
        }
        loop {
            let f = self
                .read(schemas)
                .await
                .unwrap_or_else(|| panic!("a {kind}"));
            if f["type"] == kind {
                return f;
            }
            self.buffered.push(f);
        }
    }

    /// Reads until the socket closes, checking every frame.
    async fn drain(&mut self, schemas: &mut Schemas) {
        while self.read(schemas).await.is_some() {}
    }
}

async fn console(server: &TestServer, schemas: &mut Schemas, token: &str) -> Session {
    let mut s = Session::open(format!("ws://{}/ws?token={token}", server.addr), false).await;
    let welcome = s.push(schemas, "welcome").await;
    assert_eq!(welcome["type"], "welcome");
    s
}

async fn post(server: &TestServer, path: &str, body: Value) -> Value {
    let r = server
        .http
        .post(server.url(path))
        .header("x-api-key", API_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_realistic_flow_matches_the_frames_schema() {
    let server = TestServer::start(Duration::from_secs(10)).await;
    let mut schemas = Schemas::new();

    // A manager watches g1, whole and in pieces.
    let mut mgr = console(&server, &mut schemas, &server.login("mgr").await).await;
    let whole = mgr
        .request(&mut schemas, "watch", json!({"group": "g1"}))
        .await;
    assert_eq!(whole["type"], "ok", "{whole}");
    let pieces = mgr
        .request(
            &mut schemas,
            "watch",
            json!({"group": "g1", "pieces": true}),
        )
        .await;
    assert_eq!(pieces["type"], "ok", "{pieces}");

    // Alice goes active for chat in g1; a visitor starts a chat there.
    let alice_token = server.login("alice").await;
    let mut alice = console(&server, &mut schemas, &alice_token).await;
    let cells = json!({"cells": [{"group": "g1", "channel": "chat", "active": true}]});
    assert_eq!(
        alice.request(&mut schemas, "set_active", cells).await["type"],
        "ok"
    );
    let started = post(
        &server,
        "/api/visitor/chats",
        json!({"group": "g1", "name": "Ann", "text": "Hello"}),
    )
    .await;
    let token = started["visitor_token"].as_str().unwrap();
    let mut visitor =
        Session::open(format!("ws://{}/visitor?token={token}", server.addr), true).await;
    visitor.push(&mut schemas, "chat").await;
    let offer = alice.push(&mut schemas, "item").await;
    let item = offer["item"]["id"].as_u64().unwrap();
    let accepted = alice
        .request(&mut schemas, "accept", json!({"item": item}))
        .await;
    assert_eq!(accepted["type"], "ok", "{accepted}");
    visitor.push(&mut schemas, "agent_joined").await;
    let said = alice
        .request(
            &mut schemas,
            "message",
            json!({"item": item, "text": "Hi Ann"}),
        )
        .await;
    assert_eq!(said["type"], "ok", "{said}");
    visitor.push(&mut schemas, "message").await;
    let line = json!({"type": "message", "text": "Thanks"});
    schemas.check("visitor_request_message", &line);
    visitor.send_raw(&line.to_string()).await;
    alice.push(&mut schemas, "message").await;
    let explained = mgr
        .request(&mut schemas, "explain", json!({"item": item}))
        .await;
    assert_eq!(explained["type"], "ok", "{explained}");

    // Statuses, availability, ready, ping.
    for (kind, fields) in [
        ("set_status", json!({"status": "Unavailable"})),
        ("set_availability", json!({"available": true})),
        ("ready", json!({})),
        ("ping", json!({})),
        ("set_active_row", json!({"group": "g2", "active": false})),
        (
            "set_active_column",
            json!({"channel": "ticket", "active": false}),
        ),
    ] {
        let answer = alice.request(&mut schemas, kind, fields).await;
        assert_eq!(answer["type"], "ok", "{kind}: {answer}");
    }

    // Errors: a refused request, a frame that is not JSON, an unknown type.
    let refused = alice
        .request(&mut schemas, "take", json!({"item": 999_999}))
        .await;
    assert_eq!(refused["type"], "error");
    alice.send_raw("{\"type\":\"take\"").await;
    assert_eq!(
        alice.push(&mut schemas, "error").await["code"],
        "bad_request"
    );
    alice.send_raw("{\"id\":\"x\",\"type\":\"fly\"}").await;
    assert_eq!(
        alice.push(&mut schemas, "error").await["code"],
        "unknown_type"
    );

    // The chat closes: the visitor is told.
    let closed = alice
        .request(&mut schemas, "close", json!({"item": item}))
        .await;
    assert_eq!(closed["type"], "ok", "{closed}");
    visitor.push(&mut schemas, "closed").await;

    // Queue updates: a ticket in a pull group, taken by a member.
    let mut t01 = console(&server, &mut schemas, &server.login("t01").await).await;
    let ticket = post(
        &server,
        "/api/work",
        json!({"group": "pullg", "channel": "ticket"}),
    )
    .await;
    let id = ticket["item"]["id"].as_u64().unwrap();
    t01.push(&mut schemas, "queue").await;
    let taken = t01.request(&mut schemas, "take", json!({"item": id})).await;
    assert_eq!(taken["type"], "ok", "{taken}");
    let unwatched = mgr.request(&mut schemas, "unwatch", json!({})).await;
    assert_eq!(unwatched["type"], "ok");

    // A reconnect resumes; logging out closes every session of the token.
    let seq = offer["seq"].as_u64().unwrap();
    let mut resumed = Session::open(
        format!("ws://{}/ws?token={alice_token}&resume={seq}", server.addr),
        false,
    )
    .await;
    resumed.push(&mut schemas, "resumed").await;
    let r = server
        .http
        .post(server.url("/api/logout"))
        .bearer_auth(&alice_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    alice.push(&mut schemas, "closing").await;
    alice.drain(&mut schemas).await;
    resumed.drain(&mut schemas).await;

    let mut seen: Vec<String> = [&mgr, &alice, &visitor, &t01, &resumed]
        .iter()
        .flat_map(|s| s.seen.iter().cloned())
        .collect();
    seen.sort();
    seen.dedup();
    for kind in [
        "welcome",
        "ok",
        "error",
        "item",
        "queue",
        "agent_status",
        "message",
        "closing",
        "resumed",
        "watch_agents",
        "chat",
        "agent_joined",
        "closed",
    ] {
        assert!(
            seen.iter().any(|s| s == kind),
            "the flow saw no {kind}: {seen:?}"
        );
    }
    server.stop().await;
}

#[test]
fn the_schema_refuses_frames_the_protocol_does_not_describe() {
    let mut schemas = Schemas::new();
    let item = json!({"id": 9, "group": "g1", "channel": "chat", "priority": 0, "title": "",
        "state": "queued", "assignee": null, "assignee_name": null, "created_at": 1,
        "assigned_at": null, "history": []});
    schemas.check(
        "item",
        &json!({"type": "item", "seq": 3, "item": item, "reason": "routed"}),
    );
    for (name, frame) in [
        (
            "item",
            json!({"type": "item", "item": item, "reason": "routed"}),
        ),
        (
            "item",
            json!({"type": "item", "seq": 3, "item": item, "reason": "teleported"}),
        ),
        (
            "queue",
            json!({"type": "queue", "seq": 3, "op": "added", "item": {"id": 9}}),
        ),
        ("request_take", json!({"id": 1, "type": "take"})),
        (
            "request_take",
            json!({"id": 1, "type": "take", "item": 9, "extra": true}),
        ),
        (
            "error",
            json!({"type": "error", "id": 1, "code": "oops", "message": "m"}),
        ),
        ("answer_ping", json!({})),
    ] {
        assert!(
            !schemas.errors(name, &frame).is_empty(),
            "{name} accepted {frame}"
        );
    }
}

/// The shapes both documents describe (an item, an agent's status) name the
/// same fields and require the same ones in each.
#[test]
fn the_shapes_shared_with_the_openapi_document_agree() {
    let frames: Value = serde_json::from_str(SCHEMA).unwrap();
    let openapi: Value =
        serde_json::from_str(switchboard::transport::openapi::OPENAPI_JSON).unwrap();
    let fields = |schema: &Value| {
        let mut names: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        names.sort();
        let mut required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        required.sort();
        (
            names.into_iter().cloned().collect::<Vec<_>>(),
            required.join(","),
        )
    };
    for shape in ["Item", "AgentStatus"] {
        assert_eq!(
            fields(&frames["$defs"][shape]),
            fields(&openapi["components"]["schemas"][shape]),
            "{shape} differs between docs/frames.schema.json and docs/openapi.json"
        );
    }
}
