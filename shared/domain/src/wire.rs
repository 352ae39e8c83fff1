//! Kebab-case JSON for the WIT types.
//!
//! The generated types derive serde with Rust naming; this module re-serializes any
//! `Serialize` value into a `serde_json::Value` with WIT naming: struct fields
//! `snake_case` → `kebab-case`, enum variants `CamelCase` → `kebab-case`
//! (unit variants as strings, payload variants externally tagged `{"notify": {...}}`).
//! [`from_kebab_json`] is the inverse. Used for `jobs.payload` and the notification sink's body
//! (`POST {notify_url}/messages`).
use serde::ser::{self, Serialize};
use serde_json::{Map, Value};

/// `message_id` → `message-id`.
pub fn snake_to_kebab(s: &str) -> String {
    s.replace('_', "-")
}

/// `VehicleDisplay` → `vehicle-display`.
pub fn camel_to_kebab(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Serialize `v` with WIT (kebab-case) field and variant names.
pub fn to_kebab_json<T: Serialize + ?Sized>(v: &T) -> Result<Value, serde_json::Error> {
    v.serialize(Kebab)
}

struct Kebab;
fn val<T: Serialize + ?Sized>(v: &T) -> Result<Value, serde_json::Error> {
    v.serialize(Kebab)
}

type E = serde_json::Error;

pub struct Seq(Vec<Value>, Option<String>);
pub struct Obj(Map<String, Value>, Option<String>);
pub struct MapSer(Map<String, Value>, Option<String>);

fn tag(variant: Option<String>, v: Value) -> Value {
    match variant {
        None => v,
        Some(name) => {
            let mut m = Map::new();
            m.insert(name, v);
            Value::Object(m)
        }
    }
}

impl ser::Serializer for Kebab {
    type Ok = Value;
    type Error = E;
    type SerializeSeq = Seq;
    type SerializeTuple = Seq;
    type SerializeTupleStruct = Seq;
    type SerializeTupleVariant = Seq;
    type SerializeMap = MapSer;
    type SerializeStruct = Obj;
    type SerializeStructVariant = Obj;

    fn serialize_bool(self, v: bool) -> Result<Value, E> { Ok(Value::Bool(v)) }
    fn serialize_i8(self, v: i8) -> Result<Value, E> { Ok(v.into()) }
    fn serialize_i16(self, v: i16) -> Result<Value, E> { Ok(v.into()) }
    fn serialize_i32(self, v: i32) -> Result<Value, E> { Ok(v.into()) }
    fn serialize_i64(self, v: i64) -> Result<Value, E> { Ok(v.into()) }
    fn serialize_u8(self, v: u8) -> Result<Value, E> { Ok(v.into()) }
    fn serialize_u16(self, v: u16) -> Result<Value, E> { Ok(v.into()) }
    fn serialize_u32(self, v: u32) -> Result<Value, E> { Ok(v.into()) }
    fn serialize_u64(self, v: u64) -> Result<Value, E> { Ok(v.into()) }
    fn serialize_f32(self, v: f32) -> Result<Value, E> { serde_json::to_value(v) }
    fn serialize_f64(self, v: f64) -> Result<Value, E> { serde_json::to_value(v) }
    fn serialize_char(self, v: char) -> Result<Value, E> { Ok(Value::String(v.to_string())) }
    fn serialize_str(self, v: &str) -> Result<Value, E> { Ok(Value::String(v.to_string())) }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, E> { serde_json::to_value(v) }
    fn serialize_none(self) -> Result<Value, E> { Ok(Value::Null) }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Value, E> { val(v) }
    fn serialize_unit(self) -> Result<Value, E> { Ok(Value::Null) }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Value, E> { Ok(Value::Null) }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<Value, E> {
        Ok(Value::String(camel_to_kebab(variant)))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<Value, E> {
        val(v)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<Value, E> {
        Ok(tag(Some(camel_to_kebab(variant)), val(v)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq, E> {
        Ok(Seq(Vec::with_capacity(len.unwrap_or(0)), None))
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq, E> { self.serialize_seq(Some(len)) }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq, E> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, variant: &'static str, len: usize) -> Result<Seq, E> {
        Ok(Seq(Vec::with_capacity(len), Some(camel_to_kebab(variant))))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapSer, E> { Ok(MapSer(Map::new(), None)) }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Obj, E> { Ok(Obj(Map::new(), None)) }
    fn serialize_struct_variant(self, _: &'static str, _: u32, variant: &'static str, _: usize) -> Result<Obj, E> {
        Ok(Obj(Map::new(), Some(camel_to_kebab(variant))))
    }
}

impl ser::SerializeSeq for Seq {
    type Ok = Value;
    type Error = E;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), E> {
        self.0.push(val(v)?);
        Ok(())
    }
    fn end(self) -> Result<Value, E> { Ok(tag(self.1, Value::Array(self.0))) }
}
impl ser::SerializeTuple for Seq {
    type Ok = Value;
    type Error = E;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), E> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<Value, E> { ser::SerializeSeq::end(self) }
}
impl ser::SerializeTupleStruct for Seq {
    type Ok = Value;
    type Error = E;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), E> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<Value, E> { ser::SerializeSeq::end(self) }
}
impl ser::SerializeTupleVariant for Seq {
    type Ok = Value;
    type Error = E;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), E> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<Value, E> { ser::SerializeSeq::end(self) }
}
impl ser::SerializeStruct for Obj {
    type Ok = Value;
    type Error = E;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), E> {
        self.0.insert(snake_to_kebab(key), val(v)?);
        Ok(())
    }
    fn end(self) -> Result<Value, E> { Ok(tag(self.1, Value::Object(self.0))) }
}
impl ser::SerializeStructVariant for Obj {
    type Ok = Value;
    type Error = E;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), E> {
        ser::SerializeStruct::serialize_field(self, key, v)
    }
    fn end(self) -> Result<Value, E> { ser::SerializeStruct::end(self) }
}
impl ser::SerializeMap for MapSer {
    type Ok = Value;
    type Error = E;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), E> {
        match val(key)? {
            Value::String(s) => {
                self.1 = Some(s);
                Ok(())
            }
            other => {
                self.1 = Some(other.to_string());
                Ok(())
            }
        }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), E> {
        let k = self.1.take().ok_or_else(|| ser::Error::custom("map value without key"))?;
        self.0.insert(k, val(v)?);
        Ok(())
    }
    fn end(self) -> Result<Value, E> { Ok(Value::Object(self.0)) }
}



// ------------------------------------------------------------------------------------------
// Deserialization: kebab-case JSON → generated types. Type-guided: struct field names and
// enum variant names come from serde's `deserialize_struct` / `deserialize_enum` hints.

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

/// Parse a value produced by [`to_kebab_json`] (or written by hand in WIT naming).
pub fn from_kebab_json<T: DeserializeOwned>(v: Value) -> Result<T, serde_json::Error> {
    T::deserialize(KDe(v))
}

struct KDe(Value);

fn field_name(fields: &'static [&'static str], key: String) -> String {
    fields.iter().find(|f| snake_to_kebab(f) == key).map(|f| f.to_string()).unwrap_or(key)
}

fn variant_name(variants: &'static [&'static str], key: &str) -> Option<&'static str> {
    variants.iter().copied().find(|v| camel_to_kebab(v) == key || *v == key)
}

struct KMap {
    iter: serde_json::map::IntoIter,
    value: Option<Value>,
    fields: Option<&'static [&'static str]>,
}

impl<'de> de::MapAccess<'de> for KMap {
    type Error = E;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, E> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                let k = match self.fields {
                    Some(f) => field_name(f, k),
                    None => k,
                };
                seed.deserialize(Value::String(k)).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, E> {
        let v = self.value.take().ok_or_else(|| de::Error::custom("value without key"))?;
        seed.deserialize(KDe(v))
    }
}

struct KSeq(std::vec::IntoIter<Value>);

impl<'de> de::SeqAccess<'de> for KSeq {
    type Error = E;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, E> {
        match self.0.next() {
            Some(v) => seed.deserialize(KDe(v)).map(Some),
            None => Ok(None),
        }
    }
}

struct KEnum {
    variant: &'static str,
    value: Option<Value>,
}

impl<'de> de::EnumAccess<'de> for KEnum {
    type Error = E;
    type Variant = KVariant;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, KVariant), E> {
        let v = seed.deserialize(self.variant.into_deserializer())?;
        Ok((v, KVariant(self.value)))
    }
}

struct KVariant(Option<Value>);

impl<'de> de::VariantAccess<'de> for KVariant {
    type Error = E;
    fn unit_variant(self) -> Result<(), E> {
        match self.0 {
            None | Some(Value::Null) => Ok(()),
            Some(_) => Err(de::Error::custom("unexpected payload for a unit variant")),
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, E> {
        seed.deserialize(KDe(self.0.unwrap_or(Value::Null)))
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, E> {
        de::Deserializer::deserialize_seq(KDe(self.0.unwrap_or(Value::Null)), visitor)
    }
    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], visitor: V) -> Result<V::Value, E> {
        de::Deserializer::deserialize_struct(KDe(self.0.unwrap_or(Value::Null)), "", fields, visitor)
    }
}

impl<'de> de::Deserializer<'de> for KDe {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match self.0 {
            Value::Object(m) => visitor.visit_map(KMap { iter: m.into_iter(), value: None, fields: None }),
            Value::Array(a) => visitor.visit_seq(KSeq(a.into_iter())),
            other => de::Deserializer::deserialize_any(other, visitor),
        }
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(KDe(other)),
        }
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, E> {
        visitor.visit_newtype_struct(self)
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        match self.0 {
            Value::Object(m) => visitor.visit_map(KMap { iter: m.into_iter(), value: None, fields: Some(fields) }),
            other => Err(de::Error::invalid_type(unexpected(&other), &"a JSON object")),
        }
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        let (key, value) = match self.0 {
            Value::String(s) => (s, None),
            Value::Object(m) if m.len() == 1 => {
                let (k, v) = m.into_iter().next().expect("one entry");
                (k, Some(v))
            }
            other => return Err(de::Error::invalid_type(unexpected(&other), &"a variant name or {variant: payload}")),
        };
        let variant = variant_name(variants, &key).ok_or_else(|| de::Error::unknown_variant(&key, variants))?;
        visitor.visit_enum(KEnum { variant, value })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

fn unexpected(v: &Value) -> de::Unexpected<'_> {
    match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(_) => de::Unexpected::Other("number"),
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wit::{Channel, Job, Notification};
    use serde_json::json;

    #[test]
    fn notification_is_kebab_case() {
        let n = Notification {
            message_id: "msg_1".into(),
            channel: Channel::VehicleDisplay,
            recipient: "VIN_1".into(),
            template: "order-status".into(),
            subject: "S".into(),
            body: "hello_world".into(),
            customer_id: None,
        };
        let v = to_kebab_json(&n).unwrap();
        assert_eq!(
            v,
            json!({"message-id":"msg_1","channel":"vehicle-display","recipient":"VIN_1",
                   "template":"order-status","subject":"S","body":"hello_world","customer-id":null})
        );
        let j = to_kebab_json(&Job::PlaceFactoryOrder("ord_1".into())).unwrap();
        assert_eq!(j, json!({"place-factory-order":"ord_1"}));
        let j = to_kebab_json(&Job::Notify(n)).unwrap();
        assert_eq!(j["notify"]["message-id"], "msg_1");
    }

    #[test]
    fn case_helpers() {
        assert_eq!(camel_to_kebab("PlaceFactoryOrder"), "place-factory-order");
        assert_eq!(snake_to_kebab("amount_minor"), "amount-minor");
    }

    #[test]
    fn kebab_round_trips() {
        let n = Notification {
            message_id: "msg_1".into(),
            channel: Channel::VehicleDisplay,
            recipient: "VIN_1".into(),
            template: "order-status".into(),
            subject: "S".into(),
            body: "b".into(),
            customer_id: Some("cus_1".into()),
        };
        for job in [Job::Notify(n.clone()), Job::PlaceFactoryOrder("ord_1".into())] {
            let v = to_kebab_json(&job).unwrap();
            let back: Job = from_kebab_json(v).unwrap();
            assert_eq!(back, job);
        }
        let mut v = to_kebab_json(&n).unwrap();
        v.as_object_mut().unwrap().remove("customer-id");
        let back: Notification = from_kebab_json(v).unwrap();
        assert_eq!(back.customer_id, None);
        let m: crate::wit::Money = from_kebab_json(json!({"amount-minor": 5, "currency": "EUR"})).unwrap();
        assert_eq!(m.amount_minor, 5);
        assert!(from_kebab_json::<Job>(json!({"nope": 1})).is_err());
        assert!(from_kebab_json::<Job>(json!([1])).is_err());
        assert!(from_kebab_json::<Notification>(json!({"message-id": 1})).is_err());
    }
}
