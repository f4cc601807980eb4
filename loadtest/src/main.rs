//! `loadtest`: Switchboard's load generator. It speaks only the wire protocol (through
//! `switchboard-client`) and checks correctness while it measures.
//!
//! Scenarios:
//! - `chat`: N visitor–agent pairs exchange messages at an offered total rate, open loop:
//!   sends are scheduled at the intended times and latency is measured from the intended
//!   send time (carried in the payload), so a stalled server cannot hide its queueing.
//!   Every acknowledged message must be delivered exactly once and in order.
//! - `connections`: ramp to N idle authenticated connections, hold, report server memory
//!   per connection.
//! - `reconnect`: pairs exchange messages, every visitor drops at once, agents keep sending,
//!   visitors resume from their last seq: nothing may be missed or duplicated.
//!
//! The server is either a running one (`--target`, `--quic-target`, `--admin-token`) or
//! started by the tool itself (`--spawn-server PATH`).

mod chat;
mod connections;
mod reconnect;
mod report;
mod setup;

use clap::{Parser, Subcommand};

/// Switchboard load generator.
#[derive(Parser)]
#[command(name = "loadtest", about)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Visitor–agent pairs exchanging messages at a given rate.
    Chat(chat::ChatArgs),
    /// Ramp to N idle connections and report server memory per connection.
    Connections(connections::ConnectionsArgs),
    /// Drop all visitor connections at once, resume, and verify nothing was missed.
    Reconnect(reconnect::ReconnectArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    setup::raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let summary = match cli.scenario {
            Scenario::Chat(args) => chat::run(args).await?,
            Scenario::Connections(args) => connections::run(args).await?,
            Scenario::Reconnect(args) => reconnect::run(args).await?,
        };
        summary.print();
        if summary.failed() {
            std::process::exit(2);
        }
        Ok(())
    })
}
