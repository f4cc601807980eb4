//! `switchboard backup ...`: make a RocksDB checkpoint on a running server (over its HTTP
//! API, as an administrator) and restore one into a data directory (offline, with the
//! server stopped).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Subcommand;
use switchboard_protocol::http::{CheckpointCreated, CreateCheckpoint};
use switchboard_storage::{Storage, StorageConfig};

use crate::admin::{self, Target};
use crate::serve::DB_DIR;

/// How long `backup create` waits: a checkpoint flushes memtables and, when the backup
/// directory is on another filesystem than the database, copies every SST file.
const CHECKPOINT_TIMEOUT: Duration = Duration::from_secs(600);

/// Backups.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Make a checkpoint of the running server's database in its backup directory and print
    /// its path. Copy that directory off the machine to keep it.
    Create {
        /// Checkpoint name [default: checkpoint-<unix ms>].
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Restore a checkpoint into a data directory. Stop the server first; the data
    /// directory must not hold a database (move the old one aside).
    Restore {
        /// The checkpoint directory (as printed by `backup create`).
        #[arg(long)]
        from: PathBuf,
        /// The data directory to restore into.
        #[arg(long, env = "SWITCHBOARD_DATA_DIR")]
        data_dir: PathBuf,
    },
}

/// Run a backup subcommand.
pub fn run(command: BackupCommand) -> anyhow::Result<()> {
    match command {
        BackupCommand::Create { name, target } => {
            let created: CheckpointCreated = admin::post(
                &target,
                "/api/v1/admin/checkpoints",
                &CreateCheckpoint { name },
                CHECKPOINT_TIMEOUT,
            )?;
            println!("checkpoint: {}\npath: {}", created.name, created.path);
            Ok(())
        }
        BackupCommand::Restore { from, data_dir } => {
            let db = restore(&from, &data_dir)?;
            println!("restored {} into {}", from.display(), db.display());
            Ok(())
        }
    }
}

/// Copy the checkpoint to `<data_dir>/db.restoring`, open it to check it is a database of
/// this version, then rename it to `<data_dir>/db`. Refuses to overwrite a database.
pub fn restore(from: &Path, data_dir: &Path) -> anyhow::Result<PathBuf> {
    let db = data_dir.join(DB_DIR);
    if db.exists() {
        bail!("{} already holds a database: stop the server and move it aside first", db.display());
    }
    if !from.join("CURRENT").is_file() {
        bail!("{} is not a checkpoint (no CURRENT file)", from.display());
    }
    let staging = data_dir.join(format!("{DB_DIR}.restoring"));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    }
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let copied = copy_files(from, &staging).and_then(|()| {
        let storage = Storage::open(&staging, &StorageConfig::default())
            .with_context(|| format!("the checkpoint {} does not open", from.display()))?;
        storage.close();
        Ok(())
    });
    if let Err(e) = copied {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    std::fs::rename(&staging, &db)
        .with_context(|| format!("renaming {} to {}", staging.display(), db.display()))?;
    // The rename itself durable too, before the server is told it may start.
    sync_dir(data_dir)?;
    Ok(db)
}

/// A checkpoint is a flat directory of files.
fn copy_files(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let target = to.join(entry.file_name());
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {} to {}", entry.path().display(), target.display()))?;
            std::fs::File::open(&target)
                .and_then(|f| f.sync_all())
                .with_context(|| format!("syncing {}", target.display()))?;
        }
    }
    sync_dir(to)
}

/// fsync a directory, so the entries created in it (files, a rename) survive a power cut.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))
}
