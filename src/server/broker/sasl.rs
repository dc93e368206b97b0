//! SASL/PLAIN authentication, as Kafka's `SaslServerAuthenticator` runs it
//! on a SASL_PLAINTEXT listener: before a connection authenticates, it may
//! send ApiVersions, SaslHandshake (v0: then one raw token frame; v1: then
//! SaslAuthenticate) and nothing else; anything else closes it. Users come
//! from the command line (`serve --sasl-user NAME:PASSWORD`).

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::dispatcher::{Broker, DispatchError, Reply};
use crate::server::wire::{decode_request_ignoring_trailing_bytes, encode_response, supported_api};

/// The one mechanism offered.
const PLAIN: &str = "PLAIN";

/// The APIs a broker with SASL users answers besides `ANSWERED_APIS`.
pub const SASL_APIS: &[ApiKey] = &[ApiKey::SaslHandshake, ApiKey::SaslAuthenticate];

/// Where one connection is in authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaslState {
    /// Nothing yet: ApiVersions and SaslHandshake only.
    #[default]
    Handshake,
    /// PLAIN chosen with SaslHandshake v1: a SaslAuthenticate comes next.
    Authenticate,
    /// PLAIN chosen with SaslHandshake v0: the next frame is the bare token.
    RawToken,
    Authenticated,
    /// Refused: the connection is closed at its next frame.
    Failed,
}

/// Why authentication closed a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    #[error("api key {api_key} before SASL authentication completed")]
    Unauthenticated { api_key: i16 },
    #[error("a request after SASL authentication failed")]
    Failed,
    #[error("a raw SASL token that is not a valid PLAIN token for a known user")]
    RawTokenRefused,
}

/// Checks a PLAIN token (`authzid NUL user NUL password`, RFC 4616): the
/// user, when it is one of `users` with that password and no other
/// authorization identity.
fn plain_user<'a>(users: &'a [(String, String)], token: &[u8]) -> Option<&'a str> {
    let mut parts = token.split(|&byte| byte == 0);
    let (authzid, user, password) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !(authzid.is_empty() || authzid == user) {
        return None;
    }
    users
        .iter()
        .find(|(name, secret)| name.as_bytes() == user && secret.as_bytes() == password)
        .map(|(name, _)| name.as_str())
}

impl Broker {
    /// Whether this broker requires SASL authentication.
    pub fn requires_sasl(&self) -> bool {
        !self.config.sasl_users.is_empty()
    }

    /// One frame of a connection in `state`: authentication first, where
    /// the broker has SASL users, then `receive`.
    pub fn receive_authenticated(&mut self, state: &mut SaslState, frame: Bytes) -> Result<Reply, DispatchError> {
        if !self.requires_sasl() || *state == SaslState::Authenticated {
            return self.receive(frame);
        }
        match *state {
            SaslState::Failed => return Err(SaslError::Failed.into()),
            SaslState::RawToken => {
                // An empty frame answers success; a refusal closes.
                return match plain_user(&self.config.sasl_users, &frame) {
                    Some(_) => {
                        *state = SaslState::Authenticated;
                        Ok(Reply::Response(Bytes::from_static(&[0, 0, 0, 0])))
                    }
                    None => Err(SaslError::RawTokenRefused.into()),
                };
            }
            _ => {}
        }
        let api_key = frame.get(..2).map_or(-1, |key| i16::from_be_bytes([key[0], key[1]]));
        let expected = match *state {
            SaslState::Handshake => [ApiKey::ApiVersions as i16, ApiKey::SaslHandshake as i16].contains(&api_key),
            _ => api_key == ApiKey::SaslAuthenticate as i16,
        };
        if !expected {
            return Err(SaslError::Unauthenticated { api_key }.into());
        }
        if api_key == ApiKey::ApiVersions as i16 {
            return self.receive(frame);
        }
        let request = decode_request_ignoring_trailing_bytes(frame)?;
        let header = &request.header;
        let version = header.request_api_version;
        let api = supported_api(header.request_api_key).map_or(ApiKey::SaslHandshake, |api| api.key);
        let body = match request.body {
            kafka_protocol::messages::RequestKind::SaslHandshake(handshake) => {
                self.sasl_handshake(state, &handshake, version).into()
            }
            kafka_protocol::messages::RequestKind::SaslAuthenticate(authenticate) => {
                self.sasl_authenticate(state, &authenticate).into()
            }
            _ => return Err(SaslError::Unauthenticated { api_key }.into()),
        };
        Ok(Reply::Response(encode_response(
            api,
            version,
            header.correlation_id,
            &body,
        )?))
    }

    fn sasl_handshake(
        &self,
        state: &mut SaslState,
        request: &SaslHandshakeRequest,
        version: i16,
    ) -> SaslHandshakeResponse {
        let response = SaslHandshakeResponse::default().with_mechanisms(vec![StrBytes::from_static_str(PLAIN)]);
        if request.mechanism.as_str() != PLAIN {
            return response.with_error_code(ResponseError::UnsupportedSaslMechanism.code());
        }
        *state = if version == 0 {
            SaslState::RawToken
        } else {
            SaslState::Authenticate
        };
        response
    }

    fn sasl_authenticate(&self, state: &mut SaslState, request: &SaslAuthenticateRequest) -> SaslAuthenticateResponse {
        match plain_user(&self.config.sasl_users, &request.auth_bytes) {
            Some(user) => {
                tracing::debug!(user, "authenticated");
                *state = SaslState::Authenticated;
                SaslAuthenticateResponse::default()
            }
            None => {
                *state = SaslState::Failed;
                SaslAuthenticateResponse::default()
                    .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                    .with_error_message(Some(StrBytes::from_static_str(
                        "Authentication failed: Invalid username or password",
                    )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_tokens_name_a_known_user_with_their_password() {
        let users = vec![("alice".to_owned(), "secret".to_owned())];
        assert_eq!(plain_user(&users, b"\0alice\0secret"), Some("alice"));
        assert_eq!(plain_user(&users, b"alice\0alice\0secret"), Some("alice"));
        for refused in [
            &b"\0alice\0wrong"[..],
            b"\0bob\0secret",
            b"bob\0alice\0secret",
            b"\0alice\0secret\0more",
            b"\0alice",
            b"",
        ] {
            assert_eq!(plain_user(&users, refused), None, "{refused:?}");
        }
    }
}
