//! A seeded ChaCha8 generator for the tokio backend.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::random::RandomProvider;

/// Real randomness: ChaCha8 from a logged seed, so a real run's random
/// choices can be repeated by forcing the same seed.
#[derive(Clone)]
pub struct TokioRandom {
    rng: Rc<RefCell<ChaCha8Rng>>,
    seed: u64,
}

impl fmt::Debug for TokioRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokioRandom")
            .field("seed", &self.seed)
            .finish()
    }
}

impl TokioRandom {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> TokioRandom {
        TokioRandom {
            rng: Rc::new(RefCell::new(ChaCha8Rng::seed_from_u64(seed))),
            seed,
        }
    }

    /// The seed this generator started from.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

impl RandomProvider for TokioRandom {
    fn next_u64(&self) -> u64 {
        self.rng.borrow_mut().next_u64()
    }
}
