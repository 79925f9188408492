//! Percentage rollouts: which of 100 buckets a subject falls into for a flag.
//!
//! bucket = (first 8 hex digits of SHA-256(`salt:subject`), read as a number) mod 100, and a flag rolled
//! out to `percent` is on when bucket < percent. The same subject always lands in the same bucket, so a
//! visitor does not flicker between variants, and raising the percentage only adds visitors: everyone
//! who had the flag at 10 % still has it at 25 %. Each flag has its own salt, so the visitors of one 10 %
//! rollout are not the same as another's.

use sha2::{Digest, Sha256};

/// The bucket, 0–99, of `subject` for a flag salted with `salt`.
pub fn bucket(salt: &str, subject: &str) -> u8 {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(b":");
    hasher.update(subject.as_bytes());
    let digest = hasher.finalize();
    // The first 8 hex digits are the first 4 bytes, big-endian.
    let prefix = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    // Less than 100, so the cast cannot truncate.
    (prefix % 100) as u8
}

/// Whether `subject` is inside a rollout to `percent` % (0 is nobody, 100 or more is everybody).
pub fn in_rollout(salt: &str, subject: &str, percent: u8) -> bool {
    bucket(salt, subject) < percent
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors computed outside keel: `printf 'signup_v2:visitor-1' | sha256sum | cut -c1-8` gives
    /// 9f53d0d5 = 2673070293, and 2673070293 mod 100 = 93.
    #[test]
    fn buckets_match_the_formula_for_known_vectors() {
        // (salt, subject, first 8 hex digits of the SHA-256, bucket)
        let vectors = [
            ("signup_v2", "visitor-1", "9f53d0d5", 93),
            ("signup_v2", "visitor-2", "d54d289d", 77),
            ("new_checkout", "visitor-1", "dc295bb1", 69),
            ("salt", "", "e7732745", 89),
        ];
        for (salt, subject, hex_prefix, expected) in vectors {
            let digest = Sha256::digest(format!("{salt}:{subject}").as_bytes());
            assert_eq!(
                &hex::encode(digest)[..8],
                hex_prefix,
                "vector {salt}:{subject} has a wrong hex prefix in the test"
            );
            assert_eq!(bucket(salt, subject), expected, "{salt}:{subject}");
        }
    }

    #[test]
    fn a_subject_always_lands_in_the_same_bucket() {
        for subject in ["a", "visitor-1", "0190a1b2c3d4"] {
            assert_eq!(bucket("signup_v2", subject), bucket("signup_v2", subject));
        }
    }

    #[test]
    fn a_quarter_rollout_reaches_a_quarter_of_ten_thousand_subjects() {
        let inside = (0..10_000)
            .filter(|n| in_rollout("signup_v2", &format!("visitor-{n}"), 25))
            .count();
        // ±2 % of 10,000.
        assert!(
            (2_300..=2_700).contains(&inside),
            "{inside} of 10000 subjects are inside a 25 % rollout"
        );
    }

    #[test]
    fn the_edges_are_nobody_and_everybody() {
        for n in 0..1_000 {
            let subject = format!("visitor-{n}");
            assert!(!in_rollout("signup_v2", &subject, 0));
            assert!(in_rollout("signup_v2", &subject, 100));
        }
    }

    #[test]
    fn raising_the_percentage_keeps_everyone_who_was_inside() {
        for n in 0..2_000 {
            let subject = format!("visitor-{n}");
            if in_rollout("signup_v2", &subject, 10) {
                assert!(in_rollout("signup_v2", &subject, 25));
            }
        }
    }
}
