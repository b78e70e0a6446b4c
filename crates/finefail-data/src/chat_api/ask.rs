//! Asking a batch of requests: the one pipeline that the API answering arm (`finefail-rag`) and
//! the LLM judge (`finefail-score`) share, so both reuse cached answers, preflight and fail alike.
//!
//! 1. Every request whose answer is in the cache is handed over first, in order; no request is
//!    sent for it.
//! 2. If anything is left to ask: exactly one preflight. Its failure (an unreachable endpoint, a
//!    rejected key) is the caller's error, returned before any request is sent.
//! 3. `concurrency` worker threads take the remaining requests in order. Each request is asked with
//!    its own retries (the caller's `ask`, normally [`super::ChatClient::complete`], which retries as
//!    the client's module doc says).
//! 4. On the calling thread, as results arrive: a success is cached at once (failures never are),
//!    then handed to the caller's `on_result` (write a file, count progress…). An `Err` from
//!    `on_result` or from the cache stops the batch: no new request starts, those in flight are
//!    still cached, and that error is returned.
//!
//! A request that fails for good is a per-item `Err` (one line), never a panic and never the
//! batch's error; with [`AskOptions::stop_at_first_error`] no new request starts after it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::cache::ChatCache;
use crate::error::DataError;

/// How [`ask_all`] runs a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AskOptions {
    /// Requests in flight at once (0 counts as 1).
    pub concurrency: usize,
    /// Start no new request once one has failed for good: for a caller that fails as a whole on
    /// any failure (the answering arm), asking on would only spend money. `false` asks every
    /// request (the judge records a failure as an error row).
    pub stop_at_first_error: bool,
}

/// One result, as [`ask_all`] hands it to `on_result`.
#[derive(Debug)]
pub struct Answered<'a, T> {
    /// Index of the request in the batch.
    pub index: usize,
    /// The answer, or why the request failed for good (one line).
    pub result: &'a Result<T, String>,
    /// True when the answer came from the cache (no request was sent).
    pub cached: bool,
    /// Requests answered or failed so far, this one included; cached ones are not counted.
    pub asked: usize,
    /// Requests that were not in the cache.
    pub to_ask: usize,
}

/// What [`ask_all`] returns per request: its result, or `None` when it was never asked (the batch
/// stopped first).
pub type AskResults<T> = Vec<Option<Result<T, String>>>;

/// Answers every request `0..keys.len()` (see the module doc for the steps). `keys[i]` names
/// request `i`'s answer in `cache`; `preflight` runs once, only if anything is left to ask; `ask(i)`
/// asks request `i` with its retries. `on_result` sees every result on the calling thread.
pub fn ask_all<T, E>(
    keys: &[String],
    cache: Option<&ChatCache>,
    opts: &AskOptions,
    preflight: impl FnOnce() -> Result<(), E>,
    ask: impl Fn(usize) -> Result<T, String> + Sync,
    on_result: &mut dyn FnMut(Answered<'_, T>) -> Result<(), E>,
) -> Result<AskResults<T>, E>
where
    T: Serialize + DeserializeOwned + Send,
    E: From<DataError>,
{
    // 1. Cached answers.
    let mut results: AskResults<T> = keys
        .iter()
        .map(|key| cache.and_then(|c| c.get::<T>(key)).map(Ok))
        .collect();
    let todo: Vec<usize> = (0..keys.len()).filter(|&i| results[i].is_none()).collect();
    for (index, result) in results.iter().enumerate() {
        if let Some(result) = result {
            on_result(Answered {
                index,
                result,
                cached: true,
                asked: 0,
                to_ask: todo.len(),
            })?;
        }
    }
    if todo.is_empty() {
        return Ok(results);
    }
    // 2. One preflight.
    preflight()?;
    // 3. The workers; 4. results cached and handed over as they arrive.
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut first_error: Option<E> = None;
    let (tx, rx) = mpsc::channel::<(usize, Result<T, String>)>();
    std::thread::scope(|s| {
        for _ in 0..opts.concurrency.clamp(1, todo.len()) {
            let tx = tx.clone();
            let (todo, next, stop, ask) = (&todo, &next, &stop, &ask);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some(&i) = todo.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let outcome = ask(i);
                    if outcome.is_err() && opts.stop_at_first_error {
                        stop.store(true, Ordering::Relaxed);
                    }
                    if tx.send((i, outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (asked, (index, outcome)) in rx.into_iter().enumerate() {
            if let (Ok(answer), Some(cache)) = (&outcome, cache) {
                if let Err(e) = cache.put(&keys[index], answer) {
                    stop.store(true, Ordering::Relaxed);
                    first_error.get_or_insert(E::from(e));
                }
            }
            if first_error.is_none() {
                let seen = Answered {
                    index,
                    result: &outcome,
                    cached: false,
                    asked: asked + 1,
                    to_ask: todo.len(),
                };
                if let Err(e) = on_result(seen) {
                    stop.store(true, Ordering::Relaxed);
                    first_error = Some(e);
                }
            }
            results[index] = Some(outcome);
        }
    });
    match first_error {
        Some(e) => Err(e),
        None => Ok(results),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("k{i}")).collect()
    }

    #[test]
    fn cached_answers_are_reused_and_a_full_cache_needs_no_preflight() -> Result<(), DataError> {
        let dir = tempfile::tempdir().map_err(|e| DataError::io("tmp", e))?;
        let cache = ChatCache::open(dir.path())?;
        cache.put("k1", &10u32)?;
        let opts = AskOptions {
            concurrency: 3,
            stop_at_first_error: false,
        };
        let preflights = AtomicUsize::new(0);
        let asked = AtomicUsize::new(0);
        let mut seen = Vec::new();
        let got = ask_all::<u32, DataError>(
            &keys(4),
            Some(&cache),
            &opts,
            || {
                preflights.fetch_add(1, Ordering::Relaxed);
                Ok(())
            },
            |i| {
                asked.fetch_add(1, Ordering::Relaxed);
                if i == 2 {
                    Err("boom".into())
                } else {
                    Ok(i as u32)
                }
            },
            &mut |a| {
                seen.push((a.index, a.cached, a.to_ask));
                Ok(())
            },
        )?;
        assert_eq!(
            got,
            vec![
                Some(Ok(0)),
                Some(Ok(10)),
                Some(Err("boom".into())),
                Some(Ok(3))
            ]
        );
        assert_eq!(preflights.load(Ordering::Relaxed), 1);
        assert_eq!(asked.load(Ordering::Relaxed), 3);
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[0], (1, true, 3), "cached answers come first");
        // Successes were cached, the failure was not: a second batch asks only request 2.
        let again = ask_all::<u32, DataError>(
            &keys(4),
            Some(&cache),
            &opts,
            || Ok(()),
            |i| Ok(100 + i as u32),
            &mut |_| Ok(()),
        )?;
        assert_eq!(again[2], Some(Ok(102)));
        assert_eq!(again[3], Some(Ok(3)));
        let full = ask_all::<u32, DataError>(
            &keys(4),
            Some(&cache),
            &opts,
            || Err(DataError::bad_input("test", "no preflight wanted")),
            |_| Err("not asked".into()),
            &mut |_| Ok(()),
        )?;
        assert!(full.iter().all(|r| matches!(r, Some(Ok(_)))));
        Ok(())
    }

    #[test]
    fn a_failed_preflight_asks_nothing() {
        let asked = AtomicUsize::new(0);
        let got = ask_all::<u32, DataError>(
            &keys(3),
            None,
            &AskOptions {
                concurrency: 2,
                stop_at_first_error: false,
            },
            || Err(DataError::bad_input("test", "unreachable")),
            |_| {
                asked.fetch_add(1, Ordering::Relaxed);
                Ok(1)
            },
            &mut |_| Ok(()),
        );
        assert!(got.is_err());
        assert_eq!(asked.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn stop_at_first_error_starts_nothing_after_the_failure() -> Result<(), DataError> {
        let got = ask_all::<u32, DataError>(
            &keys(5),
            None,
            &AskOptions {
                concurrency: 1,
                stop_at_first_error: true,
            },
            || Ok(()),
            |i| if i == 1 { Err("bad".into()) } else { Ok(0) },
            &mut |_| Ok(()),
        )?;
        assert_eq!(
            got,
            vec![Some(Ok(0)), Some(Err("bad".into())), None, None, None]
        );
        Ok(())
    }

    #[test]
    fn an_error_from_on_result_stops_the_batch() {
        let asked = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let got = ask_all::<u32, DataError>(
            &keys(5),
            None,
            &AskOptions {
                concurrency: 1,
                stop_at_first_error: false,
            },
            || Ok(()),
            |i| {
                asked.fetch_add(1, Ordering::Relaxed);
                // Every request after the second lasts until the second result was refused, and
                // half a second more: the batch stops while one of them runs (the calling thread
                // only has to return from the refusal), so the fifth never starts, even with the
                // calling thread starved for a second on a loaded 2-core machine.
                if i >= 2 {
                    let start = std::time::Instant::now();
                    while !failed.load(Ordering::Relaxed) && start.elapsed().as_secs() < 5 {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
                Ok(0)
            },
            &mut |a| {
                if a.asked == 2 {
                    failed.store(true, Ordering::Relaxed);
                    Err(DataError::bad_input("test", "disk full"))
                } else {
                    Ok(())
                }
            },
        );
        assert!(got.is_err());
        let asked = asked.load(Ordering::Relaxed);
        // Two results are needed for the refusal; the third request may or may not have started
        // by then (the worker races the calling thread); the fifth never does.
        assert!((2..5).contains(&asked), "stopped early: {asked} of 5 asked");
    }
}
