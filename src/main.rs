fn main() {
    println!("persona");
}
