//! The scenario with upstream RustMQ's expectations (`--expect upstream`):
//! what a broker that behaves like upstream's QUIC server answers, per
//! docs/protocol.md, "Upstream RustMQ as it behaves". Run against
//! interop/upstream-server started fresh with `--topic events:2`.

use std::time::{Duration, Instant};

use crate::wire::*;
use crate::{call, exchange, Args, Checks};

/// Writes a frame, ignoring a refused write or FIN (upstream stops reading
/// after its single read), and reads whatever the broker answers.
async fn exchange_lenient(conn: &quinn::Connection, frame: &[u8]) -> Result<Vec<u8>, String> {
    let work = async {
        let (mut send, recv) = conn.open_bi().await.map_err(|e| format!("open stream: {e}"))?;
        let wrote = send.write_all(frame).await;
        if wrote.is_ok() {
            let _ = send.finish().await;
        }
        recv.read_to_end(1 << 20).await.map_err(|e| format!("read: {e}"))
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .map_err(|_| "no answer within 10 s".to_string())?
}

fn error_text(answer: &[u8]) -> Option<String> {
    match answer.split_first() {
        Some((&ERROR_FRAME, text)) => Some(String::from_utf8_lossy(text).into_owned()),
        _ => None,
    }
}

fn records(tag: &str, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            key: if i == 1 { None } else { Some(format!("{tag}-{i}").into_bytes()) },
            value: format!("{tag} value {i}").into_bytes(),
            headers: vec![Header { key: "h".into(), value: vec![i as u8, 0xFF] }],
            timestamp: 1_000 + i as i64,
        })
        .collect()
}

pub async fn scenario(conn: &quinn::Connection, args: &Args, c: &mut Checks) {
    let topic = args.topic.clone();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);

    println!("metadata: this broker, no topics");
    for topics in [vec![], vec![topic.clone()]] {
        match call::<_, MetadataResponse>(conn, METADATA, &MetadataRequest { topics: topics.clone() }).await {
            Err(e) => c.check(false, &format!("metadata {topics:?}: {e}")),
            Ok(md) => {
                c.eq("brokers listed", md.brokers.len(), 1);
                if let Some(b) = md.brokers.first() {
                    c.eq("broker port_quic", b.port_quic, args.addr.port());
                }
                c.eq(&format!("topics for {topics:?}"), md.topics_metadata.len(), 0);
            }
        }
    }

    let produce = |partition_id: u32, records: Vec<Record>| ProduceRequest {
        topic: topic.clone(),
        partition_id,
        records,
        acks: AcknowledgmentLevel::All,
        timeout_ms: 5000,
    };
    println!("produce 3 + 2 records to partition 0");
    let (first, second) = (records("a", 3), records("b", 2));
    for (batch, want) in [(&first, 0u64), (&second, 3)] {
        match call::<_, ProduceResponse>(conn, PRODUCE, &produce(0, batch.clone())).await {
            Err(e) => c.check(false, &format!("produce: {e}")),
            Ok(r) => {
                c.eq("error_code", r.error_code, 0);
                c.eq("offset (first record's)", r.offset, want);
            }
        }
    }

    println!("fetch from 0: records as sent, timestamps the broker's");
    let fetch = FetchRequest { topic: topic.clone(), partition_id: 0, fetch_offset: 0, max_bytes: 1 << 20, timeout_ms: 0 };
    match call::<_, FetchResponse>(conn, FETCH, &fetch).await {
        Err(e) => c.check(false, &format!("fetch: {e}")),
        Ok(r) => {
            c.eq("error_code", r.error_code, 0);
            c.eq("high_watermark", r.high_watermark, 5);
            c.eq("records", r.records.len(), 5);
            let sent: Vec<&Record> = first.iter().chain(second.iter()).collect();
            for (i, (g, w)) in r.records.iter().zip(sent).enumerate() {
                c.check(
                    g.key == w.key && g.value == w.value && g.headers == w.headers,
                    &format!("offset {i}: key, value and headers as sent"),
                );
                c.check(
                    (g.timestamp - now_ms).abs() < 300_000,
                    &format!("offset {i}: timestamp {} is the broker's clock, not the sent {}", g.timestamp, w.timestamp),
                );
            }
        }
    }

    println!("fetch at the high watermark with timeout_ms 3000: answered at once, no long poll");
    let t0 = Instant::now();
    match call::<_, FetchResponse>(conn, FETCH, &FetchRequest { fetch_offset: 5, timeout_ms: 3000, ..fetch.clone() }).await {
        Err(e) => c.check(false, &format!("fetch at end: {e}")),
        Ok(r) => {
            c.eq("records", r.records.len(), 0);
            c.check(t0.elapsed() < Duration::from_secs(2), &format!("answered in {:?}", t0.elapsed()));
        }
    }

    println!("fetch of an unknown topic: empty, high watermark 0, code 0");
    match call::<_, FetchResponse>(conn, FETCH, &FetchRequest { topic: "no-such-topic".into(), ..fetch.clone() }).await {
        Err(e) => c.check(false, &format!("fetch unknown: {e}")),
        Ok(r) => {
            c.eq("error_code", r.error_code, 0);
            c.eq("high_watermark", r.high_watermark, 0);
            c.eq("records", r.records.len(), 0);
        }
    }

    println!("produce failures come back as 0xFF text");
    let unknown_topic = ProduceRequest { topic: "no-such-topic".into(), ..produce(0, records("x", 1)) };
    let mut body = vec![PRODUCE];
    body.extend(bincode::serialize(&unknown_topic).unwrap());
    match exchange(conn, &body).await {
        Err(e) => c.check(false, &format!("produce unknown topic: {e}")),
        Ok(a) => c.eq("unknown topic", error_text(&a), Some("Error: Partition not found: no-such-topic:0".into())),
    }
    let mut body = vec![PRODUCE];
    body.extend(bincode::serialize(&produce(9999, records("x", 1))).unwrap());
    match exchange(conn, &body).await {
        Err(e) => c.check(false, &format!("produce unknown partition: {e}")),
        Ok(a) => c.eq("unknown partition", error_text(&a), Some(format!("Error: Partition not found: {topic}:9999"))),
    }
    match exchange(conn, &[PRODUCE, 6, 0, 0]).await {
        Err(e) => c.check(false, &format!("truncated produce: {e}")),
        Ok(a) => c.eq("truncated body", error_text(&a), Some("Error: Serialization error: io error: unexpected end of file".into())),
    }

    println!("a request past one 8 KiB read is cut and fails to decode; nothing is stored");
    let big = Record { key: Some(b"big".to_vec()), value: vec![7; 100 * 1024], headers: vec![], timestamp: 0 };
    let mut body = vec![PRODUCE];
    body.extend(bincode::serialize(&produce(1, vec![big])).unwrap());
    match exchange_lenient(conn, &body).await {
        Err(e) => c.check(false, &format!("100 KiB produce: {e}")),
        Ok(a) => {
            let t = error_text(&a).unwrap_or_default();
            c.check(t.starts_with("Error: Serialization error: io error:"), &format!("100 KiB produce -> {t:?}"));
        }
    }
    match call::<_, FetchResponse>(conn, FETCH, &FetchRequest { partition_id: 1, ..fetch.clone() }).await {
        Err(e) => c.check(false, &format!("fetch partition 1: {e}")),
        Ok(r) => c.eq("partition 1 high_watermark", r.high_watermark, 0),
    }

    println!("lenient decoding: a trailing byte is ignored");
    match exchange(conn, &[METADATA, 0, 0, 0, 0, 0, 0, 0, 0, 0x2A]).await {
        Err(e) => c.check(false, &format!("metadata + trailing byte: {e}")),
        Ok(a) => c.check(a.first() == Some(&METADATA), &format!("metadata + trailing byte answered {:02x?}", a.first())),
    }

    println!("unknown request types and an empty request: no answer (FIN with no data)");
    for (what, frame) in [
        ("type 0x63", vec![0x63u8, 1, 2, 3]),
        ("Authenticate (32)", vec![32u8, 5, 0, 0, 0, 0, 0, 0, 0, b'P', b'L', b'A', b'I', b'N', 0, 0, 0, 0, 0, 0, 0, 0]),
        ("Capabilities (33)", vec![33u8, 1, 0, 0, 0]),
        ("empty request", vec![]),
    ] {
        match exchange(conn, &frame).await {
            Err(e) => c.check(false, &format!("{what}: {e}")),
            Ok(a) => c.eq(&format!("{what}: answer bytes"), a.len(), 0),
        }
    }

    println!("connection still usable");
    match call::<_, MetadataResponse>(conn, METADATA, &MetadataRequest { topics: vec![] }).await {
        Err(e) => c.check(false, &format!("metadata: {e}")),
        Ok(_) => c.check(true, "metadata answered"),
    }
}
