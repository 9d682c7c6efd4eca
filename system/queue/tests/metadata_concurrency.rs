//! Issue 11, item 3: concurrent topic/channel create, pause and delete over HTTP (8 tasks, each
//! on its own connection) leave the node healthy, `nsqd.dat` valid JSON at every moment a reader
//! looks, and the file equal to the final state, which a restart loads.
#![cfg(not(madsim))]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;

const TASKS: usize = 8;
const OPS_PER_TASK: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_admin_operations_keep_the_metadata_whole() {
    let dir = data_dir("admin-race");
    let d = start(opts(&dir)).await;
    let base = format!("http://{}", d.http);
    let done = Arc::new(AtomicBool::new(false));
    // A concurrent reader: nsqd.dat must parse whenever it exists.
    let reader = {
        let (dir, done) = (dir.clone(), done.clone());
        tokio::task::spawn_blocking(move || {
            let path = std::path::Path::new(&dir).join("nsqd.dat");
            let mut reads = 0u32;
            while !done.load(Ordering::Acquire) {
                if let Ok(bytes) = std::fs::read(&path) {
                    let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&bytes);
                    assert!(parsed.is_ok(), "a reader saw invalid nsqd.dat: {:?}", String::from_utf8_lossy(&bytes));
                    reads += 1;
                }
                std::thread::yield_now();
            }
            reads
        })
    };
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let http = rt::http::HttpClient::default();
            for i in 0..OPS_PER_TASK {
                let topic = format!("t{}", (task + i) % 5);
                let channel = format!("c{}", i % 3);
                let path = match i % 6 {
                    0 => format!("/topic/create?topic={topic}"),
                    1 => format!("/channel/create?topic={topic}&channel={channel}"),
                    2 => format!("/topic/pause?topic={topic}"),
                    3 => format!("/channel/pause?topic={topic}&channel={channel}"),
                    4 => format!("/channel/delete?topic={topic}&channel={channel}"),
                    _ => format!("/topic/unpause?topic={topic}"),
                };
                let r = http.post(&format!("{base}{path}"), "").await.expect("admin request");
                // 404 is fine (deleted by another task meanwhile); a 500 is the bug.
                assert_ne!(r.status().as_u16(), 500, "{path}: {:?}", r.body());
            }
        }));
    }
    for t in tasks {
        t.await.expect("admin task");
    }
    done.store(true, Ordering::Release);
    let reads = reader.await.expect("reader");
    assert!(reads > 0, "the reader never saw the file");

    let http = rt::http::HttpClient::default();
    let r = http.get(&format!("{base}/ping")).await.expect("ping");
    assert_eq!((r.status().as_u16(), &r.body()[..]), (200, &b"OK"[..]));
    let on_disk: queue::metadata::Metadata =
        serde_json::from_slice(&std::fs::read(std::path::Path::new(&dir).join("nsqd.dat")).unwrap()).unwrap();
    let mut topics: Vec<String> = on_disk.topics.iter().map(|t| t.name.clone()).collect();
    topics.sort();
    assert_eq!(topics, d.node.topic_names(), "the file holds the final state");
    let channels: Vec<(String, Vec<String>)> = d
        .node
        .topic_names()
        .into_iter()
        .map(|t| (t.clone(), d.node.channel_names(&t).unwrap_or_default()))
        .collect();
    d.stop().await;

    let d = start(opts(&dir)).await;
    let reloaded: Vec<(String, Vec<String>)> = d
        .node
        .topic_names()
        .into_iter()
        .map(|t| (t.clone(), d.node.channel_names(&t).unwrap_or_default()))
        .collect();
    assert_eq!(reloaded, channels);
    d.stop().await;
}
