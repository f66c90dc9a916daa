//! `main` may return a Result and use `?`; the options compile and take effect.
use std::time::Duration;

#[corio::main(worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = "42".parse()?;
    corio::sleep(Duration::from_millis(1)).await;
    let t = corio::create_task(async move { n + 1 });
    assert_eq!(t.await?, 43);
    Ok(())
}
