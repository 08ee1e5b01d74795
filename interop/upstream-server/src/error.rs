//! The errors upstream's request path can raise, printed as upstream's
//! `RustMqError` prints them (`src/error.rs`, thiserror formats). The QUIC
//! server turns one into the text of a 0xFF frame: `Error: {error}`.

use std::fmt;

#[derive(Debug)]
pub enum BrokerError {
    /// `RustMqError::Serialization`: bincode could not decode the body.
    Serialization(Box<bincode::ErrorKind>),
    /// `RustMqError::PartitionNotFound`: the core has no such partition.
    /// Upstream formats the partition as `topic:partition`.
    PartitionNotFound(String),
    /// `RustMqError::NotLeader`.
    NotLeader(String),
    /// `RustMqError::InvalidOperation`.
    InvalidOperation(String),
    /// `RustMqError::Wal`: the WAL writer is gone (only at shutdown here).
    Wal(String),
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Serialization(e) => write!(f, "Serialization error: {e}"),
            Self::PartitionNotFound(p) => write!(f, "Partition not found: {p}"),
            Self::NotLeader(p) => write!(f, "Not leader for partition: {p}"),
            Self::InvalidOperation(s) => write!(f, "Invalid operation: {s}"),
            Self::Wal(s) => write!(f, "Wal error: {s}"),
        }
    }
}

impl From<Box<bincode::ErrorKind>> for BrokerError {
    fn from(e: Box<bincode::ErrorKind>) -> Self {
        Self::Serialization(e)
    }
}

pub type Result<T> = std::result::Result<T, BrokerError>;
