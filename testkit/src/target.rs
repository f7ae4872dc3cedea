//! Where the stack tests run: LocalStack (the default), or an AWS account
//! (`EVENTKIT_TARGET=aws`, as `make aws-test` sets it) through the SDK's default chain:
//! credentials, region and any endpoint from the user's own settings, none from here.
//! Tests that need what only the local setup has (the debug build's fault hooks, a fault
//! proxy on this machine's loopback) or that would take too long on AWS skip themselves
//! there with [`skip_on_aws!`](crate::skip_on_aws), saying why.

use std::io::Write;

/// The variable that selects the target.
pub const VARIABLE: &str = "EVENTKIT_TARGET";

/// What the stack tests talk to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// LocalStack at [`crate::endpoint`], with its test credentials (the default).
    LocalStack,
    /// AWS through the SDK's default configuration: no endpoint override, no credentials
    /// of the tests' own; S3 addressed virtual-host style.
    Aws,
}

impl Target {
    /// The target `value` names: unset, empty or `localstack` is LocalStack, `aws` is AWS.
    pub fn parse(value: Option<&str>) -> anyhow::Result<Target> {
        match value.map(str::trim) {
            None | Some("") | Some("localstack") => Ok(Target::LocalStack),
            Some("aws") => Ok(Target::Aws),
            Some(other) => {
                anyhow::bail!("{VARIABLE}={other}: expected `aws` or `localstack` (or unset)")
            }
        }
    }

    /// The target `EVENTKIT_TARGET` names.
    pub fn from_env() -> anyhow::Result<Target> {
        Target::parse(std::env::var(VARIABLE).ok().as_deref())
    }
}

/// The target of this run; a value it cannot read fails the test that asks.
pub fn target() -> Target {
    Target::from_env().unwrap_or_else(|e| panic!("{e}"))
}

/// True when the tests run against AWS.
pub fn on_aws() -> bool {
    target() == Target::Aws
}

/// SDK configuration for the stack under test: LocalStack's (after checking that it
/// listens), or on AWS the default chain's, checked for a region and credentials so that a
/// missing one is named before any test times out on it.
pub async fn stack_config() -> anyhow::Result<aws_config::SdkConfig> {
    match Target::from_env()? {
        Target::LocalStack => crate::require_localstack().await,
        Target::Aws => {
            let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            anyhow::ensure!(
                config.region().is_some(),
                "{VARIABLE}=aws: no AWS region (set AWS_REGION, or a region in your AWS profile)"
            );
            let provider = config.credentials_provider().ok_or_else(|| {
                anyhow::anyhow!("{VARIABLE}=aws: the SDK found no credentials provider")
            })?;
            aws_sdk_sqs::config::ProvideCredentials::provide_credentials(&provider)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "{VARIABLE}=aws: no AWS credentials from the default chain (AWS_PROFILE, \
                         SSO, environment, instance role): {e}"
                    )
                })?;
            Ok(config)
        }
    }
}

/// The test's name as the harness prints it, from the type name of a function declared in
/// its body (`crate::module::test::{{closure}}::here`).
pub fn test_name(type_name: &str) -> String {
    let path: Vec<&str> = type_name
        .split("::")
        .filter(|s| *s != "{{closure}}")
        .collect();
    let end = path.len().saturating_sub(1);
    path[1.min(end)..end].join("::")
}

/// Writes `SKIPPED on AWS: <test>: <reason>` to stderr directly, past the harness's capture
/// of a passing test's output, so the run shows every skip.
pub fn report_skip(test: &str, reason: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED on AWS: {test}: {reason}");
}

/// On AWS (`EVENTKIT_TARGET=aws`), reports `SKIPPED on AWS: <test>: <reason>` and returns
/// `Ok(())` from the test; on LocalStack, does nothing. For a test, or the rest of one,
/// that needs what only the local setup has or would take unreasonably long on AWS.
#[macro_export]
macro_rules! skip_on_aws {
    ($reason:expr) => {
        if $crate::target::on_aws() {
            fn here() {}
            $crate::target::report_skip(
                &$crate::target::test_name(::std::any::type_name_of_val(&here)),
                $reason,
            );
            return Ok(());
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localstack_unless_aws_is_named_and_nothing_else_is_accepted() {
        for unset in [None, Some(""), Some("localstack"), Some(" localstack ")] {
            assert_eq!(
                Target::parse(unset).unwrap(),
                Target::LocalStack,
                "{unset:?}"
            );
        }
        assert_eq!(Target::parse(Some("aws")).unwrap(), Target::Aws);
        let e = Target::parse(Some("AWS-prod")).unwrap_err().to_string();
        assert!(
            e.contains("EVENTKIT_TARGET=AWS-prod") && e.contains("`aws`"),
            "{e}"
        );
    }

    #[test]
    fn a_skip_names_the_test_as_the_harness_does() {
        assert_eq!(
            test_name("patterns::ledger_faults::a_panic::{{closure}}::here"),
            "ledger_faults::a_panic"
        );
        assert_eq!(test_name("dlq::purged::here"), "purged");
        fn here() {}
        assert_eq!(
            test_name(std::any::type_name_of_val(&here)),
            "target::tests::a_skip_names_the_test_as_the_harness_does"
        );
    }

    fn skipping(reached: &mut bool) -> anyhow::Result<()> {
        skip_on_aws!("a unit test of the skip");
        *reached = true;
        Ok(())
    }

    #[test]
    fn the_skip_returns_early_on_aws_only() {
        // The process's EVENTKIT_TARGET decides (make test runs this without it).
        let mut reached = false;
        skipping(&mut reached).unwrap();
        assert_eq!(reached, !on_aws());
    }
}
