//! The OpenAPI document (docs/openapi.json, served at `/api/openapi.json`)
//! against the router, both ways: every routed path and method is
//! documented, every documented one is routed.
//!
//! The paths come from the router itself (`transport::routed_paths`, the
//! route table every route is added through). Which methods a path takes is
//! asked of a live server: without credentials every handler refuses before
//! doing anything, and only a method the path does not take is `405`.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::TestServer;
use serde_json::Value;
use switchboard::transport::routed_paths;

/// The methods probed on every path. `HEAD` is left out: axum answers it
/// wherever `GET` is routed, and OpenAPI documents it with `GET`.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"];

/// The document as the server serves it, without credentials.
async fn served_document(server: &TestServer) -> Value {
    let r = server
        .http
        .get(server.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    r.json().await.unwrap()
}

/// `(path, METHOD)` of every operation of the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            let method = method.to_uppercase();
            if METHODS.contains(&method.as_str()) {
                ops.insert((path.clone(), method));
            }
        }
    }
    ops
}

/// A concrete URL path for a templated one: every `{param}` becomes `1`
/// (a valid item id, an id of nothing else).
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "1" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// `(path, METHOD)` of every method the live server takes on each of
/// `paths`: all but those it answers `405`.
async fn routed(server: &TestServer, paths: &BTreeSet<String>) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for path in paths {
        for method in METHODS {
            let r = server
                .http
                .request(method.parse().unwrap(), server.url(&concrete(path)))
                .send()
                .await
                .unwrap();
            if r.status() != 405 {
                ops.insert((path.clone(), method.to_string()));
            }
        }
    }
    ops
}

#[tokio::test]
async fn every_route_is_documented_and_every_operation_routed() {
    let server = TestServer::start(Duration::from_secs(10)).await;
    let doc = served_document(&server).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let documented = documented(&doc);
    let router_paths: BTreeSet<String> = routed_paths().into_iter().map(String::from).collect();
    let mut paths = router_paths.clone();
    paths.extend(documented.iter().map(|(p, _)| p.clone()));
    let routed = routed(&server, &paths).await;

    let mut problems = Vec::new();
    for (path, method) in routed.difference(&documented) {
        problems.push(format!(
            "{method} {path} is routed but not documented: add paths.\"{path}\".{} to docs/openapi.json",
            method.to_lowercase()
        ));
    }
    for (path, method) in documented.difference(&routed) {
        problems.push(format!(
            "{method} {path} is documented in docs/openapi.json but the router does not take it"
        ));
    }
    for path in paths.difference(&router_paths) {
        problems.push(format!(
            "{path} is documented in docs/openapi.json but is no route of the router (transport::routed_paths)"
        ));
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
    server.stop().await;
}

/// Every `$ref` of `v`, with where it is.
fn refs<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("$ref") {
                out.push((at.clone(), r));
            }
            for (k, v) in o {
                refs(v, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                refs(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// The document holds together: every `$ref` names something in it, every
/// operation has a unique `operationId` (a generated client's method name)
/// and answers.
#[test]
fn the_document_holds_together() {
    let doc: Value = serde_json::from_str(switchboard::transport::openapi::OPENAPI_JSON).unwrap();
    let mut found = Vec::new();
    refs(&doc, String::new(), &mut found);
    for (at, r) in found {
        let pointer = r.strip_prefix('#').expect("a local $ref");
        assert!(
            doc.pointer(pointer).is_some(),
            "{at}: $ref {r} names nothing"
        );
    }
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            assert!(ids.insert(id), "{method} {path}: operationId {id} is taken");
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}: no responses"
            );
        }
    }
}
