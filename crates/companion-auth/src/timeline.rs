//! A record of every step: what a support desk reads to see where a sign-in went wrong.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

/// One step.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEvent {
    /// Milliseconds since the timeline started.
    pub at_ms: u64,
    /// The stage, e.g. "resource metadata".
    pub step: String,
    /// HTTP method, when this was a request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The URL, when this was a request. Never carries a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// HTTP status, when one came back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// How long the step took, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub took_ms: Option<u64>,
    /// What was learned.
    pub note: String,
}

type Sink = Arc<dyn Fn(&TimelineEvent) + Send + Sync>;

/// A shared, append-only list of events.
#[derive(Clone)]
pub struct Timeline {
    start: Instant,
    events: Arc<Mutex<Vec<TimelineEvent>>>,
    sink: Option<Sink>,
}

impl std::fmt::Debug for Timeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeline")
            .field("events", &self.events().len())
            .finish()
    }
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new()
    }
}

impl Timeline {
    /// An empty timeline starting now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            events: Arc::default(),
            sink: None,
        }
    }

    /// Also calls `sink` with each event as it is recorded (live progress).
    pub fn with_sink(mut self, sink: impl Fn(&TimelineEvent) + Send + Sync + 'static) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// Milliseconds since the start.
    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Records a note that is not a request.
    pub fn note(&self, step: &str, note: impl Into<String>) {
        self.push(TimelineEvent {
            at_ms: self.elapsed_ms(),
            step: step.to_owned(),
            method: None,
            url: None,
            status: None,
            took_ms: None,
            note: note.into(),
        });
    }

    /// Records an event.
    pub fn push(&self, e: TimelineEvent) {
        if let Some(s) = &self.sink {
            s(&e);
        }
        if let Ok(mut v) = self.events.lock() {
            v.push(e);
        }
    }

    /// A copy of every event so far.
    pub fn events(&self) -> Vec<TimelineEvent> {
        self.events.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// How many HTTP requests were made.
    pub fn requests(&self) -> usize {
        self.events().iter().filter(|e| e.method.is_some()).count()
    }
}
