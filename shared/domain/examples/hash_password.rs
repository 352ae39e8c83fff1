//! Prints the Argon2id PHC string of a password, for the `seed_employees` variable:
//! `cargo run -p caas-domain --example hash_password -- 'the password'`
use std::hash::{BuildHasher, Hasher};

fn main() {
    let Some(password) = std::env::args().nth(1) else {
        eprintln!("usage: hash_password <password>");
        std::process::exit(2);
    };
    // 16 salt bytes from the process's randomly keyed hasher (std has no direct RNG).
    let mut salt = [0u8; caas_domain::password::SALT_BYTES];
    for (i, chunk) in salt.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
    }
    match caas_domain::password::hash_password(&password, &salt) {
        Ok(phc) => println!("{phc}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
