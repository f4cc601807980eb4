//! QUIC transport (quinn): the same protocol, frames, auth, idempotency and resume rules as
//! the WebSocket endpoint, through the same [`connection`](crate::connection) loop.
//!
//! # Mapping
//! One QUIC connection carries one bidirectional stream, opened by the client; each frame is
//! a 4-byte big-endian length followed by that many bytes of MessagePack (the same maps as
//! WebSocket binary frames). One stream keeps the protocol's ordering rules exactly as on
//! WebSocket (requests to a session apply in the order sent; events arrive in seq order)
//! without cross-stream sequencing, and costs one stream's buffers per client. A stream per
//! conversation would add head-of-line isolation between sessions, but one agent's sessions
//! are few and small, and ordering across streams would have to be rebuilt by the client.
//!
//! # Limits
//! - ALPN must be [`ALPN`]; anything else fails the TLS handshake (`no_application_protocol`).
//! - One concurrent bidirectional stream, no unidirectional streams: a client cannot make
//!   the server hold more per connection. After the first stream ends, the connection ends.
//! - Frames are limited to `frame_bytes_max` like WebSocket frames; a larger length prefix
//!   (1009), or a stream that ends inside a frame (1002), closes the connection with an
//!   `error` frame first.
//! - A connection that opens no stream within the anonymous timeout is closed (4001).
//! - 0-RTT is off (the TLS config allows no early data), so no request can be replayed.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use quinn::crypto::rustls::QuicServerConfig;
use quinn::{Endpoint, RecvStream, SendStream, VarInt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use switchboard_engine::Engine;
use switchboard_protocol::codec::Encoding;
use switchboard_protocol::framing;
use switchboard_protocol::ErrorCode;

use crate::connection::{self, Closing, FrameSink, FrameSource, Inbound, Link, SinkError, Transport};
use crate::drain::{Drain, CLOSE_GOING_AWAY};
use crate::GatewayConfig;

/// The ALPN protocol name clients must offer.
pub const ALPN: &[u8] = b"switchboard/1";

/// File names of the generated self-signed identity inside the data directory.
pub const SELF_SIGNED_CERT_FILE: &str = "quic-cert.pem";
/// See [`SELF_SIGNED_CERT_FILE`].
pub const SELF_SIGNED_KEY_FILE: &str = "quic-key.pem";

/// QUIC application error code for a normal close by the server. Every other close uses
/// the number of the matching WebSocket close code (1002, 1009, 4001, 4008).
pub const CLOSE_NORMAL: u32 = 0;

/// QUIC settings.
#[derive(Debug, Clone)]
pub struct QuicConfig {
    /// UDP address to listen on.
    pub addr: SocketAddr,
    /// A connection with no traffic for this long is closed. Clients keep idle connections
    /// alive with QUIC PINGs (the client library sends one every `idle_timeout_ms / 3`).
    pub idle_timeout_ms: u64,
    /// Per-stream receive window: how much a client may send ahead of the server reading.
    /// A few frames' worth keeps a flooding client's buffered bytes small.
    pub stream_receive_window_bytes: u32,
    /// Per-connection receive window (one stream, so the same order of magnitude).
    pub receive_window_bytes: u32,
    /// Per-connection send window: bytes in flight to a client before quinn waits.
    pub send_window_bytes: u64,
}

impl Default for QuicConfig {
    fn default() -> Self {
        QuicConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 4433)),
            idle_timeout_ms: 30_000,
            stream_receive_window_bytes: 64 * 1024,
            receive_window_bytes: 128 * 1024,
            send_window_bytes: 1024 * 1024,
        }
    }
}

/// A certificate chain and its private key.
pub struct Identity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// Read a PEM certificate chain and a PEM private key.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Identity, String> {
        let certs = CertificateDer::pem_file_iter(cert)
            .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("reading certificate {}: {e}", cert.display()))?;
        if certs.is_empty() {
            return Err(format!("no certificate in {}", cert.display()));
        }
        let key =
            PrivateKeyDer::from_pem_file(key).map_err(|e| format!("reading key {}: {e}", key.display()))?;
        Ok(Identity { certs, key })
    }

    /// The self-signed identity kept in `dir` ([`SELF_SIGNED_CERT_FILE`] and its key), generated
    /// for `localhost`/`127.0.0.1` on first use and reused afterwards.
    pub fn self_signed_in(dir: &Path) -> Result<Identity, String> {
        let (cert_path, key_path) = (dir.join(SELF_SIGNED_CERT_FILE), dir.join(SELF_SIGNED_KEY_FILE));
        if !cert_path.exists() || !key_path.exists() {
            let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
            let generated = rcgen::generate_simple_self_signed(names).map_err(|e| e.to_string())?;
            std::fs::write(&cert_path, generated.cert.pem()).map_err(|e| e.to_string())?;
            write_private(&key_path, &generated.signing_key.serialize_pem())?;
        }
        Identity::from_pem_files(&cert_path, &key_path)
    }

    /// Hex SHA-256 of the leaf certificate (what a client pins or compares).
    pub fn fingerprint(&self) -> String {
        hex_encode(&Sha256::digest(self.certs[0].as_ref()))
    }
}

/// Write a secret file readable only by its owner (mode 0600).
pub fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    file.write_all(text.as_bytes()).map_err(|e| e.to_string())
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bind the UDP socket (before anything else starts, so a taken address fails first). The
/// error names the address.
pub fn bind_socket(config: &QuicConfig) -> Result<std::net::UdpSocket, String> {
    std::net::UdpSocket::bind(config.addr)
        .map_err(|e| format!("binding the QUIC (UDP) socket on {}: {e}", config.addr))
}

/// Build the endpoint on a bound socket. Call on the runtime that should drive it.
pub fn endpoint(
    config: &QuicConfig,
    identity: Identity,
    socket: std::net::UdpSocket,
) -> Result<Endpoint, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(identity.certs, identity.key)
        .map_err(|e| format!("certificate: {e}"))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.max_early_data_size = 0;
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| e.to_string())?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(VarInt::from_u32(1))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .max_idle_timeout(Some(
            Duration::from_millis(config.idle_timeout_ms).try_into().map_err(|_| "idle timeout too large")?,
        ))
        .stream_receive_window(VarInt::from_u32(config.stream_receive_window_bytes))
        .receive_window(VarInt::from_u32(config.receive_window_bytes))
        .send_window(config.send_window_bytes);
    server.transport_config(Arc::new(transport));
    let runtime = quinn::default_runtime().ok_or("no async runtime for the QUIC endpoint")?;
    Endpoint::new(quinn::EndpointConfig::default(), Some(server), socket, runtime)
        .map_err(|e| format!("starting the QUIC endpoint on {}: {e}", config.addr))
}

/// Stop accepting new connections (a drain): handshakes are refused from now on, open
/// connections go on until the drain closes them.
pub fn stop_accepting(endpoint: &Endpoint) {
    endpoint.set_server_config(None);
}

/// Close every QUIC connection still open (the drain's grace period is over) and the
/// endpoint, and give the close packets a moment to leave.
pub async fn shutdown(endpoint: &Endpoint) {
    endpoint.close(VarInt::from_u32(u32::from(CLOSE_GOING_AWAY)), crate::drain::DRAIN_REASON.as_bytes());
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, endpoint.wait_idle()).await;
}

/// Accept QUIC connections until the endpoint is closed.
pub async fn serve(endpoint: Endpoint, engine: Engine, config: Arc<GatewayConfig>, drain: Drain) {
    let permits = Arc::new(tokio::sync::Semaphore::new(config.connections_max));
    let mut accepted_total: u64 = 0;
    while let Some(incoming) = endpoint.accept().await {
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics::counter!("switchboard_connections_refused_total").increment(1);
            incoming.refuse();
            continue;
        };
        let (shards, config, drain) = (engine.clone(), config.clone(), drain.clone());
        let engine = engine.clone();
        accepted_total += 1;
        shards.spawn_on_shard(accepted_total, async move {
            match incoming.await {
                Ok(connection) => serve_connection(connection, engine, config, drain).await,
                Err(e) => tracing::debug!(error = %e, "quic handshake failed"),
            }
            drop(permit);
        });
    }
}

async fn serve_connection(
    connection: quinn::Connection,
    engine: Engine,
    config: Arc<GatewayConfig>,
    drain: Drain,
) {
    // The anonymous timeout starts at the handshake: a client that never opens its stream
    // (QUIC streams appear with their first byte) must not hold a connection slot.
    let anonymous = Duration::from_millis(config.anonymous_timeout_ms);
    let (send, recv) = match tokio::time::timeout(anonymous, connection.accept_bi()).await {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "quic connection ended before its stream");
            return;
        }
        Err(_) => {
            let code = VarInt::from_u32(u32::from(connection::CLOSE_ANONYMOUS_TIMEOUT));
            connection.close(code, b"no stream opened in time");
            return;
        }
    };
    let link = Link {
        transport: Transport::Quic,
        peer: connection.remote_address(),
        live: drain.enter(),
        console_cookie: None,
        client: connection.remote_address().ip(),
        assumed: None,
    };
    let sink = QuicSink { connection: connection.clone(), send, buffer: Vec::new(), written: 0, frames: 0 };
    let source = QuicSource { recv, frame_bytes_max: config.frame_bytes_max, buffer: Vec::new() };
    // Boxed, as on WebSocket: the task keeps no room for the halves moved into it.
    Box::pin(connection::run(engine, config, link, Encoding::MsgPack, source, sink)).await;
}

/// How long closing may take: the frame being written, the closing error frame, and its
/// delivery, before the connection is closed regardless.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The sending half: length-prefixed frames gathered in one buffer by the connection loop
/// and written by `drive` (one write per burst).
struct QuicSink {
    connection: quinn::Connection,
    send: SendStream,
    /// Queued frames, each with its length prefix.
    buffer: Vec<u8>,
    /// Bytes of `buffer` already written to the stream.
    written: usize,
    /// Frames in `buffer`.
    frames: usize,
}

impl QuicSink {
    /// Write the buffer out. Cancel-safe: quinn's `write` either wrote some bytes (counted
    /// in `written`) or none.
    async fn write_buffer(&mut self) -> Result<(), quinn::WriteError> {
        while self.written < self.buffer.len() {
            self.written += self.send.write(&self.buffer[self.written..]).await?;
        }
        self.buffer.clear();
        self.written = 0;
        self.frames = 0;
        Ok(())
    }

    /// Drop the queued frames that have not started: never cut a frame in half, so an
    /// error frame written next starts on a frame boundary.
    fn keep_started_frame(&mut self) {
        let mut end = 0;
        while end < self.written {
            let prefix: [u8; framing::LENGTH_PREFIX_BYTES] =
                self.buffer[end..end + framing::LENGTH_PREFIX_BYTES].try_into().expect("prefix");
            end += framing::LENGTH_PREFIX_BYTES + u32::from_be_bytes(prefix) as usize;
        }
        self.buffer.truncate(end);
    }
}

impl FrameSink for QuicSink {
    type Source = QuicSource;

    /// Copied into the stream's write buffer behind its length prefix (one write for a
    /// burst); the encoding itself is shared.
    fn push(&mut self, frame: Bytes) {
        self.buffer.extend_from_slice(&framing::length_prefix(frame.len()));
        self.buffer.extend_from_slice(&frame);
        self.frames += 1;
    }

    fn queued(&self) -> usize {
        self.frames
    }

    async fn drive(&mut self) -> Result<(), SinkError> {
        if self.buffer.is_empty() {
            // Nothing to write: notice at once a client that stopped reading.
            return match self.send.stopped().await {
                Ok(_) => Err(SinkError::Stopped),
                Err(_) => Err(SinkError::Broken),
            };
        }
        match self.write_buffer().await {
            Ok(()) => Ok(()),
            Err(quinn::WriteError::Stopped(_)) => Err(SinkError::Stopped),
            Err(_) => Err(SinkError::Broken),
        }
    }

    async fn close(mut self, closing: Option<Closing>, _source: QuicSource) {
        let (code, reason) = match &closing {
            Some(closing) => (u32::from(closing.code), closing.reason.clone()),
            None => (CLOSE_NORMAL, "bye".to_string()),
        };
        let goodbye = async {
            if let Some(closing) = closing {
                if !closing.flush_first {
                    self.keep_started_frame();
                }
                self.push(closing.error_frame);
            }
            self.write_buffer().await?;
            let _ = self.send.finish();
            // Give the last frames a moment to leave before the close overtakes them.
            let _ = self.send.stopped().await;
            Ok::<(), quinn::WriteError>(())
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, goodbye).await;
        // The QUIC application error code is the WebSocket close code (1009, 4008, …).
        self.connection.close(VarInt::from_u32(code), reason.as_bytes());
    }
}

/// Reads length-prefixed frames. Cancel-safe, as the connection loop's `select!` requires:
/// bytes are only ever moved from quinn into `buffer` (quinn's `read` is cancel-safe), and
/// frames are cut from `buffer`, so dropping a pending `next_frame` loses nothing.
struct QuicSource {
    recv: RecvStream,
    frame_bytes_max: usize,
    buffer: Vec<u8>,
}

/// Bytes asked of quinn per read.
const READ_CHUNK_BYTES: usize = 4096;

/// Cut one complete length-prefixed frame off the front of `buffer`, if there is one; a
/// length over `frame_bytes_max` is fatal at once (the body is never buffered).
fn cut_frame(buffer: &mut Vec<u8>, frame_bytes_max: usize) -> Option<Inbound> {
    match framing::take_frame(buffer, frame_bytes_max) {
        Ok(frame) => frame.map(|bytes| Inbound::Frame { bytes, encoding: Encoding::MsgPack }),
        Err(too_large) => Some(Inbound::Fatal {
            code: ErrorCode::FrameTooLarge,
            close_code: 1009,
            message: too_large.to_string(),
        }),
    }
}

impl FrameSource for QuicSource {
    async fn next_frame(&mut self) -> Option<Inbound> {
        loop {
            if let Some(inbound) = cut_frame(&mut self.buffer, self.frame_bytes_max) {
                return Some(inbound);
            }
            let mut chunk = [0u8; READ_CHUNK_BYTES];
            match self.recv.read(&mut chunk).await {
                Ok(Some(n)) => self.buffer.extend_from_slice(&chunk[..n]),
                Ok(None) if self.buffer.is_empty() => return None,
                Ok(None) => return Some(truncated()),
                Err(e) => {
                    tracing::debug!(error = %e, "quic stream read ended");
                    return None;
                }
            }
        }
    }
}

fn truncated() -> Inbound {
    Inbound::Fatal {
        code: ErrorCode::MalformedFrame,
        close_code: 1002,
        message: "stream ended inside a frame".into(),
    }
}
