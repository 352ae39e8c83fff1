//! Kebab-case JSON for the WIT types.
//!
//! The generated types derive serde with Rust naming; this module re-serializes any
//! `Serialize` value into a `serde_json::Value` with WIT naming: struct fields
//! `snake_case` → `kebab-case`, enum variants `CamelCase` → `kebab-case`
//! (unit variants as strings, payload variants externally tagged `{"notify": {...}}`).
//! It is used for the notification sink's body (`POST {notify_url}/messages`).
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
}
