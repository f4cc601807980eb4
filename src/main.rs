//! `switchboard`: the server binary and its administration subcommands.
//!
//! - `switchboard serve` runs the server (settings from flags, `SWITCHBOARD_*` environment
//!   variables, or a TOML file; see `settings`).
//! - `switchboard agent create|list` talk to a running server's HTTP API.
//! - `switchboard department create|list|update|add-agent|remove-agent` manage fair
//!   assignment's departments on a running server.
//! - `switchboard backup create` makes a checkpoint on a running server; `backup restore`
//!   puts one back into a data directory (server stopped).
//!
//! This is the only place that reads flags, the environment and files; everything below
//! receives plain config structs.

mod admin;
mod backup;
mod department;
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
    /// Manage departments (fair assignment) on a running server.
    #[command(subcommand)]
    Department(department::DepartmentCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let result = settings::Settings::resolve(args).and_then(serve::run);
            let code = match &result {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("Error: {e:?}");
                    1
                }
            };
            exit_now(code)
        }
        Command::Agent(command) => admin::run(command),
        Command::Backup(command) => backup::run(command),
        Command::Department(command) => department::run(command),
    }
}

/// End the server process without running C++ static destructors. RocksDB stays open to
/// the end (session actors hold it), and tearing down its static state (its timer, thread
/// locals) under its still-running threads aborts ("pthread lock: Invalid argument", seen
/// in about one exit in ten). By now everything acknowledged is synced: a graceful stop
/// synced the write-ahead log and flushed the memtables, and a failed start wrote nothing
/// that must survive.
fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` only ends the process; nothing of Rust's runs after it.
    unsafe { libc::_exit(code) }
}
