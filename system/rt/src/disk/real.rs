//! Real files. Blocking calls run on tokio's blocking pool.

use std::fs;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(io::Error::other)?
}

pub async fn create_dir_all(path: PathBuf) -> io::Result<()> {
    blocking(move || fs::create_dir_all(path)).await
}

pub async fn rename(from: PathBuf, to: PathBuf) -> io::Result<()> {
    blocking(move || {
        fs::rename(&from, &to)?;
        // Make the rename itself durable.
        if let Some(dir) = to.parent() {
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })
    .await
}

pub async fn sync_dir(path: PathBuf) -> io::Result<()> {
    blocking(move || fs::File::open(path)?.sync_all()).await
}

pub async fn remove(path: PathBuf) -> io::Result<()> {
    blocking(move || fs::remove_file(path)).await
}

pub async fn list(path: PathBuf) -> io::Result<Vec<String>> {
    blocking(move || {
        let mut out = Vec::new();
        for entry in fs::read_dir(path)? {
            out.push(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(out)
    })
    .await
}

pub async fn exists(path: PathBuf) -> io::Result<bool> {
    blocking(move || path.try_exists()).await
}

pub struct File {
    file: Arc<fs::File>,
    len: u64,
}

impl File {
    pub async fn open(path: PathBuf, create: bool, truncate: bool) -> io::Result<File> {
        let file = blocking(move || {
            fs::OpenOptions::new().read(true).write(true).create(create).truncate(truncate).open(path)
        })
        .await?;
        let len = file.metadata()?.len();
        Ok(File { file: Arc::new(file), len })
    }

    pub async fn append(&mut self, data: &[u8]) -> io::Result<u64> {
        let at = self.len;
        let file = self.file.clone();
        let data = data.to_vec();
        let n = data.len() as u64;
        blocking(move || file.write_all_at(&data, at)).await?;
        self.len += n;
        Ok(at)
    }

    pub async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let file = self.file.clone();
        blocking(move || {
            let mut buf = vec![0u8; len];
            let mut got = 0;
            while got < len {
                let n = file.read_at(&mut buf[got..], offset + got as u64)?;
                if n == 0 {
                    break;
                }
                got += n;
            }
            buf.truncate(got);
            Ok(buf)
        })
        .await
    }

    pub async fn len(&self) -> io::Result<u64> {
        Ok(self.len)
    }

    pub async fn sync(&mut self) -> io::Result<()> {
        let file = self.file.clone();
        blocking(move || file.sync_data()).await
    }

    pub async fn set_len(&mut self, len: u64) -> io::Result<()> {
        let file = self.file.clone();
        blocking(move || file.set_len(len)).await?;
        self.len = len;
        Ok(())
    }
}
