//! The live proxy's worker threads: where sessions' heavy work ([`Job`]: extracting a
//! message's files, writing the body to relay) runs, so that the coordinator's event loop
//! only moves bytes and one pathological message never slows the others.
//!
//! A fixed pool, one thread per core (at least two), takes jobs from one queue. Each job
//! carries a cancel flag; the coordinator sets it when the job's time budget runs out
//! (it then tells the session at once, and the session fails closed), and the job stops at
//! its next check. A job that panics is reported as [`WorkFailed::Crashed`], and its worker
//! lives on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::thread;

use aptsim_core::work::{Done, Job, WorkFailed, WorkId};
use tokio::sync::mpsc;

/// One job for the pool, and where its result goes.
#[derive(Debug)]
pub struct Task {
    /// The session (client connection) it is for.
    pub conn: u64,
    /// The job's id within the session.
    pub id: WorkId,
    /// What to do.
    pub job: Box<Job>,
    /// Set to stop it early.
    pub cancel: Arc<AtomicBool>,
}

/// A finished task.
#[derive(Debug)]
pub struct Finished {
    /// The session it was for.
    pub conn: u64,
    /// The job's id within the session.
    pub id: WorkId,
    /// What it produced.
    pub result: Result<Done, WorkFailed>,
}

/// The pool. Dropping it lets the workers finish what they hold and stop.
#[derive(Debug)]
pub struct Workers {
    queue: std_mpsc::Sender<Task>,
    threads: usize,
}

impl Workers {
    /// Starts `threads` workers that send each finished task to `done`.
    pub fn start(threads: usize, done: mpsc::UnboundedSender<Finished>) -> std::io::Result<Self> {
        let (queue, tasks) = std_mpsc::channel::<Task>();
        let tasks = Arc::new(Mutex::new(tasks));
        for n in 0..threads {
            let tasks = tasks.clone();
            let done = done.clone();
            thread::Builder::new()
                .name(format!("aptsim-worker-{n}"))
                .spawn(move || work(&tasks, &done))?;
        }
        Ok(Workers { queue, threads })
    }

    /// One worker per core the process may use, at least two.
    pub fn default_threads() -> usize {
        thread::available_parallelism().map_or(2, |n| n.get().max(2))
    }

    /// Queues a task.
    pub fn submit(&self, task: Task) {
        // The workers live as long as the pool, so the queue is open.
        let _ = self.queue.send(task);
    }

    /// How many worker threads there are.
    pub fn threads(&self) -> usize {
        self.threads
    }
}

fn work(tasks: &Mutex<std_mpsc::Receiver<Task>>, done: &mpsc::UnboundedSender<Finished>) {
    loop {
        // Hold the lock only to take a task, never while working on one.
        let next = match tasks.lock() {
            Ok(queue) => queue.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(task) = next else {
            return;
        };
        let result = catch_unwind(AssertUnwindSafe(|| task.job.run(&task.cancel)))
            .unwrap_or(Err(WorkFailed::Crashed));
        let finished = Finished {
            conn: task.conn,
            id: task.id,
            result,
        };
        if done.send(finished).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aptsim_core::mime::MimeLimits;

    #[tokio::test]
    async fn runs_jobs_and_reports_cancellation() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let pool = Workers::start(2, tx).expect("threads");
        let message: Arc<[u8]> = Arc::from(&b"Subject: x\r\n\r\nhello\r\n"[..]);
        pool.submit(Task {
            conn: 1,
            id: 7,
            job: Box::new(Job::SmtpBody {
                message: message.clone(),
                rewrite: None,
                limits: MimeLimits::default(),
                header: Vec::new(),
            }),
            cancel: Arc::new(AtomicBool::new(false)),
        });
        let f = rx.recv().await.expect("a result");
        assert_eq!((f.conn, f.id), (1, 7));
        assert_eq!(
            f.result,
            Ok(Done::SmtpBody(b"Subject: x\r\n\r\nhello\r\n.\r\n".to_vec()))
        );
        // A job cancelled before it starts stops at its first check.
        pool.submit(Task {
            conn: 2,
            id: 1,
            job: Box::new(Job::Extract {
                message,
                limits: MimeLimits::default(),
                keep_contents: false,
            }),
            cancel: Arc::new(AtomicBool::new(true)),
        });
        let f = rx.recv().await.expect("a result");
        assert_eq!(f.result, Err(WorkFailed::TimedOut));
    }
}
