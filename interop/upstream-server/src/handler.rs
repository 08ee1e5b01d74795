//! Request routing and the broker's handlers, as upstream's
//! `RequestRouter::route_request` (`src/network/quic_server.rs`) and
//! `BrokerHandler` (`src/broker/broker.rs`) do them.

use std::sync::Arc;

use crate::core::Core;
use crate::error::{BrokerError, Result};
use crate::wire::*;

/// What the Metadata answer says about this broker, taken from the
/// configured addresses as upstream takes them from its config strings.
pub struct BrokerIdentity {
    pub id: String,
    pub rack_id: String,
    /// The configured QUIC listen address as written (`host:port`).
    pub quic_listen: String,
    /// The configured RPC listen address as written (never bound here).
    pub rpc_listen: String,
}

pub struct Router {
    pub core: Arc<Core>,
    pub identity: BrokerIdentity,
}

impl Router {
    /// `route_request`: decode leniently with `bincode::deserialize` (bytes
    /// after the value are ignored), run the handler, encode the answer.
    pub async fn route(&self, kind: RequestType, data: &[u8]) -> Result<Vec<u8>> {
        match kind {
            RequestType::Produce => {
                let req: ProduceRequest = bincode::deserialize(data)?;
                let resp = self.produce(req).await?;
                Ok(bincode::serialize(&resp)?)
            }
            RequestType::Fetch => {
                let req: FetchRequest = bincode::deserialize(data)?;
                let resp = self.fetch(req).await;
                Ok(bincode::serialize(&resp)?)
            }
            RequestType::Metadata => {
                let _req: MetadataRequest = bincode::deserialize(data)?;
                Ok(bincode::serialize(&self.metadata())?)
            }
            // Upstream decodes these and hands them to its consumer-group
            // coordinator; this server does not reproduce the coordinator.
            RequestType::FindCoordinator
            | RequestType::JoinGroup
            | RequestType::ConsumerHeartbeat
            | RequestType::CommitOffset
            | RequestType::FetchOffset
            | RequestType::LeaveGroup => Err(BrokerError::InvalidOperation(format!(
                "consumer-group request {} is not reproduced by this interop server",
                kind as u8
            ))),
        }
    }

    /// `BrokerHandler::handle_produce`: one `producer.send` per record, in
    /// order, each its own append; the first failure ends the request with
    /// an error (records before it stay appended). The answer's offset is
    /// the first record's, or 0 for an empty request; the code is always 0.
    async fn produce(&self, req: ProduceRequest) -> Result<ProduceResponse> {
        let mut first = None;
        for r in req.records {
            let off = self
                .core
                .send(&req.topic, req.partition_id, r.key, r.value, r.headers, &req.acks)
                .await?;
            first.get_or_insert(off);
        }
        Ok(ProduceResponse { offset: first.unwrap_or(0), error_code: 0, error_message: None })
    }

    /// `BrokerHandler::handle_fetch`: whatever the store has from the offset
    /// (no long poll: `timeout_ms` is ignored), with the core's high
    /// watermark (0 for a partition it does not know); code always 0 here
    /// (upstream answers 1 "Failed to fetch records" when its store fails,
    /// which an in-memory store does not).
    async fn fetch(&self, req: FetchRequest) -> FetchResponse {
        let records = self.core.fetch(&req.topic, req.partition_id, req.fetch_offset, req.max_bytes);
        let high_watermark = self.core.high_watermark(&req.topic, req.partition_id).await;
        FetchResponse { records, high_watermark, error_code: 0, error_message: None }
    }

    /// `BrokerHandler::handle_metadata`: this broker alone, host and ports
    /// parsed from the configured strings (host 0.0.0.0 reported as
    /// 127.0.0.1, unparsable ports as 9092/9093), and no topics at all,
    /// whatever was asked.
    fn metadata(&self) -> MetadataResponse {
        let id = &self.identity;
        let port = |addr: &str, default: u16| {
            addr.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(default)
        };
        let mut host = id.quic_listen.split(':').next().unwrap_or("localhost").to_string();
        if host == "0.0.0.0" {
            host = "127.0.0.1".into();
        }
        MetadataResponse {
            brokers: vec![BrokerInfo {
                id: id.id.clone(),
                host,
                port_quic: port(&id.quic_listen, 9092),
                port_rpc: port(&id.rpc_listen, 9093),
                rack_id: id.rack_id.clone(),
            }],
            topics_metadata: vec![],
        }
    }
}
