//! MCP Companion's credential broker: the one owner of every token for the user.
//!
//! Bridges, the CLI and the tray never refresh or sign in themselves: they ask the broker over a
//! private local socket ([`endpoint`]) with a small versioned protocol ([`protocol`]). The broker
//! keeps tokens in the OS keychain ([`vault`]), refreshes each server's token once however many
//! callers need it (single flight, deduplicated by generation), refreshes ahead of expiry, and
//! turns a dead grant into a "needs sign-in" event instead of a retry loop ([`server`]).
//! [`client`] is the other end, including starting a broker when none runs.
#![deny(missing_docs)]

pub mod client;
pub mod endpoint;
pub mod protocol;
pub mod server;
pub mod vault;

pub use client::{BrokerClient, StartCommand, Token, TRAY_BACKGROUND_ARG};
pub use endpoint::{Endpoint, EndpointError};
pub use protocol::{BrokerError, ErrorKind, Event, Op, RecentEvent, Reply, ServerStatus, State};
pub use server::{serve_for_user, Broker, BrokerOptions};
