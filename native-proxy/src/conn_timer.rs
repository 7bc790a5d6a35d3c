//! One timer per HTTP/1 connection, shared by the deadlines of all its requests.
//!
//! hyper arms its request-head timeout afresh for every request on a keep-alive connection, and
//! the proxy armed the upstream response timeout per request as well: each was a boxed tokio
//! `Sleep` whose first poll inserts it into the runtime's timer wheel and whose drop removes it
//! again, about 1.9k of the 32k user-space instructions a proxied request cost (BENCHMARKS.md,
//! "Native proxy"). The deadlines of one connection move forward with time, so they can share one
//! wheel entry that is re-armed lazily: an entry armed at or before the deadline being waited for
//! is left alone, and when it fires early it is moved to that deadline. A deadline met before the
//! entry fires (nearly every one) costs no wheel operation; the entry moves at most once per
//! timeout period of an idle or slow connection.
//!
//! The bound is unchanged: a [`Deadline`] completes no earlier than its instant and, once the
//! entry has fired, no later than the runtime's timer resolution after it, as a tokio `Sleep`
//! does.
//!
//! The wheel entry remembers one waker, so every deadline of a `ConnTimer` must be awaited from
//! the connection's own task. The HTTP/1 connection future and its requests' handlers run in that
//! task (hyper's HTTP/1 server polls the handler in place); h2 streams run in tasks of their own
//! and keep plain tokio timers.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// The timer of one connection. Cloning shares it.
#[derive(Clone, Debug)]
pub struct ConnTimer {
    entry: Arc<Mutex<Entry>>,
}

#[derive(Debug)]
struct Entry {
    sleep: Pin<Box<Sleep>>,
    /// When the wheel entry fires, while it is registered and has not been seen firing.
    armed: Option<Instant>,
    /// The waker the entry was last polled with, so a poll from the same task that finds the
    /// entry armed in time and not fired can return without polling it again.
    waker: Option<Waker>,
}

impl ConnTimer {
    /// A timer with no deadline armed (the wheel entry is allocated, not registered).
    pub fn new() -> ConnTimer {
        ConnTimer {
            entry: Arc::new(Mutex::new(Entry {
                sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
                armed: None,
                waker: None,
            })),
        }
    }

    /// A future that completes at `at`.
    pub fn deadline(&self, at: Instant) -> Deadline {
        Deadline {
            timer: self.clone(),
            at,
        }
    }

    /// A future that completes `after` from now.
    pub fn after(&self, after: Duration) -> Deadline {
        self.deadline(Instant::now() + after)
    }
}

impl Default for ConnTimer {
    fn default() -> ConnTimer {
        ConnTimer::new()
    }
}

/// Completes at its instant; see the module documentation for the task it must be polled from.
#[derive(Debug)]
#[must_use = "a deadline does nothing unless polled"]
pub struct Deadline {
    timer: ConnTimer,
    at: Instant,
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let at = self.at;
        // No code under this lock panics short of a runtime without timers, which would have
        // failed at `ConnTimer::new`; a poisoned entry is still a consistent one.
        let mut entry = self
            .timer
            .entry
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            match entry.armed {
                // The entry fires at or before `at`: waiting on it is enough.
                Some(armed) if armed <= at => {
                    let polled_by_us = entry
                        .waker
                        .as_ref()
                        .is_some_and(|w| w.will_wake(cx.waker()));
                    if polled_by_us && !entry.sleep.is_elapsed() {
                        return Poll::Pending;
                    }
                    if entry.sleep.as_mut().poll(cx).is_pending() {
                        if !polled_by_us {
                            entry.waker = Some(cx.waker().clone());
                        }
                        return Poll::Pending;
                    }
                    entry.armed = None;
                    if armed == at {
                        return Poll::Ready(());
                    }
                    // It fired for an earlier deadline (of a request since answered): move it
                    // to this one. An `at` already past fires at once.
                }
                // Not registered, or armed for later than `at`.
                _ => {
                    entry.sleep.as_mut().reset(at);
                    entry.armed = Some(at);
                    // A fired or moved entry holds no waker until it is polled again.
                    entry.waker = None;
                }
            }
        }
    }
}

/// hyper's HTTP/1 server times the request head with this (`header_read_timeout`).
impl hyper::rt::Timer for ConnTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(self.after(duration))
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(self.deadline(deadline.into()))
    }
}

impl hyper::rt::Sleep for Deadline {}

#[cfg(test)]
mod tests {
    use super::*;

    // The runtime's clock is paused: `sleep`/`advance` move it, and a test asserts which
    // deadlines have completed at each instant, not how long anything took.
    fn ready(d: &mut Pin<Box<Deadline>>) -> bool {
        let waker = std::task::Waker::noop();
        d.as_mut().poll(&mut Context::from_waker(waker)).is_ready()
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_completes_at_its_instant_not_before() {
        let timer = ConnTimer::new();
        let mut d = Box::pin(timer.after(Duration::from_secs(30)));
        assert!(!ready(&mut d));
        tokio::time::advance(Duration::from_secs(29)).await;
        assert!(!ready(&mut d));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(ready(&mut d));
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_deadline_outlives_the_entry_an_earlier_one_armed() {
        let timer = ConnTimer::new();
        let mut first = Box::pin(timer.after(Duration::from_secs(30)));
        assert!(!ready(&mut first));
        // The first request is answered; the next one's deadline is 20 s later.
        drop(first);
        tokio::time::advance(Duration::from_secs(20)).await;
        let mut second = Box::pin(timer.after(Duration::from_secs(30)));
        assert!(!ready(&mut second));
        // The entry fires at 30 s for the first deadline; the second must not complete then.
        tokio::time::advance(Duration::from_secs(15)).await;
        assert!(!ready(&mut second));
        tokio::time::advance(Duration::from_secs(15)).await;
        assert!(ready(&mut second));
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_moves_the_entry_forward() {
        let timer = ConnTimer::new();
        let mut long = Box::pin(timer.after(Duration::from_secs(30)));
        assert!(!ready(&mut long));
        let mut short = Box::pin(timer.after(Duration::from_secs(1)));
        assert!(!ready(&mut short));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(ready(&mut short));
        assert!(!ready(&mut long));
        tokio::time::advance(Duration::from_secs(29)).await;
        assert!(ready(&mut long));
    }

    #[tokio::test(start_paused = true)]
    async fn the_task_is_woken_when_the_deadline_passes() {
        let timer = ConnTimer::new();
        // Awaited for real: the runtime's auto-advance only moves the clock to the next timer,
        // so this completes only if the entry wakes the task at (or after) 30 s.
        let start = Instant::now();
        timer.after(Duration::from_secs(5)).await;
        timer.after(Duration::from_secs(30)).await;
        assert!(Instant::now() >= start + Duration::from_secs(35));
    }
}
