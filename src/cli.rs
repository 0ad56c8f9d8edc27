//! The command line: `serve` (the default), `migrate`, `admin`, `config
//! check`, `mock-wechat`. Every command reads the same configuration.

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
    /// Manage the accounts of the admin console.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Manage the keys of the admin API (/api/admin/v1).
    Apikey {
        #[command(subcommand)]
        action: ApikeyAction,
    },
    /// Check the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
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

#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Create an admin (password from a prompt, or the first line of stdin).
    Create {
        username: String,
        /// `viewer` reads everything and changes nothing; `operator` also
        /// revokes, signs out, bans, unbans and resends webhooks; `owner`
        /// also merges, unlinks and erases people and manages API keys.
        #[arg(long, default_value = "owner", value_parser = ["viewer", "operator", "owner"])]
        role: String,
    },
    /// Give an admin another role (viewer, operator or owner); it holds
    /// from their next request.
    Role {
        username: String,
        #[arg(value_parser = ["viewer", "operator", "owner"])]
        role: String,
    },
    /// Set an admin's password and end their console sessions.
    Passwd { username: String },
    /// Clear an admin's failed sign-ins, so that a locked-out name can sign
    /// in again at once (from every address).
    Unlock { username: String },
    /// Remove an admin's second factor (TOTP and recovery codes) and end
    /// their console sessions: they sign in with the password alone, and
    /// enrol again (at once, when `admin.require_totp` is on).
    ResetTotp { username: String },
    /// List the admins: name, role, creation time, live console sessions.
    List,
    /// Delete an admin and end their console sessions (not the last one).
    Delete { username: String },
}

#[derive(Debug, Subcommand)]
pub enum ApikeyAction {
    /// Make a key; it is printed once, alone on its line (only its hash is kept).
    Create {
        name: String,
        /// `read`: users, sessions, the audit log; `write`: also revoke, ban,
        /// unban; `owner`: also merge, unlink and erase people.
        #[arg(long, value_parser = ["read", "write", "owner"])]
        scope: String,
    },
    /// List the keys: name, scope, creation, last use, revocation.
    List,
    /// Revoke a key: the next call with it is refused.
    Revoke { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the effective configuration, secrets redacted; exit 1 with the
    /// reason when the server would refuse to start with it.
    Check,
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
            let config = crate::checked_config(&figment).map_err(|e| e.to_string())?;
            crate::db::Db::connect(&config.database_url, 1)?;
            println!("migrations are up to date");
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?,
        Command::Admin { action } => tokio::task::spawn_blocking(move || admin(action, figment))
            .await
            .map_err(|e| e.to_string())?,
        Command::Apikey { action } => tokio::task::spawn_blocking(move || apikey(action, figment))
            .await
            .map_err(|e| e.to_string())?,
        Command::Config {
            action: ConfigAction::Check,
        } => config_check(&figment),
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

fn admin(action: AdminAction, figment: Figment) -> Result<(), String> {
    use crate::admin::{bootstrap, password};
    use crate::auth::role::Role;
    use crate::db::write_transaction;
    use crate::db::{admin_sessions, admins, audit};
    let config = crate::checked_config(&figment).map_err(|e| e.to_string())?;
    let db = crate::db::Db::connect(&config.database_url, 1)?;
    let mut conn = db.get().map_err(|e| e.to_string())?;
    let now = crate::timestamp::now();
    match action {
        AdminAction::Create { username, role } => {
            bootstrap::check_username(&username)?;
            let role = Role::parse(&role).ok_or("--role is viewer, operator or owner")?;
            let hash = password::hash(&bootstrap::read_password()?)?;
            if !admins::create(&mut conn, &username, &hash, role, now).map_err(|e| e.to_string())? {
                return Err(format!("an admin named `{username}` already exists; use `wxauth admin passwd {username}`"));
            }
            println!("created admin `{username}` ({role})");
        }
        AdminAction::Role { username, role } => {
            let role = Role::parse(&role).ok_or("the role is viewer, operator or owner")?;
            let all = admins::all(&mut conn).map_err(|e| e.to_string())?;
            let Some(admin) = all.iter().find(|a| a.username == username) else {
                return Err(format!("there is no admin named `{username}`"));
            };
            // Someone must be able to manage keys and erase people.
            let other_owners = all
                .iter()
                .filter(|a| a.username != username && a.role == Role::Owner.as_str())
                .count();
            if admin.role == Role::Owner.as_str() && role != Role::Owner && other_owners == 0 {
                return Err(format!(
                    "`{username}` is the only owner; make another admin owner first"
                ));
            }
            let from = admin.role.clone();
            write_transaction(&mut conn, |conn| {
                admins::set_role(conn, &username, role, now)?;
                audit::record(
                    conn,
                    &audit::NewEvent::new(audit::Kind::AdminRole, now)
                        .actor(&username)
                        .detail(format!("{from} -> {role}")),
                )
            })
            .map_err(|e| e.to_string())?;
            println!("`{username}` is now {role} (was {from}), from their next request");
        }
        AdminAction::Passwd { username } => {
            let admin = admins::find_by_username(&mut conn, &username)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("there is no admin named `{username}`"))?;
            let hash = password::hash(&bootstrap::read_password()?)?;
            admins::set_password(&mut conn, &username, &hash, now).map_err(|e| e.to_string())?;
            admin_sessions::revoke_all_of_admin(&mut conn, admin.id, now)
                .map_err(|e| e.to_string())?;
            println!("password of `{username}` changed; their console sessions were ended");
        }
        AdminAction::Unlock { username } => {
            admins::find_by_username(&mut conn, &username)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("there is no admin named `{username}`"))?;
            // The failures stay in the audit log; this event says from when
            // they no longer count.
            audit::record(
                &mut conn,
                &audit::NewEvent::new(audit::Kind::AdminUnlock, now).actor(&username),
            )
            .map_err(|e| e.to_string())?;
            println!("failed sign-ins of `{username}` cleared: `{username}` can sign in again");
        }
        AdminAction::ResetTotp { username } => {
            let admin = admins::find_by_username(&mut conn, &username)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("there is no admin named `{username}`"))?;
            write_transaction(&mut conn, |conn| {
                crate::db::admin_totp::reset(conn, admin.id, now)?;
                admin_sessions::revoke_all_of_admin(conn, admin.id, now)?;
                audit::record(
                    conn,
                    &audit::NewEvent::new(audit::Kind::AdminTotpReset, now).actor(&username),
                )
            })
            .map_err(|e| e.to_string())?;
            println!(
                "second factor of `{username}` removed and their console sessions ended: they sign in with their password and can enrol again"
            );
        }
        AdminAction::List => {
            let all = admins::all(&mut conn).map_err(|e| e.to_string())?;
            if all.is_empty() {
                println!("no admins (the server makes `admin` at its next start)");
            }
            for admin in all {
                let live = admin_sessions::live_count(&mut conn, admin.id, now)
                    .map_err(|e| e.to_string())?;
                println!(
                    "{}\t{}\tcreated {}\t{live} live console session{}",
                    admin.username,
                    admin.role,
                    crate::timestamp::rfc3339(admin.created_at),
                    if live == 1 { "" } else { "s" }
                );
            }
        }
        AdminAction::Delete { username } => {
            let all = admins::all(&mut conn).map_err(|e| e.to_string())?;
            if !all.iter().any(|a| a.username == username) {
                return Err(format!("there is no admin named `{username}`"));
            }
            if all.len() == 1 {
                return Err(format!(
                    "`{username}` is the only admin; create another first (`wxauth admin create NAME`)"
                ));
            }
            let owner = |a: &&crate::db::admins::Admin| a.role == Role::Owner.as_str();
            if all.iter().filter(owner).all(|a| a.username == username) {
                return Err(format!(
                    "`{username}` is the only owner; make another admin owner first (`wxauth admin role NAME owner`)"
                ));
            }
            diesel::Connection::transaction(&mut *conn, |conn| {
                admins::delete(conn, &username)?;
                audit::record(
                    conn,
                    &audit::NewEvent::new(audit::Kind::AdminDelete, now).actor(&username),
                )
            })
            .map_err(|e| e.to_string())?;
            println!("deleted admin `{username}`; their console sessions are ended");
        }
    }
    Ok(())
}

fn apikey(action: ApikeyAction, figment: Figment) -> Result<(), String> {
    use crate::auth::api_key::{self, Scope};
    use crate::db::api_keys;
    use crate::db::write_transaction;
    use crate::flows::api_keys::{self as keys, By, Made};
    let config = crate::checked_config(&figment).map_err(|e| e.to_string())?;
    let db = crate::db::Db::connect(&config.database_url, 1)?;
    let mut conn = db.get().map_err(|e| e.to_string())?;
    let now = crate::timestamp::now();
    match action {
        ApikeyAction::Create { name, scope } => {
            api_key::check_name(&name)?;
            let scope =
                Scope::parse(&scope).ok_or_else(|| format!("--scope is {}", Scope::NAMES))?;
            match write_transaction(&mut conn, |conn| {
                keys::create(conn, &name, scope, By::CommandLine, now)
            })
            .map_err(|e| e.to_string())?
            {
                Made::NameTaken => {
                    return Err(format!(
                        "a key named `{name}` exists; revoke it first (`wxauth apikey revoke {name}`) or pick another name"
                    ))
                }
                Made::Key(key) => {
                    // The key alone on stdout, so that a script can take it.
                    println!("{key}");
                    eprintln!(
                        "created {} key `{name}`: this is the only time it is shown",
                        scope.as_str()
                    );
                }
            }
        }
        ApikeyAction::List => {
            let all = api_keys::all(&mut conn).map_err(|e| e.to_string())?;
            if all.is_empty() {
                println!("no API keys (`wxauth apikey create NAME --scope read|write|owner`)");
            }
            let time = |t: Option<i64>| t.map_or("never".to_string(), crate::timestamp::rfc3339);
            for key in all {
                let state = match key.revoked_at {
                    Some(at) => format!("revoked {}", crate::timestamp::rfc3339(at)),
                    None => "live".into(),
                };
                println!(
                    "{}\t{}\tcreated {}\tlast used {}\t{state}",
                    key.name,
                    key.scope,
                    crate::timestamp::rfc3339(key.created_at),
                    time(key.last_used_at),
                );
            }
        }
        ApikeyAction::Revoke { name } => {
            let revoked = write_transaction(&mut conn, |conn| {
                keys::revoke(conn, &name, By::CommandLine, now)
            })
            .map_err(|e| e.to_string())?;
            if !revoked {
                return Err(format!("there is no live key named `{name}`"));
            }
            println!("revoked key `{name}`: calls with it are refused from now on");
        }
    }
    Ok(())
}

/// `wxauth config check`: the configuration as the server would take it.
fn config_check(figment: &Figment) -> Result<(), String> {
    let config = crate::checked_config(figment).map_err(|e| e.to_string())?;
    let rocket = figment
        .extract::<rocket::Config>()
        .map_err(|e| format!("invalid configuration: {e}"))?;
    println!("profile: {}", figment.profile());
    println!("listening on: {}:{}", rocket.address, rocket.port);
    // The Debug form redacts every secret (see `config::Secret`).
    println!("{config:#?}");
    // The kid that new tokens carry, which a key rotation needs.
    let keys = crate::auth::signing_keys::SigningKeys::from_settings(&config.jwt)
        .map_err(|e| e.to_string())?;
    println!("signing keys: {keys:#?}");
    println!("the configuration is valid");
    Ok(())
}
