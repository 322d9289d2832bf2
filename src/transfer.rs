//! Transfer threads: where long answers are written, so that a client reading slowly holds a
//! thread of its own and never one of the fixed pool of workers (who decide every answer).
//!
//! A worker hands over a job (write this answer to that client) and goes back to its queue. A
//! job runs on an idle transfer thread or, when none is idle, on a new one; a thread idle for
//! `IDLE` ends. The number of threads follows the number of answers being written, which the
//! connection limit bounds (a connection has one answer in progress at a time). When no thread
//! can be started the job is dropped, which closes its connection: it costs that one client.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

/// A thread with nothing to write for this long ends.
const IDLE: Duration = Duration::from_secs(10);

/// A transfer copies between a buffer and a socket: a small stack is plenty.
const STACK: usize = 256 * 1024;

#[derive(Clone, Default)]
pub(crate) struct Transfers {
    pool: Arc<Pool>,
}

#[derive(Default)]
struct Pool {
    queue: Mutex<Queue>,
    ready: Condvar,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Threads waiting for a job.
    idle: usize,
}

fn lock(m: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Transfers {
    /// Runs `job` on a transfer thread. If none is idle and none can be started, the job is
    /// dropped unrun and the error returned.
    pub(crate) fn run(&self, job: impl FnOnce() + Send + 'static) -> io::Result<()> {
        let mut q = lock(&self.pool.queue);
        // An idle thread not yet claimed by a queued job takes it.
        if q.idle > q.jobs.len() {
            q.jobs.push_back(Box::new(job));
            drop(q);
            self.pool.ready.notify_one();
            return Ok(());
        }
        drop(q);
        let pool = self.pool.clone();
        std::thread::Builder::new()
            .name("transfer".into())
            .stack_size(STACK)
            .spawn(move || {
                job();
                pool.serve();
            })
            .map(|_| ())
    }
}

impl Pool {
    /// Runs queued jobs until none comes for `IDLE`.
    fn serve(&self) {
        loop {
            let mut q = lock(&self.queue);
            let job = loop {
                if let Some(job) = q.jobs.pop_front() {
                    break job;
                }
                q.idle += 1;
                let (guard, wait) = self
                    .ready
                    .wait_timeout(q, IDLE)
                    .unwrap_or_else(PoisonError::into_inner);
                q = guard;
                q.idle -= 1;
                if wait.timed_out() && q.jobs.is_empty() {
                    return;
                }
            };
            drop(q);
            job();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn jobs_run_on_idle_threads_or_new_ones() {
        let t = Transfers::default();
        let (tx, rx) = mpsc::channel();
        // Two jobs that block until released run at once: the second cannot wait for the first.
        let (go1, wait1) = mpsc::channel::<()>();
        let (go2, wait2) = mpsc::channel::<()>();
        for (n, wait) in [(1, wait1), (2, wait2)] {
            let tx = tx.clone();
            t.run(move || {
                let _ = wait.recv();
                tx.send(n).unwrap();
            })
            .unwrap();
        }
        go2.send(()).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(2));
        go1.send(()).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(1));
        // Later jobs reuse the idle threads.
        for n in 3..10 {
            let tx = tx.clone();
            t.run(move || tx.send(n).unwrap()).unwrap();
            assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(n));
        }
        assert!(lock(&t.pool.queue).idle <= 2);
    }
}
