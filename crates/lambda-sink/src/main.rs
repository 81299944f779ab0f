//! The `lambda-sink` binary: parse the command line, set up logging, own the
//! signals, run the command and turn its outcome into the exit code.

#![warn(clippy::unwrap_used, clippy::too_many_lines)]

use std::process::ExitCode;

use clap::Parser;
use lambda_sink::{cli::Cli, commands, exit, telemetry};
use tokio_util::sync::CancellationToken;

/// mimalloc instead of glibc's allocator: every record allocates on one
/// thread (the poll thread) and frees on another (a runtime worker), which
/// glibc's per-thread arenas serve with heap trimming and regrowth (8% of a
/// drain's CPU in page faults and `sysmalloc` alone; see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::RUNTIME);
        }
    };
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(signals(shutdown.clone()));
        match commands::dispatch(cli.command, shutdown).await {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(exit::RUNTIME)
            }
        }
    })
}

/// First SIGINT/SIGTERM: stop gracefully. Second: exit at once (work in
/// flight is not committed and will be redone).
async fn signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        eprintln!("warning: cannot install signal handlers; stop lambda-sink with SIGKILL");
        return;
    };
    tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
    tracing::info!("signal received: finishing in-flight work (a second signal exits at once)");
    shutdown.cancel();
    tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
    eprintln!("second signal: exiting now; work in flight is not committed");
    std::process::exit(i32::from(exit::RUNTIME));
}
