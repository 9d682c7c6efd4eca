//! The process's own memory use, for `/stats`-style reports.
//!
//! Production: Linux's `/proc/self/status` (read on demand; a few hundred bytes). Simulation: all
//! zeros — the simulated nodes share one real process, so its figures would describe every node
//! at once and differ between replays of a seed. Elsewhere than Linux: zeros too.

/// Memory figures of the process, in bytes (0 = unknown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Resident set size (`VmRSS`).
    pub rss_bytes: u64,
    /// Resident anonymous memory (`RssAnon`): the heap and stacks, without mapped files.
    pub anon_bytes: u64,
    /// The data segment's virtual size (`VmData`): heap reserved, resident or not.
    pub data_bytes: u64,
}

/// The current figures (zeros under the simulator).
pub fn memory() -> MemoryUsage {
    #[cfg(not(madsim))]
    {
        std::fs::read_to_string("/proc/self/status").map(|s| parse_status(&s)).unwrap_or_default()
    }
    #[cfg(madsim)]
    {
        MemoryUsage::default()
    }
}

/// Parses the `kB` lines of `/proc/<pid>/status` that [`MemoryUsage`] reports.
pub fn parse_status(text: &str) -> MemoryUsage {
    let mut m = MemoryUsage::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let kib = value.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap_or(0);
        let bytes = kib.saturating_mul(1024);
        match key {
            "VmRSS" => m.rss_bytes = bytes,
            "RssAnon" => m.anon_bytes = bytes,
            "VmData" => m.data_bytes = bytes,
            _ => {}
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_linux_status_lines() {
        let text = "Name:\tweir\nVmData:\t  2048 kB\nVmRSS:\t    1000 kB\nRssAnon:\t     600 kB\nThreads:\t4\n";
        assert_eq!(parse_status(text), MemoryUsage { rss_bytes: 1_024_000, anon_bytes: 614_400, data_bytes: 2_097_152 });
        assert_eq!(parse_status("garbage"), MemoryUsage::default());
    }

    #[cfg(all(not(madsim), target_os = "linux"))]
    #[test]
    fn the_running_process_uses_memory() {
        let m = memory();
        assert!(m.rss_bytes > 0 && m.anon_bytes > 0 && m.data_bytes >= m.anon_bytes, "{m:?}");
    }

    #[cfg(madsim)]
    #[test]
    fn the_simulator_reports_zeros() {
        assert_eq!(memory(), MemoryUsage::default());
    }
}
