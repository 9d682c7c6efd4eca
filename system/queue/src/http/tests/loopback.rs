//! The router served by `rt::http::serve` over real loopback TCP: what a client sees on the wire
//! (status, nsqd's header, `Content-Length`) survives the server.

use std::sync::Arc;

use super::fake::FakeNode;
use crate::http::{router, HttpLimits};

#[tokio::test]
async fn serves_over_loopback() {
    let listener = rt::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (trigger, shutdown) = rt::shutdown::channel();
    let node = Arc::new(FakeNode::new());
    let server = rt::task::spawn(rt::http::serve(
        listener,
        router(node.clone(), HttpLimits::default()),
        shutdown,
    ));
    let client = rt::http::HttpClient::default();

    let r = client
        .post(&format!("http://{addr}/pub?topic=t"), "hello")
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), &r.body()[..]), (200, &b"OK"[..]));
    assert_eq!(r.headers()["x-nsq-content-type"], "nsq; version=1.0");
    let r = client.get(&format!("http://{addr}/nope")).await.unwrap();
    assert_eq!(
        (r.status().as_u16(), &r.body()[..]),
        (404, &br#"{"message":"NOT_FOUND"}"#[..])
    );
    assert_eq!(r.headers()["content-length"], "23");
    let r = client.get(&format!("http://{addr}/ping")).await.unwrap();
    assert_eq!((r.status().as_u16(), &r.body()[..]), (200, &b"OK"[..]));
    assert!(r.headers().get("x-nsq-content-type").is_none());
    assert_eq!(node.calls(), vec![r#"publish t b"hello" 0"#]);

    trigger.trigger();
    server.await.unwrap().unwrap();
}
