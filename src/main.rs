//! The `wxauth` binary: parse the command line, set up logging, hand over.

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = wxauth::cli::Cli::parse();
    let filter = EnvFilter::try_from_env("WXAUTH_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,wxauth=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wxauth: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(message) = runtime.block_on(wxauth::cli::run(cli, wxauth::figment())) {
        eprintln!("wxauth: {message}");
        std::process::exit(1);
    }
}
