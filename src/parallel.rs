//! Bounded parallelism on plain threads (no async runtime): run a fallible
//! job for every item with at most `jobs` at once, and report the first
//! failure after the others have stopped; or two jobs side by side. In
//! WebAssembly, which has no threads, one at a time.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::Result;

/// Runs `job` on every item, `jobs` at a time; returns the results in item
/// order, or the first error (workers stop taking new items after one).
pub(crate) fn map<T: Sync, R: Send>(items: &[T], jobs: usize, job: impl Fn(&T) -> Result<R> + Sync) -> Result<Vec<R>> {
    if cfg!(target_os = "wasi") || jobs <= 1 {
        // WebAssembly (wasm32-wasip1) has no threads.
        return items.iter().map(job).collect();
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    match job(item) {
                        Ok(r) => results.lock().expect("results lock")[i] = Some(r),
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            first_error.lock().expect("error lock").get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().expect("error lock") {
        return Err(e);
    }
    Ok(results.into_inner().expect("results lock").into_iter().map(|r| r.expect("every item ran")).collect())
}

/// Runs `side` on another thread while `main` runs on this one; returns
/// both results. In WebAssembly, `side` first, then `main`.
pub(crate) fn join<A: Send, B>(side: impl FnOnce() -> A + Send, main: impl FnOnce() -> B) -> (A, B) {
    if cfg!(target_os = "wasi") {
        let a = side();
        return (a, main());
    }
    std::thread::scope(|scope| {
        let handle = scope.spawn(side);
        let b = main();
        (handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)), b)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_item_order_and_errors_surface() {
        let items: Vec<u32> = (0..20).collect();
        assert_eq!(super::map(&items, 4, |i| Ok(i * 2)).unwrap(), items.iter().map(|i| i * 2).collect::<Vec<_>>());
        let err = super::map(&items, 3, |i| if *i == 7 { anyhow::bail!("item 7 failed") } else { Ok(()) });
        assert_eq!(err.unwrap_err().to_string(), "item 7 failed");
        assert!(super::map(&[] as &[u32], 4, |_| Ok(())).unwrap().is_empty());
    }

    #[test]
    fn join_runs_both_sides_at_once() {
        let (tx, rx) = std::sync::mpsc::channel();
        // The side waits for the main side: both must run at the same time.
        let (side, main) = super::join(move || rx.recv().unwrap() + 1, || tx.send(41).map(|()| "sent"));
        assert_eq!((side, main.unwrap()), (42, "sent"));
    }
}
