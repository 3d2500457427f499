//! Contract cases for [`RandomProvider`].

use crate::contract::Harness;
use crate::{Providers, RandomProvider, Ratio};

/// Draws stay within the ranges asked for and cover them.
pub async fn ranges_are_respected<P: Providers>(p: P) {
    let r = p.random();
    let mut seen = [false; 10];
    for _ in 0..2_000 {
        let v: u64 = r.random_range(10..20);
        assert!((10..20).contains(&v), "{v} outside 10..20");
        seen[(v - 10) as usize] = true;
        let w: i64 = r.random_range(-5..=5);
        assert!((-5..=5).contains(&w), "{w} outside -5..=5");
        let f = r.random_ratio();
        assert!((0.0..1.0).contains(&f), "{f} outside [0, 1)");
    }
    assert!(seen.iter().all(|&s| s), "some values of 10..20 never drawn");
    assert!(!r.random_bool(Ratio::ZERO));
    assert!(r.random_bool(Ratio::ONE));
    let items = [1, 2, 3];
    assert!(items.contains(r.choose(&items).expect("non-empty")));
    assert_eq!(r.choose::<u8>(&[]), None);
}

fn sample<P: Providers>(p: &P) -> Vec<u64> {
    let r = p.random();
    let mut v: Vec<u64> = (0..32).map(|_| r.random_range(0..1_000_000)).collect();
    let mut deck: Vec<u64> = (0..20).collect();
    r.shuffle(&mut deck);
    v.extend(deck);
    v
}

/// The same seed gives the same draws; another seed gives others.
pub fn draws_are_reproducible_for_a_fixed_seed<H: Harness>() {
    let a = H::run(7, |p| async move { sample(&p) });
    let b = H::run(7, |p| async move { sample(&p) });
    let c = H::run(8, |p| async move { sample(&p) });
    assert_eq!(a, b, "same seed, different draws");
    assert_ne!(a, c, "different seeds, same draws");
}
