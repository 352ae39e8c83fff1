//! Password policy, customer password generation (from caller-supplied random bytes) and
//! Argon2id hashing (OWASP params m=19456 KiB, t=2, p=1; PHC strings).
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Unambiguous alphabet: no 0/O/o, 1/l/I/i.
pub const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789";
/// Random bytes to supply to [`generate_password`].
pub const PASSWORD_RANDOM_BYTES: usize = 64;
pub const MIN_PASSWORD_LEN: usize = 14;
pub const MAX_PASSWORD_LEN: usize = 128;
/// Salt bytes to supply to [`hash_password`].
pub const SALT_BYTES: usize = 16;

/// Policy violations (for the later password-change issue and for generated passwords).
pub fn check_policy(password: &str, email: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(format!("password must have at least {MIN_PASSWORD_LEN} characters"));
    }
    if n > MAX_PASSWORD_LEN {
        return Err(format!("password must have at most {MAX_PASSWORD_LEN} characters"));
    }
    if !password.chars().any(|c| c.is_alphabetic()) || !password.chars().any(|c| !c.is_alphabetic()) {
        return Err("password must mix letters with digits or symbols".into());
    }
    let local = email.split('@').next().unwrap_or("").to_lowercase();
    if local.len() >= 4 && password.to_lowercase().contains(&local) {
        return Err("password must not contain the e-mail address".into());
    }
    Ok(())
}

/// A readable password: 4 groups of 4 chars from [`PASSWORD_ALPHABET`] joined by '-'
/// (19 chars), uniformly chosen by rejection sampling over the random bytes.
pub fn generate_password(random: &[u8; PASSWORD_RANDOM_BYTES]) -> String {
    let n = PASSWORD_ALPHABET.len();
    let limit = (256 / n) * n; // accept bytes below this for a uniform choice
    let mut chars: Vec<u8> = random.iter().copied().filter(|b| (*b as usize) < limit).map(|b| PASSWORD_ALPHABET[b as usize % n]).take(16).collect();
    // Astronomically unlikely: not enough accepted bytes; top up (slightly biased, still valid).
    let mut i = 0;
    while chars.len() < 16 {
        chars.push(PASSWORD_ALPHABET[random[i % random.len()] as usize % n]);
        i += 1;
    }
    // Ensure at least one digit (readability of "letters and digits" instructions).
    if !chars.iter().any(|c| c.is_ascii_digit()) {
        let pos = random[PASSWORD_RANDOM_BYTES - 1] as usize % 16;
        chars[pos] = b"23456789"[random[PASSWORD_RANDOM_BYTES - 2] as usize % 8];
    }
    let s: Vec<String> = chars.chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    s.join("-")
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("valid argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Argon2id PHC string of `password` with the given salt.
pub fn hash_password(password: &str, salt: &[u8; SALT_BYTES]) -> Result<String, String> {
    let salt = SaltString::encode_b64(salt).map_err(|e| e.to_string())?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Constant-time verification against a PHC string; malformed hashes never verify.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => {
            // Verify with the parameters recorded in the hash (Argon2::default reads them).
            Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
        }
        // Accounts without a password yet (`credentials::NO_PASSWORD`) take as long as a wrong
        // password: the timing does not tell them apart.
        Err(_) => {
            if let Ok(dummy) = PasswordHash::new(DUMMY_PHC) {
                let _ = Argon2::default().verify_password(password.as_bytes(), &dummy);
            }
            false
        }
    }
}

/// True if `phc` is a parseable Argon2 PHC string (used to validate seeded hashes).
pub fn is_argon2_phc(phc: &str) -> bool {
    PasswordHash::new(phc).map(|h| h.algorithm.as_str().starts_with("argon2")).unwrap_or(false)
}

/// A fixed hash verified against when the user does not exist, so unknown e-mails cost the
/// same time as wrong passwords (no user enumeration by timing).
pub const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$2iK9BfjIe4dn5KXQm/tVbOsqQDXU0pnHsnFZxYxyr9M";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_password_is_readable_and_valid() {
        let mut r = [0u8; PASSWORD_RANDOM_BYTES];
        for (i, b) in r.iter_mut().enumerate() {
            *b = (i * 37 % 251) as u8;
        }
        let p = generate_password(&r);
        assert_eq!(p.len(), 19);
        assert!(p.chars().count() >= MIN_PASSWORD_LEN);
        assert_eq!(p.matches('-').count(), 3);
        assert!(p.chars().filter(|c| *c != '-').all(|c| PASSWORD_ALPHABET.contains(&(c as u8))));
        assert!(p.chars().any(|c| c.is_ascii_digit()));
        assert!(check_policy(&p, "someone@example.com").is_ok());
        assert_eq!(p, generate_password(&r));
        // All-rejected bytes still give a valid password.
        let p2 = generate_password(&[255u8; PASSWORD_RANDOM_BYTES]);
        assert_eq!(p2.len(), 19);
        assert!(check_policy(&p2, "x@y.z").is_ok());
    }

    #[test]
    fn policy() {
        assert!(check_policy("short1", "a@b.c").is_err());
        assert!(check_policy("onlylettersherexx", "a@b.c").is_err());
        assert!(check_policy("johnsmith-12345678", "johnsmith@b.c").is_err());
        assert!(check_policy("correct-horse-42-battery", "a@b.c").is_ok());
        assert!(check_policy(&"a1".repeat(65), "a@b.c").is_err());
    }

    #[test]
    fn hash_and_verify() {
        let h = hash_password("demo-employee-pass", &[7u8; SALT_BYTES]).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("demo-employee-pass", &h));
        assert!(!verify_password("demo-employee-pasS", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(is_argon2_phc(&h));
        assert!(!is_argon2_phc("plain"));
        assert!(is_argon2_phc(DUMMY_PHC));
        assert!(!verify_password("", DUMMY_PHC));
    }

    /// The demo staff hashes in spin.toml's `seed_employees` default.
    #[test]
    fn demo_hashes_verify() {
        let manifest = include_str!("../../../spin.toml");
        let (seeds, bad) = crate::auth::parse_seed_employees(
            manifest.lines().find(|l| l.starts_with("seed_employees")).and_then(|l| l.split('"').nth(1)).unwrap_or(""),
        );
        assert!(bad.is_empty());
        assert_eq!(seeds.len(), 2);
        assert!(verify_password("demo-employee-pass", &seeds[0].password_hash));
        assert!(verify_password("demo-admin-pass", &seeds[1].password_hash));
        assert_eq!(seeds[1].role, crate::auth::Role::Admin);
    }
}
