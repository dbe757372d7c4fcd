//! The one contract every [`SharedLog`] keeps (see `src/store/mod.rs`), run
//! against each implementation: the in-process `MemoryLog`, the embedded
//! SQLite one (in a temporary data directory) and the Redis one (on a
//! redis-server this test starts on a free port). A node's correctness rests
//! on these answers, so every store must give the same.

mod common;

use std::time::{Duration, Instant};

use common::TestRedis;
use switchboard::domain::{LogEntry, LogOp};
use switchboard::store::events::{DeadLetter, EventId, EventJournal, event_id};
use switchboard::store::memory::MemoryLog;
use switchboard::store::redis::RedisLog;
use switchboard::store::sqlite::SqliteLog;
use switchboard::store::{LogId, SharedLog, StoreError, log_id_key};

fn entry(req: u64) -> LogEntry {
    LogEntry {
        origin: 1,
        req,
        now: 1_000 + req,
        op: LogOp::Tick,
        key: None,
    }
}

async fn append(log: &impl SharedLog, reqs: &[u64]) {
    log.append(reqs.iter().map(|&r| entry(r)).collect())
        .await
        .expect("append");
}

async fn read_all(log: &impl SharedLog, after: &str) -> Result<Vec<(LogId, u64)>, StoreError> {
    let got = log.read_after(after, 1_000, Duration::ZERO).await?;
    Ok(got.into_iter().map(|(id, e)| (id, e.req)).collect())
}

/// Appended entries come back in order, after any position, `max` at most.
async fn reads_in_append_order(log: impl SharedLog) {
    append(&log, &[1, 2]).await;
    append(&log, &[3]).await;
    let all = read_all(&log, "0-0").await.unwrap();
    let reqs: Vec<u64> = all.iter().map(|(_, r)| *r).collect();
    assert_eq!(reqs, vec![1, 2, 3]);
    assert!(
        all.windows(2)
            .all(|w| log_id_key(&w[0].0) < log_id_key(&w[1].0)),
        "ids increase: {all:?}"
    );
    let after_first = read_all(&log, &all[0].0).await.unwrap();
    assert_eq!(
        after_first.iter().map(|(_, r)| *r).collect::<Vec<_>>(),
        vec![2, 3]
    );
    assert!(read_all(&log, &all[2].0).await.unwrap().is_empty());
    let one = log.read_after("0-0", 1, Duration::ZERO).await.unwrap();
    assert_eq!(one.len(), 1);
}

/// A blocking read returns as soon as something is appended, and returns
/// empty when the wait runs out.
async fn blocking_read_wakes_on_append(log: impl SharedLog) {
    let started = Instant::now();
    let empty = log
        .read_after("0-0", 10, Duration::from_millis(150))
        .await
        .unwrap();
    assert!(empty.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(100));
    let reader = log.clone();
    let read =
        tokio::spawn(async move { reader.read_after("0-0", 10, Duration::from_secs(20)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    append(&log, &[7]).await;
    let got = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("woke before the 20 s block ran out")
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1.req, 7);
}

/// Node ids are never given twice; an expired heartbeat is reported once,
/// never to the node itself; `min_applied` is the least live position.
async fn heartbeats(log: impl SharedLog) {
    let a = log.new_node().await.unwrap();
    let b = log.new_node().await.unwrap();
    let c = log.new_node().await.unwrap();
    assert!(a != b && b != c && a != c);
    log.beat(a, Duration::from_millis(200), "5-0")
        .await
        .unwrap();
    log.beat(b, Duration::from_secs(30), "9-0").await.unwrap();
    log.beat(c, Duration::from_secs(30), "7-3").await.unwrap();
    assert_eq!(log.min_applied().await.unwrap().as_deref(), Some("5-0"));
    assert!(log.dead_nodes(b).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(log.dead_nodes(b).await.unwrap(), vec![a]);
    assert!(log.dead_nodes(c).await.unwrap().is_empty(), "reported once");
    assert_eq!(log.min_applied().await.unwrap().as_deref(), Some("7-3"));
}

/// Only a later snapshot replaces the stored one; one claim per interval.
async fn snapshots(log: impl SharedLog) {
    assert!(log.snapshot().await.unwrap().is_none());
    log.put_snapshot("20-0", "b".into()).await.unwrap();
    log.put_snapshot("10-0", "a".into()).await.unwrap();
    assert_eq!(
        log.snapshot().await.unwrap(),
        Some(("20-0".to_string(), "b".to_string()))
    );
    log.put_snapshot("30-0", "c".into()).await.unwrap();
    assert_eq!(log.snapshot().await.unwrap().unwrap().1, "c");
    let every = Duration::from_millis(300);
    assert!(log.claim_snapshot(1, every).await.unwrap());
    assert!(!log.claim_snapshot(2, every).await.unwrap());
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(log.claim_snapshot(2, every).await.unwrap());
}

/// After a trim, reading from at or after its mark works, reading from
/// before it is `Trimmed` (never a silent gap), and a trim never moves back.
async fn trims_without_silent_gaps(log: impl SharedLog) {
    append(&log, &[1, 2, 3, 4, 5]).await;
    let ids: Vec<LogId> = read_all(&log, "0-0")
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    log.trim(&ids[2]).await.unwrap();
    let rest = read_all(&log, &ids[2]).await.unwrap();
    assert_eq!(rest.iter().map(|(_, r)| *r).collect::<Vec<_>>(), vec![4, 5]);
    for before in ["0-0", ids[0].as_str(), ids[1].as_str()] {
        match log.read_after(before, 10, Duration::ZERO).await {
            Err(StoreError::Trimmed(_)) => {}
            other => panic!("reading after {before} gave {other:?}"),
        }
    }
    log.trim(&ids[1]).await.unwrap();
    assert!(matches!(
        log.read_after(&ids[1], 10, Duration::ZERO).await,
        Err(StoreError::Trimmed(_))
    ));
    assert_eq!(read_all(&log, &ids[3]).await.unwrap().len(), 1);
    append(&log, &[6]).await;
    assert_eq!(read_all(&log, &ids[2]).await.unwrap().len(), 3);
}

/// Audit records come back oldest first, only those of entries up to the
/// position asked for; a batch appended twice is there once; the stream
/// keeps about `cap` records.
async fn audit_stream(log: impl SharedLog) {
    let rec = |s: &str| vec![format!("{s}1"), format!("{s}2")];
    log.append_audit("5-0", rec("a"), 1_000).await.unwrap();
    log.append_audit("5-0", rec("a"), 1_000).await.unwrap();
    log.append_audit("7-2", rec("b"), 1_000).await.unwrap();
    log.append_audit("9-0", rec("c"), 1_000).await.unwrap();
    assert_eq!(
        log.read_audit("9-0", 100).await.unwrap(),
        vec!["a1", "a2", "b1", "b2", "c1", "c2"]
    );
    assert_eq!(
        log.read_audit("7-2", 100).await.unwrap(),
        vec!["a1", "a2", "b1", "b2"]
    );
    assert_eq!(
        log.read_audit("9-0", 3).await.unwrap(),
        vec!["b2", "c1", "c2"]
    );
    assert!(log.read_audit("4-0", 100).await.unwrap().is_empty());
    for n in 10..400u64 {
        log.append_audit(&format!("{n}-0"), vec![format!("r{n}")], 100)
            .await
            .unwrap();
    }
    let kept = log.read_audit("999-0", 10_000).await.unwrap().len();
    assert!((100..=250).contains(&kept), "about the cap is kept: {kept}");
}

/// The first directory stored is the one every node gets.
async fn first_directory_wins(log: impl SharedLog) {
    assert_eq!(log.directory("one").await.unwrap(), "one");
    assert_eq!(log.directory("two").await.unwrap(), "one");
}

/// The event journal: ids from the entry's, a batch written twice (two
/// nodes, or a replay after a crash) added once, reads after a position in
/// order, and a cap that records what it dropped, so a reader behind it is
/// told instead of skipping events.
async fn event_journal(log: impl EventJournal) {
    let ev = |s: &str| vec![format!("{s}0"), format!("{s}1")];
    log.append_events(vec![("5-0".to_string(), ev("a"))], 1_000)
        .await
        .unwrap();
    // One call, two entries, the first already held.
    let both = vec![("5-0".to_string(), ev("a")), ("7-2".to_string(), ev("b"))];
    log.append_events(both, 1_000).await.unwrap();
    let all = log.read_events(EventId::ZERO, 100).await.unwrap();
    assert_eq!(all.floor, EventId::ZERO);
    let texts: Vec<&str> = all.events.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts, vec!["a0", "a1", "b0", "b1"]);
    assert_eq!(all.events[0].0, event_id("5-0", 0));
    assert_eq!(all.events[3].0, event_id("7-2", 1));
    let after = log.read_events(event_id("5-0", 1), 1).await.unwrap();
    assert_eq!(after.events, vec![(event_id("7-2", 0), "b0".to_string())]);
    assert!(!after.expired(event_id("5-0", 1)));
    for n in 10..400u64 {
        log.append_events(vec![(format!("{n}-0"), vec![format!("e{n}")])], 100)
            .await
            .unwrap();
    }
    let read = log.read_events(EventId::ZERO, 10_000).await.unwrap();
    assert!(
        (100..=250).contains(&read.events.len()),
        "about the cap is kept: {}",
        read.events.len()
    );
    assert!(
        read.expired(EventId::ZERO),
        "a reader from the start missed events"
    );
    assert!(read.floor < read.events[0].0);
    assert!(!read.expired(read.floor));
    // Dropped events are not added back by a late writer.
    log.append_events(vec![("5-0".to_string(), ev("a"))], 100)
        .await
        .unwrap();
    let again = log.read_events(EventId::ZERO, 10_000).await.unwrap();
    assert_eq!(again.events[0], read.events[0]);
}

/// Cursors move forward only; dead letters are kept per integration up to
/// a cap, listed by event id, and forgotten once redelivered.
async fn delivery_state(log: impl EventJournal) {
    assert_eq!(log.cursor("k").await.unwrap(), None);
    log.set_cursor("k", EventId(5, 1)).await.unwrap();
    log.set_cursor("k", EventId(4, 9)).await.unwrap();
    assert_eq!(log.cursor("k").await.unwrap(), Some(EventId(5, 1)));
    let letter = |id: u64, url: &str| DeadLetter {
        url: url.into(),
        id: EventId(id, 0),
        record: format!("{{\"id\":{id}}}"),
    };
    assert!(log.add_dead("crm", letter(9, "http://a"), 3).await.unwrap());
    assert!(log.add_dead("crm", letter(7, "http://a"), 3).await.unwrap());
    assert!(log.add_dead("crm", letter(7, "http://b"), 3).await.unwrap());
    assert!(!log.add_dead("crm", letter(8, "http://a"), 3).await.unwrap());
    assert!(
        log.add_dead("other", letter(1, "http://a"), 3)
            .await
            .unwrap()
    );
    let held = log.dead_letters("crm", 10).await.unwrap();
    let keys: Vec<(u64, &str)> = held.iter().map(|l| (l.id.0, l.url.as_str())).collect();
    assert_eq!(
        keys,
        vec![(7, "http://a"), (7, "http://b"), (9, "http://a")]
    );
    log.remove_dead("crm", vec![("http://a".into(), EventId(7, 0))])
        .await
        .unwrap();
    assert_eq!(log.dead_letters("crm", 10).await.unwrap().len(), 2);
    assert_eq!(log.dead_letters("other", 10).await.unwrap().len(), 1);
    assert!(
        log.claim_lease("webhooks", 1, Duration::from_secs(5))
            .await
            .unwrap()
    );
    assert!(
        log.claim_lease("webhooks", 1, Duration::from_secs(5))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn memory_log_keeps_the_contract() {
    reads_in_append_order(MemoryLog::default()).await;
    blocking_read_wakes_on_append(MemoryLog::default()).await;
    heartbeats(MemoryLog::default()).await;
    snapshots(MemoryLog::default()).await;
    trims_without_silent_gaps(MemoryLog::default()).await;
    first_directory_wins(MemoryLog::default()).await;
    audit_stream(MemoryLog::default()).await;
    event_journal(MemoryLog::default()).await;
    delivery_state(MemoryLog::default()).await;
    let log = MemoryLog::default();
    assert!(
        log.claim_lease("webhooks", 1, Duration::from_secs(5))
            .await
            .unwrap()
    );
    assert!(
        !log.claim_lease("webhooks", 2, Duration::from_secs(5))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn redis_log_keeps_the_contract() {
    let redis = TestRedis::start();
    let fresh = || async {
        let client = redis::Client::open(redis.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("FLUSHALL")
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
        RedisLog::connect(&redis.url()).await.unwrap()
    };
    reads_in_append_order(fresh().await).await;
    blocking_read_wakes_on_append(fresh().await).await;
    heartbeats(fresh().await).await;
    snapshots(fresh().await).await;
    trims_without_silent_gaps(fresh().await).await;
    first_directory_wins(fresh().await).await;
    audit_stream(fresh().await).await;
    event_journal(fresh().await).await;
    delivery_state(fresh().await).await;
    let log = fresh().await;
    assert!(
        log.claim_lease("webhooks", 1, Duration::from_secs(5))
            .await
            .unwrap()
    );
    assert!(
        !log.claim_lease("webhooks", 2, Duration::from_secs(5))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn embedded_log_keeps_the_contract() {
    let dirs: Vec<tempfile::TempDir> = (0..9).map(|_| tempfile::tempdir().unwrap()).collect();
    let open = |i: usize| SqliteLog::open(dirs[i].path()).unwrap();
    reads_in_append_order(open(0)).await;
    blocking_read_wakes_on_append(open(1)).await;
    heartbeats(open(2)).await;
    snapshots(open(3)).await;
    trims_without_silent_gaps(open(4)).await;
    first_directory_wins(open(5)).await;
    audit_stream(open(6)).await;
    event_journal(open(7)).await;
    delivery_state(open(8)).await;
}

/// What the embedded store acknowledged is there after it is closed and
/// opened again (the process restarted): entries, positions, the trim, the
/// snapshot, node ids, the audit, the directory and login tokens. While one
/// server has a data directory open, a second is refused.
#[tokio::test]
async fn embedded_log_keeps_everything_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<LogId> = {
        let log = SqliteLog::open(dir.path()).unwrap();
        match SqliteLog::open(dir.path()) {
            Err(StoreError::Unavailable(why)) => assert!(why.contains("another"), "{why}"),
            other => panic!("a second open of one data directory gave {other:?}"),
        }
        append(&log, &[1, 2, 3, 4]).await;
        let ids: Vec<LogId> = read_all(&log, "0-0")
            .await
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        log.put_snapshot(&ids[1], "state".into()).await.unwrap();
        log.trim(&ids[1]).await.unwrap();
        assert_eq!(log.new_node().await.unwrap(), 1);
        log.append_audit(&ids[2], vec!["r".into()], 100)
            .await
            .unwrap();
        log.directory("dir").await.unwrap();
        let tokens = log.tokens();
        tokens
            .put("digest-a", "alice", Duration::from_secs(3600))
            .await
            .unwrap();
        tokens
            .put("digest-b", "bob", Duration::from_secs(3600))
            .await
            .unwrap();
        tokens.remove_agent("bob").await.unwrap();
        ids
    };
    let log = SqliteLog::open(dir.path()).unwrap();
    assert_eq!(
        read_all(&log, &ids[1])
            .await
            .unwrap()
            .iter()
            .map(|(_, r)| *r)
            .collect::<Vec<_>>(),
        vec![3, 4]
    );
    assert!(matches!(
        log.read_after("0-0", 10, Duration::ZERO).await,
        Err(StoreError::Trimmed(_))
    ));
    assert_eq!(
        log.snapshot().await.unwrap(),
        Some((ids[1].clone(), "state".to_string()))
    );
    assert_eq!(
        log.new_node().await.unwrap(),
        2,
        "node ids are never reused"
    );
    assert_eq!(log.read_audit(&ids[3], 10).await.unwrap(), vec!["r"]);
    assert_eq!(log.directory("other").await.unwrap(), "dir");
    let tokens = log.tokens();
    let ttl = Duration::from_secs(3600);
    assert_eq!(
        tokens.take("digest-a", ttl).await.unwrap().as_deref(),
        Some("alice")
    );
    assert_eq!(tokens.take("digest-b", ttl).await.unwrap(), None);
    append(&log, &[5]).await;
    let last = read_all(&log, &ids[3]).await.unwrap();
    assert_eq!(last.len(), 1);
    assert!(
        log_id_key(&last[0].0) > log_id_key(&ids[3]),
        "ids keep growing"
    );
}
