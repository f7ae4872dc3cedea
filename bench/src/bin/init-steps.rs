//! `make bench`, beside `coldstart-bench`: where a function's init time goes. Runs the
//! steps a function's `main` runs before the runtime asks for its first event, in order,
//! in one fresh process, and prints each one's time (each is a first call: what a cold
//! start pays). Run it with a Lambda-like environment: `coldstart-bench` does.

use std::time::Instant;

#[tokio::main]
async fn main() {
    let began = Instant::now();
    let mut last = began;
    let mut step = |name: &str| {
        let now = Instant::now();
        eprintln!(
            "init-step {name} {:.3}",
            (now - last).as_secs_f64() * 1000.0
        );
        last = now;
    };
    step("runtime");
    eventkit::observability::init_tracing();
    step("tracing");
    let config = eventkit::aws::load_config().await;
    step("sdk-config");
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    step("first-client");
    let s3 = eventkit::aws::s3::client(&config);
    step("second-client");
    eventkit::emf::init();
    step("metrics");
    drop((dynamodb, s3));
}
