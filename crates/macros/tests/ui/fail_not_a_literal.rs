const N: usize = 2;

#[corio::main(worker_threads = N)]
async fn main() {}
