//! Connection hygiene over real sockets: read timeouts on headers and
//! bodies (slowloris), the cap on connections per client address, every
//! error answer in the documented JSON shape, every close with its
//! documented code, and every documented metric exported from the start
//! (docs/security.md, docs/protocol.md, docs/operations.md).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::binary::BinaryNode;
use common::{API_KEY, TestServer};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

const GRACE: Duration = Duration::from_millis(500);

/// Far longer than any timeout a test configures: a close that has not
/// happened by then is not going to.
const BOUND: Duration = Duration::from_secs(15);

/// Reads until the server closes the connection (end of stream or reset),
/// returning what it sent; `None` if it was still open after `within`.
async fn closed_within(tcp: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// A client that keeps no idle connection: each request opens its own, so
/// a test's count of connections is its own sockets, and no request reuses
/// a connection the server is closing for idling past the header timeout.
fn unpooled() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// The text of `/metrics` at `base` (`http://ADDR`).
async fn metrics_text(base: &str) -> String {
    unpooled()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of one series of `/metrics` (0 when absent).
async fn metric(s: &TestServer, series: &str) -> f64 {
    metrics_text(&s.url(""))
        .await
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// A raw HTTP/1.1 request on a fresh connection: its status and body.
async fn raw_request(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let answer = closed_within(&mut tcp, BOUND).await.expect("an answer");
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

// 1. Read timeouts -----------------------------------------------------------

#[tokio::test]
async fn slowloris_connections_are_closed_after_the_header_read_timeout() {
    let s = TestServer::start_config(GRACE, |c| {
        c.transport.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let before = metric(&s, "switchboard_http_timeouts_total{phase=\"headers\"}").await;
    // Twenty clients each start a request and then trickle one header line
    // every 300 ms, never finishing: without a header timeout they would
    // hold their descriptors for as long as they keep trickling.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut tcp = TcpStream::connect(s.addr).await.unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(tcp);
    }
    // Reads and writes of one stream are split so the trickle goes on while
    // the server's close is awaited.
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for tcp in slow {
        let (r, w) = tcp.into_split();
        readers.push(r);
        writers.push(w);
    }
    let trickling = tokio::spawn(async move {
        for i in 0..40 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            for w in &mut writers {
                let _ = w.write_all(format!("X-{i}: y\r\n").as_bytes()).await;
            }
        }
    });
    // Meanwhile a normal request is answered.
    assert_eq!(
        unpooled()
            .get(s.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    for (i, mut r) in readers.into_iter().enumerate() {
        let mut buf = [0u8; 1024];
        let ended = tokio::time::timeout(BOUND, async {
            loop {
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(
            ended.is_ok(),
            "slow connection {i} still open after {BOUND:?}"
        );
    }
    trickling.abort();
    let after = metric(&s, "switchboard_http_timeouts_total{phase=\"headers\"}").await;
    assert!(
        after - before >= 20.0,
        "{before} -> {after} header timeouts"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_gets_408_request_timeout() {
    let s = TestServer::start_config(GRACE, |c| {
        c.transport.body_read_timeout = Duration::from_secs(1);
    })
    .await;
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    // Announces 100 bytes of body, sends 10, then nothing.
    tcp.write_all(
        b"POST /api/login HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"username",
    )
    .await
    .unwrap();
    let answer = closed_within(&mut tcp, BOUND)
        .await
        .expect("the server answered and closed within the bound");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    let body: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "request_timeout", "{body}");
    assert!(metric(&s, "switchboard_http_timeouts_total{phase=\"body\"}").await >= 1.0);
    s.stop().await;
}

// 2. Connections per client address ------------------------------------------

#[tokio::test]
async fn connections_over_the_cap_per_address_are_closed_at_once() {
    let s = TestServer::start_config(GRACE, |c| {
        c.transport.max_connections_per_address = 5;
    })
    .await;
    let before = metric(
        &s,
        "switchboard_connections_refused_total{reason=\"per_address\"}",
    )
    .await;
    let r = unpooled()
        .post(s.url("/api/login"))
        .json(&json!({ "username": "alice", "password": common::PASSWORD }))
        .send()
        .await
        .unwrap();
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    // A console's WebSocket counts as long as it is open.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws?token={token}", s.addr))
        .await
        .unwrap();
    let welcome = ws.next().await.unwrap().unwrap();
    assert!(welcome.to_text().unwrap().contains("welcome"));
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(TcpStream::connect(s.addr).await.unwrap());
    }
    let mut sixth = TcpStream::connect(s.addr).await.unwrap();
    let _ = sixth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let answer = closed_within(&mut sixth, BOUND)
        .await
        .expect("the sixth connection is closed");
    assert!(answer.is_empty(), "closed before any answer");
    // The five within the cap are still open.
    for tcp in &mut open {
        assert!(
            closed_within(tcp, Duration::from_millis(200))
                .await
                .is_none()
        );
    }
    // Closing the WebSocket frees its place.
    ws.close(None).await.unwrap();
    drop(ws);
    let mut freed = false;
    for _ in 0..50 {
        let mut tcp = TcpStream::connect(s.addr).await.unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = closed_within(&mut tcp, BOUND).await.unwrap();
        if answer.starts_with(b"HTTP/1.1 200") {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(freed, "a place came free when the WebSocket closed");
    drop(open);
    let after = metric(
        &s,
        "switchboard_connections_refused_total{reason=\"per_address\"}",
    )
    .await;
    assert!(after > before, "refusals are counted ({before} -> {after})");
    s.stop().await;
}

// 3. Error answers in the documented shape -----------------------------------

#[tokio::test]
async fn method_not_allowed_and_long_path_segments_answer_the_json_error() {
    let s = TestServer::start(GRACE).await;
    let r = s.http.post(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.headers().contains_key("allow"), "the Allow header stays");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
    let r = s.http.delete(s.url("/api/work")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "method_not_allowed"
    );

    // A segment longer than any file name, a path longer than any path,
    // and an id of 300 characters: not found, never a 500.
    let long = "a".repeat(300);
    let deep = format!("/{}", vec!["b".repeat(200); 30].join("/"));
    for path in [format!("/{long}"), format!("/static/{long}.js"), deep] {
        let r = s.http.get(s.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{}…", &path[..40]);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{body}");
    }
    let r = s
        .http
        .get(s.url(&format!("/api/agents/{long}")))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "not_found"
    );
    // An unknown path is the same JSON 404.
    let (status, body) = raw_request(
        s.addr,
        "GET /no/such/file HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        "not_found"
    );
    s.stop().await;
}

// 4. WebSocket closes and answers --------------------------------------------

/// Starts a visitor's chat in g1: its visitor token.
async fn visitor_token(s: &TestServer) -> String {
    let r = unpooled()
        .post(s.url("/api/visitor/chats"))
        .json(&json!({ "group": "g1", "name": "Vic", "text": "hello" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["visitor_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Opens a visitor's chat in g1 and its socket, past the first `chat` frame.
async fn visitor(s: &TestServer) -> common::VisitorSocket {
    let token = visitor_token(s).await;
    let mut ws = common::visitor_socket(s.addr, &token).await;
    assert_eq!(common::visitor_frame(&mut ws, "chat").await["type"], "chat");
    ws
}

#[tokio::test]
async fn a_binary_frame_on_the_visitor_socket_is_answered_and_the_chat_goes_on() {
    let s = TestServer::start(GRACE).await;
    let mut ws = visitor(&s).await;
    ws.send(Message::Binary(vec![0xff, 0x00, 0x01].into()))
        .await
        .unwrap();
    let e = common::visitor_frame(&mut ws, "error").await;
    assert_eq!(e["code"], "bad_request", "{e}");
    common::visitor_say(&mut ws, "still here").await;
    let m = common::visitor_frame(&mut ws, "message").await;
    assert_eq!(m["message"]["text"], "still here");
    s.stop().await;
}

/// A WebSocket client frame written by hand: FIN, `opcode`, masked with a
/// zero key (so the payload goes as it is), `payload` under 126 bytes.
fn raw_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![first_byte, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    f.extend_from_slice(payload);
    f
}

/// Opens a WebSocket by hand at `target` (`/ws?token=…`): a raw TCP
/// stream past the handshake, so the test can write frames no well-behaved
/// library would.
async fn raw_socket(s: &TestServer, target: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    let req = format!(
        "GET {target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tcp
}

/// A console socket of alice's, opened by hand.
async fn raw_console(s: &TestServer) -> TcpStream {
    let token = s.login("alice").await;
    raw_socket(s, &format!("/ws?token={token}")).await
}

/// The close code at the end of what a raw socket receives (frames from
/// the server are unmasked; the close frame is the last one).
async fn raw_close_code(tcp: &mut TcpStream) -> Option<u16> {
    let got = closed_within(tcp, BOUND)
        .await
        .expect("closed within the bound");
    // Walks the frames: 2-byte header, 16- or 64-bit extended lengths.
    let mut i = 0;
    let mut code = None;
    while i + 2 <= got.len() {
        let opcode = got[i] & 0x0f;
        let (len, head) = match got[i + 1] & 0x7f {
            126 => (u16::from_be_bytes([got[i + 2], got[i + 3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(got[i + 2..i + 10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        let payload = &got[i + head..(i + head + len).min(got.len())];
        if opcode == 0x8 && payload.len() >= 2 {
            code = Some(u16::from_be_bytes([payload[0], payload[1]]));
        }
        i += head + len;
    }
    code
}

#[tokio::test]
async fn invalid_utf8_and_protocol_violations_close_with_their_documented_codes() {
    let s = TestServer::start(GRACE).await;
    // A text frame that is not UTF-8: 1007.
    let mut tcp = raw_console(&s).await;
    tcp.write_all(&raw_frame(0x81, &[0xc3, 0x28, 0xff]))
        .await
        .unwrap();
    assert_eq!(raw_close_code(&mut tcp).await, Some(1007));
    // Reserved bits set: 1002.
    let mut tcp = raw_console(&s).await;
    tcp.write_all(&raw_frame(0x81 | 0x40, b"{}")).await.unwrap();
    assert_eq!(raw_close_code(&mut tcp).await, Some(1002));
    // An unknown opcode: 1002.
    let mut tcp = raw_console(&s).await;
    tcp.write_all(&raw_frame(0x83, b"{}")).await.unwrap();
    assert_eq!(raw_close_code(&mut tcp).await, Some(1002));
    // The visitor's socket closes the same way.
    let token = visitor_token(&s).await;
    let mut tcp = raw_socket(&s, &format!("/visitor?token={token}")).await;
    tcp.write_all(&raw_frame(0x81, &[0xc3, 0x28, 0xff]))
        .await
        .unwrap();
    assert_eq!(raw_close_code(&mut tcp).await, Some(1007));
    let mut tcp = raw_socket(&s, &format!("/visitor?token={token}")).await;
    tcp.write_all(&raw_frame(0x81 | 0x40, b"{}")).await.unwrap();
    assert_eq!(raw_close_code(&mut tcp).await, Some(1002));
    assert!(
        metric(
            &s,
            "switchboard_sessions_closed_total{reason=\"invalid_utf8\"}"
        )
        .await
            >= 1.0
    );
    assert!(
        metric(
            &s,
            "switchboard_sessions_closed_total{reason=\"protocol_error\"}"
        )
        .await
            >= 2.0
    );
    s.stop().await;
}

#[tokio::test]
async fn a_slow_consumer_gets_its_closing_frame_and_close_code_4000() {
    let s = TestServer::start_config(Duration::from_millis(200), |c| {
        c.transport.outbox_capacity = 64;
        c.transport.write_timeout = Duration::from_secs(5);
    })
    .await;
    let token = s.login("alice").await;
    // A small receive buffer, so that the socket backs up after a few
    // pushes instead of megabytes.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(s.addr).await.unwrap();
    let (mut ws, _) =
        tokio_tungstenite::client_async(format!("ws://{}/ws?token={token}", s.addr), tcp)
            .await
            .unwrap();
    // alice does not read while items queue in g1 (each a `queue` push to
    // her, the only one logged in there), until the engine cuts her off.
    let title = "t".repeat(200);
    let mut cut_off = false;
    for round in 0..1250 {
        s.create_chats("g1", &title, 32).await;
        if round % 8 == 7 && metric(&s, "switchboard_outbox_drops_total").await >= 1.0 {
            cut_off = true;
            break;
        }
    }
    assert!(cut_off, "alice was cut off as a slow consumer");
    // Now she reads: what was buffered, then `closing` and the close frame.
    let mut closing = None;
    let close = tokio::time::timeout(BOUND, async {
        while let Some(m) = ws.next().await {
            match m {
                Ok(Message::Text(t)) if t.contains("\"closing\"") => {
                    closing = Some(serde_json::from_str::<Value>(t.as_str()).unwrap());
                }
                Ok(Message::Close(frame)) => return frame,
                Ok(_) => continue,
                Err(e) => panic!("the socket broke instead of closing: {e}"),
            }
        }
        None
    })
    .await
    .expect("closed within the bound")
    .expect("a close frame");
    assert_eq!(closing.expect("a closing frame")["reason"], "slow_consumer");
    assert_eq!(u16::from(close.code), 4000);
    assert_eq!(close.reason.as_str(), "slow_consumer");
    assert!(
        metric(
            &s,
            "switchboard_sessions_closed_total{reason=\"slow_consumer\"}"
        )
        .await
            >= 1.0
    );
    s.stop().await;
}

// 5. Metrics from the start ----------------------------------------------------

/// Every metric docs/operations.md lists, with the label values it lists,
/// as `(name, [(label, value)])`; a family whose labels list no values
/// (`group`, `route`…) is named with no label.
fn documented_series() -> Vec<(String, Vec<(String, String)>)> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
        .unwrap();
    let table = doc
        .split("## Metrics")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .find(|block| block.starts_with("| metric |"))
        .unwrap();
    let mut series = Vec::new();
    for row in table.lines().skip(2) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let names: Vec<String> = cells[1]
            .split(", ")
            .map(|n| n.trim_matches('`').to_string())
            .collect();
        // `switchboard_webhook_sent_total`, `_failed_total`: the short
        // ones share the first one's stem.
        for name in &names {
            let name = if name.starts_with('_') {
                let stem = names[0].rsplitn(3, '_').nth(2).unwrap();
                format!("{stem}{name}")
            } else {
                name.clone()
            };
            series.push((name.clone(), Vec::new()));
            for part in cells[3].split(';') {
                let Some((label, values)) = part.split_once(':') else {
                    continue;
                };
                let label = label.trim().trim_matches('`').to_string();
                for v in values.split(',') {
                    let v = v.trim();
                    if v.starts_with('`') {
                        series.push((
                            name.clone(),
                            vec![(label.clone(), v.trim_matches('`').into())],
                        ));
                    }
                }
            }
        }
    }
    series
}

#[tokio::test]
async fn every_documented_metric_is_exported_from_the_start() {
    let documented = documented_series();
    assert!(documented.len() > 40, "the table was read: {documented:?}");
    // A fresh process: nothing has happened yet but its start.
    let node = BinaryNode::start(vec!["--memory".into()]).await;
    let text = metrics_text(&node.url("")).await;
    let mut missing = Vec::new();
    for (name, labels) in &documented {
        let found = text.lines().any(|l| {
            let Some(rest) = l.strip_prefix(name.as_str()) else {
                return false;
            };
            let rest = rest
                .strip_prefix("_bucket")
                .or_else(|| rest.strip_prefix("_count"))
                .unwrap_or(rest);
            (rest.starts_with('{') || rest.starts_with(' '))
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        });
        if !found {
            missing.push(format!("{name} {labels:?}"));
        }
    }
    assert!(
        missing.is_empty(),
        "not exported at start: {missing:#?}\n{text}"
    );
}
