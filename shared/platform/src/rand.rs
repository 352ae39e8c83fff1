//! Randomness from `wasi:random/random` (cryptographically secure).
use spin_sdk::wasip3::random::random::get_random_bytes;

/// Fill `N` random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    let mut filled = 0;
    while filled < N {
        let chunk = get_random_bytes((N - filled) as u64);
        if chunk.is_empty() {
            continue;
        }
        let n = chunk.len().min(N - filled);
        out[filled..filled + n].copy_from_slice(&chunk[..n]);
        filled += n;
    }
    out
}

/// A new prefixed id (`ord_…`).
pub fn id(kind: caas_domain::ids::IdKind) -> String {
    caas_domain::ids::make_id(kind, &bytes::<{ caas_domain::ids::ID_RANDOM_BYTES }>())
}

/// Jitter in [0,1) for the retry policy.
pub fn jitter() -> f64 {
    caas_domain::retry::jitter_from_bytes(bytes::<8>())
}
