//! Channel folders ("Management", "Engineering", "Customer Projects"): administrators
//! create, rename, reorder and delete them and move channels between them. Listing channels
//! groups them by folder, in folder order. Deleting a folder never deletes its channels:
//! they move out of it first.

use std::collections::BTreeMap;
use std::sync::Mutex;

use switchboard_storage::records::RECORD_VERSION;
use switchboard_storage::{Batch, FolderRecord};

use super::actor::{ChannelCommand, ChannelOp};
use crate::domain::channel::{ChannelId, FolderId};
use crate::{now_ms, Engine, EngineError};

/// Longest folder name, in bytes.
pub const FOLDER_NAME_BYTES_MAX: usize = 64;
/// Most folders: a sidebar holds a few dozen at most.
pub const FOLDERS_MAX: usize = 200;

/// A folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub id: FolderId,
    pub name: String,
    /// Listed by position, then id.
    pub position: u32,
}

/// Every folder, by id; changed only through the administrator's API, one change at a time.
#[derive(Default)]
pub(crate) struct Folders {
    all: Mutex<BTreeMap<FolderId, Folder>>,
    /// Held across a change's check and its durable write, so two changes (two creations
    /// picking one id or name) cannot interleave.
    changing: tokio::sync::Mutex<()>,
}

impl Folders {
    pub(crate) fn fill(&self, records: Vec<FolderRecord>) {
        let mut all = self.lock();
        for r in records {
            all.insert(r.id, Folder { id: r.id, name: r.name, position: r.position });
        }
    }

    /// Cluster mode: the folders as stored now (one was changed on another node).
    pub(crate) fn reload(&self, records: Vec<FolderRecord>) {
        self.lock().clear();
        self.fill(records);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<FolderId, Folder>> {
        self.all.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every folder in listing order.
    pub(crate) fn ordered(&self) -> Vec<Folder> {
        let mut folders: Vec<Folder> = self.lock().values().cloned().collect();
        folders.sort_by_key(|f| (f.position, f.id));
        folders
    }

    pub(crate) fn contains(&self, id: FolderId) -> bool {
        self.lock().contains_key(&id)
    }
}

fn record(f: &Folder) -> FolderRecord {
    FolderRecord {
        v: RECORD_VERSION,
        id: f.id,
        name: f.name.clone(),
        position: f.position,
        created_at_ms: now_ms(),
    }
}

fn check_name(name: &str) -> Result<(), EngineError> {
    let ok =
        !name.trim().is_empty() && name.len() <= FOLDER_NAME_BYTES_MAX && !name.chars().any(char::is_control);
    ok.then_some(()).ok_or_else(|| {
        EngineError::InvalidChannel(format!("a folder name is 1 to {FOLDER_NAME_BYTES_MAX} bytes, not blank"))
    })
}

impl Engine {
    /// Every folder in listing order.
    pub fn folders(&self) -> Vec<Folder> {
        self.hub.folders.ordered()
    }

    /// Create a folder at the end of the list.
    pub async fn create_folder(&self, name: String) -> Result<Folder, EngineError> {
        let name = name.trim().to_string();
        check_name(&name)?;
        let _one_change = self.hub.folders.changing.lock().await;
        let folder = {
            let all = self.hub.folders.lock();
            if all.len() >= FOLDERS_MAX {
                return Err(EngineError::InvalidChannel(format!("at most {FOLDERS_MAX} folders")));
            }
            if all.values().any(|f| f.name.eq_ignore_ascii_case(&name)) {
                return Err(EngineError::InvalidChannel(format!("a folder named `{name}` exists")));
            }
            let id = self.new_id_after(all.keys().max().copied().unwrap_or(0))?;
            let position = all.values().map(|f| f.position + 1).max().unwrap_or(0);
            Folder { id, name, position }
        };
        self.save_folder(&folder).await?;
        Ok(folder)
    }

    /// Rename a folder and/or move it to `position` (0 = first; the others shift).
    pub async fn update_folder(
        &self,
        id: FolderId,
        name: Option<String>,
        position: Option<u32>,
    ) -> Result<Folder, EngineError> {
        let name = name.map(|n| n.trim().to_string());
        if let Some(name) = &name {
            check_name(name)?;
        }
        let _one_change = self.hub.folders.changing.lock().await;
        let changed: Vec<Folder> = {
            let all = self.hub.folders.lock();
            let mut folder = all.get(&id).cloned().ok_or(EngineError::UnknownFolder(id))?;
            if let Some(name) = name {
                if all.values().any(|f| f.id != id && f.name.eq_ignore_ascii_case(&name)) {
                    return Err(EngineError::InvalidChannel(format!("a folder named `{name}` exists")));
                }
                folder.name = name;
            }
            let mut order: Vec<Folder> = all.values().filter(|f| f.id != id).cloned().collect();
            order.sort_by_key(|f| (f.position, f.id));
            let at = position.map_or_else(
                || {
                    order
                        .iter()
                        .position(|f| (f.position, f.id) > (folder.position, folder.id))
                        .unwrap_or(order.len())
                },
                |p| (p as usize).min(order.len()),
            );
            order.insert(at, folder);
            order.into_iter().enumerate().map(|(i, f)| Folder { position: i as u32, ..f }).collect()
        };
        let mut batch = Batch::new();
        for f in &changed {
            batch.put_folder(&record(f));
        }
        self.write(batch).await?;
        let mut all = self.hub.folders.lock();
        for f in &changed {
            all.insert(f.id, f.clone());
        }
        Ok(all[&id].clone())
    }

    /// Delete a folder; its channels move out of it first (they are never deleted).
    pub async fn delete_folder(&self, id: FolderId) -> Result<(), EngineError> {
        let _one_change = self.hub.folders.changing.lock().await;
        if !self.hub.folders.contains(id) {
            return Err(EngineError::UnknownFolder(id));
        }
        let inside: Vec<ChannelId> = self
            .hub
            .channels
            .all()
            .into_iter()
            .filter(|c| c.meta.folder_id == Some(id))
            .map(|c| c.meta.id)
            .collect();
        for channel in inside {
            self.move_channel(channel, None).await?;
        }
        let mut batch = Batch::new();
        batch.delete_folder(id);
        self.write(batch).await?;
        self.hub.folders.lock().remove(&id);
        Ok(())
    }

    /// Move a channel into a folder (or out of any, with `None`); durable before it returns.
    pub async fn move_channel(
        &self,
        channel: ChannelId,
        folder: Option<FolderId>,
    ) -> Result<(), EngineError> {
        if let Some(folder) = folder {
            if !self.hub.folders.contains(folder) {
                return Err(EngineError::UnknownFolder(folder));
            }
        }
        if self.hub.channels.get(channel).is_none() {
            return Err(EngineError::UnknownChannel(channel));
        }
        let actor = self.hub.channel_actors.addr(&self.hub, channel).await?;
        let (reply, answer) = crate::answer::oneshot_reply();
        actor
            .send(ChannelCommand { op: ChannelOp::SetFolder { folder }, reply })
            .await
            .map_err(|_| EngineError::ChannelUnavailable(channel))?;
        answer.await.map(|_| ())
    }

    async fn save_folder(&self, folder: &Folder) -> Result<(), EngineError> {
        let mut batch = Batch::new();
        batch.put_folder(&record(folder));
        self.write(batch).await?;
        self.hub.folders.lock().insert(folder.id, folder.clone());
        Ok(())
    }
}
