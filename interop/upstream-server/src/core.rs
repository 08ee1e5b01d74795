//! The broker core behind the QUIC server, as upstream arranges it:
//!
//! - a partition table (`MessageBrokerCore::partitions`, `src/broker/core.rs`)
//!   holding each partition's high watermark behind an async RwLock;
//! - a partition index (`PartitionIndex`, `src/storage/partition_index.rs`):
//!   per partition, an ordered map offset -> record (the "hot" tier Fetch
//!   reads), where inserting at an offset already taken replaces the record;
//! - a WAL writer thread that every append hands its record to and waits on
//!   (`SegmentedWal::append`, `src/storage/wal/segmented.rs`: an mpsc
//!   command and a oneshot answer).
//!
//! Appending one record follows `MessageBrokerCore::append_records`: read the
//! partition's high watermark (read lock, released), take it as the record's
//! offset, append through the store (index, then WAL), with acks Majority,
//! All or Custom append it once more (the replication manager's
//! `append_to_local_wal`, same offset), and only then write high watermark =
//! offset + 1. Two requests for one partition processed at the same time can
//! therefore read the same high watermark and store at the same offset, the
//! later insert replacing the earlier record; both are acknowledged.
//!
//! Not upstream: the WAL thread encodes each record (the cost of the write)
//! and keeps nothing, so there is no recovery, tiering, object storage or
//! memory bound; `dump` and the counters exist for checking only.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock as SyncRwLock};

use tokio::sync::{mpsc, oneshot, RwLock};

use crate::error::{BrokerError, Result};
use crate::wire::{AcknowledgmentLevel, Header, Record, WalRecord};

/// Upstream's `size_of::<WalRecord>()` on x86-64 (TopicPartition 32,
/// offset 8, Record 304 with `Bytes` 32 and `SmallVec<[Header; 4]>` 232,
/// crc32 4, padded to 352). Fetch counts each record as this plus its key,
/// value and header bytes against `max_bytes` (`mem_size` in
/// `src/storage/partition_store.rs`).
const WAL_RECORD_STRUCT_SIZE: usize = 352;

type TopicPartition = (String, u32);

#[derive(Debug, Clone)]
struct PartitionMeta {
    high_watermark: u64,
    is_leader: bool,
}

#[derive(Default)]
struct PartitionEntries {
    hot: BTreeMap<u64, Arc<WalRecord>>,
    next_offset: u64,
}

type WalCommand = (WalRecord, oneshot::Sender<()>);

/// Check-only counters (upstream keeps none of these).
#[derive(Default)]
pub struct Counters {
    pub appends: AtomicU64,
    /// Inserts that replaced a different record at an offset already taken.
    pub replaced: AtomicU64,
}

pub struct Core {
    partitions: RwLock<HashMap<TopicPartition, PartitionMeta>>,
    index: SyncRwLock<HashMap<TopicPartition, PartitionEntries>>,
    wal: mpsc::Sender<WalCommand>,
    pub counters: Counters,
}

impl Core {
    /// A core with the WAL writer thread started.
    pub fn new() -> Arc<Self> {
        let (tx, mut rx) = mpsc::channel::<WalCommand>(1024);
        std::thread::Builder::new()
            .name("wal-writer".into())
            .spawn(move || {
                let mut written: u64 = 0;
                while let Some((rec, done)) = rx.blocking_recv() {
                    written += bincode::serialized_size(&rec).unwrap_or(0);
                    let _ = done.send(());
                }
                let _ = written;
            })
            .expect("spawning the WAL writer thread");
        Arc::new(Self {
            partitions: RwLock::new(HashMap::new()),
            index: SyncRwLock::new(HashMap::new()),
            wal: tx,
            counters: Counters::default(),
        })
    }

    /// `MessageBrokerCore::add_partition`: this broker leads the partition,
    /// high watermark 0. Upstream's running broker never calls it (only its
    /// tests do); `--topic` stands in for whatever assignment would.
    pub async fn add_partition(&self, topic: &str, partition: u32) {
        let tp = (topic.to_string(), partition);
        let recovered = self.next_offset(&tp);
        self.partitions
            .write()
            .await
            .insert(tp, PartitionMeta { high_watermark: recovered, is_leader: true });
    }

    fn next_offset(&self, tp: &TopicPartition) -> u64 {
        self.index.read().unwrap().get(tp).map(|e| e.next_offset).unwrap_or(0)
    }

    /// `MessageProducer::send` for one record: the broker stamps its own
    /// clock as the timestamp, whatever the client sent.
    pub async fn send(
        &self,
        topic: &str,
        partition: u32,
        key: Option<Vec<u8>>,
        value: Vec<u8>,
        headers: Vec<Header>,
        acks: &AcknowledgmentLevel,
    ) -> Result<u64> {
        let record = Record { key, value, headers, timestamp: now_millis() };
        self.append_record(&(topic.to_string(), partition), record, acks).await
    }

    /// `MessageBrokerCore::append_records` for a single record.
    async fn append_record(
        &self,
        tp: &TopicPartition,
        record: Record,
        acks: &AcknowledgmentLevel,
    ) -> Result<u64> {
        let meta = self
            .partitions
            .read()
            .await
            .get(tp)
            .cloned()
            .ok_or_else(|| BrokerError::PartitionNotFound(format!("{}:{}", tp.0, tp.1)))?;
        if !meta.is_leader {
            // Kept for fidelity: every partition here is led by this broker.
            return Err(BrokerError::NotLeader(format!("{}:{}", tp.0, tp.1)));
        }
        let offset = meta.high_watermark;
        let wal_record = WalRecord {
            topic: tp.0.clone(),
            partition: tp.1,
            offset,
            record,
            crc32: 0,
        };
        self.store_append(&wal_record).await?;
        match acks {
            AcknowledgmentLevel::None | AcknowledgmentLevel::Leader => {}
            AcknowledgmentLevel::Majority | AcknowledgmentLevel::All | AcknowledgmentLevel::Custom(_) => {
                // ReplicationManager::replicate_record -> append_to_local_wal:
                // the same record at the same offset once more; no followers.
                self.store_append(&wal_record).await?;
            }
        }
        if let Some(m) = self.partitions.write().await.get_mut(tp) {
            m.high_watermark = offset + 1;
        }
        Ok(offset)
    }

    /// `PartitionStore::append`: index first (replacing whatever holds the
    /// offset), then the WAL; the index entry is removed if the WAL fails.
    async fn store_append(&self, rec: &WalRecord) -> Result<()> {
        let tp = (rec.topic.clone(), rec.partition);
        let stored = Arc::new(rec.clone());
        {
            let mut index = self.index.write().unwrap();
            let entries = index.entry(tp.clone()).or_default();
            if let Some(old) = entries.hot.insert(rec.offset, stored) {
                if *old != *rec {
                    self.counters.replaced.fetch_add(1, Ordering::Relaxed);
                }
            }
            entries.next_offset = entries.next_offset.max(rec.offset + 1);
        }
        self.counters.appends.fetch_add(1, Ordering::Relaxed);
        let (done_tx, done_rx) = oneshot::channel();
        let wal_ok = self.wal.send((rec.clone(), done_tx)).await.is_ok() && done_rx.await.is_ok();
        if !wal_ok {
            if let Some(e) = self.index.write().unwrap().get_mut(&tp) {
                e.hot.remove(&rec.offset);
            }
            return Err(BrokerError::Wal("WAL writer stopped".into()));
        }
        Ok(())
    }

    /// `MessageBrokerCore::fetch_records` + `PartitionIndex::read_plan`: the
    /// contiguous run of records from `offset`, at least one, then as many as
    /// fit `max_bytes` by upstream's size estimate. Unknown partitions and
    /// offsets at or past the end give nothing. Never waits.
    pub fn fetch(&self, topic: &str, partition: u32, offset: u64, max_bytes: u32) -> Vec<Record> {
        let index = self.index.read().unwrap();
        let Some(entries) = index.get(&(topic.to_string(), partition)) else {
            return Vec::new();
        };
        if offset >= entries.next_offset {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut cur = offset;
        while let Some(rec) = entries.hot.get(&cur) {
            let size = mem_size(&rec.record);
            if !out.is_empty() && bytes + size > max_bytes as usize {
                break;
            }
            out.push(rec.record.clone());
            bytes += size;
            cur += 1;
        }
        out
    }

    /// The partition's high watermark, 0 for a partition the core lacks.
    pub async fn high_watermark(&self, topic: &str, partition: u32) -> u64 {
        self.partitions
            .read()
            .await
            .get(&(topic.to_string(), partition))
            .map(|m| m.high_watermark)
            .unwrap_or(0)
    }

    /// Check-only: every record the index holds, one JSON object per line,
    /// ordered by topic, partition and offset.
    pub fn dump(&self) -> String {
        let index = self.index.read().unwrap();
        let mut tps: Vec<&TopicPartition> = index.keys().collect();
        tps.sort();
        let mut out = String::new();
        for tp in tps {
            for (offset, rec) in &index[tp].hot {
                let r = &rec.record;
                out.push_str("{\"topic\":");
                json_str(&mut out, &tp.0);
                let _ = write!(out, ",\"partition\":{},\"offset\":{},\"key\":", tp.1, offset);
                match &r.key {
                    Some(k) => {
                        out.push('"');
                        hex(&mut out, k);
                        out.push('"');
                    }
                    None => out.push_str("null"),
                }
                out.push_str(",\"value\":\"");
                hex(&mut out, &r.value);
                out.push_str("\",\"headers\":[");
                for (i, h) in r.headers.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"key\":");
                    json_str(&mut out, &h.key);
                    out.push_str(",\"value\":\"");
                    hex(&mut out, &h.value);
                    out.push_str("\"}");
                }
                let _ = writeln!(out, "],\"timestamp\":{}}}", r.timestamp);
            }
        }
        out
    }
}

fn mem_size(r: &Record) -> usize {
    let key = r.key.as_ref().map_or(0, |k| k.len());
    let headers: usize = r.headers.iter().map(|h| h.key.len() + h.value.len()).sum();
    WAL_RECORD_STRUCT_SIZE + r.value.len() + key + headers
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
