//! End-to-end tests: the built programs, run for real, against real peers.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

/// The tray app under Xvfb, its menu read and clicked over D-Bus.
mod tray;
