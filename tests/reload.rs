//! Consoles that reload or reconnect keep the truth: the conversation of a
//! visitor chat comes back with the `welcome`, messages pushed while a
//! console was away are replayed on resume with their own sequence numbers,
//! and a console in use keeps its login alive.

mod common;

use std::time::Duration;

use common::{Client, TestServer};
use serde_json::{Value, json};

const GRACE: Duration = Duration::from_secs(30);

/// A visitor chat in `xfer`, taken and accepted by h1: the item id and the
/// visitor's socket.
async fn chat_held_by_h1(s: &TestServer, h1: &mut Client) -> (Value, common::VisitorSocket) {
    let r: Value = s
        .http
        .post(s.url("/api/visitor/chats"))
        .json(&json!({ "group": "xfer", "name": "Ann", "text": "my order is late" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let item = r["item"]["id"].clone();
    let token = r["visitor_token"].as_str().unwrap().to_string();
    let visitor = common::visitor_socket(s.addr, &token).await;
    if r["item"]["assignee"] != "h1" {
        let took = h1.request("take", json!({ "item": item })).await;
        assert_eq!(took["type"], "ok", "{took}");
    }
    let accepted = h1.request("accept", json!({ "item": item })).await;
    assert_eq!(accepted["type"], "ok", "{accepted}");
    (item, visitor)
}

#[tokio::test]
async fn a_console_that_reloads_mid_chat_gets_the_conversation_back() {
    let s = TestServer::start(GRACE).await;
    let token = s.login("h1").await;
    let mut h1 = Client::connect(s.addr, &token).await;
    let (item, mut ann) = chat_held_by_h1(&s, &mut h1).await;
    common::visitor_say(&mut ann, "are you there?").await;
    h1.push_where("message", |f| f["message"]["text"] == "are you there?")
        .await;
    h1.close().await;
    // A fresh console (a reload): the welcome carries the conversation.
    let again = Client::connect(s.addr, &token).await;
    let chats = again.welcome["chats"]
        .as_array()
        .expect("chats in the welcome");
    let chat = chats
        .iter()
        .find(|c| c["item"] == item)
        .unwrap_or_else(|| panic!("{}", again.welcome));
    let texts: Vec<&str> = chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["my order is late", "are you there?"]);
    s.stop().await;
}

#[tokio::test]
async fn messages_pushed_while_away_are_replayed_on_resume_each_with_its_own_seq() {
    let s = TestServer::start(GRACE).await;
    let token = s.login("h1").await;
    let mut h1 = Client::connect(s.addr, &token).await;
    let (_, mut ann) = chat_held_by_h1(&s, &mut h1).await;
    // Seen so far: everything up to now.
    h1.drain_for(Duration::from_millis(200)).await;
    let seen = h1.last_seq();
    h1.close().await;
    for text in ["one", "two", "three"] {
        common::visitor_say(&mut ann, text).await;
    }
    // The visitor's own echoes show the three are stored.
    let mut echoed = 0;
    while echoed < 3 {
        let f = common::visitor_next(&mut ann).await;
        if f["type"] == "message" {
            echoed += 1;
        }
    }
    let (mut back, first) = Client::resume(s.addr, &token, seen).await;
    assert_eq!(first["type"], "resumed", "{first}");
    assert_eq!(first["missed"], 3, "{first}");
    let mut seqs = Vec::new();
    for text in ["one", "two", "three"] {
        let m = back.push("message").await;
        assert_eq!(m["message"]["text"], text);
        seqs.push(m["seq"].as_u64().unwrap());
    }
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]) && seqs[0] > seen,
        "each push its own increasing seq: {seqs:?} after {seen}"
    );
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_console_in_use_keeps_its_login_alive_past_the_token_ttl() {
    let s = TestServer::start_config(GRACE, |c| {
        c.token_ttl = Duration::from_secs(600);
    })
    .await;
    let token = s.login("h1").await;
    let mut h1 = Client::connect(s.addr, &token).await;
    // Half an hour of use, no HTTP call: a request every five minutes.
    for _ in 0..6 {
        tokio::time::advance(Duration::from_secs(300)).await;
        assert_eq!(h1.request("ping", json!({})).await["type"], "ok");
        // Let the slide, off the request's path, run.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }
    // A network blip: the console reconnects with the same token.
    h1.close().await;
    let again = Client::connect(s.addr, &token).await;
    assert_eq!(again.welcome["agent"]["id"], "h1");
    s.stop().await;
}
