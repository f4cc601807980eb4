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
//! - `nats-chat`: the `chat` load against NATS JetStream, the peer for side-by-side runs.
//! - `restart`: populate a server, stop it with SIGTERM, start it again, and time until it
//!   answers `/healthz` and its first `resume_chat`.
//!
//! The server is either a running one (`--target`, `--quic-target`, `--admin-token`) or
//! started by the tool itself (`--spawn-server PATH`).
//!
//! Every scenario reports the server's CPU per message (from `/proc/PID/stat`, so the PID
//! must be known: `--spawn-server` or `--server-pid`) and the generator's own CPU, and
//! warns when the generator saturates its CPUs (see `cpu`). `--client-cpus` pins the
//! generator and sizes its runtime to the CPUs it may use; `--server-cpus` pins a server
//! it starts.

mod assign;
mod chat;
mod connections;
mod cpu;
mod fanout;
mod nats_chat;
mod nats_server;
mod payload;
mod reconnect;
mod report;
mod restart;
mod scan;
mod setup;
mod shape;

use clap::{Parser, Subcommand};

/// Switchboard load generator.
///
/// For numbers that measure the server, pin the server and the generator to different
/// CPUs: `--server-cpus 0 --client-cpus 1`. Every scenario reports both processes' CPU and
/// warns when the generator used more than 80 % of its CPUs.
#[derive(Parser)]
#[command(name = "loadtest", about, long_about)]
struct Cli {
    /// Pin the load generator (every thread) to these CPUs, a `taskset -c` list such as
    /// `1` or `0-1`, and size its runtime to them: one worker thread per allowed CPU, a
    /// single-threaded runtime on one. Without it the generator uses every CPU in its
    /// inherited affinity mask.
    #[arg(long, global = true)]
    client_cpus: Option<String>,
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
    /// The `chat` load against NATS JetStream (file storage, awaited publish acks, core
    /// subscribers), for a side-by-side peer run.
    NatsChat(nats_chat::NatsChatArgs),
    /// Populate a server, stop it with SIGTERM, start it again and time until it serves.
    Restart(restart::RestartArgs),
    /// Fair assignment: visitors arriving open-loop in an automatic department, agents
    /// accepting offers after a think time and closing after a service time.
    Assign(assign::AssignArgs),
    /// Team-channel fan-out: one poster, a channel of N members, optionally one slow member.
    Fanout(fanout::FanoutArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    setup::raise_fd_limit();
    if let Some(list) = &cli.client_cpus {
        cpu::pin_process(&cpu::parse_cpu_list(list)?)?;
    }
    // One allowed CPU: a current-thread runtime (no work-stealing machinery to pay for);
    // more: one worker thread per allowed CPU.
    let runtime = match cpu::allowed_cpus() {
        1 => tokio::runtime::Builder::new_current_thread().enable_all().build()?,
        n => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build()?,
    };
    runtime.block_on(async {
        let summary = match cli.scenario {
            Scenario::Chat(args) => chat::run(args).await?,
            Scenario::Connections(args) => connections::run(args).await?,
            Scenario::Reconnect(args) => reconnect::run(args).await?,
            Scenario::NatsChat(args) => nats_chat::run(args).await?,
            Scenario::Restart(args) => restart::run(args).await?,
            Scenario::Assign(args) => assign::run(args).await?,
            Scenario::Fanout(args) => fanout::run(args).await?,
        };
        summary.print();
        if summary.failed() {
            std::process::exit(2);
        }
        Ok(())
    })
}
