fn main() {
    println!("holdadvisor");
}
