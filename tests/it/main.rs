//! wxauth's integration tests: one binary, each test on its own database and
//! mock WeChat, over real HTTP.

mod common;

mod admin_api;
mod admin_pages;
mod admin_people;
mod admin_sign_in;
mod audit_csv;
mod authorize;
mod browser;
mod cli;
mod concurrent_checks;
mod console_roles;
mod cookie_clients;
mod deploy;
mod differential;
mod envelope;
mod first_run;
mod hostile_input;
mod logout;
mod maintenance;
mod metrics;
mod migrations;
mod multi_instance;
mod openapi;
mod outage;
mod own_account;
mod people;
mod platforms_alipay;
mod platforms_dedup;
mod platforms_login;
mod refresh;
mod scale_out;
mod sessions;
mod signing_keys;
mod sqlite_pragmas;
mod templates;
mod tokens;
mod upgrade;
mod user;
mod web_login;
mod webhook_faults;
mod webhooks;
mod wechat_data;
mod wechat_errors;
mod wechat_wxacode;
