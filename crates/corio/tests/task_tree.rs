//! The task tree: parents, states, await points, and its pstree-like text.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corio::{TaskState, TaskTree};

/// Polls `check` on fresh snapshots until it passes (30 s at most: the machine
/// may be loaded), then returns the snapshot.
async fn tree_until(what: &str, check: impl Fn(&TaskTree) -> bool) -> TaskTree {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tree = corio::task_tree();
        if check(&tree) {
            return tree;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{tree}"
        );
        corio::sleep(Duration::from_millis(2)).await;
    }
}

/// The task named `name` in `tree` waits at `line` of this file.
fn assert_waits_here(tree: &TaskTree, name: &str, line: u32) {
    let snap = tree
        .tasks()
        .iter()
        .find(|s| s.name() == Some(name))
        .unwrap();
    let at = snap.waiting_at().unwrap();
    assert_eq!(
        (at.file().ends_with("task_tree.rs"), at.line()),
        (true, line),
        "{name} at {at}"
    );
}

#[test]
fn a_task_waiting_on_queue_get_shows_the_callers_line() {
    corio::run(async {
        let q = Arc::new(corio::queue::Queue::<u32>::new(0));
        let q2 = q.clone();
        let get_line = line!() + 1;
        let consumer = corio::create_task_named("consumer", async move { q2.get().await });
        let tree = tree_until("the consumer to wait", |t| {
            t.tasks()
                .iter()
                .any(|s| s.name() == Some("consumer") && s.waiting_at().is_some())
        })
        .await;
        let snap = tree
            .tasks()
            .iter()
            .find(|s| s.name() == Some("consumer"))
            .unwrap();
        let at = snap.waiting_at().unwrap();
        assert!(at.file().ends_with("task_tree.rs"), "{at}");
        assert_eq!(at.line(), get_line, "waiting at {at}");
        assert_eq!(snap.state(), TaskState::Waiting);
        assert!(snap.polls() >= 1);
        let text = tree.to_string();
        assert!(text.contains(&format!("waiting at {at}")), "{text}");
        q.put_nowait(5).unwrap();
        assert_eq!(consumer.await.unwrap().unwrap(), 5);
    });
}

#[test]
fn parents_make_a_tree() {
    corio::run(async {
        let stop = Arc::new(corio::sync::Event::new());
        let s = stop.clone();
        let parent = corio::create_task_named("parent", async move {
            let s2 = s.clone();
            let child = corio::create_task_named("child", async move {
                let s3 = s2.clone();
                let grandchild =
                    corio::create_task_named("grandchild", async move { s3.wait().await });
                s2.wait().await;
                grandchild.await.unwrap();
            });
            s.wait().await;
            child.await.unwrap();
        });
        let tree = tree_until("three levels", |t| {
            t.tasks().iter().any(|s| s.name() == Some("grandchild"))
        })
        .await;
        let by_name = |n: &str| tree.tasks().iter().find(|s| s.name() == Some(n)).unwrap();
        let (p, c, g) = (by_name("parent"), by_name("child"), by_name("grandchild"));
        assert_eq!(c.parent(), Some(p.id()));
        assert_eq!(g.parent(), Some(c.id()));
        // `run`'s main future is not a task: the parent is a root.
        assert!(tree.roots().any(|r| r.id() == p.id()));
        assert_eq!(
            tree.children(c.id()).map(|s| s.id()).collect::<Vec<_>>(),
            [g.id()]
        );
        // Indentation follows depth.
        let text = tree.to_string();
        let line_of = |n: &str| {
            text.lines()
                .find(|l| l.contains(&format!("'{n}'")))
                .unwrap()
                .to_string()
        };
        let indent = |l: String| l.find("task").unwrap();
        assert!(
            indent(line_of("parent")) < indent(line_of("child")),
            "{text}"
        );
        assert!(
            indent(line_of("child")) < indent(line_of("grandchild")),
            "{text}"
        );
        // Each is its parent's only child: pstree's last-sibling branches.
        let branch = |l: String| l[..l.find("task").unwrap()].to_string();
        assert!(branch(line_of("parent")).ends_with("└── "), "{text}");
        assert_eq!(
            branch(line_of("grandchild")),
            format!(
                "{}        └── ",
                branch(line_of("parent")).trim_end_matches("└── ")
            ),
            "{text}"
        );
        stop.set();
        parent.await.unwrap();
    });
}

#[test]
fn a_task_stuck_in_a_busy_loop_shows_as_running_on_its_worker() {
    let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let r = release.clone();
    let spinner = corio::TaskBuilder::new()
        .name("spinner")
        .spawn_on(&rt.handle(), async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !r.load(Ordering::Relaxed) && Instant::now() < deadline {
                std::hint::spin_loop();
            }
        });
    let deadline = Instant::now() + Duration::from_secs(30);
    let snap = loop {
        let tree = rt.handle().task_tree();
        if let Some(s) = tree.tasks().iter().find(|s| s.name() == Some("spinner")) {
            if matches!(s.state(), TaskState::Running { .. }) {
                break s.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "spinner never shown running:\n{tree}"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    let TaskState::Running { worker } = snap.state() else {
        unreachable!()
    };
    // Two base workers, plus extra workers the stall monitor may start.
    assert!(worker < 4, "worker index {worker}");
    assert!(rt
        .handle()
        .task_tree()
        .to_string()
        .contains("running on worker"));
    release.store(true, Ordering::Relaxed);
    rt.block_on(spinner).unwrap();
}

#[test]
fn busy_and_wait_times_are_measured_with_inspection_on() {
    let rt = corio::Runtime::builder().debug(true).build().unwrap();
    rt.block_on(async {
        let t = corio::create_task_named("sleeper", async {
            std::thread::sleep(Duration::from_millis(5)); // busy for 5 ms
            corio::await_point(corio::sleep(Duration::from_secs(60))).await;
        });
        let tree = tree_until("the sleeper to wait", |t| {
            t.tasks()
                .iter()
                .any(|s| s.name() == Some("sleeper") && s.waiting_at().is_some())
        })
        .await;
        let s = tree
            .tasks()
            .iter()
            .find(|s| s.name() == Some("sleeper"))
            .unwrap();
        assert!(s.busy().unwrap() >= Duration::from_millis(5), "{s}");
        assert!(s.waiting_for().is_some(), "{s}");
        t.cancel();
    });
}

#[test]
fn without_inspection_times_are_not_measured() {
    corio::run(async {
        let t = corio::create_task_named("idle", corio::await_point(std::future::pending::<()>()));
        let tree = tree_until("the task to wait", |t| {
            t.tasks()
                .iter()
                .any(|s| s.name() == Some("idle") && s.waiting_at().is_some())
        })
        .await;
        let s = tree
            .tasks()
            .iter()
            .find(|s| s.name() == Some("idle"))
            .unwrap();
        assert_eq!(s.busy(), None);
        assert_eq!(s.waiting_for(), None);
        t.cancel();
    });
}

#[test]
fn outside_a_runtime_the_tree_is_empty() {
    assert!(corio::task_tree().is_empty());
}

#[test]
fn lock_semaphore_and_event_waits_show_their_lines() {
    corio::run(async {
        let lock = Arc::new(corio::sync::Lock::new(0u32));
        let sem = Arc::new(corio::sync::Semaphore::new(0));
        let event = Arc::new(corio::sync::Event::new());
        let held = lock.acquire().await.unwrap();
        let (l, s, e) = (lock.clone(), sem.clone(), event.clone());
        let lock_line = line!() + 1;
        let a = corio::create_task_named("locker", async move { *l.acquire().await.unwrap() += 1 });
        let sem_line = line!() + 1;
        let b = corio::create_task_named("permit", async move { drop(s.acquire().await.unwrap()) });
        let event_line = line!() + 1;
        let c = corio::create_task_named("waiter", async move { e.wait().await });
        let tree = tree_until("three waiters", |t| {
            t.tasks()
                .iter()
                .filter(|s| s.waiting_at().is_some())
                .count()
                == 3
        })
        .await;
        for (name, line) in [
            ("locker", lock_line),
            ("permit", sem_line),
            ("waiter", event_line),
        ] {
            assert_waits_here(&tree, name, line);
        }
        drop(held);
        sem.release();
        event.set();
        a.await.unwrap();
        b.await.unwrap();
        c.await.unwrap();
        assert_eq!(*lock.acquire().await.unwrap(), 1);
    });
}

#[test]
fn a_woken_task_not_yet_polled_shows_as_scheduled() {
    // One worker: the task that wakes the waiter keeps that worker busy until it
    // has taken its snapshot, so the waiter is queued and cannot have been polled.
    let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
    rt.block_on(async {
        let event = Arc::new(corio::sync::Event::new());
        let e = event.clone();
        let waiter = corio::create_task_named("waiter", async move { e.wait().await });
        tree_until("the waiter to wait", |t| {
            t.tasks()
                .iter()
                .any(|s| s.name() == Some("waiter") && s.state() == TaskState::Waiting)
        })
        .await;
        let waker = corio::create_task(async move {
            event.set();
            let tasks = corio::all_tasks();
            let snap = tasks.iter().find(|s| s.name() == Some("waiter")).unwrap();
            (snap.state(), snap.polls())
        });
        let (state, polls) = waker.await.unwrap();
        assert_eq!(state, TaskState::Scheduled, "after {polls} polls");
        assert!(polls >= 1, "it had waited before: {polls} polls");
        waiter.await.unwrap();
    });
}

#[test]
fn a_sleeping_task_shows_the_sleep_line_and_a_timeout_shows_what_it_guards() {
    corio::run(async {
        let q = Arc::new(corio::queue::Queue::<u32>::new(0));
        let q2 = q.clone();
        let sleep_line = line!() + 2;
        let sleeper = corio::create_task_named("sleeper", async {
            corio::sleep(Duration::from_secs(3600)).await;
        });
        let get_line = line!() + 2;
        let guarded = corio::create_task_named("guarded", async move {
            corio::wait_for(q2.get(), Duration::from_secs(3600)).await
        });
        // A guarded future that records no point of its own (a task): the
        // timeout's line, not one inside corio.
        let hour = Duration::from_secs(3600);
        let (child, scoped_child) = (
            corio::create_task(corio::sleep(hour)),
            corio::create_task(corio::sleep(hour)),
        );
        let wait_for_line = line!() + 2;
        let timed =
            corio::create_task_named("timed", async move { corio::wait_for(child, hour).await });
        let run_line = line!() + 3;
        let scoped = corio::create_task_named("scoped", async move {
            let scope = corio::timeout(hour);
            scope.run(scoped_child).await
        });
        waiting_here(&[
            ("sleeper", sleep_line),
            ("guarded", get_line),
            ("timed", wait_for_line),
            ("scoped", run_line),
        ])
        .await;
        cancelled(timed).await;
        cancelled(scoped).await;
        sleeper.cancel();
        q.put_nowait(1).unwrap();
        assert_eq!(guarded.await.unwrap().unwrap().unwrap(), 1);
    });
}

#[test]
fn socket_waits_and_interval_ticks_show_their_lines() {
    use corio::net::{TcpListener, TcpStream, UdpSocket};
    corio::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // A second listener whose accept waits for the whole test.
        let idle = TcpListener::bind("127.0.0.1:0").unwrap();
        let accept_line = line!() + 2;
        let acceptor =
            corio::create_task_named("acceptor", async move { idle.accept().await.map(|_| ()) });
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let read_line = line!() + 3;
        let reader = corio::create_task_named("reader", async move {
            let mut buf = [0u8; 4];
            server.read(&mut buf).await.map(|n| buf[..n].to_vec())
        });
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let recv_line = line!() + 3;
        let receiver = corio::create_task_named("receiver", async move {
            let mut buf = [0u8; 4];
            udp.recv_from(&mut buf).await.map(|(n, _)| n)
        });
        let tick_line = line!() + 4;
        let ticker = corio::create_task_named("ticker", async move {
            let mut every = corio::interval(Duration::from_secs(3600));
            every.tick().await; // the first tick is at once
            every.tick().await;
        });
        let tree = tree_until("the four to wait", |t| {
            t.tasks()
                .iter()
                .filter(|s| s.state() == TaskState::Waiting && s.waiting_at().is_some())
                .filter(|s| {
                    ["acceptor", "reader", "receiver", "ticker"].contains(&s.name().unwrap_or(""))
                })
                .count()
                == 4
        })
        .await;
        for (name, line) in [
            ("acceptor", accept_line),
            ("reader", read_line),
            ("receiver", recv_line),
            ("ticker", tick_line),
        ] {
            assert_waits_here(&tree, name, line);
        }
        client.write(b"ping").await.unwrap();
        assert_eq!(reader.await.unwrap().unwrap(), b"ping");
        acceptor.cancel();
        receiver.cancel();
        ticker.cancel();
    });
}

/// A snapshot in which every task named in `names` waits at an await point.
async fn tree_with_waiting(names: &[&str]) -> TaskTree {
    tree_until("the tasks to wait", |t| {
        names.iter().all(|n| {
            t.tasks().iter().any(|s| {
                s.name() == Some(n) && s.state() == TaskState::Waiting && s.waiting_at().is_some()
            })
        })
    })
    .await
}

#[test]
fn stream_helpers_and_incoming_show_the_callers_line() {
    use corio::net::TcpListener;
    use corio::streams::StreamReader;
    corio::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = corio::net::TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let line_client = corio::net::TcpStream::connect(addr).await.unwrap();
        let (line_server, _) = listener.accept().await.unwrap();
        let exact_line = line!() + 3;
        let exact = corio::create_task_named("exact", async move {
            let mut buf = [0u8; 4];
            server.read_exact(&mut buf).await.map(|()| buf)
        });
        // The peer never reads: write_all fills both socket buffers and waits.
        let writer_end = corio::net::TcpStream::connect(addr).await.unwrap();
        let (_quiet_peer, _) = listener.accept().await.unwrap();
        let all_line = line!() + 3;
        let all = corio::create_task_named("all", async move {
            let big = vec![7u8; 64 << 20];
            writer_end.write_all(&big).await
        });
        let idle = TcpListener::bind("127.0.0.1:0").unwrap();
        let next_line = line!() + 3;
        let incoming = corio::create_task_named("incoming", async move {
            let mut incoming = idle.incoming();
            incoming.next().await.map(|r| r.map(|_| ()))
        });
        let readline_line = line!() + 3;
        let liner = corio::create_task_named("liner", async move {
            let mut reader = StreamReader::new(line_server);
            reader.readline().await
        });
        let tree = tree_with_waiting(&["exact", "all", "incoming", "liner"]).await;
        for (name, line) in [
            ("exact", exact_line),
            ("all", all_line),
            ("incoming", next_line),
            ("liner", readline_line),
        ] {
            assert_waits_here(&tree, name, line);
        }
        // Half of what read_exact wants: it keeps waiting at the same line.
        client.write(b"pi").await.unwrap();
        corio::sleep(Duration::from_millis(20)).await;
        let tree = tree_with_waiting(&["exact"]).await;
        assert_waits_here(&tree, "exact", exact_line);
        client.write(b"ng").await.unwrap();
        assert_eq!(&exact.await.unwrap().unwrap(), b"ping");
        line_client.write(b"a line\n").await.unwrap();
        assert_eq!(liner.await.unwrap().unwrap(), b"a line\n");
        all.cancel();
        incoming.cancel();
    });
}

/// Waits until each task named in `expected` waits, then checks that it waits
/// at its line of this file.
async fn waiting_here(expected: &[(&str, u32)]) {
    let names: Vec<&str> = expected.iter().map(|&(name, _)| name).collect();
    let tree = tree_with_waiting(&names).await;
    for &(name, line) in expected {
        assert_waits_here(&tree, name, line);
    }
}

/// The output of a task awaited with a timeout.
fn finished<T>(r: Result<Result<T, corio::TaskError>, corio::TimeoutError>) -> T {
    r.expect("the task finished in time").expect("the task ran")
}

#[test]
fn every_stream_reader_helper_shows_the_callers_line() {
    use corio::streams::StreamReader;
    corio::run(async {
        // Detached readers: each waits until data is fed.
        let readers: [StreamReader; 4] = std::array::from_fn(|_| StreamReader::default());
        let feeders: Vec<_> = readers.iter().map(StreamReader::feeder).collect();
        let [mut r0, mut r1, mut r2, mut r3] = readers;
        let read_line = line!() + 1;
        let read = corio::create_task_named("read", async move { r0.read(4).await });
        let to_end_line = line!() + 1;
        let to_end = corio::create_task_named("to-end", async move { r1.read_to_end().await });
        let exactly_line = line!() + 1;
        let exactly = corio::create_task_named("exactly", async move { r2.readexactly(4).await });
        let until_line = line!() + 1;
        let until = corio::create_task_named("until", async move { r3.readuntil(b"\r\n").await });
        let names = ["read", "to-end", "exactly", "until"];
        let tree = tree_with_waiting(&names).await;
        for (name, line) in
            names
                .into_iter()
                .zip([read_line, to_end_line, exactly_line, until_line])
        {
            assert_waits_here(&tree, name, line);
        }
        // Part of what three of them want: polled again, they wait at the same lines.
        feeders[1].feed_data(b"ab");
        feeders[2].feed_data(b"ab");
        feeders[3].feed_data(b"ab\r");
        let tree = tree_until("the three to wait again", |t| {
            names[1..].iter().all(|n| {
                t.tasks().iter().any(|s| {
                    s.name() == Some(n) && s.state() == TaskState::Waiting && s.polls() >= 2
                })
            })
        })
        .await;
        for (name, line) in names[1..]
            .iter()
            .zip([to_end_line, exactly_line, until_line])
        {
            assert_waits_here(&tree, name, line);
        }
        feeders[0].feed_data(b"ping");
        feeders[1].feed_eof();
        feeders[2].feed_data(b"cd");
        feeders[3].feed_data(b"\n");
        let within = Duration::from_secs(30);
        assert_eq!(
            finished(corio::wait_for(read, within).await).unwrap(),
            b"ping"
        );
        assert_eq!(
            finished(corio::wait_for(to_end, within).await).unwrap(),
            b"ab"
        );
        assert_eq!(
            finished(corio::wait_for(exactly, within).await).unwrap(),
            b"abcd"
        );
        assert_eq!(
            finished(corio::wait_for(until, within).await).unwrap(),
            b"ab\r\n"
        );
    });
}

#[test]
fn opening_a_connection_and_starting_a_server_show_the_callers_line() {
    // One blocking thread, held by a job: a host name's lookup, which runs
    // there, waits until the job lets go.
    let rt = corio::Runtime::builder()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    rt.block_on(async {
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (holding, held) = futures::channel::oneshot::channel::<()>();
        let holder = corio::to_thread(move || {
            let _ = holding.send(());
            released.recv_timeout(Duration::from_secs(60))
        });
        corio::wait_for(held, Duration::from_secs(30))
            .await
            .expect("the blocking thread started the holder in time")
            .unwrap();
        let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connect_line = line!() + 2;
        let connector = corio::create_task_named("connector", async move {
            corio::open_connection(("localhost", port))
                .await
                .map(|_| ())
        });
        let start_line = line!() + 2;
        let starter = corio::create_task_named("starter", async move {
            corio::start_server(|_r, _w| async {}, "localhost:0").await
        });
        let tree = tree_with_waiting(&["connector", "starter"]).await;
        assert_waits_here(&tree, "connector", connect_line);
        assert_waits_here(&tree, "starter", start_line);
        release.send(()).unwrap();
        let within = Duration::from_secs(30);
        corio::wait_for(holder, within)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        corio::wait_for(connector, within)
            .await
            .expect("connected in time")
            .unwrap()
            .unwrap();
        let server = corio::wait_for(starter, within)
            .await
            .expect("started in time")
            .unwrap()
            .unwrap();
        assert!(server.local_addr().unwrap().ip().is_loopback());
        drop(listener);
    });
}

#[test]
fn a_unix_connection_to_a_full_backlog_and_a_serving_server_show_the_callers_line() {
    use std::os::fd::AsRawFd;
    let dir = std::env::temp_dir().join(format!("corio-tree-unix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let full_path = dir.join("full.sock");
    let server_path = dir.join("server.sock");
    corio::run(async move {
        let full = std::os::unix::net::UnixListener::bind(&full_path).unwrap();
        // A backlog of 0 (Linux then queues one connection); nobody accepts.
        // SAFETY: `listen` only reads the descriptor, which `full` keeps open.
        assert_eq!(unsafe { libc::listen(full.as_raw_fd(), 0) }, 0);
        let mut queued = Vec::new();
        loop {
            let connect = corio::net::UnixStream::connect(&full_path);
            // A connect with room in the backlog completes at its first poll; 1 s
            // only bounds the one that finds it full (and retries until cut off).
            match corio::wait_for(connect, Duration::from_secs(1)).await {
                Ok(stream) => queued.push(stream.unwrap()),
                Err(_) => break, // the backlog is full: a connect waits
            }
            assert!(queued.len() < 100, "the backlog never filled");
        }
        let path = full_path.clone();
        let connect_line = line!() + 2;
        let connector = corio::create_task_named("unix-connector", async move {
            corio::open_unix_connection(&path).await.map(|_| ())
        });
        let server = corio::start_unix_server(|_r, _w| async {}, &server_path)
            .await
            .unwrap();
        let server = Arc::new(server);
        let s = server.clone();
        let serve_line = line!() + 1;
        let serving = corio::create_task_named("serving", async move { s.serve_forever().await });
        let s = server.clone();
        let closed_line = line!() + 1;
        let closing = corio::create_task_named("closing", async move { s.wait_closed().await });
        let tree = tree_with_waiting(&["unix-connector", "serving", "closing"]).await;
        assert_waits_here(&tree, "unix-connector", connect_line);
        assert_waits_here(&tree, "serving", serve_line);
        assert_waits_here(&tree, "closing", closed_line);
        // Taking a queued connection frees a place: the connector gets in.
        let (_accepted, _) = full.accept().unwrap();
        let within = Duration::from_secs(30);
        corio::wait_for(connector, within)
            .await
            .expect("connected in time")
            .unwrap()
            .unwrap();
        server.close();
        corio::wait_for(serving, within).await.unwrap().unwrap();
        corio::wait_for(closing, within).await.unwrap().unwrap();
        drop(queued);
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// Cancels `task` and waits (30 s at most) until it reports the cancellation.
async fn cancelled<T>(task: corio::Task<T>) {
    assert!(task.cancel(), "the task was still running");
    let result = corio::wait_for(task, Duration::from_secs(30))
        .await
        .expect("the cancellation is reported in time");
    assert!(matches!(result, Err(e) if e.is_cancelled()));
}

#[test]
fn waiting_for_a_child_process_shows_the_callers_line() {
    use corio::process::{Command, Stdio};
    corio::run(async {
        // Children that would run for a minute; cancelling a task drops its
        // child, which `kill_on_drop` kills.
        let sleeper = || {
            let mut cmd = Command::new("sleep");
            cmd.arg("60").kill_on_drop(true);
            cmd
        };
        let mut child = sleeper().spawn().unwrap();
        let wait_line = line!() + 1;
        let waiter = corio::create_task_named("wait", async move { child.wait().await });
        let mut child = sleeper().stdout(Stdio::piped()).spawn().unwrap();
        let communicate_line = line!() + 2;
        let communicator =
            corio::create_task_named("communicate", async move { child.communicate(None).await });
        let child = sleeper().stdout(Stdio::piped()).spawn().unwrap();
        let output_line = line!() + 2;
        let with_output =
            corio::create_task_named("with-output", async move { child.wait_with_output().await });
        let mut cmd = sleeper();
        let command_line = line!() + 1;
        let outputter = corio::create_task_named("output", async move { cmd.output().await });
        let mut cmd = sleeper();
        let status_line = line!() + 1;
        let status = corio::create_task_named("status", async move { cmd.status().await });
        waiting_here(&[
            ("wait", wait_line),
            ("communicate", communicate_line),
            ("with-output", output_line),
            ("output", command_line),
            ("status", status_line),
        ])
        .await;
        cancelled(waiter).await;
        cancelled(communicator).await;
        cancelled(with_output).await;
        cancelled(outputter).await;
        cancelled(status).await;
    });
}

#[test]
fn a_task_waiting_for_a_signal_shows_the_callers_line() {
    use corio::signal::{signal, SIGWINCH};
    corio::run(async {
        // SIGWINCH: ignored by default, so no other test of this binary minds it.
        let mut winch = signal(SIGWINCH).unwrap();
        let recv_line = line!() + 1;
        let waiter = corio::create_task_named("signal", async move { winch.recv().await });
        let tree = tree_with_waiting(&["signal"]).await;
        assert_waits_here(&tree, "signal", recv_line);
        // SAFETY: raise(3) with a valid signal number whose handler `signal` installed.
        assert_eq!(unsafe { libc::raise(SIGWINCH) }, 0);
        let got = corio::wait_for(waiter, Duration::from_secs(30)).await;
        assert_eq!(finished(got), Some(()));
    });
}

#[test]
fn condition_barrier_queue_join_and_to_thread_waits_show_their_lines() {
    use corio::sync::{Barrier, Condition};
    corio::run(async {
        let cond = Arc::new(Condition::new(0u32));
        let c = cond.clone();
        let wait_line = line!() + 3;
        let waiter = corio::create_task_named("cond-wait", async move {
            let guard = c.acquire().await.unwrap();
            c.wait(guard).await.map(|g| *g)
        });
        let c = cond.clone();
        let wait_for_line = line!() + 3;
        let waiter_for = corio::create_task_named("cond-wait-for", async move {
            let guard = c.acquire().await.unwrap();
            c.wait_for(guard, |v| *v > 0).await.map(|g| *g)
        });
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let barrier_line = line!() + 1;
        let passer = corio::create_task_named("barrier", async move { b.wait().await });
        let queue = Arc::new(corio::queue::Queue::<u32>::new(0));
        queue.put_nowait(1).unwrap();
        let q = queue.clone();
        let join_line = line!() + 1;
        let joiner = corio::create_task_named("join", async move { q.join().await });
        let (release, released) = std::sync::mpsc::channel::<u32>();
        let thread_line = line!() + 2;
        let threaded = corio::create_task_named("thread", async move {
            corio::to_thread(move || released.recv_timeout(Duration::from_secs(60))).await
        });
        waiting_here(&[
            ("cond-wait", wait_line),
            ("cond-wait-for", wait_for_line),
            ("barrier", barrier_line),
            ("join", join_line),
            ("thread", thread_line),
        ])
        .await;
        let within = Duration::from_secs(30);
        *cond.acquire().await.unwrap() = 7;
        cond.notify_all();
        assert_eq!(finished(corio::wait_for(waiter, within).await).unwrap(), 7);
        assert_eq!(
            finished(corio::wait_for(waiter_for, within).await).unwrap(),
            7
        );
        let mine = corio::wait_for(barrier.wait(), within)
            .await
            .unwrap()
            .unwrap();
        let theirs = finished(corio::wait_for(passer, within).await).unwrap();
        assert_eq!(mine + theirs, 1, "arrival indices 0 and 1");
        assert_eq!(queue.get_nowait().unwrap(), 1);
        queue.task_done().unwrap();
        finished(corio::wait_for(joiner, within).await);
        release.send(5).unwrap();
        let got = finished(corio::wait_for(threaded, within).await).unwrap();
        assert_eq!(got.unwrap(), 5);
    });
}

#[test]
fn gather_wait_and_task_group_join_show_the_callers_line() {
    use corio::sync::Event;
    use corio::ReturnWhen::AllCompleted;
    corio::run(async {
        let go = Arc::new(Event::new());
        let child = || {
            let go = go.clone();
            corio::create_task(async move { go.wait().await })
        };
        let children = vec![child()];
        let gather_line = line!() + 1;
        let gatherer = corio::create_task_named("gather", corio::gather(children));
        let children = vec![child()];
        let wait_line = line!() + 1;
        let waiter = corio::create_task_named("wait", corio::wait(children, AllCompleted));
        let children = vec![child()];
        let hour = Duration::from_secs(3600);
        let timeout_line = line!() + 2;
        let timed = corio::create_task_named("wait-timeout", async move {
            corio::wait(children, AllCompleted).timeout(hour).await
        });
        // A future that records its own point keeps it: the sleep's line, not gather's.
        let sleep_line = line!() + 2;
        let napper = corio::create_task_named("gather-leaf", async move {
            let naps = [corio::sleep(hour)];
            corio::gather(naps).await
        });
        let group = corio::TaskGroup::new();
        let go2 = go.clone();
        group.create_task(async move { go2.wait().await });
        let join_line = line!() + 1;
        let joiner = corio::create_task_named("join", async move { group.join().await });
        waiting_here(&[
            ("gather", gather_line),
            ("wait", wait_line),
            ("wait-timeout", timeout_line),
            ("gather-leaf", sleep_line),
            ("join", join_line),
        ])
        .await;
        go.set();
        let within = Duration::from_secs(30);
        let gathered = finished(corio::wait_for(gatherer, within).await);
        assert!(gathered.into_iter().all(|r| r.is_ok()));
        let (done, pending) = finished(corio::wait_for(waiter, within).await);
        assert_eq!((done.len(), pending.len()), (1, 0));
        let (done, pending) = finished(corio::wait_for(timed, within).await);
        assert_eq!((done.len(), pending.len()), (1, 0));
        finished(corio::wait_for(joiner, within).await).unwrap();
        cancelled(napper).await;
    });
}

#[test]
fn task_group_run_and_as_completed_show_the_callers_line() {
    use corio::sync::Event;
    corio::run(async {
        let go = Arc::new(Event::new());
        let g = go.clone();
        let children_line = line!() + 3;
        let children = corio::create_task_named("run-children", async move {
            let group = corio::TaskGroup::new();
            let r = group.run(async { drop(group.create_task(async move { g.wait().await })) });
            r.await.map(|_| ())
        });
        let g = go.clone();
        let body_task_line = line!() + 3;
        let body_task = corio::create_task_named("run-body-task", async move {
            let group = corio::TaskGroup::new();
            let r = group.run(corio::create_task(async move { g.wait().await }));
            r.await.map(|_| ())
        });
        // The body's own point stays: the sleep's line, not run's.
        let sleep_line = line!() + 3;
        let body_leaf = corio::create_task_named("run-body-leaf", async move {
            let group = corio::TaskGroup::new();
            let nap = corio::sleep(Duration::from_secs(3600));
            group.run(nap).await.map(|_| ())
        });
        let g = go.clone();
        let child = corio::create_task(async move { g.wait().await });
        let completed_line = line!() + 3;
        let completer = corio::create_task_named("as-completed", async move {
            let mut done = corio::as_completed(vec![child]);
            done.next_completed().await.map(|(i, r)| (i, r.is_ok()))
        });
        waiting_here(&[
            ("run-children", children_line),
            ("run-body-task", body_task_line),
            ("run-body-leaf", sleep_line),
            ("as-completed", completed_line),
        ])
        .await;
        go.set();
        let within = Duration::from_secs(30);
        finished(corio::wait_for(children, within).await).unwrap();
        finished(corio::wait_for(body_task, within).await).unwrap();
        let next = finished(corio::wait_for(completer, within).await);
        assert_eq!(next, Some((0, true)));
        cancelled(body_leaf).await;
    });
}

#[cfg(feature = "sim")]
#[test]
fn a_simulated_socket_read_shows_the_callers_line() {
    use corio::sim::net::{TcpListener, TcpStream};
    /// `check` on the simulation's clock (the real one is refused there).
    async fn waits_at(name: &str) -> u32 {
        for _ in 0..10_000 {
            let tree = corio::task_tree();
            let at = tree
                .tasks()
                .iter()
                .find(|s| s.name() == Some(name) && s.state() == TaskState::Waiting)
                .and_then(|s| s.waiting_at());
            if let Some(at) = at {
                assert!(at.file().ends_with("task_tree.rs"), "{name} at {at}");
                return at.line();
            }
            corio::sleep(Duration::from_millis(1)).await;
        }
        panic!("{name} never waited:\n{}", corio::task_tree());
    }
    corio::sim::check(|| async {
        let listener = TcpListener::bind("10.0.0.1:80").unwrap();
        let accept_line = line!() + 2;
        let acceptor = corio::create_task_named("sim-acceptor", async move {
            listener.accept().await.map(|(s, _)| s)
        });
        assert_eq!(waits_at("sim-acceptor").await, accept_line);
        let mut client = TcpStream::connect("10.0.0.1:80").await.unwrap();
        let mut server = acceptor.await.unwrap().unwrap();
        let read_line = line!() + 3;
        let reader = corio::create_task_named("sim-reader", async move {
            let mut buf = [0u8; 4];
            server.read_exact(&mut buf).await.map(|()| buf)
        });
        assert_eq!(waits_at("sim-reader").await, read_line);
        client.write_all(b"ping").await.unwrap();
        assert_eq!(&reader.await.unwrap().unwrap(), b"ping");
    });
}
