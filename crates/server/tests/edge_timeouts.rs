//! Edge timeouts against hostile clients on real loopback sockets: slow request heads
//! (slowloris), slow and lying bodies, idle kept-alive connections. Behaviour is asserted;
//! the timings are printed for the notes (`--nocapture`), never asserted.

mod common;
mod edge_support;

use std::time::{Duration, Instant};

use common::*;
use edge_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slowloris_heads_are_closed_at_the_header_timeout_while_normal_requests_are_served() {
    let gw = TestGateway::start(|c| c.server.header_read_timeout_secs = 1).await;
    let addr = addr_of(&gw.url);
    // 240 bytes at one per 100 ms would take 24 s to complete.
    let head = format!(
        "GET /health HTTP/1.1\r\nHost: t\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(200)
    )
    .into_bytes();
    let started = Instant::now();
    let slow: Vec<_> = (0..200)
        .map(|_| {
            let head = head.clone();
            tokio::spawn(async move {
                let mut s = connect(addr).await;
                let t0 = Instant::now();
                let mut buf = [0u8; 256];
                for (sent, byte) in head.iter().enumerate() {
                    if s.write_all(std::slice::from_ref(byte)).await.is_err() {
                        return (sent, t0.elapsed(), false);
                    }
                    match tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await {
                        Ok(Ok(0)) | Ok(Err(_)) => return (sent + 1, t0.elapsed(), false),
                        Ok(Ok(_)) => return (sent + 1, t0.elapsed(), true),
                        Err(_) => {}
                    }
                }
                (head.len(), t0.elapsed(), false)
            })
        })
        .collect();
    // Normal requests meanwhile, each on a fresh connection.
    let mut normal = Vec::new();
    while started.elapsed() < Duration::from_secs(3) {
        let t0 = Instant::now();
        let res = reqwest::Client::new()
            .get(format!("{}/health", gw.url))
            .send()
            .await
            .expect("a normal request is answered during the attack");
        assert_eq!(res.status(), 200);
        normal.push(t0.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut closed_after = Vec::new();
    for task in slow {
        let (sent, elapsed, answered) = task.await.unwrap();
        assert!(!answered, "a slow head got an answer");
        assert!(
            sent < head.len(),
            "a slow connection stayed open for its whole head ({sent} bytes, {elapsed:?})"
        );
        closed_after.push(elapsed);
    }
    let (close_p50, close_max) = median_max_ms(closed_after);
    let (n_p50, n_max) = median_max_ms(normal.clone());
    eprintln!(
        "slowloris x200, header timeout 1 s: closed after median {close_p50:.0} ms, max {close_max:.0} ms; {} normal requests ok, p50 {n_p50:.1} ms, max {n_max:.1} ms",
        normal.len()
    );
}

#[tokio::test]
async fn a_stalled_body_gets_408_and_the_connection_is_closed() {
    let gw = TestGateway::start(|c| c.server.body_idle_timeout_secs = 1).await;
    let org = gw.org("1").await;
    let mut s = connect(addr_of(&gw.url)).await;
    let t0 = Instant::now();
    s.write_all(&chat_head(&org.key, 100)).await.unwrap();
    s.write_all(b"{\"model\": ").await.unwrap();
    let res = read_response(&mut s).await.expect("a 408 before the close");
    assert_eq!(res.status, 408, "{res:?}");
    let e = res.error();
    assert_eq!(e["code"], "body_timeout");
    assert!(
        e["message"].as_str().unwrap().contains("nothing received"),
        "{e}"
    );
    assert_eq!(res.header("connection"), Some("close"));
    assert!(closes(&mut s).await, "closed after the 408");
    eprintln!(
        "stalled body, idle timeout 1 s: 408 after {:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn a_trickled_body_within_the_idle_timeout_still_meets_the_total_one() {
    let gw = TestGateway::start(|c| {
        c.server.body_idle_timeout_secs = 1;
        c.server.body_read_timeout_secs = 2;
    })
    .await;
    let org = gw.org("1").await;
    let mut s = connect(addr_of(&gw.url)).await;
    s.write_all(&chat_head(&org.key, 200)).await.unwrap();
    // One byte every 250 ms: never idle for 1 s, 50 s in total. The writer stops at the close.
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        for _ in 0..200 {
            if wr.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(BOUND, rd.read(&mut chunk))
            .await
            .expect("an answer in time")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    writer.abort();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("not complete after 2 s"), "{text}");
}

#[tokio::test]
async fn a_content_length_far_over_the_limit_is_413_before_any_body_byte() {
    // The body timeouts are long: only the Content-Length check can answer this in time.
    let gw = TestGateway::start(|c| {
        c.max_body_bytes = 1024;
        c.server.body_idle_timeout_secs = 60;
    })
    .await;
    let org = gw.org("1").await;
    let mut s = connect(addr_of(&gw.url)).await;
    s.write_all(&chat_head(&org.key, 100 * 1024)).await.unwrap();
    let res = read_response(&mut s).await.expect("a 413");
    assert_eq!(res.status, 413, "{res:?}");
    assert_eq!(res.error()["code"], "payload_too_large");
    assert!(closes(&mut s).await);
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_closed_at_the_body_timeout() {
    let gw = TestGateway::start(|c| {
        c.max_body_bytes = 1024;
        c.server.body_idle_timeout_secs = 1;
    })
    .await;
    let org = gw.org("1").await;
    let mut s = connect(addr_of(&gw.url)).await;
    s.write_all(&chat_head(&org.key, 500)).await.unwrap();
    s.write_all(&[b' '; 100]).await.unwrap();
    let res = read_response(&mut s).await.expect("a 408");
    assert_eq!(res.status, 408);
    assert_eq!(res.error()["code"], "body_timeout");
    assert!(closes(&mut s).await);
}

#[tokio::test]
async fn kept_alive_connections_outlive_the_header_timeout_and_close_at_the_idle_one() {
    let gw = TestGateway::start(|c| {
        c.server.header_read_timeout_secs = 1;
        c.server.idle_timeout_secs = 4;
    })
    .await;
    let addr = addr_of(&gw.url);
    let mut s = connect(addr).await;
    assert_eq!(health_on(&mut s).await.unwrap().status, 200);
    // Idle for longer than the header timeout: still open, the next request is served.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(health_on(&mut s).await.expect("still open").status, 200);
    // Then idle past the idle timeout: closed by the gateway.
    let t0 = Instant::now();
    assert!(closes(&mut s).await, "an idle connection is closed");
    eprintln!(
        "idle timeout 4 s: closed {:?} after the last answer",
        t0.elapsed()
    );

    // A connection that opens and says nothing is held to the header timeout.
    let mut quiet = connect(addr).await;
    assert!(closes(&mut quiet).await);
    // So is a kept-alive one whose next head stalls after its first byte.
    let mut s = connect(addr).await;
    assert_eq!(health_on(&mut s).await.unwrap().status, 200);
    s.write_all(b"G").await.unwrap();
    assert!(closes(&mut s).await);
}

#[tokio::test]
async fn graceful_shutdown_lets_a_request_in_flight_finish() {
    let up = Fake::openai().await;
    up.push(Reply::json_text(200, OPENAI_RESPONSE).delayed(Duration::from_millis(800)));
    let mut gw = ptb_gateway(&up).await;
    let org = gw.org("1").await;
    let client = gw.client.clone();
    let url = gw.url.clone();
    let key = org.key.clone();
    let in_flight = tokio::spawn(async move {
        client
            .post(format!("{url}/v1/chat/completions"))
            .bearer_auth(key)
            .json(&chat_body("gpt-4o-mini/openai", false))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    // Let the request reach the upstream, then shut down while it waits there.
    while up.hits() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.shutdown().await;
    assert_eq!(in_flight.await.unwrap().expect("answered"), 200);
    let rows = gw.reopen_store().await;
    use switchyard_store::LogStore;
    let logs = rows
        .recent_logs(&switchyard_store::LogQuery::new(org.id, 10))
        .await
        .unwrap();
    assert_eq!(
        logs.len(),
        1,
        "the request's log row was flushed at shutdown"
    );
}
