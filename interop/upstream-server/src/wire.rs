//! The client messages as upstream RustMQ declares them for its QUIC server,
//! field for field. Upstream keeps keys and values in `bytes::Bytes` and
//! headers in a `SmallVec`; serde writes both exactly like `Vec`, so plain
//! vectors give the same bincode bytes.

use serde::{Deserialize, Serialize};

/// The request type byte (upstream's `RequestType`, `src/types.rs`). Every
/// other value is refused before the body is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    Produce = 1,
    Fetch = 2,
    Metadata = 3,
    FindCoordinator = 4,
    JoinGroup = 5,
    ConsumerHeartbeat = 6,
    CommitOffset = 7,
    FetchOffset = 8,
    LeaveGroup = 9,
}

impl RequestType {
    /// Upstream's `TryFrom<u8>`: an unknown value is an error, and the
    /// caller's `?` then abandons the stream without an answer.
    pub fn from_byte(b: u8) -> Result<Self, crate::error::BrokerError> {
        Ok(match b {
            1 => Self::Produce,
            2 => Self::Fetch,
            3 => Self::Metadata,
            4 => Self::FindCoordinator,
            5 => Self::JoinGroup,
            6 => Self::ConsumerHeartbeat,
            7 => Self::CommitOffset,
            8 => Self::FetchOffset,
            9 => Self::LeaveGroup,
            _ => {
                return Err(crate::error::BrokerError::InvalidOperation(format!(
                    "Invalid request type: {b}"
                )))
            }
        })
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Vec<u8>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<Header>,
    pub timestamp: i64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum AcknowledgmentLevel {
    None,
    Leader,
    Majority,
    All,
    /// `Custom(usize)` upstream: eight bytes on the 64-bit targets it runs on.
    Custom(u64),
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ProduceRequest {
    pub topic: String,
    pub partition_id: u32,
    pub records: Vec<Record>,
    pub acks: AcknowledgmentLevel,
    pub timeout_ms: u32,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ProduceResponse {
    pub offset: u64,
    pub error_code: u32,
    pub error_message: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct FetchRequest {
    pub topic: String,
    pub partition_id: u32,
    pub fetch_offset: u64,
    pub max_bytes: u32,
    pub timeout_ms: u32,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct FetchResponse {
    pub records: Vec<Record>,
    pub high_watermark: u64,
    pub error_code: u32,
    pub error_message: Option<String>,
}

/// The QUIC server's own `MetadataRequest` (`src/network/quic_server.rs`),
/// not the richer one of `src/types.rs`, which the server never decodes.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct MetadataRequest {
    pub topics: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct BrokerInfo {
    pub id: String,
    pub host: String,
    pub port_quic: u16,
    pub port_rpc: u16,
    pub rack_id: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct PartitionMetadata {
    pub partition_id: u32,
    pub leader: Option<String>,
    pub replicas: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct TopicMetadata {
    pub name: String,
    pub partitions: Vec<PartitionMetadata>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct MetadataResponse {
    pub brokers: Vec<BrokerInfo>,
    pub topics_metadata: Vec<TopicMetadata>,
}

/// A stored record with its place, as upstream's WAL and partition index
/// hold it (`WalRecord` in `src/types.rs`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct WalRecord {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    pub record: Record,
    pub crc32: u32,
}
