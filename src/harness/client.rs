//! A Kafka client over bytes: typed requests encoded with `kafka-protocol`,
//! responses decoded and checked (size prefix, correlation id, no trailing
//! bytes). Tests, benchmarks and stateful targets talk to a broker with it.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{RequestHeader, RequestKind, ResponseHeader};
use kafka_protocol::protocol::{Decodable, HeaderVersion, Request, StrBytes};

use super::input::encode_request;
use crate::server::broker::{Broker, DispatchError};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("kafka-protocol cannot encode the request: {0:#}")]
    Encode(anyhow::Error),
    #[error("the broker closed the connection: {0}")]
    Closed(#[from] DispatchError),
    #[error("the broker sent no response")]
    NoResponse,
    #[error("bad response: {0}")]
    BadResponse(String),
}

/// One client connection's identity and correlation ids.
#[derive(Debug, Clone)]
pub struct Client {
    client_id: StrBytes,
    next_correlation_id: i32,
}

impl Client {
    pub fn new(client_id: &str) -> Self {
        Self {
            client_id: StrBytes::from_string(client_id.to_owned()),
            next_correlation_id: 1,
        }
    }

    /// A request frame, size prefix included, with the next correlation id.
    pub fn request<R>(&mut self, version: i16, body: R) -> Result<(i32, Bytes), ClientError>
    where
        R: Request + Into<RequestKind>,
    {
        self.request_kind(R::KEY, version, &body.into())
    }

    /// `request`, for a body whose API is known only when running.
    pub fn request_kind(
        &mut self,
        api_key: i16,
        version: i16,
        body: &RequestKind,
    ) -> Result<(i32, Bytes), ClientError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(api_key)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let frame = encode_request(&header, body).map_err(ClientError::Encode)?;
        Ok((correlation_id, frame))
    }

    /// Decodes a response frame (size prefix included) to request `R` at
    /// `version`, checking what every response must satisfy.
    pub fn response<R: Request>(version: i16, correlation_id: i32, frame: &Bytes) -> Result<R::Response, ClientError> {
        let bad = |what: String| ClientError::BadResponse(what);
        if frame.len() < 4 {
            return Err(bad(format!("{} bytes, no size prefix", frame.len())));
        }
        let size = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        if size != frame.len() - 4 {
            return Err(bad(format!("size prefix {size}, {} bytes follow", frame.len() - 4)));
        }
        let mut body = frame.slice(4..);
        let header = ResponseHeader::decode(&mut body, R::Response::header_version(version))
            .map_err(|e| bad(format!("header: {e:#}")))?;
        if header.correlation_id != correlation_id {
            return Err(bad(format!(
                "correlation id {} answers request {correlation_id}",
                header.correlation_id
            )));
        }
        let response = R::Response::decode(&mut body, version).map_err(|e| bad(format!("body v{version}: {e:#}")))?;
        if body.has_remaining() {
            return Err(bad(format!("{} bytes after the body", body.remaining())));
        }
        Ok(response)
    }

    /// Sends a request to an in-process broker and decodes its response.
    pub fn call<R>(&mut self, broker: &mut Broker, version: i16, body: R) -> Result<R::Response, ClientError>
    where
        R: Request + Into<RequestKind>,
    {
        let (correlation_id, frame) = self.request(version, body)?;
        let response = broker.handle(frame.slice(4..))?.ok_or(ClientError::NoResponse)?;
        Self::response::<R>(version, correlation_id, &response)
    }
}
