//! DescribeConfigs v0, read into the v1 request the handler takes and
//! answered in v0's own layout.
//!
//! Kafka 4.0 dropped v0, and `kafka-protocol`, generated from its schemas,
//! reads and writes v1 and later only. Older Sarama releases (Debian's 1.22
//! among them) send v0 from `ClusterAdmin.DescribeConfig` whatever
//! `Config.Version` says; refused, the connection closes and Sarama reports
//! EOF. Both layouts are small:
//!
//! ```text
//! request  v0: [resource_type resource_name [config_name]]
//!          v1: the same, then include_synonyms (bool)
//! response v0: throttle [error_code error_message resource_type resource_name
//!                        [name value read_only is_default is_sensitive]]
//!          v1: is_default became config_source, and synonyms follow is_sensitive
//! ```
//!
//! So a v0 request is a v1 request without its last byte, and a v0 config
//! entry is default exactly when its v1 source is the default.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::DescribeConfigsResponse;

use crate::api::describe_configs::SOURCE_DEFAULT;
use crate::api::primitives::{put_array_len, put_nullable_string, put_string};

/// The oldest version `kafka-protocol` reads and writes itself.
pub const FIRST_DECODED_VERSION: i16 = 1;

/// A v0 body as the v1 body it is short of: include_synonyms = false appended.
pub fn widen(body: &[u8]) -> Bytes {
    let mut v1 = BytesMut::with_capacity(body.len() + 1);
    v1.extend_from_slice(body);
    v1.put_u8(0);
    v1.freeze()
}

/// Writes `response` as a v0 body.
pub fn write_body(out: &mut BytesMut, response: &DescribeConfigsResponse) -> anyhow::Result<()> {
    out.put_i32(response.throttle_time_ms);
    put_array_len(out, response.results.len(), false)?;
    for result in &response.results {
        out.put_i16(result.error_code);
        put_nullable_string(out, result.error_message.as_ref().map(|m| m.as_bytes()))?;
        out.put_i8(result.resource_type);
        put_string(out, result.resource_name.as_bytes(), false)?;
        put_array_len(out, result.configs.len(), false)?;
        for config in &result.configs {
            put_string(out, config.name.as_bytes(), false)?;
            put_nullable_string(out, config.value.as_ref().map(|v| v.as_bytes()))?;
            out.put_u8(u8::from(config.read_only));
            out.put_u8(u8::from(config.config_source == SOURCE_DEFAULT));
            out.put_u8(u8::from(config.is_sensitive));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

    use kafka_protocol::messages::DescribeConfigsRequest;
    use kafka_protocol::messages::describe_configs_response::{
        DescribeConfigsResourceResult, DescribeConfigsResult,
    };
    use kafka_protocol::protocol::{Decodable, StrBytes};

    use super::*;
    use crate::api::describe_configs::SOURCE_TOPIC;

    fn v0_request(keys: Option<&[&str]>) -> BytesMut {
        let mut body = BytesMut::new();
        body.put_i32(1); // one resource
        body.put_i8(2); // topic
        put_string(&mut body, b"orders", false).unwrap();
        match keys {
            Some(keys) => {
                body.put_i32(i32::try_from(keys.len()).unwrap());
                for key in keys {
                    put_string(&mut body, key.as_bytes(), false).unwrap();
                }
            }
            None => body.put_i32(-1),
        }
        body
    }

    #[test]
    fn a_widened_v0_body_decodes_as_v1_without_synonyms() {
        for keys in [None, Some(&["retention.ms"][..])] {
            let mut v1 = widen(&v0_request(keys));
            let request = DescribeConfigsRequest::decode(&mut v1, 1).unwrap();
            assert!(v1.is_empty(), "every byte read");
            assert!(!request.include_synonyms);
            let resource = &request.resources[0];
            assert_eq!(
                (resource.resource_type, resource.resource_name.as_str()),
                (2, "orders")
            );
            let wanted = resource
                .configuration_keys
                .as_ref()
                .map(|k| k.iter().map(|k| k.to_string()).collect::<Vec<_>>());
            assert_eq!(
                wanted,
                keys.map(|k| k.iter().map(|k| k.to_string()).collect())
            );
        }
    }

    #[test]
    fn the_v0_response_has_is_default_where_v1_has_source_and_synonyms() {
        let entry = |name: &'static str, value: &'static str, source| {
            DescribeConfigsResourceResult::default()
                .with_name(StrBytes::from_static_str(name))
                .with_value(Some(StrBytes::from_static_str(value)))
                .with_config_source(source)
        };
        let response = DescribeConfigsResponse::default().with_results(vec![
            DescribeConfigsResult::default()
                .with_error_message(None)
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("t"))
                .with_configs(vec![
                    entry("a", "1", SOURCE_TOPIC),
                    entry("b", "22", SOURCE_DEFAULT),
                ]),
            DescribeConfigsResult::default()
                .with_error_code(3)
                .with_error_message(Some(StrBytes::from_static_str("no")))
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("u")),
        ]);
        let mut out = BytesMut::new();
        write_body(&mut out, &response).unwrap();
        let expected: Vec<u8> = [
            &0i32.to_be_bytes()[..], // throttle
            &2i32.to_be_bytes(),     // results
            // t: no error, null message, topic "t", two configs
            &0i16.to_be_bytes(),
            &(-1i16).to_be_bytes(),
            &[2],
            &1i16.to_be_bytes(),
            b"t",
            &2i32.to_be_bytes(),
            &1i16.to_be_bytes(),
            b"a",
            &1i16.to_be_bytes(),
            b"1",
            &[0, 0, 0], // read_only, is_default, is_sensitive
            &1i16.to_be_bytes(),
            b"b",
            &2i16.to_be_bytes(),
            b"22",
            &[0, 1, 0],
            // u: error 3 with its message, no configs
            &3i16.to_be_bytes(),
            &2i16.to_be_bytes(),
            b"no",
            &[2],
            &1i16.to_be_bytes(),
            b"u",
            &0i32.to_be_bytes(),
        ]
        .concat();
        assert_eq!(&out[..], &expected[..]);
    }
}
