use super::*;

fn scratch(name: &str) -> Disk {
    #[cfg(not(madsim))]
    {
        let dir = std::env::temp_dir().join(format!("weir-rt-disk-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Disk::new(dir)
    }
    #[cfg(madsim)]
    {
        Disk::new(format!("/data/{name}"))
    }
}

/// The operations a disk queue needs, identical in both builds.
#[tokio::test]
async fn file_operations_round_trip() {
    let disk = scratch("roundtrip");
    disk.create_dir_all("q").await.unwrap();
    let mut f = disk.create("q/seg.000").await.unwrap();
    assert_eq!(f.append(b"hello ").await.unwrap(), 0);
    assert_eq!(f.append(b"world").await.unwrap(), 6);
    f.sync().await.unwrap();
    assert_eq!(f.len().await.unwrap(), 11);
    assert_eq!(f.read_at(6, 100).await.unwrap(), b"world");
    assert_eq!(f.read_at(20, 5).await.unwrap(), b"");
    drop(f);

    let f = disk.open("q/seg.000").await.unwrap();
    assert_eq!(f.read_at(0, 5).await.unwrap(), b"hello");
    let mut f = disk.open_or_create("q/seg.000").await.unwrap();
    assert_eq!(f.append(b"!").await.unwrap(), 11);
    f.set_len(5).await.unwrap();
    assert_eq!(disk.read("q/seg.000").await.unwrap(), b"hello");

    disk.write_atomic("q/meta.json", b"{}").await.unwrap();
    disk.rename("q/seg.000", "q/seg.001").await.unwrap();
    assert_eq!(disk.list("q").await.unwrap(), vec!["meta.json", "seg.001"]);
    assert!(disk.exists("q/seg.001").await.unwrap());
    assert!(!disk.exists("q/seg.000").await.unwrap());
    disk.remove("q/seg.001").await.unwrap();
    assert_eq!(disk.remove("q/seg.001").await.unwrap_err().kind(), io::ErrorKind::NotFound);
    assert_eq!(disk.open("q/nope").await.err().unwrap().kind(), io::ErrorKind::NotFound);
    assert_eq!(disk.list("q").await.unwrap(), vec!["meta.json"]);
}

/// Concurrent replacements of one file never mix: each installs one complete image (the last
/// rename wins) and leaves no temporary file behind.
#[tokio::test]
async fn concurrent_atomic_writes_install_whole_images() {
    let disk = scratch("atomic");
    disk.create_dir_all("").await.unwrap();
    let images: Vec<Vec<u8>> = (0..8u8).map(|i| vec![b'a' + i; 4096 + usize::from(i)]).collect();
    for _round in 0..5 {
        let writes = images.iter().map(|img| disk.write_atomic("meta.json", img));
        for r in futures_join_all(writes).await {
            r.unwrap();
        }
        let got = disk.read("meta.json").await.unwrap();
        assert!(images.contains(&got), "a mixed image of {} bytes", got.len());
    }
    assert_eq!(disk.list("").await.unwrap(), vec!["meta.json"]);
}

/// Polls every future to completion concurrently (no extra dependency for one test).
async fn futures_join_all<F: std::future::Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futs: Vec<std::pin::Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in futs.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.expect("every future completed")).collect()
}

#[cfg(madsim)]
mod simulated {
    use super::*;
    use crate::sim;

    #[tokio::test]
    async fn a_crash_drops_unsynced_bytes_and_keeps_synced_ones() {
        sim::reset();
        let disk = scratch("crash");
        disk.create_dir_all("").await.unwrap();
        let mut f = disk.create("log").await.unwrap();
        f.append(b"synced").await.unwrap();
        f.sync().await.unwrap();
        f.append(b"+lost").await.unwrap();
        let mut g = disk.create("never-synced").await.unwrap();
        g.append(b"gone").await.unwrap();

        sim::disk_crash(sim::current_node(), false);
        assert_eq!(disk.read("log").await.unwrap(), b"synced");
        assert_eq!(disk.read("never-synced").await.unwrap(), b"");
    }

    #[tokio::test]
    async fn a_clean_stop_keeps_everything() {
        sim::reset();
        let disk = scratch("clean");
        disk.create_dir_all("").await.unwrap();
        let mut f = disk.create("log").await.unwrap();
        f.append(b"a").await.unwrap();
        f.sync().await.unwrap();
        f.append(b"b").await.unwrap();
        let node = sim::current_node();
        sim::disk_flush_all(node);
        sim::disk_crash(node, false);
        assert_eq!(disk.read("log").await.unwrap(), b"ab");
    }

    #[tokio::test]
    async fn a_torn_write_keeps_a_prefix_of_the_unsynced_tail() {
        sim::reset();
        let disk = scratch("torn");
        disk.create_dir_all("").await.unwrap();
        let mut f = disk.create("log").await.unwrap();
        f.append(b"base").await.unwrap();
        f.sync().await.unwrap();
        f.append(b"0123456789").await.unwrap();
        sim::disk_crash(sim::current_node(), true);
        let got = disk.read("log").await.unwrap();
        assert!(got.starts_with(b"base") && got.len() <= 14, "{got:?}");
        assert_eq!(&got[..], &b"base0123456789"[..got.len()]);
    }

    #[tokio::test]
    async fn a_lying_disk_tears_the_file_written_last_even_if_synced() {
        sim::reset();
        let disk = scratch("lying");
        disk.create_dir_all("").await.unwrap();
        disk.write_atomic("older", b"untouched").await.unwrap();
        let mark = sim::disk_write_seq(sim::current_node());
        disk.write_atomic("last", b"0123456789").await.unwrap();
        assert!(sim::disk_tear_last_write(sim::current_node(), mark));
        // Nothing written since a later mark: nothing torn.
        let later = sim::disk_write_seq(sim::current_node());
        assert!(!sim::disk_tear_last_write(sim::current_node(), later));
        sim::disk_crash(sim::current_node(), false);
        let got = disk.read("last").await.unwrap();
        assert!(got.len() < 10 && b"0123456789".starts_with(&got), "{got:?}");
        assert_eq!(disk.read("older").await.unwrap(), b"untouched");
    }

    #[tokio::test]
    async fn injected_faults_reach_the_caller() {
        sim::reset();
        let disk = scratch("faults");
        disk.create_dir_all("").await.unwrap();
        let mut f = disk.create("log").await.unwrap();
        f.append(b"x").await.unwrap();
        let node = sim::current_node();

        sim::disk_set_faults(node, DiskFaults { write_errors: true, ..Default::default() });
        assert!(f.append(b"y").await.is_err());
        assert!(f.sync().await.is_err());
        assert!(disk.create("other").await.is_err());

        sim::disk_set_faults(node, DiskFaults { read_errors: true, ..Default::default() });
        assert!(f.read_at(0, 1).await.is_err());
        assert!(f.append(b"y").await.is_ok());

        sim::disk_set_faults(node, DiskFaults { full: true, ..Default::default() });
        assert_eq!(f.append(b"z").await.unwrap_err().kind(), io::ErrorKind::StorageFull);

        sim::disk_set_faults(node, DiskFaults::default());
        assert_eq!(disk.read("log").await.unwrap(), b"xy");
    }

    #[test]
    fn disks_are_per_node_and_survive_a_restart() {
        let rt = madsim::runtime::Runtime::with_seed_and_config(1, madsim::Config::default());
        rt.block_on(async {
            sim::reset();
            let h = madsim::runtime::Handle::current();
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
            let node = h
                .create_node()
                .name("n1")
                .init(move || {
                    let tx = tx.clone();
                    async move {
                        let disk = Disk::new("/data");
                        disk.create_dir_all("").await.unwrap();
                        let mut f = disk.open_or_create("boots").await.unwrap();
                        f.append(b"1").await.unwrap();
                        f.sync().await.unwrap();
                        tx.send(disk.read("boots").await.unwrap()).unwrap();
                    }
                })
                .build();
            assert_eq!(rx.recv().await.unwrap(), b"1");
            h.kill(node.id());
            h.restart(node.id());
            assert_eq!(rx.recv().await.unwrap(), b"11");
            // The supervisor's disk is a different disk.
            assert!(!Disk::new("/data").exists("boots").await.unwrap());
        });
    }
}
