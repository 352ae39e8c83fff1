//! Host bindings for the spin:* interfaces in infra/runtime/wit.
wasmtime::component::bindgen!({
    path: "wit",
    world: "caas:spin-host/spin-host",
    imports: {
        "spin:sqlite/sqlite.[static]connection.open": async | trappable,
        "spin:sqlite/sqlite.[method]connection.execute": async | trappable,
        default: trappable,
    },
    with: {
        "spin:key-value/key-value.store": crate::spin_host::kv::KvStore,
        "spin:sqlite/sqlite.connection": crate::spin_host::sql::SqlConnection,
    },
});
