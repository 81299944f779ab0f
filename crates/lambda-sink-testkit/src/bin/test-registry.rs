//! `test-registry --listen 127.0.0.1:8081`: the test Schema Registry as a process.

#![warn(clippy::unwrap_used, clippy::too_many_lines)]

use anyhow::Context;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = match (args.next().as_deref(), args.next()) {
        (Some("--listen"), Some(addr)) => addr,
        (None, _) => "127.0.0.1:8081".to_string(),
        _ => anyhow::bail!("usage: test-registry [--listen ip:port]"),
    };
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    eprintln!("test-registry listening on {}", listener.local_addr()?);
    axum::serve(listener, lambda_sink_testkit::registry::router())
        .await
        .context("serving")?;
    Ok(())
}
