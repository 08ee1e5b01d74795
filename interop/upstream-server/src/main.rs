//! rustmq-upstream-server: a QUIC server that treats RustMQ client requests
//! the way upstream RustMQ's broker binary does (its default `QuicServer`,
//! `src/network/quic_server.rs`, in front of `BrokerHandler` and
//! `MessageBrokerCore`, `src/broker/`), written anew on quinn 0.9 and
//! rustls 0.20. It exists so that clients can be tested against the real
//! broker's behaviour, quirks included; see interop/README.md for the list
//! of what is reproduced and what is left out.
//!
//! ```text
//! rustmq-upstream-server --listen 127.0.0.1:9092 --topic events:4 \
//!     --write-cert cert.pem --dump log.jsonl
//! ```
//!
//! On SIGTERM or SIGINT it writes the dump (if asked) and exits with status 0.

mod cert;
mod core;
mod error;
mod handler;
mod wire;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::core::Core;
use crate::error::BrokerError;
use crate::handler::{BrokerIdentity, Router};
use crate::wire::RequestType;

/// Upstream takes an 8192-byte buffer from its pool for every request and
/// reads into it once.
const READ_BUFFER: usize = 8192;

struct Args {
    listen: String,
    rpc_listen: String,
    broker_id: String,
    rack_id: String,
    topics: Vec<(String, u32)>,
    write_cert: Option<String>,
    dump: Option<String>,
    max_bidi_streams: u32,
    max_uni_streams: u32,
    idle_timeout_ms: u64,
    keep_accepting: bool,
    verbose: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: rustmq-upstream-server [--listen HOST:PORT] [--topic NAME:PARTITIONS]... \
         [--write-cert FILE] [--dump FILE]\n\
         \x20      [--broker-id ID] [--rack-id RACK] [--rpc-listen HOST:PORT] \
         [--max-bidi-streams N] [--max-uni-streams N] [--idle-timeout-ms MS]\n\
         \x20      [--keep-accepting] [--verbose]\n\
         Defaults follow upstream's config/broker.toml: --listen 127.0.0.1:9092, \
         --rpc-listen 127.0.0.1:9093, --broker-id broker-001, --rack-id us-central1-a, \
         100 bidirectional and 100 unidirectional streams, idle timeout 30000 ms."
    );
    std::process::exit(2);
}

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("upstream-server: {msg}");
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut a = Args {
        listen: "127.0.0.1:9092".into(),
        rpc_listen: "127.0.0.1:9093".into(),
        broker_id: "broker-001".into(),
        rack_id: "us-central1-a".into(),
        topics: Vec::new(),
        write_cert: None,
        dump: None,
        max_bidi_streams: 100,
        max_uni_streams: 100,
        idle_timeout_ms: 30_000,
        keep_accepting: false,
        verbose: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--listen" => a.listen = val(),
            "--rpc-listen" => a.rpc_listen = val(),
            "--broker-id" => a.broker_id = val(),
            "--rack-id" => a.rack_id = val(),
            "--topic" => {
                let v = val();
                let (name, n) = v.rsplit_once(':').unwrap_or_else(|| die(format!("--topic {v:?}: want NAME:PARTITIONS")));
                let n: u32 = n.parse().ok().filter(|&n| n > 0).unwrap_or_else(|| {
                    die(format!("--topic {v:?}: partitions must be a positive integer"))
                });
                if name.is_empty() {
                    die(format!("--topic {v:?}: empty topic name"));
                }
                a.topics.push((name.to_string(), n));
            }
            "--write-cert" => a.write_cert = Some(val()),
            "--dump" => a.dump = Some(val()),
            "--max-bidi-streams" => a.max_bidi_streams = val().parse().unwrap_or_else(|_| usage()),
            "--max-uni-streams" => a.max_uni_streams = val().parse().unwrap_or_else(|_| usage()),
            "--idle-timeout-ms" => a.idle_timeout_ms = val().parse().unwrap_or_else(|_| usage()),
            "--keep-accepting" => a.keep_accepting = true,
            "--verbose" | "-v" => a.verbose = true,
            _ => usage(),
        }
    }
    a
}

/// `QuicServer::create_server_config`: the fresh self-signed certificate,
/// no client authentication, no ALPN protocols, and upstream's transport
/// limits (stream counts, idle timeout; its stream-data settings are no-ops).
fn server_config(cert: &cert::SelfSigned, a: &Args) -> quinn::ServerConfig {
    let tls = rustls::ServerConfig::builder()
        .with_safe_defaults()
        .with_no_client_auth()
        .with_single_cert(vec![rustls::Certificate(cert.cert_der.clone())], rustls::PrivateKey(cert.key_pkcs8.clone()))
        .unwrap_or_else(|e| die(format!("TLS config: {e}")));
    // tls.alpn_protocols stays empty, as in upstream's default server.
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(tls));
    let mut transport = quinn::TransportConfig::default();
    transport.max_concurrent_bidi_streams(a.max_bidi_streams.into());
    transport.max_concurrent_uni_streams(a.max_uni_streams.into());
    transport.max_idle_timeout(Some(
        Duration::from_millis(a.idle_timeout_ms)
            .try_into()
            .unwrap_or_else(|e| die(format!("--idle-timeout-ms: {e}"))),
    ));
    config.transport = Arc::new(transport);
    config
}

/// `QuicServer::start`: accept connections one after another, awaiting each
/// handshake in turn. A handshake that fails ends the loop with an error (the
/// `conn.await?`), after which the endpoint is dropped and no new connection
/// is ever served; connections already accepted go on. `keep_accepting`
/// (not upstream) logs the failure and goes on instead.
async fn serve(endpoint: quinn::Endpoint, router: Arc<Router>, keep_accepting: bool, verbose: bool) -> Result<(), String> {
    while let Some(connecting) = endpoint.accept().await {
        let connection = match connecting.await {
            Ok(c) => c,
            Err(e) if keep_accepting => {
                eprintln!("upstream-server: handshake failed (--keep-accepting, going on): {e}");
                continue;
            }
            Err(e) => return Err(format!("QUIC connection error: {e}")),
        };
        let router = router.clone();
        tokio::spawn(async move {
            handle_connection(connection, router, verbose).await;
        });
    }
    Ok(())
}

/// `QuicServer::handle_connection`: a task per bidirectional stream, until
/// the connection ends.
async fn handle_connection(connection: quinn::Connection, router: Arc<Router>, verbose: bool) {
    while let Ok((send, recv)) = connection.accept_bi().await {
        let router = router.clone();
        tokio::spawn(handle_stream(send, recv, router, verbose));
    }
}

/// The per-stream task of `handle_connection`: one `read` of at most 8192
/// bytes, whatever had arrived, with no wait for the FIN; the first byte is
/// the type, the rest the body. An unknown type, an empty stream or a read
/// error end the task with no answer: dropping the streams finishes the
/// send side with no data and, unless the request was read to its end,
/// stops the client's send side with code 0.
async fn handle_stream(send: quinn::SendStream, recv: quinn::RecvStream, router: Arc<Router>, verbose: bool) {
    let _ = async move {
        let (mut send, mut recv) = (send, recv);
        let mut buf = vec![0u8; READ_BUFFER];
        if let Ok(Some(size)) = recv.read(&mut buf).await {
            if size >= 1 {
                let kind = RequestType::from_byte(buf[0])?;
                let data = buf[1..size].to_vec();
                let frame = match router.route(kind, &data).await {
                    Ok(body) => {
                        let mut f = vec![kind as u8];
                        f.extend_from_slice(&body);
                        f
                    }
                    Err(e) => {
                        if verbose {
                            eprintln!("upstream-server: Request processing error: {e}");
                        }
                        let mut f = vec![0xFFu8];
                        f.extend_from_slice(format!("Error: {e}").as_bytes());
                        f
                    }
                };
                if let Err(e) = send.write_all(&frame).await {
                    if verbose {
                        eprintln!("upstream-server: Failed to send response: {e}");
                    }
                }
                // Upstream (quinn 0.11) calls the synchronous finish() and
                // does not wait for the peer's acknowledgement; in quinn 0.9
                // dropping the stream is that same finish.
                drop(send);
            }
        }
        Ok::<(), BrokerError>(())
    }
    .await;
}

fn write_file(path: &str, data: &[u8]) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let addr: SocketAddr = args
        .listen
        .parse()
        .unwrap_or_else(|e| die(format!("--listen {:?}: {e}", args.listen)));

    let cert = cert::generate_localhost().unwrap_or_else(|e| die(e));
    if let Some(path) = &args.write_cert {
        write_file(path, cert.cert_pem().as_bytes()).unwrap_or_else(|e| die(format!("--write-cert {path}: {e}")));
    }

    let core = Core::new();
    for (name, n) in &args.topics {
        for p in 0..*n {
            core.add_partition(name, p).await;
        }
    }
    let router = Arc::new(Router {
        core: core.clone(),
        identity: BrokerIdentity {
            id: args.broker_id.clone(),
            rack_id: args.rack_id.clone(),
            quic_listen: args.listen.clone(),
            rpc_listen: args.rpc_listen.clone(),
        },
    });

    let endpoint = quinn::Endpoint::server(server_config(&cert, &args), addr)
        .unwrap_or_else(|e| die(format!("listen {addr}: {e}")));
    let local = endpoint.local_addr().unwrap_or(addr);
    let topics: Vec<String> = args.topics.iter().map(|(n, p)| format!("{n}:{p}")).collect();
    println!(
        "upstream-server: listening on {local} (QUIC, no ALPN, certificate for localhost{}); topics [{}]{}",
        args.write_cert.as_deref().map(|p| format!(" in {p}")).unwrap_or_default(),
        topics.join(", "),
        if args.keep_accepting { "; --keep-accepting (not upstream)" } else { "" },
    );

    let keep = args.keep_accepting;
    let verbose = args.verbose;
    tokio::spawn(async move {
        // As upstream's broker: the error is logged, the broker runs on.
        if let Err(e) = serve(endpoint, router, keep, verbose).await {
            eprintln!("upstream-server: QUIC server error: {e} (accepting no new connections, as upstream)");
        }
    });

    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).unwrap_or_else(|e| die(format!("SIGTERM handler: {e}")));
    let mut int = signal(SignalKind::interrupt()).unwrap_or_else(|e| die(format!("SIGINT handler: {e}")));
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }

    let appends = core.counters.appends.load(Ordering::Relaxed);
    let replaced = core.counters.replaced.load(Ordering::Relaxed);
    if let Some(path) = &args.dump {
        let dump = core.dump();
        let lines = dump.lines().count();
        if let Err(e) = write_file(path, dump.as_bytes()) {
            eprintln!("upstream-server: --dump {path}: {e}");
            std::process::exit(1);
        }
        eprintln!("upstream-server: dumped {lines} records to {path} ({appends} appends, {replaced} records replaced at a taken offset)");
    }
    std::process::exit(0);
}
