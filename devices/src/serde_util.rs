//! Serde helpers for device state.

/// `#[serde(with = "crate::serde_util::byte_array")]` for `[u8; N]` of any
/// length (serde derives arrays only up to 32 elements). A saved array of
/// the wrong length is refused, not truncated or padded.
pub(crate) mod byte_array {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer, const N: usize>(
        v: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let v = Vec::<u8>::deserialize(d)?;
        let len = v.len();
        v.try_into()
            .map_err(|_| D::Error::invalid_length(len, &"a byte array of the saved length"))
    }
}
