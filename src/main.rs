fn main() {
    println!("hotflip {}", env!("CARGO_PKG_VERSION"));
}
