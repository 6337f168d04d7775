//! Session tokens: short-lived, signed, bound to one session.
//!
//! `POST /v1/sessions` hands out a token; every later call for that session must carry it
//! (`Authorization: Bearer …`). A token is `<session id>.<expiry, unix seconds>.<HMAC-SHA256>`
//! (the MAC base64url-encoded), signed with a key drawn at server start: nothing is stored per
//! token, tokens die with the server, and one session's token opens no other session.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use thiserror::Error;

/// Why a token was refused (all answered with 401).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("no session token: send `Authorization: Bearer <token>` with the token from POST /v1/sessions")]
    Missing,
    #[error("the session token is malformed: use the token exactly as POST /v1/sessions returned it")]
    Malformed,
    #[error("the session token is not valid for this session")]
    BadSignature,
    #[error("the session token expired: start a new session with POST /v1/sessions")]
    Expired,
}

/// Signs and checks tokens with one random key.
pub struct TokenSigner {
    key: hmac::Key,
    ttl: Duration,
}

impl TokenSigner {
    /// A signer with a fresh random key; tokens live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        let mut secret = [0u8; 32];
        SystemRandom::new()
            .fill(&mut secret)
            .expect("the operating system's random source works");
        TokenSigner {
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A token for `session_id`, valid from `now` for the signer's lifetime.
    pub fn issue(&self, session_id: &str, now: SystemTime) -> String {
        let expiry = unix_seconds(now) + self.ttl.as_secs();
        let payload = format!("{session_id}.{expiry}");
        let tag = hmac::sign(&self.key, payload.as_bytes());
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Checks that `token` was issued by this signer for `session_id` and has not expired.
    pub fn verify(&self, token: &str, session_id: &str, now: SystemTime) -> Result<(), TokenError> {
        let (payload, tag) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (id, expiry) = payload.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let expiry: u64 = expiry.parse().map_err(|_| TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| TokenError::Malformed)?;
        hmac::verify(&self.key, payload.as_bytes(), &tag).map_err(|_| TokenError::BadSignature)?;
        if id != session_id {
            return Err(TokenError::BadSignature);
        }
        if unix_seconds(now) >= expiry {
            return Err(TokenError::Expired);
        }
        Ok(())
    }
}

/// A fresh random session id (128 bits, hex).
pub fn new_session_id() -> String {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random source works");
    let mut id = String::with_capacity(2 + 32);
    id.push_str("s-");
    for byte in bytes {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_its_own_session_until_it_expires() {
        let signer = TokenSigner::new(Duration::from_secs(60));
        let now = SystemTime::now();
        let id = new_session_id();
        let token = signer.issue(&id, now);
        assert_eq!(signer.verify(&token, &id, now), Ok(()));
        assert_eq!(
            signer.verify(&token, &id, now + Duration::from_secs(61)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            signer.verify(&token, &new_session_id(), now),
            Err(TokenError::BadSignature),
            "a token opens no other session"
        );
    }

    #[test]
    fn forged_and_foreign_tokens_are_refused() {
        let signer = TokenSigner::new(Duration::from_secs(60));
        let now = SystemTime::now();
        let id = new_session_id();
        let token = signer.issue(&id, now);
        // A later expiry with the old signature.
        let (payload, tag) = token.rsplit_once('.').unwrap();
        let (sid, expiry) = payload.rsplit_once('.').unwrap();
        let stretched = format!("{sid}.{}.{tag}", expiry.parse::<u64>().unwrap() + 3600);
        assert_eq!(signer.verify(&stretched, &id, now), Err(TokenError::BadSignature));
        let other_server = TokenSigner::new(Duration::from_secs(60));
        assert_eq!(
            other_server.verify(&token, &id, now),
            Err(TokenError::BadSignature)
        );
        assert_eq!(signer.verify("garbage", &id, now), Err(TokenError::Malformed));
        assert_eq!(signer.verify("a.b.c", &id, now), Err(TokenError::Malformed));
    }
}
