//! Transparent huge pages off for the process, as Redis and MongoDB advise.
//!
//! mimalloc asks for huge pages (`madvise(MADV_HUGEPAGE)`) on every segment it maps, and with
//! Linux's common `defrag=madvise` setting a fault on such memory compacts memory synchronously
//! until it finds a free 2 MiB page. A queue holding its messages in memory faults in hundreds of
//! megabytes while it publishes: on the development machine, publishing 2 M messages of 200 B
//! into memory on a machine idle for 20 s took 2.1–2.5 s with huge pages and 1.0–1.5 s without
//! (the kernel's `clear_page_erms` was 75 % of the run's profile with them; measured with
//! `MIMALLOC_ALLOW_THP=0`, which does what this does). Set `WEIR_ALLOW_THP=1` to keep them.

/// Disables transparent huge pages for this process (`prctl(PR_SET_THP_DISABLE)`), unless
/// `WEIR_ALLOW_THP=1`. Returns whether they are now disabled.
pub fn disable_unless_allowed() -> bool {
    if std::env::var_os("WEIR_ALLOW_THP").is_some_and(|v| v == "1") {
        return false;
    }
    disable()
}

fn disable() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl with PR_SET_THP_DISABLE takes integer arguments only and changes a flag
        // of this process; it touches no memory of ours.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn disabled_for_the_process() {
        assert!(super::disable());
        // SAFETY: as above; PR_GET_THP_DISABLE reads the flag.
        let flag = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) };
        assert_eq!(flag, 1);
    }
}
