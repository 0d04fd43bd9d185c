//! The `ports` contract as executable cases: each case is an `async fn(Arc<dyn Store>)` and runs
//! once per store adapter, so every adapter is held to the same text.

/// Turns `async fn case(store: Arc<dyn Store>)` cases into one `#[tokio::test]` per case and
/// store. Each store is one `contract_backend!` line: a module name and an expression that
/// awaits to `Option<impl StoreHandle>` (`None` skips the case, e.g. when no database is
/// configured). Adding a store is adding its line here.
macro_rules! contract_cases {
    ($($case:ident),+ $(,)?) => {
        contract_backend!(memory, async { Some(crate::support::memory_store()) }, $($case),+);
        contract_backend!(postgres, crate::support::postgres::fresh_store(), $($case),+);
    };
}

macro_rules! contract_backend {
    ($backend:ident, $factory:expr, $($case:ident),+) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(handle) = $factory.await else {
                        eprintln!("skipped: no {} store available", stringify!($backend));
                        return;
                    };
                    super::$case(crate::support::StoreHandle::store(&handle)).await;
                }
            )+
        }
    };
}

mod assets;
mod concurrency;
mod institutions;
mod keys_policies_audit;
mod money;
mod nodes;
mod pagination;
mod positions;
mod templates;
mod tenancy;
