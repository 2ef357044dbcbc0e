//! One function per command; each is a thin shell over the library crates.

mod broker;
mod clients;
mod connect;
mod probe;
mod secret;
mod servers;

use std::path::PathBuf;

use companion_store::{ConfigStore, Paths};

use crate::args::{Cli, Command};
use crate::output::Failure;

/// Where a command finds its files.
pub(crate) struct Env {
    pub(crate) paths: Paths,
    pub(crate) config: ConfigStore,
    pub(crate) state: companion_store::state_file::StateStore,
}

impl Env {
    fn new(config_override: Option<PathBuf>) -> Result<Self, Failure> {
        let paths = Paths::for_user().map_err(|e| Failure::failed(e.to_string()))?;
        // An explicit --config still gets the organization's managed configuration and policy.
        let config = config_override.map_or_else(
            || ConfigStore::new(&paths),
            |p| ConfigStore::at(p).with_managed(Some(paths.managed_config_file())),
        );
        let state = companion_store::state_file::StateStore::at(paths.state_file());
        Ok(Self {
            paths,
            config,
            state,
        })
    }
}

pub(crate) fn run(cli: Cli) -> Result<(), Failure> {
    let env = Env::new(cli.config)?;
    match cli.command {
        Command::Add(a) => servers::add(&env, *a),
        Command::List(a) => servers::list(&env, &a),
        Command::Show(a) => servers::show(&env, &a),
        Command::Secret(c) => secret::run(&env, c),
        Command::Remove(a) => servers::remove(&env, &a),
        Command::Probe(a) => probe::run(&env, *a),
        Command::Connect(a) => connect::run(&env, &a),
        Command::Login(a) => broker::login(&env, &a),
        Command::Logout(a) => broker::logout(&env, &a),
        Command::Status(a) => broker::status(&env, &a),
        Command::Daemon(a) => broker::daemon(&env, &a),
        Command::DebugToken(a) => broker::debug_token(&env, &a),
        Command::Install(a) => clients::install(&env, &a),
        Command::Uninstall(a) => clients::uninstall(&env, &a),
        Command::Clients(a) => clients::list(&env, &a),
    }
}
