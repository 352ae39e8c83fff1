//! Prefixed opaque ids (`ord_…`, `cus_…`) built from caller-supplied random bytes.
//! Randomness comes from the adapter (WASI random); this module is deterministic.

/// Id kinds and their prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Order,
    Customer,
    Vehicle,
    Job,
    Message,
    Employee,
    Escalation,
    Ledger,
    Event,
    Service,
    /// A saved payment method of a customer (`cpm_…`; the gateway's own token is `pm_…`).
    PaymentMethod,
}

impl IdKind {
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::Order => "ord",
            IdKind::Customer => "cus",
            IdKind::Vehicle => "veh",
            IdKind::Job => "job",
            IdKind::Message => "msg",
            IdKind::Employee => "emp",
            IdKind::Escalation => "esc",
            IdKind::Ledger => "led",
            IdKind::Event => "evt",
            IdKind::Service => "svc",
            IdKind::PaymentMethod => "cpm",
        }
    }
}

/// Number of random bytes an id uses (128 bits).
pub const ID_RANDOM_BYTES: usize = 16;

/// Crockford base32 (no I, L, O, U): lowercase.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// `prefix_` + 26 base32 chars of the 16 bytes (big-endian bit order).
pub fn make_id(kind: IdKind, random: &[u8; ID_RANDOM_BYTES]) -> String {
    let mut out = String::with_capacity(4 + 26);
    out.push_str(kind.prefix());
    out.push('_');
    let n = u128::from_be_bytes(*random);
    // 128 bits = 25 full 5-bit groups + 3 bits; emit 26 chars from most significant.
    for i in (0..26).rev() {
        let idx = ((n >> (i * 5)) & 0x1f) as usize;
        out.push(ALPHABET[idx] as char);
    }
    out
}

/// True if `s` looks like an id of `kind` (used to reject obviously bad path params early).
pub fn is_id(kind: IdKind, s: &str) -> bool {
    match s.strip_prefix(kind.prefix()).and_then(|r| r.strip_prefix('_')) {
        Some(rest) => rest.len() == 26 && rest.bytes().all(|b| ALPHABET.contains(&b)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_deterministic() {
        let a = make_id(IdKind::Order, &[0u8; 16]);
        assert_eq!(a, format!("ord_{}", "0".repeat(26)));
        let b = make_id(IdKind::Customer, &[0xff; 16]);
        assert!(b.starts_with("cus_"));
        assert_eq!(b.len(), 30);
        assert!(is_id(IdKind::Customer, &b));
        assert!(!is_id(IdKind::Order, &b));
        assert!(!is_id(IdKind::Order, "ord_../../etc"));
        let mut r = [0u8; 16];
        r[15] = 1;
        assert_ne!(make_id(IdKind::Job, &r), make_id(IdKind::Job, &[0; 16]));
        assert_eq!(make_id(IdKind::Message, &r), make_id(IdKind::Message, &r));
    }
}
