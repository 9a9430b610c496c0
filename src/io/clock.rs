//! Time, behind a trait where the program waits (load polling), so that
//! tests can run hours of waiting in no time.

use std::time::{Duration, Instant};

/// Reads the time and sleeps.
pub(crate) trait Clock {
    /// Now.
    fn now(&self) -> Instant;
    /// Waits `duration`.
    fn sleep(&self, duration: Duration);
}

/// The real clock.
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A clock that moves only when slept on, for tests.
#[cfg(test)]
pub(crate) struct ManualClock {
    now: std::sync::Mutex<Instant>,
}

#[cfg(test)]
impl ManualClock {
    pub(crate) fn new() -> ManualClock {
        ManualClock { now: std::sync::Mutex::new(Instant::now()) }
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.now.lock().unwrap()
    }

    fn sleep(&self, duration: Duration) {
        *self.now.lock().unwrap() += duration;
    }
}
