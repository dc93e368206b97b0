//! Reading every request struct of the schema table, and the supported APIs.

use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Message, VersionRange};

use super::error::{DecodeError, DecodeErrorKind};
use super::reader::BoundedReader;
use super::schema::{field_versions, request_apis, request_schemas, unless_rigid};
use super::value::{MessageStruct, Version, WireValue, replace_default};

/// Implements `WireValue` for each struct of the schema table.
macro_rules! impl_wire_value {
    ($( $module:ident :: $ty:ident $($rigid:ident)? {
        $( $field:ident $([$min:literal, $max:tt])? ),*
        $(; $( tagged $tag:literal => $tfield:ident $([$tmin:literal, $tmax:tt])? ),* )?
    } )*) => {$(
        impl WireValue for kafka_protocol::messages::$module::$ty {
            // Every struct that appears in an array has a field in each of
            // its versions (or a tagged-field count byte), so one byte is a
            // true lower bound, and it keeps a count from ever meeting
            // zero-sized elements.
            const MIN_SIZE: usize = 1;
            const READ_IN_PLACE: bool = true;

            #[inline]
            fn read(reader: &mut BoundedReader, version: Version) -> Result<Self, DecodeError> {
                let mut value = Self::default();
                Self::read_into(&mut value, reader, version)?;
                Ok(value)
            }

            // Inlined into the parent's array loop, so an element is read
            // in place rather than returned through a `Result` and copied.
            // Fields absent at this version keep the schema default, as
            // Kafka's generated decoders leave them.
            #[inline]
            fn read_into(value: &mut Self, reader: &mut BoundedReader, version: Version) -> Result<(), DecodeError> {
                $(
                    if version.has(field_versions!($($min, $max)?)) {
                        replace_default(&mut value.$field, WireValue::read(reader, version)?);
                    }
                )*
                unless_rigid!($($rigid)? => if version.flexible {
                    reader.tagged_fields(&mut value.unknown_tagged_fields, |tag, _field| match tag {
                        $($(
                            $tag => {
                                if !version.has(field_versions!($($tmin, $tmax)?)) {
                                    return Err(_field.error(DecodeErrorKind::TaggedFieldNotInVersion {
                                        tag,
                                        version: version.version,
                                    }));
                                }
                                value.$tfield = WireValue::read(_field, version)?;
                                Ok(true)
                            }
                        )*)?
                        _ => Ok(false),
                    })?;
                });
                Ok(())
            }
        }
        impl MessageStruct for kafka_protocol::messages::$module::$ty {}
    )*};
}

request_schemas!(impl_wire_value);

/// An API the reference server decodes, and the versions it accepts: exactly
/// the range `kafka-protocol` gives in `Message::VERSIONS`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SupportedApi {
    pub key: ApiKey,
    /// The API's name as Kafka spells it, e.g. `Produce`.
    pub name: &'static str,
    pub versions: VersionRange,
}

impl SupportedApi {
    /// How a body of this API is read at `version`: flexible (compact
    /// encodings, tagged fields) exactly where the request header is v2,
    /// Apache Kafka's rule.
    pub fn version(&self, version: i16) -> Version {
        Version {
            version,
            flexible: self.key.request_header_version(version) >= 2,
        }
    }
}

macro_rules! supported_apis {
    ($($key:ident => $request:ident),* $(,)?) => {
        /// Every API the reference server decodes, in api key order.
        pub const SUPPORTED_APIS: &[SupportedApi] = &[
            $(SupportedApi { key: ApiKey::$key, name: stringify!($key), versions: <kafka_protocol::messages::$request as Message>::VERSIONS },)*
        ];
    };
}

request_apis!(supported_apis);

/// The supported API with this wire key, if any.
pub fn supported_api(api_key: i16) -> Option<SupportedApi> {
    SUPPORTED_APIS.iter().copied().find(|api| api.key as i16 == api_key)
}
