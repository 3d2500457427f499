//! The check: every ping was answered by its own pong.
//!
//! The client records, for each ping in order, the pong it took as the
//! answer. The answers are correct if there is exactly one per ping and
//! each is byte for byte the ping's payload (`client`, `seq` and the
//! filler derived from `seq`), so a pong of another ping, another client,
//! or a corrupted one that slipped past the CRC is caught.

use super::wire::{PAYLOAD_LEN, parse_payload, ping_payload};

/// A broken answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// Fewer or more answers than pings.
    #[error("pings answered wrongly: {answers} answers to {pings} pings of client {client}")]
    Count {
        /// The client.
        client: u64,
        /// Pings sent.
        pings: u64,
        /// Answers recorded.
        answers: u64,
    },
    /// A ping answered by a pong that is not its own.
    #[error(
        "pings answered wrongly: ping {seq} of client {client} was answered by {}",
        describe(*got)
    )]
    WrongAnswer {
        /// The client.
        client: u64,
        /// The ping.
        seq: u64,
        /// The `(client, seq)` the accepted pong names, if well formed.
        got: Option<(u64, u64)>,
    },
}

fn describe(got: Option<(u64, u64)>) -> String {
    match got {
        Some((client, seq)) => format!("the pong of ping {seq} of client {client}"),
        None => "a malformed pong".to_string(),
    }
}

/// Checks that `answers` holds exactly one answer per ping `0..pings` of
/// `client`, each the ping's own pong.
pub fn check_answers(
    client: u64,
    pings: u64,
    answers: &[[u8; PAYLOAD_LEN]],
) -> Result<(), CheckError> {
    if answers.len() as u64 != pings {
        return Err(CheckError::Count {
            client,
            pings,
            answers: answers.len() as u64,
        });
    }
    for (seq, pong) in (0..pings).zip(answers) {
        if *pong != ping_payload(client, seq) {
            return Err(CheckError::WrongAnswer {
                client,
                seq,
                got: parse_payload(pong),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_pongs_pass_and_a_shifted_answer_is_caught() {
        let good: Vec<_> = (0..4).map(|s| ping_payload(2, s)).collect();
        assert_eq!(check_answers(2, 4, &good), Ok(()));
        let mut shifted = good.clone();
        shifted[2] = ping_payload(2, 1);
        assert_eq!(
            check_answers(2, 4, &shifted),
            Err(CheckError::WrongAnswer {
                client: 2,
                seq: 2,
                got: Some((2, 1))
            })
        );
        assert!(matches!(
            check_answers(2, 5, &good),
            Err(CheckError::Count { .. })
        ));
    }
}
