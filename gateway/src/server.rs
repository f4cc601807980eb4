//! The HTTP server: a TCP accept loop with a connection cap, HTTP/1.1 with upgrades and a
//! header-read timeout, `/ws` to the WebSocket transport and every other path to warp.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use switchboard_engine::Engine;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{watch, Semaphore};
use tower_service::Service;
use warp::http::Request;

use crate::api::PeerAddr;
use crate::drain::Drain;
use crate::metrics::Metrics;
use crate::{api, ws, GatewayConfig};

/// Connections the kernel queues before `accept` (capped by `net.core.somaxconn`). A
/// reconnect storm (thousands of clients at once after a network blip) overflows the
/// 128 that `TcpListener::bind` asks for, and each overflow costs a client a SYN retry
/// (1 s, then 3 s). Measured: 10,000 visitors resuming at once, docs/BENCHMARKS.md.
const LISTEN_BACKLOG: u32 = 4096;

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    config: Arc<GatewayConfig>,
}

/// What the accept loop serves with.
struct Serving {
    listener: TcpListener,
    config: Arc<GatewayConfig>,
    engine: Engine,
    metrics: Metrics,
    drain: Drain,
}

/// A running server.
pub struct RunningServer {
    /// The address actually bound (useful with port 0).
    pub local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Bind the listener (before anything else starts, so a taken address fails first).
    /// The error names the address. Call inside a tokio runtime.
    pub fn bind(config: GatewayConfig) -> Result<Server, String> {
        let addr = config.http_addr;
        let listener = listen(addr).map_err(|e| format!("binding the HTTP listener on {addr}: {e}"))?;
        Ok(Server { listener, config: Arc::new(config) })
    }

    /// Cluster mode: relay requests for sessions other nodes own through `relay`.
    pub fn set_relay(&mut self, relay: crate::relay::Relay) {
        Arc::make_mut(&mut self.config).relay = Some(relay);
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Start accepting connections.
    pub fn start(self, engine: Engine, metrics: Metrics, drain: Drain) -> std::io::Result<RunningServer> {
        let local_addr = self.listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let serving = Serving { listener: self.listener, config: self.config, engine, metrics, drain };
        let task = tokio::spawn(serving.accept_loop(stopped));
        Ok(RunningServer { local_addr, stop, task })
    }
}

impl Serving {
    async fn accept_loop(self, mut stopped: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(self.config.connections_max));
        let routes = warp::service(api::routes(
            self.engine.clone(),
            self.metrics.clone(),
            self.drain.clone(),
            self.config.clone(),
        ));
        let mut accepted_total: u64 = 0;
        loop {
            let (tcp, peer) = tokio::select! {
                _ = stopped.changed() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // EMFILE and friends: back off briefly instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                metrics::counter!("switchboard_connections_refused_total").increment(1);
                drop(tcp);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            // Shared with the WebSocket task, which outlives this HTTP connection after the
            // upgrade: the slot is free only when both are done.
            let permit = Arc::new(permit);
            let (engine, config, routes) = (self.engine.clone(), self.config.clone(), routes.clone());
            let drain = self.drain.clone();
            accepted_total += 1;
            // The connection (and, after an upgrade, its WebSocket task) runs on a shard,
            // beside session actors, not on this runtime.
            self.engine.spawn_on_shard(accepted_total, async move {
                let header_timeout = Duration::from_millis(config.header_read_timeout_ms);
                let slot = permit.clone();
                let service = service_fn(move |mut request: Request<Incoming>| {
                    let (engine, config, mut routes) = (engine.clone(), config.clone(), routes.clone());
                    let (slot, drain) = (slot.clone(), drain.clone());
                    async move {
                        let (started, route) =
                            (Instant::now(), crate::metrics::route_label(request.uri().path()));
                        // A request in progress holds the drain open (an agent being created
                        // must get its token; a checkpoint must finish).
                        let in_progress = drain.enter();
                        let response = if request.uri().path() == "/ws" {
                            ws::upgrade(request, engine, config, peer, drain, slot)
                        } else {
                            request.extensions_mut().insert(PeerAddr(peer));
                            routes.call(request).await?
                        };
                        drop(in_progress);
                        crate::metrics::record_http(route, response.status().as_u16(), started.elapsed());
                        Ok::<_, Infallible>(response)
                    }
                });
                serve_http1(tcp, header_timeout, service).await;
                drop(permit);
            });
        }
    }
}

/// A listening socket with the backlog a reconnect storm needs.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

impl RunningServer {
    /// Stop accepting new connections and wait for the accept loop to end.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Serve one HTTP/1.1 connection, upgrades allowed, with the header-read timeout (the
/// slow-loris guard, which hyper applies only with a timer set).
pub(crate) async fn serve_http1<S, B>(tcp: tokio::net::TcpStream, header_timeout: Duration, service: S)
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(tcp), service)
        .with_upgrades();
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "http connection ended with an error");
    }
}
