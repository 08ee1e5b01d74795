//! The RustMQ client messages, declared from docs/protocol.md's listing and nothing
//! else. serde derives their layout; bincode 1.3 with default options turns
//! them into bytes, exactly as the upstream broker does.

use serde::{Deserialize, Serialize};

/// Request type byte of Produce.
pub const PRODUCE: u8 = 1;
/// Request type byte of Fetch.
pub const FETCH: u8 = 2;
/// Request type byte of Metadata.
pub const METADATA: u8 = 3;
/// First byte of an error frame; UTF-8 text follows.
pub const ERROR_FRAME: u8 = 0xFF;

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
    /// Unix milliseconds.
    pub timestamp: i64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum AcknowledgmentLevel {
    None,
    Leader,
    Majority,
    All,
    Custom(u64),
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ProduceRequest {
    pub topic: String,
    pub partition_id: u32,
    pub records: Vec<Record>,
    pub acks: AcknowledgmentLevel,
    pub timeout_ms: u32,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ProduceResponse {
    /// Base offset of the batch.
    pub offset: u64,
    pub error_code: u32,
    pub error_message: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    pub topic: String,
    pub partition_id: u32,
    pub fetch_offset: u64,
    pub max_bytes: u32,
    pub timeout_ms: u32,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse {
    pub records: Vec<Record>,
    pub high_watermark: u64,
    pub error_code: u32,
    pub error_message: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct MetadataRequest {
    /// Empty means all topics.
    pub topics: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub id: String,
    pub host: String,
    pub port_quic: u16,
    pub port_rpc: u16,
    pub rack_id: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub partition_id: u32,
    /// Broker id of the leader.
    pub leader: Option<String>,
    pub replicas: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    pub partitions: Vec<PartitionMetadata>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponse {
    pub brokers: Vec<BrokerInfo>,
    pub topics_metadata: Vec<TopicMetadata>,
}
