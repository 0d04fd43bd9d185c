//! The `escrowgrid` binary: parse the command line, start logging, run. Everything else lives
//! in the library (`startup` wires it).

use clap::Parser as _;
use escrowgrid::config::{Cli, Command};
use escrowgrid::startup::{self, Application};
use escrowgrid::telemetry;
use std::process::ExitCode;

/// A nested query builds and drops tens of thousands of small values; glibc malloc was a third
/// of its CPU profile (docs/benchmarks.md), and mimalloc roughly halves that cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::PrintSchema => {
            // Exactly the SDL on stdout, so `print-schema > schema.graphql` works.
            println!("{}", escrowgrid::graphql::sdl().trim_end());
            Ok(())
        }
        Command::Migrate => match telemetry::init(cli.args.log_format(), None) {
            Ok(_no_export) => migrate(&cli.args).await,
            Err(message) => Err(message),
        },
        Command::Serve => {
            let export = cli.args.trace_export();
            match telemetry::init(cli.args.log_format(), export.as_ref()) {
                Ok(telemetry) => {
                    let served = serve(cli.args).await;
                    telemetry.shutdown().await;
                    served
                }
                Err(message) => Err(message),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: escrowgrid::config::SettingsArgs) -> Result<(), String> {
    let settings = args.into_settings().map_err(|error| error.to_string())?;
    let generated_key = settings
        .root_key
        .generated
        .then(|| settings.root_key.token.clone());
    let store = if settings.database_url.is_some() {
        "postgresql"
    } else {
        "memory"
    };
    let graphiql = settings.http.graphiql;
    let app = Application::build(settings)
        .await
        .map_err(|error| error.to_string())?;
    let address = app.address();
    tracing::info!(%address, store, "escrowgrid listening");
    // The first line is what scripts wait for: keep its shape.
    println!("escrowgrid listening on http://{address} ({store} store)");
    if graphiql {
        println!("GraphiQL: http://{address}/graphql");
    }
    if let Some(metrics) = app.metrics_address() {
        println!("Metrics (no key): http://{metrics}/metrics");
    }
    if let Some(key) = generated_key {
        // Printed once, to stdout only (never logged): the operator's only chance to copy it.
        println!(
            "Root API key (generated; set ROOT_API_KEY to choose one): {}",
            key.expose()
        );
        println!("Paste it in GraphiQL's Headers tab as {{\"X-API-Key\": \"<key>\"}}");
    }
    app.run_until_stopped()
        .await
        .map_err(|error| error.to_string())
}

async fn migrate(args: &escrowgrid::config::SettingsArgs) -> Result<(), String> {
    let (url, pool) = args.migrate_target().map_err(|error| error.to_string())?;
    startup::connect_postgres(&url, pool)
        .await
        .map_err(|error| error.to_string())?;
    tracing::info!("migrations applied");
    println!("migrations applied");
    Ok(())
}
