//! Reporting off the critical path: one thread posts the comment and the
//! GitHub deployment's statuses, in order, while the deploy goes on. A
//! newer comment replaces one not posted yet, since only the latest state
//! matters. Leaving [`Background::run`] waits until everything queued is
//! written, so the last word reaches the pull request before the process
//! exits. In WebAssembly, which has no threads, each post is made at once.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

use super::Commenter;

/// A post waiting its turn.
enum Job<'a> {
    /// The comment's new body.
    Comment(String),
    Other(Box<dyn FnOnce() + Send + 'a>),
}

#[derive(Default)]
struct Queue<'a> {
    jobs: VecDeque<Job<'a>>,
    closed: bool,
}

/// The queue of posts, and the thread that makes them.
pub(crate) struct Background<'a> {
    commenter: &'a Commenter<'a>,
    queue: Mutex<Queue<'a>>,
    ready: Condvar,
    inline: bool,
}

impl<'a> Background<'a> {
    /// Runs `main` with a background poster for `commenter`; returns once
    /// `main` has returned and every queued post is made.
    pub(crate) fn run<R>(commenter: &'a Commenter<'a>, main: impl FnOnce(&Background<'a>) -> R) -> R {
        let background = Background {
            commenter,
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            inline: cfg!(target_os = "wasi"),
        };
        if background.inline {
            return main(&background);
        }
        let ((), result) = crate::parallel::join(
            || background.work(),
            || {
                let result = main(&background);
                background.queue.lock().expect("report queue").closed = true;
                background.ready.notify_all();
                result
            },
        );
        result
    }

    /// Posts `body` as the comment, replacing a body not posted yet.
    pub(crate) fn comment(&self, body: String) {
        if self.inline {
            return self.commenter.post(&body);
        }
        let mut queue = self.queue.lock().expect("report queue");
        match queue.jobs.iter_mut().find(|j| matches!(j, Job::Comment(_))) {
            Some(pending) => *pending = Job::Comment(body),
            None => queue.jobs.push_back(Job::Comment(body)),
        }
        self.ready.notify_all();
    }

    /// Runs `post` after what is queued before it.
    pub(crate) fn post(&self, post: impl FnOnce() + Send + 'a) {
        if self.inline {
            return post();
        }
        self.queue.lock().expect("report queue").jobs.push_back(Job::Other(Box::new(post)));
        self.ready.notify_all();
    }

    fn work(&self) {
        loop {
            let job = {
                let mut queue = self.queue.lock().expect("report queue");
                loop {
                    if let Some(job) = queue.jobs.pop_front() {
                        break job;
                    }
                    if queue.closed {
                        return;
                    }
                    queue = self.ready.wait(queue).expect("report queue");
                }
            };
            match job {
                Job::Comment(body) => self.commenter.post(&body),
                Job::Other(post) => post(),
            }
        }
    }
}
