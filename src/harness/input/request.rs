//! Requests of every supported API at every version, with only the fields
//! that exist at that version, and the one path that encodes them.

use arbitrary::{Result, Unstructured};
use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, BrokerId, GroupId, ProducerId, RequestHeader, RequestKind, TopicName, TransactionalId,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use uuid::Uuid;

use super::pools;
use crate::server::wire::schema::{field_versions, request_apis, request_schemas, unless_rigid};
use crate::server::wire::{SupportedApi, Version, size_prefixed};

/// A value generated for a particular message version.
pub trait VersionedArbitrary: Sized {
    fn arbitrary_at(u: &mut Unstructured, version: Version) -> Result<Self>;
}

macro_rules! generated_by {
    ($($ty:ty => $generate:expr;)*) => {$(
        impl VersionedArbitrary for $ty {
            fn arbitrary_at(u: &mut Unstructured, _: Version) -> Result<Self> {
                $generate(u).map(Into::into)
            }
        }
    )*};
}

generated_by! {
    bool => |u: &mut Unstructured| u.arbitrary::<bool>();
    i8 => pools::i8;
    i16 => pools::i16;
    u16 => pools::u16;
    i32 => pools::i32;
    i64 => pools::i64;
    f64 => pools::f64;
    Uuid => pools::uuid;
    BrokerId => pools::i32;
    ProducerId => pools::i64;
    StrBytes => pools::string;
    TopicName => pools::string;
    GroupId => pools::string;
    TransactionalId => pools::string;
    Bytes => pools::bytes;
}

impl<T: VersionedArbitrary> VersionedArbitrary for Option<T> {
    fn arbitrary_at(u: &mut Unstructured, version: Version) -> Result<Self> {
        if u.ratio(1, 4)? {
            Ok(None)
        } else {
            T::arbitrary_at(u, version).map(Some)
        }
    }
}

impl<T: VersionedArbitrary> VersionedArbitrary for Vec<T> {
    fn arbitrary_at(u: &mut Unstructured, version: Version) -> Result<Self> {
        (0..pools::array_len(u)?).map(|_| T::arbitrary_at(u, version)).collect()
    }
}

/// Tags no schema here defines, so they stay unknown to every decoder.
const UNKNOWN_TAGS: &[i32] = &[7, 100, 1_000_000];

macro_rules! impl_versioned_arbitrary {
    ($( $module:ident :: $ty:ident $($rigid:ident)? {
        $( $field:ident $([$min:literal, $max:tt])? ),*
        $(; $( tagged $tag:literal => $tfield:ident $([$tmin:literal, $tmax:tt])? ),* )?
    } )*) => {$(
        impl VersionedArbitrary for kafka_protocol::messages::$module::$ty {
            fn arbitrary_at(u: &mut Unstructured, version: Version) -> Result<Self> {
                let mut value = Self::default();
                $(
                    if version.has(field_versions!($($min, $max)?)) {
                        value.$field = VersionedArbitrary::arbitrary_at(u, version)?;
                    }
                )*
                unless_rigid!($($rigid)? => if version.flexible {
                    $($(
                        if version.has(field_versions!($($tmin, $tmax)?)) && u.arbitrary()? {
                            value.$tfield = VersionedArbitrary::arbitrary_at(u, version)?;
                        }
                    )*)?
                    if u.ratio(1, 8)? {
                        value.unknown_tagged_fields.insert(*u.choose(UNKNOWN_TAGS)?, pools::bytes(u)?);
                    }
                });
                Ok(value)
            }
        }
    )*};
}

request_schemas!(impl_versioned_arbitrary);

macro_rules! arbitrary_body {
    ($($key:ident => $request:ident),* $(,)?) => {
        /// A request body of `api` at `version`, with only the fields that
        /// exist at that version set.
        pub fn arbitrary_request(u: &mut Unstructured, api: SupportedApi, version: i16) -> Result<RequestKind> {
            let version = api.version(version);
            Ok(match api.key {
                $(ApiKey::$key => kafka_protocol::messages::$request::arbitrary_at(u, version)?.into(),)*
            })
        }
    };
}

request_apis!(arbitrary_body);

/// Encodes a request frame, size prefix included, with `kafka-protocol`; the
/// header version follows from the api key and version. Fails where
/// `kafka-protocol` refuses (a value that does not fit its encoding).
pub fn encode_request(header: &RequestHeader, body: &RequestKind) -> anyhow::Result<Bytes> {
    let api = ApiKey::try_from(header.request_api_key)
        .map_err(|_| anyhow::anyhow!("unknown api key {}", header.request_api_key))?;
    size_prefixed(|buf| {
        header.encode(buf, api.request_header_version(header.request_api_version))?;
        body.encode(buf, header.request_api_version)
    })
}
