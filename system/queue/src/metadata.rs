//! The daemon's metadata file: which topics and channels exist and which are paused, in nsqd's
//! `nsqd.dat` JSON format, so that a restart recreates them (and their disk queues are found).
//!
//! Written with `write_atomic` (a temporary file of its own, synced, renamed, directory synced) on
//! every create/delete/pause and at a clean stop, so a crash leaves either the old or the new
//! file. The node runs one save at a time (see `node::persist`). Before replacing a file this
//! process knows to be good, the save keeps it as `nsqd.dat.prev`: a start that finds `nsqd.dat`
//! unreadable (a disk that lost the tail of the last write) or missing while the previous copy
//! exists (a crash between the two renames) falls back to it with a logged warning, instead of
//! refusing to start or silently forgetting every topic. Ephemeral topics and channels are never
//! saved: they do not survive a restart in nsqd either.

use std::io;

use rt::disk::Disk;
use serde::{Deserialize, Serialize};

/// The file's name in the data directory.
pub const FILE_NAME: &str = "nsqd.dat";

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub topics: Vec<TopicMetadata>,
    /// The version of the daemon that wrote the file.
    #[serde(default)]
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMetadata {
    pub name: String,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub channels: Vec<ChannelMetadata>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelMetadata {
    pub name: String,
    #[serde(default)]
    pub paused: bool,
    /// Weir's per-channel dead-letter policy (`/channel/dead-letter`), when one was set. Left out
    /// when unset, so the file stays nsqd's (nsqd ignores the field; files without it load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<DeadLetterMetadata>,
}

/// A channel's own dead-letter policy as set (`max_attempts` 0: off for this channel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterMetadata {
    pub max_attempts: u16,
    #[serde(default)]
    pub topic: String,
}

impl Metadata {
    /// The same metadata without ephemeral topics and channels.
    pub fn durable_only(&self) -> Metadata {
        let topics = self
            .topics
            .iter()
            .filter(|t| !wire::names::is_ephemeral(&t.name))
            .map(|t| TopicMetadata {
                name: t.name.clone(),
                paused: t.paused,
                channels: t.channels.iter().filter(|c| !wire::names::is_ephemeral(&c.name)).cloned().collect(),
            })
            .collect();
        Metadata { topics, version: self.version.clone() }
    }
}

/// The previous good copy, kept by [`Store::save`].
pub const PREVIOUS_FILE_NAME: &str = "nsqd.dat.prev";

/// What [`load`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub metadata: Metadata,
    /// `nsqd.dat` itself was read and parsed (so the next save may keep it as the previous copy).
    pub current_is_good: bool,
}

fn parse(name: &str, bytes: &[u8]) -> io::Result<Metadata> {
    serde_json::from_slice(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{name}: {e}")))
}

/// Reads `name`: `Ok(None)` if missing.
async fn read(disk: &Disk, name: &str) -> io::Result<Option<Metadata>> {
    match disk.read(name).await {
        Ok(bytes) => parse(name, &bytes).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads the metadata. A missing file (and no previous copy) is empty metadata: a fresh data
/// directory. An unparsable `nsqd.dat` falls back to `nsqd.dat.prev` when `fallback` is set and
/// that copy parses, with a warning; otherwise it is an error of kind `InvalidData` (refusing to
/// start beats silently forgetting topics). An I/O error is returned as is: it may pass, and an
/// older copy must not win over a current one that could not be read.
pub async fn load(disk: &Disk, fallback: bool) -> io::Result<Loaded> {
    let (why, invalid) = match read(disk, FILE_NAME).await {
        Ok(Some(metadata)) => return Ok(Loaded { metadata, current_is_good: true }),
        Ok(None) => (format!("{FILE_NAME} is missing"), None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => (e.to_string(), Some(e)),
        Err(e) => return Err(e),
    };
    let previous = if fallback { read(disk, PREVIOUS_FILE_NAME).await } else { Ok(None) };
    match (previous, invalid) {
        (Ok(Some(metadata)), _) => {
            tracing::warn!("metadata: {why}; starting from the previous copy {PREVIOUS_FILE_NAME}");
            Ok(Loaded { metadata, current_is_good: false })
        }
        (_, Some(e)) => Err(e),
        (_, None) => Ok(Loaded { metadata: Metadata::default(), current_is_good: false }),
    }
}

/// The metadata file of one data directory, written by one writer at a time (the node
/// serialises [`Store::save`] calls).
#[derive(Debug)]
pub struct Store {
    disk: Disk,
    /// `nsqd.dat` holds what this process loaded or last wrote, so it may become the previous
    /// copy. False after a fallback or a failed save: a file of unknown state never replaces a
    /// good previous copy.
    current_is_good: bool,
}

impl Store {
    pub fn new(disk: Disk, current_is_good: bool) -> Store {
        Store { disk, current_is_good }
    }

    /// Replaces the metadata file atomically, leaving out ephemeral topics and channels, and
    /// keeps the file it replaces as the previous copy when that one is known good.
    pub async fn save(&mut self, metadata: &Metadata) -> io::Result<()> {
        let json = serde_json::to_vec(&metadata.durable_only()).map_err(io::Error::other)?;
        self.disk.create_dir_all("").await?;
        if self.current_is_good {
            match self.disk.rename(FILE_NAME, PREVIOUS_FILE_NAME).await {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        self.current_is_good = false;
        self.disk.write_atomic(FILE_NAME, &json).await?;
        self.current_is_good = true;
        Ok(())
    }
}

/// Testing::racy_metadata_saves — BROKEN VARIANT: the save as it was before saves were
/// serialised: one fixed temporary name, so two concurrent saves write into the same file and
/// one of them renames a mix of both (or finds the temporary gone).
pub async fn save_racy(disk: &Disk, metadata: &Metadata) -> io::Result<()> {
    let json = serde_json::to_vec(&metadata.durable_only()).map_err(io::Error::other)?;
    disk.create_dir_all("").await?;
    let tmp = format!("{FILE_NAME}.tmp");
    let mut f = disk.create(&tmp).await?;
    f.append(&json).await?;
    f.sync().await?;
    drop(f);
    disk.rename(&tmp, FILE_NAME).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> Disk {
        #[cfg(not(madsim))]
        {
            let dir = std::env::temp_dir().join(format!("weir-metadata-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            Disk::new(dir)
        }
        #[cfg(madsim)]
        {
            Disk::new(format!("/data/{name}"))
        }
    }

    fn sample() -> Metadata {
        Metadata {
            topics: vec![
                TopicMetadata {
                    name: "orders".into(),
                    paused: true,
                    channels: vec![
                        ChannelMetadata { name: "billing".into(), paused: false, dead_letter: None },
                        ChannelMetadata { name: "tail#ephemeral".into(), paused: false, dead_letter: None },
                    ],
                },
                TopicMetadata { name: "scratch#ephemeral".into(), paused: false, channels: vec![] },
            ],
            version: "1.3.0".into(),
        }
    }

    #[tokio::test]
    async fn a_missing_file_is_empty_metadata() {
        let disk = scratch("missing");
        let loaded = load(&disk, true).await.unwrap();
        assert_eq!(loaded.metadata, Metadata::default());
        assert!(!loaded.current_is_good);
    }

    #[tokio::test]
    async fn save_then_load_keeps_durable_topics_and_channels_only() {
        let disk = scratch("roundtrip");
        Store::new(disk.clone(), false).save(&sample()).await.unwrap();
        let loaded = load(&disk, true).await.unwrap().metadata;
        assert_eq!(loaded.topics.len(), 1);
        assert_eq!(loaded.topics[0].name, "orders");
        assert!(loaded.topics[0].paused);
        assert_eq!(loaded.topics[0].channels, vec![ChannelMetadata { name: "billing".into(), paused: false, dead_letter: None }]);
        assert_eq!(loaded.version, "1.3.0");
    }

    #[tokio::test]
    async fn reads_nsqd_written_files_and_rejects_garbage() {
        let disk = scratch("nsqd");
        disk.create_dir_all("").await.unwrap();
        let nsqd = br#"{"topics":[{"channels":[{"name":"c","paused":true}],"name":"t","paused":false}],"version":"1.2.1"}"#;
        disk.write_atomic(FILE_NAME, nsqd).await.unwrap();
        let m = load(&disk, true).await.unwrap().metadata;
        assert_eq!(m.topics[0].channels[0], ChannelMetadata { name: "c".into(), paused: true, dead_letter: None });
        disk.write_atomic(FILE_NAME, b"{not json").await.unwrap();
        assert_eq!(load(&disk, true).await.unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn a_dead_letter_policy_round_trips_and_is_absent_when_unset() {
        let disk = scratch("dead_letter");
        let mut md = sample();
        let policy = DeadLetterMetadata { max_attempts: 5, topic: "{topic}.{channel}.dlq".into() };
        md.topics[0].channels[0].dead_letter = Some(policy.clone());
        Store::new(disk.clone(), false).save(&md).await.unwrap();
        let loaded = load(&disk, true).await.unwrap().metadata;
        assert_eq!(loaded.topics[0].channels[0].dead_letter, Some(policy));
        // Unset, the file is nsqd's: no trace of the feature.
        Store::new(disk.clone(), false).save(&sample()).await.unwrap();
        let json = String::from_utf8(disk.read(FILE_NAME).await.unwrap().to_vec()).unwrap();
        assert!(!json.contains("dead_letter"), "{json}");
        assert_eq!(
            json,
            r#"{"topics":[{"name":"orders","paused":true,"channels":[{"name":"billing","paused":false}]}],"version":"1.3.0"}"#
        );
    }

    fn named(topic: &str) -> Metadata {
        Metadata {
            topics: vec![TopicMetadata { name: topic.into(), paused: false, channels: vec![] }],
            version: "1.3.0".into(),
        }
    }

    #[tokio::test]
    async fn a_torn_file_falls_back_to_the_previous_copy() {
        let disk = scratch("fallback");
        let mut store = Store::new(disk.clone(), false);
        store.save(&named("first")).await.unwrap();
        store.save(&named("second")).await.unwrap();
        let json = disk.read(FILE_NAME).await.unwrap();
        // The tail of the last write is lost.
        disk.write_atomic(FILE_NAME, &json[..json.len() / 2]).await.unwrap();
        let loaded = load(&disk, true).await.unwrap();
        assert_eq!(loaded.metadata, named("first"));
        assert!(!loaded.current_is_good);
        // Without the fallback (the broken variant) the start is refused.
        assert_eq!(load(&disk, false).await.unwrap_err().kind(), io::ErrorKind::InvalidData);
        // The torn file never replaces the good previous copy; the next save repairs nsqd.dat.
        let mut store = Store::new(disk.clone(), loaded.current_is_good);
        store.save(&named("third")).await.unwrap();
        assert_eq!(load(&disk, true).await.unwrap().metadata, named("third"));
        assert_eq!(parse("prev", &disk.read(PREVIOUS_FILE_NAME).await.unwrap()).unwrap(), named("first"));
    }

    #[tokio::test]
    async fn a_crash_between_the_renames_starts_from_the_previous_copy() {
        let disk = scratch("between");
        let mut store = Store::new(disk.clone(), false);
        store.save(&named("first")).await.unwrap();
        disk.rename(FILE_NAME, PREVIOUS_FILE_NAME).await.unwrap();
        assert_eq!(load(&disk, true).await.unwrap().metadata, named("first"));
    }

    #[test]
    fn the_json_uses_nsqd_field_names() {
        let json = serde_json::to_string(&sample().durable_only()).unwrap();
        assert_eq!(
            json,
            r#"{"topics":[{"name":"orders","paused":true,"channels":[{"name":"billing","paused":false}]}],"version":"1.3.0"}"#
        );
    }
}
