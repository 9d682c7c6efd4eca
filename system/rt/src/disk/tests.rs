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
