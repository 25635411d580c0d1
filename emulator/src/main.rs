fn main() {
    println!("oxbox");
}
