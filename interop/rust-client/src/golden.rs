//! Checks the codec's golden vectors (transport/wire/testdata) against this crate's own serde +
//! bincode 1.3.3 encoding: every value described in the file is built here by
//! hand, serialized, compared byte for byte, and decoded back.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::wire::*;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn s(v: &str) -> String {
    v.to_string()
}

fn b(v: &str) -> Vec<u8> {
    v.as_bytes().to_vec()
}

/// Compares one value's encoding (and frame, when the file has one) with the
/// file, and decodes the file's bytes back to an equal value.
fn one<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    file: &HashMap<String, String>,
    name: &str,
    kind: Option<u8>,
    value: T,
    failed: &mut u32,
) {
    let enc = bincode::serialize(&value).expect("serialize");
    let mut fail = |msg: String| {
        println!("  FAIL {name}: {msg}");
        *failed += 1;
    };
    match file.get(&format!("{name}.bincode")) {
        None => return fail("missing from file".into()),
        Some(want) if *want != hex(&enc) => {
            return fail(format!("bincode differs\n       ours {}\n       file {want}", hex(&enc)))
        }
        Some(_) => {}
    }
    if let Some(want_len) = file.get(&format!("{name}.len")) {
        if *want_len != enc.len().to_string() {
            return fail(format!("len {} in file, ours {}", want_len, enc.len()));
        }
    }
    if let Some(k) = kind {
        let mut frame = vec![k];
        frame.extend(&enc);
        match file.get(&format!("{name}.frame")) {
            Some(want) if *want == hex(&frame) => {}
            other => return fail(format!("frame differs: file {other:?}, ours {}", hex(&frame))),
        }
    }
    let back: T = bincode::deserialize(&enc).expect("deserialize");
    if back != value {
        return fail(format!("round trip: {back:?}"));
    }
    println!("  ok   {name} ({} bytes)", enc.len());
}

/// Reads `path` and checks every vector; returns the process exit code.
pub fn check(path: &str) -> i32 {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("--golden {path}: {e}");
            return 2;
        }
    };
    let file: HashMap<String, String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    println!("golden vectors: {path}");
    let mut failed = 0;
    let f = &file;
    let n = &mut failed;

    one(f, "produce_request", Some(PRODUCE), ProduceRequest {
        topic: s("events"),
        partition_id: 1,
        records: vec![
            Record {
                key: Some(b("user-42")),
                value: b("hello"),
                headers: vec![
                    Header { key: s("content-type"), value: b("text/plain") },
                    Header { key: s("trace-id"), value: vec![1, 2, 3] },
                ],
                timestamp: 1700000000000,
            },
            Record { key: None, value: b("world"), headers: vec![], timestamp: 1700000000001 },
        ],
        acks: AcknowledgmentLevel::All,
        timeout_ms: 30000,
    }, n);
    one(f, "produce_response", Some(PRODUCE),
        ProduceResponse { offset: 42, error_code: 0, error_message: None }, n);
    one(f, "produce_response_error", Some(PRODUCE), ProduceResponse {
        offset: 0,
        error_code: 3,
        error_message: Some(s("Unknown topic or partition: nope/0")),
    }, n);
    one(f, "metadata_request", Some(METADATA),
        MetadataRequest { topics: vec![s("events"), s("orders")] }, n);
    one(f, "metadata_request_all", Some(METADATA), MetadataRequest { topics: vec![] }, n);
    one(f, "metadata_response", Some(METADATA), MetadataResponse {
        brokers: vec![BrokerInfo {
            id: s("peer-1"),
            host: s("127.0.0.1"),
            port_quic: 9092,
            port_rpc: 9093,
            rack_id: s("rack-a"),
        }],
        topics_metadata: vec![TopicMetadata {
            name: s("events"),
            partitions: vec![
                PartitionMetadata { partition_id: 0, leader: Some(s("peer-1")), replicas: vec![s("peer-1")] },
                PartitionMetadata { partition_id: 1, leader: None, replicas: vec![] },
            ],
        }],
    }, n);
    one(f, "fetch_request", Some(FETCH), FetchRequest {
        topic: s("events"),
        partition_id: 1,
        fetch_offset: 42,
        max_bytes: 1048576,
        timeout_ms: 5000,
    }, n);
    one(f, "fetch_response", Some(FETCH), FetchResponse {
        records: vec![
            Record {
                key: Some(b("k")),
                value: b("v1"),
                headers: vec![Header { key: s("h"), value: b("x") }],
                timestamp: 1700000000000,
            },
            Record { key: None, value: vec![], headers: vec![], timestamp: -1 },
        ],
        high_watermark: 44,
        error_code: 0,
        error_message: None,
    }, n);
    one(f, "acks_none", None, AcknowledgmentLevel::None, n);
    one(f, "acks_leader", None, AcknowledgmentLevel::Leader, n);
    one(f, "acks_majority", None, AcknowledgmentLevel::Majority, n);
    one(f, "acks_all", None, AcknowledgmentLevel::All, n);
    one(f, "acks_custom_3", None, AcknowledgmentLevel::Custom(3), n);

    let mut ef = vec![ERROR_FRAME];
    ef.extend(b"Error: Invalid request type: 9");
    if file.get("error_frame.frame").map(String::as_str) == Some(hex(&ef).as_str()) {
        println!("  ok   error_frame ({} bytes)", ef.len());
    } else {
        println!("  FAIL error_frame: file {:?}, ours {}", file.get("error_frame.frame"), hex(&ef));
        failed += 1;
    }

    println!("golden vectors: {} failed", failed);
    if failed == 0 {
        0
    } else {
        1
    }
}
