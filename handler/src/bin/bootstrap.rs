//! The Lambda function: the `lambda_runtime` loop handing each event to `hsds_handler::event::handle_event`.
//! Everything else lives in the library, so tests and the emulator exercise the same code.

use std::sync::Arc;

use hsds_handler::{event, Service};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOG_LEVEL")
                .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .init();
    let svc = Arc::new(Service::from_env()?);
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| {
        let svc = svc.clone();
        let deadline = hsds_handler::deadline::from_epoch_ms(ev.context.deadline);
        async move { Ok::<Value, Error>(event::handle_event(&svc, &ev.payload, Some(deadline)).await) }
    }))
    .await
}
