//! Debug mode: slow polls (once per task, with name and location) and
//! never-retrieved panics, captured through a custom sink.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use corio::DebugReport;

fn runtime_with_sink(reports: Arc<Mutex<Vec<DebugReport>>>) -> corio::Runtime {
    corio::Runtime::builder()
        .worker_threads(2)
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(30))
        .debug_sink(move |r: &DebugReport| reports.lock().unwrap().push(r.clone()))
        .build()
        .unwrap()
}

#[test]
fn slow_polls_are_reported_once_per_task() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let rt_reports = reports.clone();
    common::timeout(30, move || {
        let rt = runtime_with_sink(rt_reports);
        assert!(rt.handle().debug());
        rt.block_on(async {
            let t = corio::create_task_named("hog", async {
                for _ in 0..3 {
                    std::thread::sleep(Duration::from_millis(60)); // blocks the worker
                    corio::yield_now().await;
                }
            });
            t.await.unwrap();
            // A quick task is not reported.
            corio::create_task_named("quick", async {}).await.unwrap();
        });
    });
    let reports = reports.lock().unwrap();
    // Only the hog's reports: on a loaded machine even a trivial poll can be
    // pre-empted for longer than the threshold.
    let slow: Vec<_> = reports
        .iter()
        .filter_map(|r| match r {
            DebugReport::SlowPoll {
                task,
                elapsed,
                threshold,
            } => Some((task.clone(), *elapsed, *threshold)),
            _ => None,
        })
        .filter(|(task, _, _)| task.name() == Some("hog"))
        .collect();
    assert_eq!(slow.len(), 1, "reported once: {reports:?}");
    let (task, elapsed, threshold) = &slow[0];
    assert_eq!(task.name(), Some("hog"));
    assert!(task.location().unwrap().file().ends_with("debug.rs"));
    assert!(*elapsed >= Duration::from_millis(55));
    assert_eq!(*threshold, Duration::from_millis(30));
    let text = reports
        .iter()
        .find(|r| matches!(r, DebugReport::SlowPoll { task, .. } if task.name() == Some("hog")))
        .unwrap()
        .to_string();
    assert!(
        text.contains("slow poll") && text.contains("'hog'") && text.contains("debug.rs"),
        "{text}"
    );
}

#[test]
fn never_retrieved_panics_are_reported() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let rt_reports = reports.clone();
    common::timeout(30, move || {
        let rt = runtime_with_sink(rt_reports.clone());
        rt.block_on(async {
            drop(corio::create_task_named("orphan", async {
                panic!("lost panic")
            }));
            // A panic that is retrieved is not reported.
            let seen = corio::create_task_named("watched", async { panic!("seen") }).await;
            assert!(seen.is_err());
            // Wait for the panic report itself: a slow-poll report (panicking
            // can be slow) may arrive first and must not end the wait.
            for _ in 0..1000 {
                let reported = rt_reports
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|r| matches!(r, DebugReport::UnretrievedPanic { .. }));
                if reported {
                    break;
                }
                corio::sleep(Duration::from_millis(5)).await;
            }
        });
    });
    let all = reports.lock().unwrap();
    // Panicking can itself be a slow poll (capturing a backtrace): keep only the
    // panic reports.
    let reports: Vec<_> = all
        .iter()
        .filter(|r| matches!(r, DebugReport::UnretrievedPanic { .. }))
        .collect();
    assert_eq!(reports.len(), 1, "{all:?}");
    match reports[0] {
        DebugReport::UnretrievedPanic { task, message } => {
            assert_eq!(task.name(), Some("orphan"));
            assert_eq!(message, "lost panic");
        }
        other => panic!("{other:?}"),
    }
    assert!(reports[0].to_string().contains("never retrieved"));
}

#[test]
fn debug_off_reports_nothing() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let r = reports.clone();
    common::timeout(30, move || {
        let rt = corio::Runtime::builder()
            .worker_threads(1)
            .debug(false)
            .slow_poll_threshold(Duration::from_millis(1))
            .debug_sink(move |rep: &DebugReport| r.lock().unwrap().push(rep.clone()))
            .build()
            .unwrap();
        rt.block_on(rt.handle().create_task(async {
            std::thread::sleep(Duration::from_millis(20));
        }))
        .unwrap();
    });
    assert!(reports.lock().unwrap().is_empty());
}
