//! The `wxauth` binary: parse the command line, set up logging, hand over.

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = wxauth::cli::Cli::parse();
    let filter = EnvFilter::try_from_env("WXAUTH_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,wxauth=info"));
    // Log lines go through a queue to a thread that writes whatever has
    // queued up in one write, instead of a write per line on the request's
    // own thread. Nothing is dropped (a full queue makes loggers wait); the
    // guard flushes what is left when `main` returns.
    let (writer, _flush_on_exit) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("wxauth-log")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        ));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .init();

    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Database work waits for one of the pool's connections anyway; more
        // blocking threads than that only add stacks and allocator heaps.
        .max_blocking_threads(64)
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
        .and_then(|runtime| runtime.block_on(wxauth::cli::run(cli, wxauth::figment())));
    if let Err(message) = outcome {
        eprintln!("wxauth: {message}");
        drop(_flush_on_exit);
        std::process::exit(1);
    }
}
