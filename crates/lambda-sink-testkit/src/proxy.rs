//! A minimal HTTP forward proxy for tests: plain requests in absolute form
//! are forwarded (one request per connection), `CONNECT` is tunnelled, and
//! `Proxy-Authorization: Basic` is checked. It counts connections that passed and that were refused, so a
//! test can prove traffic went through it with the right credentials.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt, copy_bidirectional};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy has seen.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Connections forwarded (with valid credentials, when required).
    pub forwarded: AtomicU64,
    /// Connections refused with 407.
    pub refused: AtomicU64,
}

/// A running proxy.
pub struct ForwardProxy {
    /// Its address; use `http://{addr}` as the proxy URL.
    pub addr: SocketAddr,
    /// Counters.
    pub stats: Arc<ProxyStats>,
}

/// Starts a proxy on 127.0.0.1 at a free port; with `credentials`, requests
/// without matching `Proxy-Authorization` get 407.
///
/// # Errors
/// When no port can be bound.
pub async fn start(credentials: Option<(&str, &str)>) -> anyhow::Result<ForwardProxy> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stats = Arc::new(ProxyStats::default());
    let expected = credentials.map(|(u, p)| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    });
    let counters = stats.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (expected, counters) = (expected.clone(), counters.clone());
            tokio::spawn(async move {
                let _ = handle(client, expected.as_deref(), &counters).await;
            });
        }
    });
    Ok(ForwardProxy { addr, stats })
}

async fn handle(
    mut client: TcpStream,
    expected: Option<&str>,
    stats: &ProxyStats,
) -> anyhow::Result<()> {
    // Read the request head.
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = client.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "closed before the request head");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        anyhow::ensure!(buf.len() < 64 * 1024, "request head too large");
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target, version) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or("HTTP/1.1"),
    );
    let headers: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    let authorization = headers.iter().find_map(|h| {
        h.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case("proxy-authorization"))
            .map(|(_, v)| v.trim().to_string())
    });
    if let Some(expected) = expected
        && authorization.as_deref() != Some(expected)
    {
        stats.refused.fetch_add(1, Ordering::SeqCst);
        client
            .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
            .await?;
        return Ok(());
    }
    stats.forwarded.fetch_add(1, Ordering::SeqCst);
    if method == "CONNECT" {
        let mut upstream = TcpStream::connect(target).await?;
        client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await?;
        copy_bidirectional(&mut client, &mut upstream).await?;
        return Ok(());
    }
    // Absolute form: http://host:port/path → origin form to host:port.
    let rest = target.strip_prefix("http://").unwrap_or(target);
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let host = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let mut upstream = TcpStream::connect(&host).await?;
    // One request per connection: `Connection: close` makes the upstream
    // close after its response, whose own `Connection: close` tells the
    // client not to reuse this connection for its next (absolute-form) request.
    let mut forwarded = format!("{method} {path} {version}\r\n");
    for h in headers.iter().filter(|h| {
        let h = h.to_ascii_lowercase();
        !h.starts_with("proxy-") && !h.starts_with("connection:") && !h.starts_with("keep-alive:")
    }) {
        forwarded.push_str(h);
        forwarded.push_str("\r\n");
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    upstream.write_all(forwarded.as_bytes()).await?;
    upstream.write_all(&buf[head_end..]).await?;
    copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}
