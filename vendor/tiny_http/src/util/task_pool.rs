use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

/// Runs a handler on items (connections) in threads of their own.
///
/// A new thread is created every time all the existing threads are busy. Any idle thread
/// will automatically die after a few seconds.
///
/// (Ours) The pool hands a given item to its handler (it was a queue of boxed closures), so that
/// an item whose thread cannot be started is given back to the caller with the error: a failed
/// thread spawn costs one connection, where it used to panic while holding the queue's lock,
/// which poisoned it and killed the accept loop for good (a server under systemd's `TasksMax`).
pub struct TaskPool<T: Send + 'static> {
    sharing: Arc<Sharing<T>>,
}

struct Sharing<T> {
    // list of the tasks to be done by worker threads
    todo: Mutex<VecDeque<T>>,

    // condvar that will be notified whenever a task is added to `todo`
    condvar: Condvar,

    // number of total worker threads running
    active_tasks: AtomicUsize,

    // number of idle worker threads
    waiting_tasks: AtomicUsize,

    handler: Box<dyn Fn(T) + Send + Sync>,
}

/// Minimum number of active threads.
static MIN_THREADS: usize = 4;

/// Stack of a pool thread: it reads and parses request heads, nothing deep.
const STACK_SIZE: usize = 256 * 1024;

struct Registration<'a> {
    nb: &'a AtomicUsize,
}

impl<'a> Registration<'a> {
    fn new(nb: &'a AtomicUsize) -> Registration<'a> {
        nb.fetch_add(1, Ordering::Release);
        Registration { nb }
    }
}

impl<'a> Drop for Registration<'a> {
    fn drop(&mut self) {
        self.nb.fetch_sub(1, Ordering::Release);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T: Send + 'static> TaskPool<T> {
    pub fn new(handler: impl Fn(T) + Send + Sync + 'static) -> TaskPool<T> {
        let pool = TaskPool {
            sharing: Arc::new(Sharing {
                todo: Mutex::new(VecDeque::new()),
                condvar: Condvar::new(),
                active_tasks: AtomicUsize::new(0),
                waiting_tasks: AtomicUsize::new(0),
                handler: Box::new(handler),
            }),
        };

        for _ in 0..MIN_THREADS {
            // A pool that could not start its spare threads starts one per item instead.
            let _ = pool.add_thread();
        }

        pool
    }

    /// Runs the handler on `item` in a thread; if no thread is free, starts one. If none can be
    /// started, gives the item back with the error.
    pub fn spawn(&self, item: T) -> Result<(), (T, io::Error)> {
        let mut queue = lock(&self.sharing.todo);

        // (Patched) A waiting thread that a queued task has already claimed is not free: queue
        // only when more threads wait than tasks are queued, else start a thread. Comparing with
        // zero left a connection queued behind long-lived keep-alive connections whenever two
        // arrived before a woken thread took the first.
        let free = self.sharing.waiting_tasks.load(Ordering::Acquire) > queue.len();
        queue.push_back(item);
        if free {
            self.sharing.condvar.notify_one();
            return Ok(());
        }
        // The new thread takes the item from the queue once this lock is released; if it cannot
        // be started, the item is still at the back of the queue.
        match self.add_thread() {
            Ok(()) => Ok(()),
            Err(err) => match queue.pop_back() {
                Some(item) => Err((item, err)),
                None => Ok(()),
            },
        }
    }

    fn add_thread(&self) -> io::Result<()> {
        let sharing = self.sharing.clone();

        thread::Builder::new()
            .stack_size(STACK_SIZE)
            .spawn(move || {
                let sharing = sharing;
                let _active_guard = Registration::new(&sharing.active_tasks);

                loop {
                    let task = {
                        let mut todo = lock(&sharing.todo);

                        let task;
                        loop {
                            if let Some(poped_task) = todo.pop_front() {
                                task = poped_task;
                                break;
                            }
                            let _waiting_guard = Registration::new(&sharing.waiting_tasks);

                            let received =
                                if sharing.active_tasks.load(Ordering::Acquire) <= MIN_THREADS {
                                    todo = sharing
                                        .condvar
                                        .wait(todo)
                                        .unwrap_or_else(PoisonError::into_inner);
                                    true
                                } else {
                                    let (new_lock, waitres) = sharing
                                        .condvar
                                        .wait_timeout(todo, Duration::from_millis(5000))
                                        .unwrap_or_else(PoisonError::into_inner);
                                    todo = new_lock;
                                    !waitres.timed_out()
                                };

                            if !received && todo.is_empty() {
                                return;
                            }
                        }

                        task
                    };

                    (sharing.handler)(task);
                }
            })
            .map(|_| ())
    }
}

impl<T: Send + 'static> Drop for TaskPool<T> {
    fn drop(&mut self) {
        self.sharing
            .active_tasks
            .store(999_999_999, Ordering::Release);
        self.sharing.condvar.notify_all();
    }
}
