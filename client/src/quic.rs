//! QUIC transport of the client: one bidirectional stream per connection, each frame a
//! 4-byte big-endian length and a MessagePack body (see docs/PROTOCOL.md, "QUIC").

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::QuicClientConfig;
use quinn::{ConnectionError, Endpoint};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use switchboard_protocol::codec::Encoding;
use switchboard_protocol::framing;
use tokio::sync::mpsc;

use crate::{Client, ClientError, Outgoing, Router};

/// The ALPN protocol the server speaks.
pub const ALPN: &[u8] = b"switchboard/1";

/// Largest frame the client accepts from the server (server frames are small; a replay of
/// 500 messages of 4 KiB stays under this).
const FRAME_BYTES_MAX: usize = 4 * 1024 * 1024;

/// QUIC keep-alive: well under the server's 30 s idle timeout.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// How long the reader waits for the server's close after the stream ended.
const SERVER_CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Outgoing frames buffered before `send` waits.
const OUT_BUFFER: usize = 1024;

/// Opens QUIC connections from one UDP socket (many clients can share it).
#[derive(Clone)]
pub struct QuicConnector {
    endpoint: Endpoint,
}

impl QuicConnector {
    /// A connector bound to `bind` (e.g. `127.0.0.1:0`) that trusts the PEM certificate(s)
    /// in `trusted_pem` (the server's self-signed `quic-cert.pem`, or a CA).
    pub fn new(bind: SocketAddr, trusted_pem: &Path) -> Result<QuicConnector, ClientError> {
        QuicConnector::with_alpn(bind, trusted_pem, ALPN)
    }

    /// Like [`QuicConnector::new`] with another ALPN (for testing the server's refusal).
    pub fn with_alpn(
        bind: SocketAddr,
        trusted_pem: &Path,
        alpn: &[u8],
    ) -> Result<QuicConnector, ClientError> {
        let err = |e: String| ClientError::Connect(e);
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(trusted_pem).map_err(|e| err(e.to_string()))?;
        for cert in certs {
            roots.add(cert.map_err(|e| err(e.to_string()))?).map_err(|e| err(e.to_string()))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| err(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![alpn.to_vec()];
        let crypto = QuicClientConfig::try_from(tls).map_err(|e| err(e.to_string()))?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport.keep_alive_interval(Some(KEEP_ALIVE));
        config.transport_config(Arc::new(transport));
        let mut endpoint = Endpoint::client(bind).map_err(|e| err(e.to_string()))?;
        endpoint.set_default_client_config(config);
        Ok(QuicConnector { endpoint })
    }

    /// Connect to the server at `addr`, whose certificate names `server_name`.
    pub async fn connect(&self, addr: SocketAddr, server_name: &str) -> Result<Client, ClientError> {
        let connecting =
            self.endpoint.connect(addr, server_name).map_err(|e| ClientError::Connect(e.to_string()))?;
        let connection = connecting.await.map_err(|e| ClientError::Connect(e.to_string()))?;
        let (mut send, mut recv) =
            connection.open_bi().await.map_err(|e| ClientError::Connect(e.to_string()))?;
        let (out, mut out_rx) = mpsc::channel::<Outgoing>(OUT_BUFFER);
        tokio::spawn(async move {
            while let Some(item) = out_rx.recv().await {
                let written = match item {
                    Outgoing::Frame(bytes) => send.write_all(&framing::encode_length_prefixed(&bytes)).await,
                    Outgoing::QuicRaw(bytes) => send.write_all(&bytes).await,
                    Outgoing::WsRaw(_) => continue,
                };
                if written.is_err() {
                    break;
                }
            }
            let _ = send.finish();
        });
        let (client, router) = Client::assemble(out, Encoding::MsgPack);
        tokio::spawn(async move {
            read_loop(&mut recv, &router).await;
            // The server closes right after finishing its stream; give its close (and code)
            // a moment to arrive, then end the connection ourselves so `closed()` resolves
            // instead of idling on keep-alives.
            let closed = match tokio::time::timeout(SERVER_CLOSE_WAIT, connection.closed()).await {
                Ok(error) => error,
                Err(_) => {
                    connection.close(quinn::VarInt::from_u32(0), b"client done");
                    connection.closed().await
                }
            };
            let (code, reason) = close_info(closed);
            router.closed(code, reason);
        });
        Ok(client)
    }

    /// The underlying quinn endpoint, for tests that need raw streams.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The connector's local UDP address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }
}

/// Bytes asked of quinn per read.
const READ_CHUNK_BYTES: usize = 4096;

/// Read length-prefixed frames (cut by the protocol's [`framing`], like the server's) and
/// route them, until the stream ends, fails, or announces a frame over [`FRAME_BYTES_MAX`].
async fn read_loop(recv: &mut quinn::RecvStream, router: &Router) {
    let mut buffer = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    loop {
        match framing::take_frame(&mut buffer, FRAME_BYTES_MAX) {
            Ok(Some(bytes)) => {
                if !router.deliver(bytes.into(), Encoding::MsgPack).await {
                    return;
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "oversized frame from server");
                return;
            }
        }
        match recv.read(&mut chunk).await {
            Ok(Some(n)) => buffer.extend_from_slice(&chunk[..n]),
            // The stream ended (a partial frame at the end is dropped) or failed.
            Ok(None) | Err(_) => return,
        }
    }
}

/// A QUIC close as (code, reason): the application's code, or 1006 for anything else.
fn close_info(error: ConnectionError) -> (u16, String) {
    match error {
        ConnectionError::ApplicationClosed(close) => {
            let code = u16::try_from(close.error_code.into_inner()).unwrap_or(u16::MAX);
            (code, String::from_utf8_lossy(&close.reason).into_owned())
        }
        other => (1006, other.to_string()),
    }
}
