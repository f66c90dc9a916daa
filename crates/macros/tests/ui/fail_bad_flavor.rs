#[corio::main(flavor = "single")]
async fn main() {}
