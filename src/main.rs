//! `switchboard`: the server binary and its administration subcommands.
//!
//! - `switchboard serve` runs the server (settings from flags, `SWITCHBOARD_*` environment
//!   variables, or a TOML file; see `settings`).
//! - `switchboard agent create|list` talk to a running server's HTTP API.
//! - `switchboard backup create` makes a checkpoint on a running server; `backup restore`
//!   puts one back into a data directory (server stopped).
//!
//! This is the only place that reads flags, the environment and files; everything below
//! receives plain config structs.

mod admin;
mod backup;
mod logging;
mod serve;
mod settings;

use clap::{Parser, Subcommand};

/// mimalloc: the server allocates and frees small buffers for every frame on every shard
/// thread; measured in docs/BENCHMARKS.md against the system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Switchboard: a real-time chat engine for large support centres.
#[derive(Parser)]
#[command(name = "switchboard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(settings::ServeArgs),
    /// Manage agents on a running server.
    #[command(subcommand)]
    Agent(admin::AgentCommand),
    /// Back up and restore the database.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(settings::Settings::resolve(args)?),
        Command::Agent(command) => admin::run(command),
        Command::Backup(command) => backup::run(command),
    }
}
