mod goflags;
fn main() {}
