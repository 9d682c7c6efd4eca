//! The daemon's metadata file: which topics and channels exist and which are paused, in nsqd's
//! `nsqd.dat` JSON format, so that a restart recreates them (and their disk queues are found).
//!
//! Written with `write_atomic` on every create/delete/pause and at a clean stop, so a crash leaves
//! either the old or the new file. Ephemeral topics and channels are never saved: they do not
//! survive a restart in nsqd either.

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

/// Reads the metadata; a missing file is empty metadata (a fresh data directory), an unparsable
/// one is an error of kind `InvalidData` (refusing to start beats silently forgetting topics).
pub async fn load(disk: &Disk) -> io::Result<Metadata> {
    match disk.read(FILE_NAME).await {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{FILE_NAME}: {e}"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Metadata::default()),
        Err(e) => Err(e),
    }
}

/// Replaces the metadata file atomically, leaving out ephemeral topics and channels.
pub async fn save(disk: &Disk, metadata: &Metadata) -> io::Result<()> {
    let json = serde_json::to_vec(&metadata.durable_only()).map_err(io::Error::other)?;
    disk.create_dir_all("").await?;
    disk.write_atomic(FILE_NAME, &json).await
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
                        ChannelMetadata { name: "billing".into(), paused: false },
                        ChannelMetadata { name: "tail#ephemeral".into(), paused: false },
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
        assert_eq!(load(&disk).await.unwrap(), Metadata::default());
    }

    #[tokio::test]
    async fn save_then_load_keeps_durable_topics_and_channels_only() {
        let disk = scratch("roundtrip");
        save(&disk, &sample()).await.unwrap();
        let loaded = load(&disk).await.unwrap();
        assert_eq!(loaded.topics.len(), 1);
        assert_eq!(loaded.topics[0].name, "orders");
        assert!(loaded.topics[0].paused);
        assert_eq!(loaded.topics[0].channels, vec![ChannelMetadata { name: "billing".into(), paused: false }]);
        assert_eq!(loaded.version, "1.3.0");
    }

    #[tokio::test]
    async fn reads_nsqd_written_files_and_rejects_garbage() {
        let disk = scratch("nsqd");
        disk.create_dir_all("").await.unwrap();
        let nsqd = br#"{"topics":[{"channels":[{"name":"c","paused":true}],"name":"t","paused":false}],"version":"1.2.1"}"#;
        disk.write_atomic(FILE_NAME, nsqd).await.unwrap();
        let m = load(&disk).await.unwrap();
        assert_eq!(m.topics[0].channels[0], ChannelMetadata { name: "c".into(), paused: true });
        disk.write_atomic(FILE_NAME, b"{not json").await.unwrap();
        assert_eq!(load(&disk).await.unwrap_err().kind(), io::ErrorKind::InvalidData);
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
