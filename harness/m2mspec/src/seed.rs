//! The run's seed: the one source of everything random a run chooses (the CoAP Message IDs
//! and tokens the harness's LWM2M entities start from, generated hostile payloads), so that
//! `m2mspec run --seed N` repeats a run's choices. A run without `--seed` picks one and the
//! report records it (JSON `run.seed`, the HTML run panel, a console line).
//!
//! Derivation is a fixed function (FNV-1a over the parts, then SplitMix64), not the standard
//! library's hasher, whose output may change between Rust releases.

/// A seed for a run that was given none: the wall clock and the process id, mixed.
pub fn pick() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    splitmix(nanos ^ (u64::from(std::process::id()) << 32))
}

/// A seed derived from `seed` and the names of what it is for (a case id, an entity alias):
/// the same inputs always give the same value, different names unrelated ones.
pub fn derive(seed: u64, parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    splitmix(h)
}

/// SplitMix64's output function: spreads the bits of `x`.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A small deterministic generator (SplitMix64) for data a step makes from a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        splitmix(self.0.wrapping_sub(0x9e37_79b9_7f4a_7c15))
    }

    /// `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let w = self.next_u64().to_le_bytes();
            let take = (n - out.len()).min(8);
            out.extend_from_slice(&w[..take]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derive_is_a_function_of_its_inputs() {
        assert_eq!(derive(7, &["case", "dev"]), derive(7, &["case", "dev"]));
        assert_ne!(derive(7, &["case", "dev"]), derive(8, &["case", "dev"]));
        assert_ne!(derive(7, &["case", "dev"]), derive(7, &["case", "srv"]));
        // Parts are delimited: ("ab", "c") is not ("a", "bc").
        assert_ne!(derive(7, &["ab", "c"]), derive(7, &["a", "bc"]));
    }

    #[test]
    fn rng_repeats_from_its_seed() {
        let (a, b) = (Rng::new(42).bytes(37), Rng::new(42).bytes(37));
        assert_eq!(a, b);
        assert_eq!(a.len(), 37);
        assert_ne!(a, Rng::new(43).bytes(37));
    }
}
