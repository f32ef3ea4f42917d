//! The data of self-test transfers: a deterministic byte pattern, the same on both sides, so
//! that a receiver can check every block byte for byte without the data travelling twice
//! (ESR030 4.7.2: the receiver chooses order and size and may ask for a block again, so each
//! byte depends on its offset: a block served at the wrong offset, a stale block or a changed
//! byte shows).

/// The byte at `offset` of the pattern `seed`.
pub fn byte(seed: u64, offset: u64) -> u8 {
    let x = offset
        .wrapping_add(seed.wrapping_mul(0x2545_f491_4f6c_dd1d))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((x >> 56) as u8) ^ (offset as u8)
}

/// `len` bytes of the pattern `seed` from `offset`.
pub fn bytes(seed: u64, offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| byte(seed, offset + i)).collect()
}

/// The first offset (from `offset`) where `data` differs from the pattern, if any.
pub fn first_difference(seed: u64, offset: u64, data: &[u8]) -> Option<u64> {
    data.iter()
        .zip(offset..)
        .find(|(b, at)| **b != byte(seed, *at))
        .map(|(_, at)| at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_is_positional_and_seeded() {
        let a = bytes(1, 0, 4096);
        assert_eq!(bytes(1, 1024, 16), a[1024..1040].to_vec());
        assert_ne!(bytes(2, 0, 64), a[..64].to_vec());
        // Neighbouring blocks of any size differ, so a block at the wrong offset shows.
        for size in [16usize, 1024] {
            assert_ne!(a[..size], a[size..2 * size]);
        }
        assert_eq!(first_difference(1, 0, &a), None);
        let mut b = a.clone();
        b[3000] ^= 1;
        assert_eq!(first_difference(1, 0, &b), Some(3000));
        assert_eq!(first_difference(1, 5, &a[5..9]), None);
    }
}
