//! Demo traffic for `switchboard serve --demo`: a newcomer who opens the
//! consoles sees work arrive, queue and move at once.
//!
//! Everything goes through the same engine requests real clients use: an
//! integration creates a chat, ticket or call every few seconds in a random
//! group; chat visitors write a line or two; three simulated agents accept,
//! answer and close what they are given and pick from pull queues.

use std::time::Duration;

use rand::RngExt;
use serde_json::Value;

use crate::domain::{Channel, Directory};
use crate::engine::{Caller, EngineHandle, HttpOp, Request, SessionOp, outbox};

const TITLES: &[&str] = &[
    "Refund for order 1182",
    "Password reset link expired",
    "Invoice address is wrong",
    "Upgrade to the team plan?",
    "App crashes on start",
    "Where is my parcel?",
    "Cancel my subscription",
    "Two-factor code never arrives",
];
const VISITORS: &[&str] = &["Ann", "Ben", "Cleo", "Dan", "Eve", "Finn", "Gia", "Hugo"];
const LINES: &[&str] = &[
    "Hello, is anyone there?",
    "I tried that already, sorry.",
    "Thanks, that helps!",
    "Could you check my account please?",
];

fn pick<T: Copy>(list: &[T]) -> T {
    list[rand::rng().random_range(0..list.len())]
}

async fn pause(min_ms: u64, max_ms: u64) {
    let ms = rand::rng().random_range(min_ms..max_ms);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Up to three plain agents from the end of the directory who share no
/// group, so that the simulation covers several groups and leaves the first
/// logins (the ones the README lists first) to people.
fn simulated_agents(directory: &Directory) -> Vec<String> {
    let mut chosen: Vec<crate::domain::AgentIx> = Vec::new();
    let groups_of = |a: crate::domain::AgentIx| {
        directory
            .memberships_of(a)
            .iter()
            .map(|&m| directory.membership(m).group)
            .collect::<Vec<_>>()
    };
    for i in (0..directory.agents().len()).rev() {
        let a = crate::domain::AgentIx(i as u32);
        let roles = directory.agent(a).roles;
        if roles.manager || roles.admin || chosen.len() == 3 {
            continue;
        }
        let mine = groups_of(a);
        if !mine.is_empty()
            && chosen
                .iter()
                .all(|&c| groups_of(c).iter().all(|g| !mine.contains(g)))
        {
            chosen.push(a);
        }
    }
    chosen
        .into_iter()
        .map(|a| directory.agent(a).id.clone())
        .collect()
}

/// Starts the demo traffic: new work every `every`, and three simulated
/// agents.
pub fn spawn(engine: EngineHandle, directory: &Directory, every: Duration) {
    let targets: Vec<(String, Channel)> = directory
        .groups()
        .iter()
        .flat_map(|g| {
            Channel::ALL
                .into_iter()
                .filter(|c| g.channels[c.index()].enabled)
                .map(|c| (g.id.clone(), c))
        })
        .collect();
    if targets.is_empty() {
        return;
    }
    tokio::spawn(integration(engine.clone(), targets, every));
    for id in simulated_agents(directory) {
        tokio::spawn(simulated_agent(engine.clone(), id));
    }
}

async fn integration(engine: EngineHandle, targets: Vec<(String, Channel)>, every: Duration) {
    let demo_integration = crate::integrations::Integration::everywhere("demo");
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let (group, channel) = targets[rand::rng().random_range(0..targets.len())].clone();
        let op = HttpOp::CreateWork {
            group,
            channel,
            priority: rand::rng().random_range(0..3),
            title: pick(TITLES).to_string(),
            visitor: Some(pick(VISITORS).to_string()),
        };
        let created = engine
            .call(|answer| Request::Http {
                caller: Caller::Integration(demo_integration.clone()),
                op,
                answer,
            })
            .await;
        let Ok(body) = created else {
            continue; // offline for chat, or shutting down: try again later
        };
        if let Some(item) = body["item"]["id"].as_u64()
            && body.get("visitor_token").is_some()
        {
            tokio::spawn(visitor(engine.clone(), item));
        }
    }
}

/// A visitor who writes a couple of lines while waiting and chatting.
async fn visitor(engine: EngineHandle, item: u64) {
    for _ in 0..2 {
        pause(4_000, 12_000).await;
        let text = pick(LINES).to_string();
        let sent = engine
            .call(|answer| Request::VisitorMessage { item, text, answer })
            .await;
        if sent.is_err() {
            return;
        }
    }
}

async fn act(
    engine: &EngineHandle,
    session: u64,
    op: SessionOp,
) -> Result<Value, crate::api_error::ApiError> {
    engine
        .call(|answer| Request::Session {
            session,
            op,
            answer,
        })
        .await
}

/// An agent that accepts what it is given, replies to chats, closes after a
/// while, and picks from pull queues.
async fn simulated_agent(engine: EngineHandle, id: String) {
    let (tx, mut rx) = outbox(4096);
    let connected = engine
        .call(|answer| Request::Connect {
            agent: id.clone(),
            outbox: tx,
            resume: None,
            // No token: nothing can log a simulated agent out.
            login: String::new(),
            answer,
        })
        .await;
    let Ok(session) = connected else {
        return;
    };
    while let Some(frame) = rx.recv().await {
        let Ok(push) = serde_json::from_str::<Value>(frame.as_str()) else {
            continue;
        };
        let item = push["item"]["id"].as_u64();
        match (push["type"].as_str(), item) {
            (Some("item"), Some(item))
                if push["item"]["assignee"] == id.as_str()
                    && push["item"]["state"] == "assigned" =>
            {
                let engine = engine.clone();
                let chat = push["item"]["channel"] == "chat";
                tokio::spawn(async move {
                    pause(2_000, 5_000).await;
                    if act(&engine, session, SessionOp::Accept { item })
                        .await
                        .is_err()
                    {
                        return;
                    }
                    if chat {
                        pause(1_000, 3_000).await;
                        let text = "Hi! I'm looking into it right now.".to_string();
                        let _ = act(&engine, session, SessionOp::Message { item, text }).await;
                    }
                    pause(10_000, 25_000).await;
                    let _ = act(&engine, session, SessionOp::Close { item }).await;
                });
            }
            (Some("queue"), Some(item)) if push["op"] == "added" && push["sound"] == true => {
                let engine = engine.clone();
                tokio::spawn(async move {
                    pause(3_000, 8_000).await;
                    let _ = act(&engine, session, SessionOp::Take { item }).await;
                });
            }
            _ => {}
        }
    }
}
