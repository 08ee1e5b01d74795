//! An independent RustMQ client, written from docs/protocol.md alone, on the stack the
//! upstream broker uses: serde + bincode 1.3 (default options) for the bodies,
//! quinn + rustls for QUIC/TLS 1.3.
//!
//! It runs a fixed scenario against a broker and checks every answer; any
//! mismatch prints `FAIL ...` and the process exits non-zero.
//!
//! Exit codes: 0 all checks passed, 1 a check failed, 2 bad usage or local
//! setup, 3 the handshake was refused (by either side), 4 the connection timed out.

mod golden;
mod upstream;
mod wire;

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use wire::*;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_RESPONSE: usize = 16 << 20;

/// Command-line settings.
pub(crate) struct Args {
    addr: SocketAddr,
    ca: String,
    alpn: Option<Vec<u8>>,
    topic: String,
    server_name: String,
    /// Only connect and report the handshake result.
    handshake_only: bool,
    /// Check the golden vectors in this file and exit.
    golden: Option<String>,
    /// Expect upstream RustMQ's behaviour instead of the development
    /// broker's (`--expect upstream`).
    expect_upstream: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: rustmq-interop-client --addr HOST:PORT --ca CA.pem [--alpn rustmq|none] \
         [--topic NAME] [--server-name NAME] [--handshake-only] [--expect dev|upstream]\n       \
         rustmq-interop-client --golden wire-golden.txt"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut addr = None;
    let mut ca = None;
    let mut alpn = Some(b"rustmq".to_vec());
    let mut topic = "events".to_string();
    let mut server_name = "localhost".to_string();
    let mut handshake_only = false;
    let mut golden = None;
    let mut expect_upstream = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--addr" => {
                let v = val();
                addr = Some(v.parse().unwrap_or_else(|e| {
                    eprintln!("--addr {v:?}: {e}");
                    std::process::exit(2)
                }))
            }
            "--ca" => ca = Some(val()),
            "--alpn" => {
                alpn = match val().as_str() {
                    "none" => None,
                    p => Some(p.as_bytes().to_vec()),
                }
            }
            "--topic" => topic = val(),
            "--server-name" => server_name = val(),
            "--handshake-only" => handshake_only = true,
            "--golden" => golden = Some(val()),
            "--expect" => {
                expect_upstream = match val().as_str() {
                    "upstream" => true,
                    "dev" => false,
                    _ => usage(),
                }
            }
            _ => usage(),
        }
    }
    if golden.is_some() {
        return Args {
            addr: "127.0.0.1:0".parse().unwrap(),
            ca: String::new(),
            alpn,
            topic,
            server_name,
            handshake_only,
            golden,
            expect_upstream,
        };
    }
    Args {
        addr: addr.unwrap_or_else(|| usage()),
        ca: ca.unwrap_or_else(|| usage()),
        alpn,
        topic,
        server_name,
        handshake_only,
        golden,
        expect_upstream,
    }
}

/// Counts checks and failures, printing one transcript line per check.
#[derive(Default)]
pub(crate) struct Checks {
    passed: u32,
    failed: u32,
}

impl Checks {
    pub(crate) fn check(&mut self, ok: bool, what: &str) {
        if ok {
            self.passed += 1;
            println!("  ok   {what}");
        } else {
            self.failed += 1;
            println!("  FAIL {what}");
        }
    }

    pub(crate) fn eq<T: PartialEq + Debug>(&mut self, what: &str, got: T, want: T) {
        if got == want {
            self.check(true, &format!("{what} = {got:?}"));
        } else {
            self.check(false, &format!("{what}: got {got:?}, want {want:?}"));
        }
    }
}

/// One raw exchange: writes `[kind][body]`, finishes the send side and reads
/// the answer to its end.
pub(crate) async fn exchange(conn: &quinn::Connection, frame: &[u8]) -> Result<Vec<u8>, String> {
    let work = async {
        let (mut send, recv) = conn.open_bi().await.map_err(|e| format!("open stream: {e}"))?;
        send.write_all(frame).await.map_err(|e| format!("write: {e}"))?;
        send.finish().await.map_err(|e| format!("finish: {e}"))?;
        recv.read_to_end(MAX_RESPONSE).await.map_err(|e| format!("read: {e}"))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, work)
        .await
        .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
}

/// A typed request: frames it, sends it and decodes the answer, checking the
/// type byte and that the body holds exactly one value (no trailing bytes).
pub(crate) async fn call<Req: Serialize, Resp: DeserializeOwned + Serialize>(
    conn: &quinn::Connection,
    kind: u8,
    req: &Req,
) -> Result<Resp, String> {
    let mut frame = vec![kind];
    frame.extend(bincode::serialize(req).map_err(|e| format!("encode: {e}"))?);
    let answer = exchange(conn, &frame).await?;
    let (&got_kind, body) = answer.split_first().ok_or("empty answer")?;
    if got_kind == ERROR_FRAME {
        return Err(format!("error frame: {:?}", String::from_utf8_lossy(body)));
    }
    if got_kind != kind {
        return Err(format!("answer type {got_kind}, want {kind}"));
    }
    let resp: Resp = bincode::deserialize(body).map_err(|e| format!("decode: {e}"))?;
    let used = bincode::serialized_size(&resp).map_err(|e| format!("size: {e}"))? as usize;
    if used != body.len() {
        return Err(format!("body is {} bytes, one value uses {used}", body.len()));
    }
    Ok(resp)
}

fn load_roots(path: &str) -> Result<rustls::RootCertStore, String> {
    let pem = std::fs::read(path).map_err(|e| format!("--ca {path}: {e}"))?;
    let certs = rustls_pemfile::certs(&mut &pem[..]).map_err(|e| format!("--ca {path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("--ca {path}: no PEM certificate"));
    }
    let mut roots = rustls::RootCertStore::empty();
    for der in certs {
        roots
            .add(&rustls::Certificate(der))
            .map_err(|e| format!("--ca {path}: {e}"))?;
    }
    Ok(roots)
}

/// Dials the broker; on failure returns the exit code that classifies it.
async fn connect(args: &Args) -> Result<(quinn::Endpoint, quinn::Connection), i32> {
    let roots = load_roots(&args.ca).map_err(|e| {
        eprintln!("{e}");
        2
    })?;
    let mut tls = rustls::ClientConfig::builder()
        .with_safe_default_cipher_suites()
        .with_safe_default_kx_groups()
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| {
            eprintln!("tls config: {e}");
            2
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = args.alpn.iter().cloned().collect();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).map_err(|e| {
        eprintln!("client endpoint: {e}");
        2
    })?;
    let cfg = quinn::ClientConfig::new(Arc::new(tls));
    let connecting = endpoint
        .connect_with(cfg, args.addr, &args.server_name)
        .map_err(|e| {
            eprintln!("connect: {e}");
            2
        })?;
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Err(_) => {
            println!("handshake: timed out after {CONNECT_TIMEOUT:?}");
            Err(4)
        }
        Ok(Err(quinn::ConnectionError::TimedOut)) => {
            println!("handshake: timed out");
            Err(4)
        }
        Ok(Err(e)) => {
            println!("handshake: refused: {e}");
            Err(3)
        }
        Ok(Ok(conn)) => Ok((endpoint, conn)),
    }
}

fn negotiated_alpn(conn: &quinn::Connection) -> Option<Vec<u8>> {
    conn.handshake_data()
        .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|d| d.protocol)
}

fn show_alpn(p: &Option<Vec<u8>>) -> String {
    match p {
        Some(p) => format!("{:?}", String::from_utf8_lossy(p)),
        None => "none".into(),
    }
}

fn batch(tag: &str, n: usize, ts0: i64) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            key: if i % 3 == 2 { None } else { Some(format!("{tag}-key-{i}").into_bytes()) },
            value: format!("{tag} value {i} \u{2603}").into_bytes(),
            headers: vec![
                Header { key: "content-type".into(), value: b"text/plain".to_vec() },
                Header { key: "seq".into(), value: vec![0, 1, 0xFF, i as u8] },
            ],
            timestamp: ts0 + i as i64,
        })
        .collect()
}

async fn scenario(conn: &quinn::Connection, args: &Args, c: &mut Checks) {
    let topic = args.topic.clone();

    println!("metadata (all topics)");
    match call::<_, MetadataResponse>(conn, METADATA, &MetadataRequest { topics: vec![] }).await {
        Err(e) => c.check(false, &format!("metadata: {e}")),
        Ok(md) => {
            for b in &md.brokers {
                println!(
                    "       broker id={:?} host={:?} port_quic={} port_rpc={} rack={:?}",
                    b.id, b.host, b.port_quic, b.port_rpc, b.rack_id
                );
            }
            c.check(!md.brokers.is_empty(), "at least one broker");
            c.check(
                md.brokers.iter().any(|b| b.port_quic == args.addr.port()),
                &format!("a broker advertises port_quic {}", args.addr.port()),
            );
            let names: Vec<&str> = md.topics_metadata.iter().map(|t| t.name.as_str()).collect();
            println!("       topics {names:?}");
            match md.topics_metadata.iter().find(|t| t.name == topic) {
                None => c.check(false, &format!("topic {topic:?} listed")),
                Some(t) => {
                    c.check(true, &format!("topic {topic:?} listed, {} partitions", t.partitions.len()));
                    for p in &t.partitions {
                        println!(
                            "       partition {} leader={:?} replicas={:?}",
                            p.partition_id, p.leader, p.replicas
                        );
                    }
                    match t.partitions.iter().find(|p| p.partition_id == 0) {
                        None => c.check(false, "partition 0 listed"),
                        Some(p) => {
                            let known = p
                                .leader
                                .as_ref()
                                .map(|l| md.brokers.iter().any(|b| &b.id == l))
                                .unwrap_or(false);
                            c.check(known, "partition 0 leader is a listed broker id");
                        }
                    }
                }
            }
        }
    }

    println!("metadata (named topic)");
    match call::<_, MetadataResponse>(conn, METADATA, &MetadataRequest { topics: vec![topic.clone()] }).await {
        Err(e) => c.check(false, &format!("metadata {topic}: {e}")),
        Ok(md) => {
            let names: Vec<&str> = md.topics_metadata.iter().map(|t| t.name.as_str()).collect();
            c.eq("topics", names, vec![topic.as_str()]);
        }
    }

    let first = batch("a", 3, 1_700_000_000_000);
    let mut second = batch("b", 2, 1_700_000_001_000);
    // Edge cases: an empty key (distinct from no key), an empty value,
    // timestamp 0, a non-ASCII header key with an empty value.
    second[1] = Record {
        key: Some(vec![]),
        value: vec![],
        headers: vec![Header { key: "schlüssel-\u{2603}".into(), value: vec![] }],
        timestamp: 0,
    };
    let produce = |records: Vec<Record>| ProduceRequest {
        topic: topic.clone(),
        partition_id: 0,
        records,
        acks: AcknowledgmentLevel::All,
        timeout_ms: 5000,
    };

    println!("produce 3 records, acks All");
    let mut base1 = None;
    match call::<_, ProduceResponse>(conn, PRODUCE, &produce(first.clone())).await {
        Err(e) => c.check(false, &format!("produce: {e}")),
        Ok(r) => {
            c.eq("error_code", r.error_code, 0);
            c.eq("error_message", r.error_message, None);
            c.eq("base offset (fresh partition)", r.offset, 0);
            base1 = Some(r.offset);
        }
    }

    println!("produce 2 more records, acks All");
    let mut base2 = None;
    match call::<_, ProduceResponse>(conn, PRODUCE, &produce(second.clone())).await {
        Err(e) => c.check(false, &format!("produce: {e}")),
        Ok(r) => {
            c.eq("error_code", r.error_code, 0);
            if let Some(b1) = base1 {
                c.eq("base offset", r.offset, b1 + first.len() as u64);
            }
            base2 = Some(r.offset);
        }
    }

    println!("fetch from 0");
    let fetch = FetchRequest {
        topic: topic.clone(),
        partition_id: 0,
        fetch_offset: 0,
        max_bytes: 1 << 20,
        timeout_ms: 1000,
    };
    match call::<_, FetchResponse>(conn, FETCH, &fetch).await {
        Err(e) => c.check(false, &format!("fetch: {e}")),
        Ok(r) => {
            c.eq("error_code", r.error_code, 0);
            c.eq("error_message", r.error_message.clone(), None);
            if let (Some(b1), Some(b2)) = (base1, base2) {
                c.eq("high_watermark", r.high_watermark, b2 + second.len() as u64);
                let mut want: Vec<Record> = Vec::new();
                want.extend(first.iter().cloned());
                want.extend(second.iter().cloned());
                let got = r.records.get(b1 as usize..).unwrap_or(&[]);
                c.eq("records returned", got.len(), want.len());
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    c.check(
                        g == w,
                        &format!(
                            "offset {} intact (key {:?}, {} value bytes, {} headers, ts {})",
                            b1 as usize + i,
                            g.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned()),
                            g.value.len(),
                            g.headers.len(),
                            g.timestamp
                        ),
                    );
                    if g != w {
                        println!("       got  {g:?}\n       want {w:?}");
                    }
                }
            }
        }
    }

    println!("fetch at the high watermark (long poll, 200 ms)");
    if let Some(b2) = base2 {
        let at_end = FetchRequest { fetch_offset: b2 + second.len() as u64, timeout_ms: 200, ..fetch.clone() };
        match call::<_, FetchResponse>(conn, FETCH, &at_end).await {
            Err(e) => c.check(false, &format!("fetch at end: {e}")),
            Ok(r) => {
                c.eq("error_code", r.error_code, 0);
                c.eq("records", r.records.len(), 0);
            }
        }
    }

    println!("large request: one 100 KiB record on partition 1 (over upstream's 8 KiB read)");
    let big = Record {
        key: Some(b"big".to_vec()),
        value: (0..100 * 1024).map(|i| (i % 251) as u8).collect(),
        headers: vec![],
        timestamp: 1_700_000_002_000,
    };
    let big_req = ProduceRequest { partition_id: 1, ..produce(vec![big.clone()]) };
    match call::<_, ProduceResponse>(conn, PRODUCE, &big_req).await {
        Err(e) => c.check(false, &format!("produce big: {e}")),
        Ok(r) => {
            c.eq("error_code", r.error_code, 0);
            let f = FetchRequest { partition_id: 1, fetch_offset: r.offset, ..fetch.clone() };
            match call::<_, FetchResponse>(conn, FETCH, &f).await {
                Err(e) => c.check(false, &format!("fetch big: {e}")),
                Ok(fr) => c.check(
                    fr.records.first() == Some(&big),
                    &format!("100 KiB record read back intact ({} records)", fr.records.len()),
                ),
            }
        }
    }

    println!("timestamp -1 (Kafka's \"no timestamp\"; the protocol sets no range) on partition 1 (informational)");
    let no_ts = Record { key: None, value: b"no-ts".to_vec(), headers: vec![], timestamp: -1 };
    let no_ts_req = ProduceRequest { partition_id: 1, ..produce(vec![no_ts.clone()]) };
    match call::<_, ProduceResponse>(conn, PRODUCE, &no_ts_req).await {
        Err(e) => c.check(false, &format!("produce timestamp -1: {e}")),
        Ok(r) if r.error_code == 0 => {
            let f = FetchRequest { partition_id: 1, fetch_offset: r.offset, ..fetch.clone() };
            match call::<_, FetchResponse>(conn, FETCH, &f).await {
                Err(e) => c.check(false, &format!("fetch timestamp -1: {e}")),
                Ok(fr) => c.check(fr.records.first() == Some(&no_ts), "timestamp -1 record read back intact"),
            }
        }
        Ok(r) => println!(
            "       note: refused with error_code {} {:?} (not in the protocol reference)",
            r.error_code, r.error_message
        ),
    }

    println!("32 concurrent metadata requests, one stream each");
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let conn = conn.clone();
        let t = topic.clone();
        set.spawn(async move {
            call::<_, MetadataResponse>(&conn, METADATA, &MetadataRequest { topics: vec![t] }).await
        });
    }
    let mut ok = 0;
    while let Some(res) = set.join_next().await {
        match res {
            Ok(Ok(md)) if md.topics_metadata.len() == 1 => ok += 1,
            Ok(Ok(md)) => println!("       unexpected {md:?}"),
            Ok(Err(e)) => println!("       {e}"),
            Err(e) => println!("       task: {e}"),
        }
    }
    c.eq("concurrent answers", ok, 32);

    println!("fetch past the end (informational)");
    let past = FetchRequest { fetch_offset: 1000, timeout_ms: 100, ..fetch.clone() };
    match call::<_, FetchResponse>(conn, FETCH, &past).await {
        Err(e) => println!("       answer: {e}"),
        Ok(r) => println!(
            "       records={} high_watermark={} error_code={} error_message={:?}",
            r.records.len(),
            r.high_watermark,
            r.error_code,
            r.error_message
        ),
    }

    println!("errors: unknown topic / partition");
    let unknown = ProduceRequest { topic: "no-such-topic".into(), ..produce(batch("x", 1, 1)) };
    match call::<_, ProduceResponse>(conn, PRODUCE, &unknown).await {
        Err(e) => c.check(false, &format!("produce unknown topic: {e}")),
        Ok(r) => {
            c.eq("produce unknown topic error_code", r.error_code, 3);
            c.check(
                r.error_message.as_deref().map_or(false, |m| !m.is_empty()),
                &format!("produce unknown topic error_message {:?}", r.error_message),
            );
        }
    }
    let bad_part = ProduceRequest { partition_id: 9999, ..produce(batch("x", 1, 1)) };
    match call::<_, ProduceResponse>(conn, PRODUCE, &bad_part).await {
        Err(e) => c.check(false, &format!("produce unknown partition: {e}")),
        Ok(r) => {
            c.eq("produce unknown partition error_code", r.error_code, 3);
            c.check(
                r.error_message.is_some(),
                &format!("produce unknown partition error_message {:?}", r.error_message),
            );
        }
    }
    let fetch_unknown = FetchRequest { topic: "no-such-topic".into(), ..fetch.clone() };
    match call::<_, FetchResponse>(conn, FETCH, &fetch_unknown).await {
        Err(e) => c.check(false, &format!("fetch unknown topic: {e}")),
        Ok(r) => {
            c.eq("fetch unknown topic error_code", r.error_code, 3);
            c.check(
                r.error_message.is_some(),
                &format!("fetch unknown topic error_message {:?}", r.error_message),
            );
        }
    }

    println!("errors: error frames");
    for (what, frame) in [
        ("unknown request type 0x63", vec![0x63u8, 1, 2, 3]),
        ("consumer-group type 4", vec![4u8]),
        ("empty request", vec![]),
        ("metadata with a trailing byte", vec![METADATA, 0, 0, 0, 0, 0, 0, 0, 0, 0x2A]),
        ("truncated produce body", vec![PRODUCE, 6, 0, 0]),
    ] {
        match exchange(conn, &frame).await {
            Err(e) => c.check(false, &format!("{what}: {e}")),
            Ok(answer) => match answer.split_first() {
                Some((&ERROR_FRAME, text)) => match std::str::from_utf8(text) {
                    Ok(t) => c.check(!t.is_empty(), &format!("{what} -> 0xFF {t:?}")),
                    Err(e) => c.check(false, &format!("{what} -> 0xFF with non-UTF-8 text: {e}")),
                },
                _ => c.check(false, &format!("{what}: answer {answer:02x?}, want 0xFF frame")),
            },
        }
    }

    println!("connection still usable after error frames");
    match call::<_, MetadataResponse>(conn, METADATA, &MetadataRequest { topics: vec![] }).await {
        Err(e) => c.check(false, &format!("metadata: {e}")),
        Ok(_) => c.check(true, "metadata answered"),
    }
}

async fn run(args: Args) -> i32 {
    if let Some(path) = &args.golden {
        return golden::check(path);
    }
    println!(
        "client: rust serde+bincode 1.3.3, quinn 0.9, rustls 0.20; dial {} as {:?}, ALPN {}",
        args.addr,
        args.server_name,
        show_alpn(&args.alpn)
    );
    let (endpoint, conn) = match connect(&args).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let negotiated = negotiated_alpn(&conn);
    println!("handshake: ok, negotiated ALPN {}", show_alpn(&negotiated));
    if args.handshake_only {
        conn.close(0u32.into(), b"bye");
        let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
        return 0;
    }
    let mut c = Checks::default();
    c.eq("negotiated ALPN", show_alpn(&negotiated), show_alpn(&args.alpn));
    if args.expect_upstream {
        upstream::scenario(&conn, &args, &mut c).await;
    } else {
        scenario(&conn, &args, &mut c).await;
    }
    conn.close(0u32.into(), b"done");
    let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    println!("client: {} checks passed, {} failed", c.passed, c.failed);
    if c.failed == 0 {
        0
    } else {
        1
    }
}

fn main() {
    let args = parse_args();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(run(args));
    std::process::exit(code);
}
