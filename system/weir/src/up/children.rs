//! The cluster's service processes: each is this same binary run as `weir lookup`, `weir queue`,
//! `weir registry` or `weir gateway` with its output in a log file, so what runs is exactly what
//! a deployment runs. Why processes and not tasks in one runtime: a newcomer can `kill` one to
//! see what the rest do, and a crash of one does not take the others down.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a child may take to answer on every one of its ports.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a child may take to stop after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Service {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
    /// The ports it answers on once ready.
    pub addrs: Vec<SocketAddr>,
}

/// Starts `weir <args>` with stdout and stderr in `<logs>/<name>.log`.
pub fn spawn(name: &str, args: &[String], logs: &Path, addrs: Vec<SocketAddr>) -> anyhow::Result<Service> {
    let exe = std::env::current_exe()?;
    let log = logs.join(format!("{name}.log"));
    let out = std::fs::File::create(&log).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", log.display()))?;
    let err = out.try_clone()?;
    let child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {name}: {e}"))?;
    Ok(Service { name: name.to_string(), child, log, addrs })
}

impl Service {
    /// Waits until every address accepts a connection; fails if the process exits first or
    /// the time runs out.
    pub async fn ready(&mut self) -> anyhow::Result<()> {
        let deadline = rt::time::now() + READY_TIMEOUT;
        for addr in self.addrs.clone() {
            loop {
                if let Some(status) = self.child.try_wait()? {
                    anyhow::bail!("{} exited ({status}) before it was ready; see {}", self.name, self.log.display());
                }
                if let Ok(Ok(_)) = rt::time::timeout(Duration::from_millis(500), rt::net::TcpStream::connect(addr)).await {
                    break;
                }
                if rt::time::now() >= deadline {
                    anyhow::bail!("{} does not answer on {addr} after {:?}; see {}", self.name, READY_TIMEOUT, self.log.display());
                }
                rt::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Some(description) once the process has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("{} exited ({status}); see {}", self.name, self.log.display())),
            Ok(None) => None,
            Err(e) => Some(format!("{}: {e}", self.name)),
        }
    }

    /// SIGTERM (the clean stop every service implements), then waits; killed after
    /// [`STOP_TIMEOUT`]. Returns whether it stopped cleanly (exit code 0).
    pub async fn stop(&mut self) -> bool {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status.success();
        }
        // SAFETY: kill(2) with a pid this process started and has not reaped yet.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = rt::time::now() + STOP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if rt::time::now() < deadline => rt::time::sleep(Duration::from_millis(50)).await,
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return false;
                }
            }
        }
    }
}
