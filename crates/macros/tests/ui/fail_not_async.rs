#[corio::main]
fn main() {}
