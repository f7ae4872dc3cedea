//! A loopback TCP proxy in front of LocalStack that fails on command, for the dependency
//! fault tests. A client pointed at [`FaultProxy::endpoint`] meets one of:
//! - [`Mode::Pass`]: bytes through both ways;
//! - [`Mode::Refuse`]: each connection closed unanswered, as an unreachable service;
//! - [`Mode::Throttle`]: every request answered with its service's throttling error
//!   (DynamoDB's and EventBridge's `ThrottlingException`, S3's `SlowDown`);
//! - [`Mode::LoseResponses`]: each request forwarded and applied, then the connection closed
//!   before the answer, as a network that fails on the way back;
//! - [`Mode::Delay`]: each request held for a while, then forwarded and answered, as a
//!   slow service.
//!
//! A mode change cuts every open connection, so a client's pooled connections take the new
//! mode too.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward both ways.
    Pass,
    /// Close unanswered.
    Refuse,
    /// Answer each request with its service's throttling error.
    Throttle,
    /// Forward each request, wait for its answer to start, close without passing it on.
    LoseResponses,
    /// Hold each request this many milliseconds, then forward it and pass its answer on.
    Delay(u64),
}

/// The proxy; stops when dropped.
pub struct FaultProxy {
    port: u16,
    mode: watch::Sender<Mode>,
    failed: Arc<AtomicUsize>,
    slowest: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

/// The throttling answer of the service a request is for: `ThrottlingException` for a
/// JSON-protocol service (DynamoDB, EventBridge: the request names an `x-amz-target`), or
/// S3's `SlowDown`.
fn throttled(request: &[u8]) -> String {
    let head = String::from_utf8_lossy(request).to_ascii_lowercase();
    let (status, content_type, body) = if head.contains("\r\nx-amz-target:") {
        (
            "400 Bad Request",
            "application/x-amz-json-1.0",
            r#"{"__type":"ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#,
        )
    } else {
        (
            "503 Slow Down",
            "application/xml",
            "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
        )
    };
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\nx-amzn-requestid: fault-proxy\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
}

impl FaultProxy {
    /// Listens on a free loopback port, forwarding to `upstream`, in [`Mode::Pass`].
    pub async fn start(upstream: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (mode, watching) = watch::channel(Mode::Pass);
        let failed = Arc::new(AtomicUsize::new(0));
        let slowest = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let (failed, slowest) = (failed.clone(), slowest.clone());
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let mut watching = watching.clone();
                    let mode = *watching.borrow_and_update();
                    let (failed, slowest) = (failed.clone(), slowest.clone());
                    tokio::spawn(async move {
                        tokio::select! {
                            () = serve(client, upstream, mode, &failed, &slowest) => {}
                            _ = watching.changed() => {}
                        }
                    });
                }
            }
        });
        Ok(FaultProxy {
            port,
            mode,
            failed,
            slowest,
            task,
        })
    }

    /// A proxy in front of the LocalStack the tests use ([`crate::endpoint`]).
    pub async fn in_front_of_localstack() -> anyhow::Result<FaultProxy> {
        let endpoint = crate::endpoint();
        let authority = endpoint.trim_start_matches("http://").trim_end_matches('/');
        let upstream = tokio::net::lookup_host(authority)
            .await?
            .next()
            .ok_or_else(|| anyhow::anyhow!("cannot resolve {authority}"))?;
        Ok(FaultProxy::start(upstream).await?)
    }

    /// The endpoint URL to give a client.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Switches mode; open connections are cut.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Connections refused, requests throttled and answers lost so far.
    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::SeqCst)
    }

    /// In [`Mode::Delay`], the longest the upstream took to answer a forwarded request
    /// (the hold not counted), in milliseconds.
    pub fn slowest_upstream_ms(&self) -> u64 {
        self.slowest.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    mode: Mode,
    failed: &AtomicUsize,
    slowest: &AtomicU64,
) {
    match mode {
        Mode::Pass => {
            if let Ok(mut up) = TcpStream::connect(upstream).await {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
            }
        }
        Mode::Refuse => {
            failed.fetch_add(1, Ordering::SeqCst);
        }
        Mode::Throttle => {
            while let Some(request) = read_request(&mut client).await {
                failed.fetch_add(1, Ordering::SeqCst);
                if client
                    .write_all(throttled(&request).as_bytes())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
        Mode::Delay(ms) => {
            // One request per connection: the upstream is told to close after answering,
            // so the answer ends where the connection does, with no HTTP parsing here.
            let Some(request) = read_request(&mut client).await else {
                return;
            };
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            let Some(line_end) = request.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let mut closing = request[..line_end + 2].to_vec();
            closing.extend_from_slice(b"connection: close\r\n");
            closing.extend_from_slice(&request[line_end + 2..]);
            let forwarded = std::time::Instant::now();
            if let Ok(mut up) = TcpStream::connect(upstream).await {
                if up.write_all(&closing).await.is_ok() {
                    let _ = answer_closing(&mut up, &mut client).await;
                }
            }
            slowest.fetch_max(forwarded.elapsed().as_millis() as u64, Ordering::SeqCst);
        }
        Mode::LoseResponses => {
            let Some(request) = read_request(&mut client).await else {
                return;
            };
            if let Ok(mut up) = TcpStream::connect(upstream).await {
                // The answer starts once the request is applied; then it is lost.
                if up.write_all(&request).await.is_ok() {
                    let _ = up.read(&mut [0u8; 1]).await;
                }
            }
            failed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Passes the upstream's answer on with `connection: close` in its head, so the client
/// does not send another request on a connection the proxy is about to close.
async fn answer_closing(up: &mut TcpStream, client: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let line_end = loop {
        if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
            break i + 2;
        }
        let n = up.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    client.write_all(&buf[..line_end]).await?;
    client.write_all(b"connection: close\r\n").await?;
    client.write_all(&buf[line_end..]).await?;
    tokio::io::copy(up, client).await?;
    Ok(())
}

/// One HTTP/1.1 request (head and `Content-Length` body); `None` at the end of the stream.
async fn read_request(client: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = client.read(&mut chunk).await.ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = client.read(&mut chunk).await.ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(buf)
}
