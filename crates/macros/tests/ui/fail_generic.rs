#[corio::main]
async fn main<T>() {}
