//! The WebSocket conformance harness ([`switchboard_gateway::ws_echo`]) as a program: an echo
//! server over the gateway's own WebSocket stack with the server's default `GatewayConfig`,
//! for the Autobahn runner (`scripts/autobahn.sh`). Not a product endpoint.
//!
//! Usage: `ws_echo [--addr 127.0.0.1:0] [--frame-bytes-max N]`. Prints
//! `ws_echo listening on ws://ADDR` once it accepts connections, then runs until killed.
//! `--frame-bytes-max` overrides the one limit the size cases run into (default: the
//! server's 16 KiB), to show which failures are that limit and nothing else; the write
//! buffer's bound grows with it if needed, so that the largest message can be echoed.

use std::net::SocketAddr;
use std::sync::Arc;

use switchboard_gateway::{ws_echo, GatewayConfig};
use tokio::net::TcpListener;

/// Prefix of the line naming the bound address, read by `scripts/autobahn.sh`.
const LISTENING: &str = "ws_echo listening on ws://";

#[tokio::main]
async fn main() {
    let mut config = GatewayConfig::default();
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--addr" => addr = value.parse().unwrap_or_else(|_| usage("--addr takes HOST:PORT")),
            "--frame-bytes-max" => {
                config.frame_bytes_max =
                    value.parse().unwrap_or_else(|_| usage("--frame-bytes-max takes bytes"))
            }
            _ => usage(&format!("unknown argument `{flag}`")),
        }
    }
    // tungstenite refuses to queue a frame larger than the write buffer's bound, so an echo
    // of the largest accepted message needs room for it and its 14-byte header.
    config.ws_write_buffer_max_bytes = config.ws_write_buffer_max_bytes.max(config.frame_bytes_max + 14);
    let listener = TcpListener::bind(addr).await.unwrap_or_else(|e| {
        eprintln!("ws_echo: cannot bind {addr}: {e}");
        std::process::exit(1)
    });
    let bound = listener.local_addr().expect("a bound listener has an address");
    println!("{LISTENING}{bound}");
    ws_echo::serve(listener, Arc::new(config)).await;
}

fn usage(problem: &str) -> ! {
    eprintln!("ws_echo: {problem}\nusage: ws_echo [--addr 127.0.0.1:0] [--frame-bytes-max N]");
    std::process::exit(2)
}
