//! How commands fail: a message, an optional hint, and an exit code.

use companion_store::StoreError;

/// Exit code for an operation that failed.
pub(crate) const EXIT_FAILURE: u8 = 1;
/// Exit code for a usage or configuration error.
pub(crate) const EXIT_USAGE: u8 = 2;

/// A command's failure, ready to print.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_USAGE,
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_FAILURE,
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        let code = match &e {
            _ if e.is_config_error() => EXIT_USAGE,
            // `add` of a name that exists, `remove` of one that does not: usage errors.
            StoreError::Edit(_) | StoreError::Managed(_) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        };
        let f = Self {
            code,
            message: e.to_string(),
            hint: None,
        };
        if e.is_config_error() {
            f.hint("fix the file by hand; MCP Companion did not change it")
        } else {
            f
        }
    }
}
