//! The one retry policy every client follows (go-containerregistry's
//! `transport/retry.go`): a request is tried at most four times; what is
//! worth another try is a status the service names as temporary, or an
//! exchange that broke off (never an unreachable host or a TLS failure,
//! which answer the same way seconds later); the wait is the reply's
//! `Retry-After`, else 1, 2, 4 s, and never more than a minute. The callers
//! differ only in which statuses their service calls temporary.

use std::time::Duration;

use super::http::{Failure, Response, TransportError};

/// Retries after the first try.
pub(crate) const RETRIES: u32 = 3;
/// The longest wait accepted from `Retry-After`.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Which statuses a service calls temporary.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    statuses: &'static [u16],
}

impl Policy {
    /// Container registries: timeouts, rate limits and gateway errors.
    pub(crate) const REGISTRY: Policy = Policy { statuses: &[408, 429, 500, 502, 503, 504] };
    /// Dagster+: what the official CLI retries (409 is a concurrent update).
    pub(crate) const DAGSTER: Policy = Policy { statuses: &[409, 429, 502, 503, 504] };

    /// Whether `status` is worth another try.
    pub(crate) fn is_temporary(self, status: u16) -> bool {
        self.statuses.contains(&status)
    }

    /// After try number `attempt` (from 0) got `response`: how long to wait
    /// before the next, or `None` to keep the response.
    pub(crate) fn after_response(self, attempt: u32, response: &Response) -> Option<Duration> {
        if attempt >= RETRIES || !self.is_temporary(response.status) {
            return None;
        }
        let asked = response.header("retry-after").and_then(parse_retry_after);
        Some(asked.unwrap_or_else(|| backoff(attempt)).min(MAX_WAIT))
    }

    /// After try number `attempt` (from 0) failed with `error`: how long to
    /// wait before the next, or `None` to give up.
    pub(crate) fn after_error(self, attempt: u32, error: &anyhow::Error) -> Option<Duration> {
        let interrupted = TransportError::failure_in(error) == Some(Failure::Interrupted);
        (attempt < RETRIES && interrupted).then(|| backoff(attempt))
    }
}

/// 1, 2, 4 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1 << attempt.min(6))
}

/// `Retry-After` as seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value.trim()).ok()?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, retry_after: Option<&str>) -> Response {
        let headers = retry_after.map(|v| vec![("retry-after".to_string(), v.to_string())]).unwrap_or_default();
        Response { status, headers, body: Box::new(std::io::empty()) }
    }

    #[test]
    fn temporary_statuses_wait_as_asked_or_back_off_and_stop_after_three_retries() {
        let p = Policy::REGISTRY;
        assert_eq!(p.after_response(0, &reply(503, None)), Some(Duration::from_secs(1)));
        assert_eq!(p.after_response(2, &reply(503, None)), Some(Duration::from_secs(4)));
        assert_eq!(p.after_response(0, &reply(429, Some("7"))), Some(Duration::from_secs(7)));
        assert_eq!(p.after_response(0, &reply(429, Some("86400"))), Some(MAX_WAIT));
        assert_eq!(p.after_response(3, &reply(503, None)), None);
        assert_eq!(p.after_response(0, &reply(404, None)), None);
        assert_eq!(Policy::DAGSTER.after_response(0, &reply(500, None)), None, "as the official CLI");
        assert!(Policy::DAGSTER.is_temporary(409) && !Policy::REGISTRY.is_temporary(409));
    }

    #[test]
    fn only_interrupted_exchanges_are_retried() {
        let request = crate::io::http::Request::new("GET", "http://h/");
        let failed = |f| anyhow::Error::new(TransportError::new(&request, f, "x"));
        assert_eq!(Policy::REGISTRY.after_error(0, &failed(Failure::Interrupted)), Some(Duration::from_secs(1)));
        assert_eq!(Policy::REGISTRY.after_error(0, &failed(Failure::Unreachable)), None);
        assert_eq!(Policy::REGISTRY.after_error(3, &failed(Failure::Interrupted)), None);
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
