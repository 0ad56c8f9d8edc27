//! The command line: `serve` (the default), `migrate`, `mock-wechat`.
//! Every command reads the same configuration.

use clap::{Parser, Subcommand};
use rocket::figment::Figment;

#[derive(Debug, Parser)]
#[command(
    name = "wxauth",
    version,
    about = "Login and session server for WeChat mini-programs"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default when no command is given).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Run the mock WeChat alone, for tests and local development.
    MockWechat {
        /// Port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 9100)]
        port: u16,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        address: std::net::IpAddr,
    },
}

/// Runs the command; the error is the one line to print before exiting 1.
pub async fn run(cli: Cli, figment: Figment) -> Result<(), String> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let rocket = tokio::task::spawn_blocking(move || crate::rocket(figment))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            rocket
                .launch()
                .await
                .map(|_| ())
                .map_err(|e| format!("server failed: {e}"))
        }
        Command::Migrate => tokio::task::spawn_blocking(move || {
            let config =
                crate::config::AppConfig::from_figment(&figment).map_err(|e| e.to_string())?;
            crate::db::Db::connect(&config.database_url, 1)?;
            println!("migrations are up to date");
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?,
        Command::MockWechat { port, address } => {
            let figment = figment.merge(("port", port)).merge(("address", address));
            let rocket = crate::wechat::mock::rocket(figment).attach(
                rocket::fairing::AdHoc::on_liftoff("announce", |rocket| {
                    Box::pin(async move {
                        let c = rocket.config();
                        println!("mock WeChat listening on http://{}:{}", c.address, c.port);
                    })
                }),
            );
            rocket
                .launch()
                .await
                .map(|_| ())
                .map_err(|e| format!("mock failed: {e}"))
        }
    }
}
