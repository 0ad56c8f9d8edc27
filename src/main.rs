//! The `wxauth` binary: parse the command line, set up logging, hand over.

#![forbid(unsafe_code)]

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

// mimalloc instead of glibc's malloc: a login allocates and frees on two
// threads (the request's and the database writer's), where glibc's arenas
// spent a measurable share of the benchmark's time (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = wxauth::cli::Cli::parse();
    let filter = EnvFilter::try_from_env("WXAUTH_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,wxauth=info"));
    // Log lines are batched into few writes by a flusher thread (see
    // `log_writer`); the guard writes what is left when `main` returns.
    let (writer, _flush_on_exit) = match wxauth::log_writer::batched(std::io::stdout()) {
        Ok(batched) => batched,
        Err(e) => {
            eprintln!("wxauth: cannot start the log writer: {e}");
            std::process::exit(1);
        }
    };
    // Text for people, or one JSON object per line for log collectors.
    let subscriber = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_env_filter(filter);
    match std::env::var("WXAUTH_LOG_FORMAT").as_deref() {
        Err(_) | Ok("text") => subscriber
            .with_target(false)
            .with_ansi(std::io::stdout().is_terminal())
            .with_timer(wxauth::log_format::LineTime)
            .fmt_fields(wxauth::log_format::LineFields)
            .init(),
        Ok("json") => subscriber
            .json()
            .flatten_event(false)
            .with_current_span(false)
            .init(),
        Ok(other) => {
            eprintln!("wxauth: WXAUTH_LOG_FORMAT must be text or json, not {other:?}");
            std::process::exit(1);
        }
    }

    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Rocket warns at launch, as if something were wrong, unless its
        // workers carry the name its own runtime gives them.
        .thread_name("rocket-worker-thread")
        // Database work waits for one of the pool's connections anyway (16
        // by default); more blocking threads than that only add stacks and
        // allocator heaps, which showed in the resident size after load.
        .max_blocking_threads(24)
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
        .and_then(|runtime| runtime.block_on(wxauth::cli::run(cli, wxauth::figment())));
    if let Err(message) = outcome {
        eprintln!("wxauth: {message}");
        drop(_flush_on_exit);
        std::process::exit(1);
    }
}
