//! Input generation for the smoke fuzzer: fresh random bytes, or a target's valid seeds
//! mutated — bit flips, boundary bytes, insertions, deletions, repeated ranges (which grow
//! nesting and lengths), truncation, splices. Every choice comes from one seeded RNG
//! (proptest's ChaCha `TestRng`), so a seed repeats the run input for input.
//!
//! This is random (blind) mutation: nothing is learnt from which branches an input reached.

use proptest::prelude::Rng;
use proptest::test_runner::{RngAlgorithm, TestRng};

/// Longest input made.
pub const MAX_LEN: usize = 4096;

/// Boundary bytes that parsers treat specially (lengths, markers, UTF-8 lead bytes).
const BOUNDARY: &[u8] = &[
    0x00, 0x01, 0x0d, 0x0e, 0x0f, 0x7f, 0x80, 0xc0, 0xe0, 0xf0, 0xff,
];

pub struct Mutator {
    rng: TestRng,
}

impl Mutator {
    /// A mutator whose every choice follows from `seed`.
    pub fn new(seed: u64) -> Mutator {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        Mutator {
            rng: TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
        }
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.rng.next_u64() % n as u64) as usize
        }
    }

    fn byte(&mut self) -> u8 {
        self.rng.next_u64() as u8
    }

    /// The next input: a quarter fresh random bytes, the rest a mutated seed.
    pub fn next_input(&mut self, seeds: &[Vec<u8>]) -> Vec<u8> {
        if seeds.is_empty() || self.below(4) == 0 {
            let len = self.below(257);
            return (0..len).map(|_| self.byte()).collect();
        }
        let mut data = seeds[self.below(seeds.len())].clone();
        for _ in 0..=self.below(8) {
            self.mutate_once(&mut data, seeds);
        }
        data.truncate(MAX_LEN);
        data
    }

    fn mutate_once(&mut self, data: &mut Vec<u8>, seeds: &[Vec<u8>]) {
        let len = data.len();
        match self.below(8) {
            0 if len > 0 => {
                let i = self.below(len);
                data[i] ^= 1 << self.below(8);
            }
            1 if len > 0 => {
                let i = self.below(len);
                data[i] = BOUNDARY[self.below(BOUNDARY.len())];
            }
            2 => {
                let at = self.below(len + 1);
                let n = 1 + self.below(16);
                let fresh: Vec<u8> = (0..n).map(|_| self.byte()).collect();
                data.splice(at..at, fresh);
            }
            3 if len > 0 => {
                let at = self.below(len);
                let n = 1 + self.below(len - at);
                data.drain(at..at + n);
            }
            4 if len > 0 => {
                // Repeat a range many times: deep nesting, long strings, big counts.
                let at = self.below(len);
                let n = 1 + self.below((len - at).min(8));
                let piece = data[at..at + n].to_vec();
                let times = 1 + self.below(256);
                let grown: Vec<u8> = piece.iter().copied().cycle().take(n * times).collect();
                data.splice(at..at, grown);
            }
            5 if len > 0 => data.truncate(self.below(len)),
            6 => {
                let other = &seeds[self.below(seeds.len())];
                if !other.is_empty() {
                    let from = self.below(other.len());
                    let piece = other[from..].to_vec();
                    let at = self.below(len + 1);
                    data.truncate(at);
                    data.extend_from_slice(&piece);
                }
            }
            _ => {
                // A 16- or 64-bit boundary value somewhere (declared lengths, ids).
                let value: u64 =
                    [0, u64::MAX, u64::from(u16::MAX), 1 << 31, 1 << 20][self.below(5)];
                let width = if self.below(2) == 0 { 2 } else { 8 };
                let at = self.below(len + 1);
                data.splice(at..at, value.to_be_bytes()[8 - width..].iter().copied());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_inputs() {
        let seeds = vec![b"{\"op\": 1}".to_vec(), vec![0x40, 0x01, 0x00, 0x01]];
        let (mut a, mut b, mut c) = (Mutator::new(9), Mutator::new(9), Mutator::new(10));
        let run = |m: &mut Mutator| (0..50).map(|_| m.next_input(&seeds)).collect::<Vec<_>>();
        let (ra, rb, rc) = (run(&mut a), run(&mut b), run(&mut c));
        assert_eq!(ra, rb);
        assert_ne!(ra, rc);
        assert!(ra.iter().all(|i| i.len() <= MAX_LEN));
        // Both kinds of input occur: fresh bytes and mutated seeds.
        assert!(ra
            .iter()
            .any(|i| i.starts_with(b"{\"op\"") || i.starts_with(&[0x40])));
    }
}
