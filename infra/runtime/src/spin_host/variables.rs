//! `spin:variables/variables@3.0.0`: the component's resolved variables from its grants.
use wasmtime::component::Accessor;

use super::bindings::spin::variables::variables::{Error, Host, HostWithStore};
use super::{Grants, SpinHostData, SpinHostState};

/// Spin variable names: non-empty, lower-case ASCII letters, digits and `_`,
/// starting with a letter.
pub(crate) fn valid_name(name: &str) -> bool {
    name.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

pub(crate) fn lookup(grants: &Grants, name: &str) -> Result<String, Error> {
    if !valid_name(name) {
        return Err(Error::InvalidName(format!(
            "invalid variable name {name:?}: use lower-case letters, digits and '_', starting with a letter"
        )));
    }
    grants
        .variables
        .get(name)
        .cloned()
        .ok_or_else(|| Error::Undefined(format!("no variable named {name:?} for this component")))
}

impl<T> HostWithStore<T> for SpinHostData {
    async fn get(
        accessor: &Accessor<T, Self>,
        name: String,
    ) -> wasmtime::Result<Result<String, Error>> {
        Ok(accessor.with(|mut access| {
            let state: &mut SpinHostState = access.get();
            lookup(&state.grants, &name)
        }))
    }
}

impl Host for SpinHostState {}
