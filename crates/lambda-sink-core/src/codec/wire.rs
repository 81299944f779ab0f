//! Confluent's wire format: the header in front of Schema Registry encoded
//! keys and values.
//!
//! * magic byte `0`, then the schema id as 4 bytes big-endian; or magic byte
//!   `1`, then the schema's 16-byte GUID (newer Confluent clients);
//! * for Protobuf only, then the message-index list: a zigzag varint count
//!   followed by that many zigzag varint indexes, where the single byte `0`
//!   stands for `[0]` (the file's first message).
//!
//! Every read is bounds-checked; no input makes these functions panic or
//! allocate more than the bytes justify.

use super::DecodeError;

/// Which schema a record was written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchemaRef {
    /// A schema id (magic byte 0).
    Id(u32),
    /// A schema GUID (magic byte 1).
    Guid([u8; 16]),
}

impl SchemaRef {
    /// The id as ESM's `schemaId` writes it: the number, or the GUID in its
    /// dashed form.
    pub fn esm_id(&self) -> String {
        match self {
            Self::Id(id) => id.to_string(),
            Self::Guid(_) => self.to_string().trim_start_matches("guid ").to_string(),
        }
    }
}

impl std::fmt::Display for SchemaRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => write!(f, "id {id}"),
            Self::Guid(g) => {
                write!(f, "guid ")?;
                for (i, b) in g.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        f.write_str("-")?;
                    }
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

/// The header and the encoded payload after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framed<'a> {
    /// The writer schema.
    pub schema: SchemaRef,
    /// The bytes after the header.
    pub payload: &'a [u8],
}

/// Advice for a key (`is_key`) or value that is not in Confluent's wire
/// format although its record carries the headers Apicurio Registry's own
/// serializers write when they put the schema id in headers instead
/// (`apicurio.value.globalId`, ...: their 2.x default), which lambda-sink
/// does not read.
pub fn apicurio_headers_hint(
    headers: &[(String, Option<Vec<u8>>)],
    is_key: bool,
) -> Option<String> {
    let prefix = if is_key {
        "apicurio.key."
    } else {
        "apicurio.value."
    };
    let found = headers.iter().find(|(name, _)| {
        name.strip_prefix(prefix)
            .is_some_and(|id| id == "globalId" || id == "contentId")
    })?;
    Some(format!(
        "the record carries the header {}: it was written by Apicurio Registry's serializer with the schema id in \
         headers; configure that serializer with apicurio.registry.headers.enabled=false and \
         apicurio.registry.as-confluent=true (Confluent's wire format)",
        found.0
    ))
}

/// Most message indexes accepted: nesting deeper than this is not a real schema.
pub const MAX_MESSAGE_INDEXES: usize = 64;

/// Splits the Confluent header from `bytes`.
///
/// # Errors
/// When the bytes are too short or the magic byte is unknown.
pub fn parse(bytes: &[u8]) -> Result<Framed<'_>, DecodeError> {
    match bytes.first() {
        None => Err(DecodeError::new("empty: no Confluent wire-format header")),
        Some(0) => {
            let id = bytes.get(1..5).ok_or_else(|| {
                DecodeError::new(format!(
                    "{} bytes: too short for a schema id (5 needed)",
                    bytes.len()
                ))
            })?;
            let id = u32::from_be_bytes([id[0], id[1], id[2], id[3]]);
            Ok(Framed {
                schema: SchemaRef::Id(id),
                payload: &bytes[5..],
            })
        }
        Some(1) => {
            let guid = bytes.get(1..17).ok_or_else(|| {
                DecodeError::new(format!(
                    "{} bytes: too short for a schema GUID (17 needed)",
                    bytes.len()
                ))
            })?;
            let mut g = [0u8; 16];
            g.copy_from_slice(guid);
            Ok(Framed {
                schema: SchemaRef::Guid(g),
                payload: &bytes[17..],
            })
        }
        Some(m) => Err(DecodeError::new(format!(
            "unknown magic byte {m:#04x}: not in Confluent's wire format (expected 0x00 or 0x01)"
        ))),
    }
}

/// Reads the Protobuf message-index list at the start of `payload`; returns
/// it and the message bytes after it.
///
/// # Errors
/// When the list is truncated, too long, or has a negative index.
pub fn message_indexes(payload: &[u8]) -> Result<(Vec<i32>, &[u8]), DecodeError> {
    let (count, mut rest) = zigzag_varint(payload)?;
    if count == 0 {
        return Ok((vec![0], rest));
    }
    let count = usize::try_from(count)
        .ok()
        .filter(|n| *n <= MAX_MESSAGE_INDEXES)
        .ok_or_else(|| {
            DecodeError::new(format!(
                "message index list of {count} entries (at most {MAX_MESSAGE_INDEXES})"
            ))
        })?;
    let mut indexes = Vec::with_capacity(count);
    for _ in 0..count {
        let (index, after) = zigzag_varint(rest)?;
        if index < 0 {
            return Err(DecodeError::new(format!("negative message index {index}")));
        }
        indexes.push(index);
        rest = after;
    }
    Ok((indexes, rest))
}

/// One zigzag-encoded varint that fits an `i32`.
fn zigzag_varint(bytes: &[u8]) -> Result<(i32, &[u8]), DecodeError> {
    let mut value: u64 = 0;
    for (i, b) in bytes.iter().enumerate().take(5) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let v = u32::try_from(value)
                .map_err(|_| DecodeError::new("message index varint exceeds 32 bits"))?;
            let decoded = ((v >> 1) as i32) ^ -((v & 1) as i32);
            return Ok((decoded, &bytes[i + 1..]));
        }
    }
    Err(DecodeError::new(if bytes.len() < 5 {
        "truncated message index varint"
    } else {
        "message index varint longer than 5 bytes"
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_and_guids() {
        let f = parse(&[0, 0, 0, 1, 2, 0xaa]).unwrap();
        assert_eq!(f.schema, SchemaRef::Id(258));
        assert_eq!(f.payload, &[0xaa]);
        let mut v1 = vec![1];
        v1.extend(0u8..16);
        v1.push(7);
        let f = parse(&v1).unwrap();
        assert_eq!(f.payload, &[7]);
        assert_eq!(
            f.schema.to_string(),
            "guid 00010203-0405-0607-0809-0a0b0c0d0e0f"
        );
    }

    #[test]
    fn bad_headers_say_why() {
        assert_eq!(
            parse(&[]).unwrap_err().message,
            "empty: no Confluent wire-format header"
        );
        assert_eq!(
            parse(&[0, 0, 1]).unwrap_err().message,
            "3 bytes: too short for a schema id (5 needed)"
        );
        assert!(parse(&[1, 2]).unwrap_err().message.contains("GUID"));
        assert_eq!(
            parse(b"{\"a\":1}").unwrap_err().message,
            "unknown magic byte 0x7b: not in Confluent's wire format (expected 0x00 or 0x01)"
        );
    }

    #[test]
    fn message_index_lists() {
        assert_eq!(
            message_indexes(&[0, 9]).unwrap(),
            (vec![0], &[9][..]),
            "[0] shorthand"
        );
        // count 2 (zigzag 4), indexes 1 (2) and 0 (0).
        assert_eq!(
            message_indexes(&[4, 2, 0, 9]).unwrap(),
            (vec![1, 0], &[9][..])
        );
        // index 300: zigzag 600 = 0xd8 0x04.
        assert_eq!(message_indexes(&[2, 0xd8, 0x04]).unwrap().0, vec![300]);
        assert!(
            message_indexes(&[])
                .unwrap_err()
                .message
                .contains("truncated")
        );
        assert!(
            message_indexes(&[4, 2])
                .unwrap_err()
                .message
                .contains("truncated")
        );
        assert!(
            message_indexes(&[2, 1])
                .unwrap_err()
                .message
                .contains("negative")
        );
        assert!(
            message_indexes(&[0xfe, 0x01])
                .unwrap_err()
                .message
                .contains("entries")
        );
        assert!(message_indexes(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(f) = parse(&bytes) {
                let _ = message_indexes(f.payload);
            }
            let _ = message_indexes(&bytes);
        }

        #[test]
        fn round_trips_confluent_encoding(indexes in prop::collection::vec(0i32..100_000, 1..8)) {
            // The encoder Confluent's clients use.
            fn zz(v: i32, out: &mut Vec<u8>) {
                let mut u = ((v << 1) ^ (v >> 31)) as u32;
                loop {
                    let b = (u & 0x7f) as u8;
                    u >>= 7;
                    if u == 0 { out.push(b); break; }
                    out.push(b | 0x80);
                }
            }
            let mut bytes = Vec::new();
            if indexes == [0] { bytes.push(0); } else {
                zz(i32::try_from(indexes.len()).unwrap(), &mut bytes);
                for i in &indexes { zz(*i, &mut bytes); }
            }
            bytes.push(0x42);
            let (decoded, rest) = message_indexes(&bytes).unwrap();
            prop_assert_eq!(decoded, indexes);
            prop_assert_eq!(rest, &[0x42][..]);
        }
    }

    #[test]
    fn apicurio_headers_are_recognised_for_their_field_only() {
        let headers = vec![("apicurio.value.globalId".to_string(), Some(vec![0; 8]))];
        let hint = apicurio_headers_hint(&headers, false).unwrap_or_default();
        assert!(hint.contains("apicurio.value.globalId"), "{hint}");
        assert!(
            hint.contains("apicurio.registry.headers.enabled=false"),
            "{hint}"
        );
        assert_eq!(apicurio_headers_hint(&headers, true), None, "not the key's");
        assert_eq!(
            apicurio_headers_hint(&[("traceparent".into(), None)], false),
            None
        );
    }
}
